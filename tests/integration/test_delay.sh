#!/usr/bin/env bash
# Delays: delay_s or a future run_at makes a job scheduled; the workers
# promote it to its queue about 100 ms after its due time (any live worker
# does: there is no scheduler process), never before; a run_at in the past
# is queued at once.  The lag bounds below (LAG_MAX_MS) leave room for a
# loaded 2-core machine: they prove the promotion is timely and never early,
# not how fast it is.
source "$(dirname "$0")/lib.sh"

# Each job's status history is read from its event log: kept for every job
# (docs/keyspace.md, "Watching"), not only for the watched ones.
export HANGTIGHT_LOG_EVERY_JOB=1
ht_start_stack --workers 2
LAG_MAX_MS=1000

# "status/at-ms" of each status change of job ID, from its event log.
history() {
    ht_redis --raw LRANGE "$(ht_job_key "$1"):ev" 0 -1 |
        awk '$2 == "status" { printf "%s/%s ", $3, $6 }'
}
statuses() { history "$1" | sed -E 's#/[0-9]+##g'; }
# When job ID entered STATUS (ms, Redis' clock), from its event log.
entered() { history "$1" | tr ' ' '\n' | awk -F/ -v s="$2" '$1 == s { print $2; exit }'; }
ms_of() { date -d "$1" +%s%3N; }

# ---- delay_s ----------------------------------------------------------
before=$(ht_ms)
ht_submit '{"type": "sleep", "payload": {"ms": 100, "steps": 1}, "delay_s": 2}'
id=$HT_JOB
assert_json .status scheduled "status of a delayed job"
due=$(ms_of "$(ht_json .run_at)")
((due >= before + 2000 && due <= $(ht_ms) + 2000)) ||
    fail "run_at $(ht_json .run_at) is not 2 s after the submit"
not_scheduled() { ht_http GET "/v1/jobs/$id" && [[ "$(ht_json .status)" != scheduled ]]; }
wait_until 10 "the delayed job is promoted" not_scheduled
seen=$(($(ht_ms) - before))
log "left scheduled after $seen ms as the client saw it: $(ht_json .status)"
((seen >= 1900)) || fail "promoted $seen ms after the submit (wanted ~2000, never early)"
# When it was promoted, by Redis' clock (the client's view above includes its
# own polling, which a loaded CI machine slows): due + the ~100 ms promote
# interval, with a generous margin.
queued_at=$(entered "$id" queued)
late=$((queued_at - due))
log "queued ${late} ms after its run_at (Redis' clock)"
((late >= -50 && late <= LAG_MAX_MS)) || fail "promoted ${late} ms after its run_at (wanted 0..~100)"
wait_until 10 "the delayed job succeeds" ht_job_is "$id" succeeded
# The event log starts with the first change after the submit (scheduled).
assert_eq "$(statuses "$id")" "queued running succeeded " "history of the delayed job"
queued_at=$(entered "$id" queued)
lag=$((queued_at - due))
log "promoted $lag ms after its due time"
((lag >= 0 && lag <= LAG_MAX_MS)) || fail "promoted $lag ms after its due time (wanted 0..~100)"
started=$(ms_of "$(ht_json .started_at)")
((started >= due)) || fail "the delayed job started before its run_at"

# ---- run_at in the future (RFC 3339) ----------------------------------
at=$(date -u -d "@$(( $(date +%s) + 2 ))" +%Y-%m-%dT%H:%M:%SZ)
ht_submit "{\"type\": \"echo\", \"payload\": {\"n\": 1}, \"run_at\": \"$at\"}"
id=$HT_JOB
assert_json .status scheduled "status with a future run_at"
assert_eq "$(ms_of "$(ht_json .run_at)")" "$(ms_of "$at")" "run_at as given"
wait_until 10 "the job due at $at succeeds" ht_job_is "$id" succeeded
lag=$(($(entered "$id" queued) - $(ms_of "$at")))
log "run_at job promoted $lag ms after its due time"
((lag >= 0 && lag <= LAG_MAX_MS)) || fail "promoted $lag ms after run_at (wanted 0..~100)"

# ---- run_at in the past: queued at once --------------------------------
past=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
ht_submit "{\"type\": \"echo\", \"payload\": {\"n\": 2}, \"run_at\": \"$past\"}"
id=$HT_JOB
assert_json .status queued "status with a past run_at"
wait_until 10 "the job with a past run_at succeeds" ht_job_is "$id" succeeded
assert_eq "$(statuses "$id")" "running succeeded " "history with a past run_at (queued at submit: not logged)"

# ---- many delayed jobs, one worker gone: all promoted on time ---------
ht_stop w1 KILL
ids=()
for i in $(seq 20); do
    ht_submit "{\"type\": \"echo\", \"payload\": {\"i\": $i}, \"delay_s\": 1}"
    ids+=("$HT_JOB")
done
for id in "${ids[@]}"; do
    wait_until 10 "delayed job $id succeeds" ht_job_is "$id" succeeded
    due=$(ms_of "$(ht_json .run_at)")
    lag=$(($(entered "$id" queued) - due))
    ((lag >= 0 && lag <= LAG_MAX_MS)) || fail "job $id promoted $lag ms after its due time"
done
assert_eq "$(ht_sum_keys ZCARD scheduled)" 0 "scheduled set after promotion"
