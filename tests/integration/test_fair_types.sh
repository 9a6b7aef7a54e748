#!/usr/bin/env bash
# Claims filtered by type: a worker claims only the types it has handlers
# for, so a job of a type it lacks stays queued (never failed
# "unknown_type") for a worker that has one, and older jobs of a type
# nobody serving a claim handles never block the jobs behind them (no
# head-of-line blocking).  The library call the api uses for remote
# workers (ht_claim with a type list) takes exactly the types asked for;
# an empty list claims nothing.
source "$(dirname "$0")/lib.sh"

cat >"$HT_TMP/report.sh" <<'SH'
#!/bin/bash
cat >/dev/null
echo '{"built": true}'
SH
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"report.build": {"command": ["/bin/bash", "$HT_TMP/report.sh"]}}}
JSON

# w1 has the built-ins only; the report worker (built-ins + report.build)
# starts once to register its type with the api, then stops.
ht_start_stack --workers 0
HANGTIGHT_HANDLERS=$HT_TMP/handlers.json ht_start_worker reports
ht_stop reports
ht_start_worker w1 --concurrency 2

# 20 report.build jobs first (the oldest), then 10 echo jobs: every echo
# job runs on w1 while every report.build job stays queued.
reports=()
for i in $(seq 20); do
    ht_submit "{\"type\": \"report.build\", \"payload\": {\"n\": $i}}"
    reports+=("$HT_JOB")
done
echoes=()
for i in $(seq 10); do
    ht_submit "{\"type\": \"echo\", \"payload\": {\"n\": $i}}"
    echoes+=("$HT_JOB")
done
for id in "${echoes[@]}"; do
    wait_until 20 "echo job $id succeeds behind the report.build jobs" ht_job_is "$id" succeeded
done
for id in "${reports[@]}"; do
    ht_http GET "/v1/jobs/$id"
    assert_json .status queued "report.build job $id on a worker without its handler"
    assert_json .attempt 0 "never claimed"
done
assert_eq "$(ht_log_count w1 '"unknown_type"|no handler for type')" 0 "w1 failed nothing as unknown"
assert_eq "$(ht_redis HGET 'ht:{default}:depth' default)" 20 "queued count"

# The library call of remote workers: only the types asked for.
A=ht:{default}:active F=ht:{default}:fence B=ht:{default}:
claim() { ht_redis --raw FCALL ht_claim 2 "$A" "$F" "$B" hand ht:{default}:events 10000 1000 "$1"; }
assert_eq "$(claim '')" "" "an empty type list claims nothing"
assert_eq "$(claim 'nosuch.type other.type')" "" "types with nothing queued"
claimed=$(claim 'nosuch.type report.build')
id=$(awk 'p == "id" { print; exit } { p = $0 }' <<<"$claimed")
type=$(awk 'p == "type" { print; exit } { p = $0 }' <<<"$claimed")
assert_eq "$type" report.build "the type claimed by hand"
assert_eq "$id" "${reports[0]}" "the oldest report.build job"
ht_http GET "/v1/jobs/$id"
assert_json .status running "claimed by hand"
token=$(awk 'p == "token" { print; exit } { p = $0 }' <<<"$claimed")
ht_redis FCALL ht_complete 4 "${B}job:$id" "$A" "${B}wait:default" ht:{default}:signal "$id" \
    "$token" succeeded '{"by": "hand"}' 0 ht:{default}:events 0 >/dev/null
wait_until 10 "the hand-claimed job succeeded" ht_job_is "$id" succeeded
assert_json .result.by hand

# A worker with the handler comes: the other 19 run there.
HANGTIGHT_HANDLERS=$HT_TMP/handlers.json ht_start_worker reports2 --concurrency 2
for id in "${reports[@]:1}"; do
    wait_until 30 "report.build job $id succeeds" ht_job_is "$id" succeeded
    assert_json .result.built true
    assert_match "$(ht_job_hget "$id" worker)" '.' "worker recorded"
done
assert_eq "$(ht_redis HGET 'ht:{default}:depth' default)" 0 "queued count once drained"
assert_eq "$(ht_redis LLEN 'ht:{default}:rt:default')" 0 "no type left in the type order"
assert_eq "$(ht_redis HGET 'ht:{default}:running' y:report.build)" 0 "report.build running count"
assert_eq "$(ht_redis HGET 'ht:{default}:running' y:echo)" 0 "echo running count"

# Priorities still win across types: with both workers stopped, a low echo
# job and a high report.build job; a worker serving both takes the high one
# first.
ht_stop w1
ht_stop reports2
ht_submit '{"type": "echo", "priority": "low"}'
low=$HT_JOB
ht_submit '{"type": "report.build", "priority": "high"}'
high=$HT_JOB
HANGTIGHT_HANDLERS=$HT_TMP/handlers.json ht_start_worker reports3 --concurrency 1
wait_until 20 "both run" ht_job_is "$low" succeeded
wait_until 20 "both run" ht_job_is "$high" succeeded
low_token=$(ht_job_hget "$low" token)
high_token=$(ht_job_hget "$high" token)
((high_token < low_token)) || fail "the low echo job ($low_token) was claimed before the high report.build one ($high_token)"
