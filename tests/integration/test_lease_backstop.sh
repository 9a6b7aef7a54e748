#!/usr/bin/env bash
# The runaway backstop (issue 22): an attempt still running timeout_s +
# HANGTIGHT_TIMEOUT_GRACE_MS after it started is ended as timed out in
# Redis, whatever its worker does: the renewals stop at that deadline and
# the reaper fails the attempt with code "timeout" (the usual retry rules:
# here max_attempts 1, so the job ends failed).
#
# The handler ignores its stop: an exec handler that traps SIGTERM.  Its
# worker asks it to stop at timeout_s (1 s) and kills it 5 s later (the
# exec kill grace); the backstop (grace 1 s) ends the attempt before that,
# and the worker's own late "timeout" outcome is then refused.
source "$(dirname "$0")/lib.sh"

TIMEOUT_S=1
GRACE_MS=1000
cat >"$HT_TMP/runaway.sh" <<SH
#!/bin/bash
trap '' TERM
cat >/dev/null
sleep 63.$$ &
wait \$! || wait \$!
SH
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"test.runaway": {"command": ["/bin/bash", "$HT_TMP/runaway.sh"]}}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
export HANGTIGHT_LEASE_MS=2000

ht_start_stack --worker-args --timeout-grace-ms "$GRACE_MS" --concurrency 1

ht_submit "{\"type\": \"test.runaway\", \"timeout_s\": $TIMEOUT_S, \"max_attempts\": 1}"
id=$HT_JOB
wait_until 10 "the runaway job runs" ht_job_is "$id" running
wait_until 20 "the runaway job is ended" ht_job_is "$id" failed
assert_json .error.code timeout "error of the runaway job"
assert_match "$(ht_json .error.message)" 'grace' "the error is the backstop's"
assert_json .attempt 1
run_ms=$(($(ht_job_hget "$id" finished_at) - $(ht_job_hget "$id" started_at)))
log "the backstop ended the attempt ${run_ms} ms after it started"
# Due at timeout_s + grace (2 s), found by the reaper within a second; the
# worker's own end would come at timeout_s + 5 s.
((run_ms >= TIMEOUT_S * 1000 + GRACE_MS)) || fail "ended after ${run_ms} ms, before timeout_s + grace"
((run_ms < TIMEOUT_S * 1000 + 5000)) || fail "ended after ${run_ms} ms: the worker's kill came first"
before=$(jq -S -c . <<<"$HTTP_BODY")

# The worker kills its child at last, and its own outcome is refused.
wait_until 20 "w1 drops its late outcome" \
    eval 'grep -F "\"$id\"" "${HT_LOGS[w1]}" | grep -q "outcome dropped"'
# What w1 heard depends on which came first after the deadline: its renewal
# (refused: past timeout_s and grace) or the reaper (the lease is gone).
ht_log_has w1 'past its timeout_s and grace|lease lost; stopping the handler' ||
    fail "w1 did not log that it lost the attempt"
ht_http GET "/v1/jobs/$id"
assert_eq "$(jq -S -c . <<<"$HTTP_BODY")" "$before" "the job's document after w1's late outcome"
ht_submit '{"type": "echo", "payload": {"after": "runaway"}}'
wait_until 15 "w1 serves again" ht_job_is "$HT_JOB" succeeded
