#!/usr/bin/env bash
# Fault suite (b): fencing.  A worker is frozen (SIGSTOP) while it runs a
# job, past the job's lease; another worker takes the job over and finishes
# it; then the frozen worker is thawed (SIGCONT) with its handler's progress
# and result still to report.  Those stale writes are refused, and the
# finished job's document (version, result, attempt, progress, times) does
# not change.  The thawed worker then goes on serving.  It runs one job at a
# time, so the new job it runs proves it is done with the stale attempt:
# the document is compared after that, not after a pause.
source "$(dirname "$0")/lib.sh"

FAULTS=$HT_SOURCE_DIR/tests/faults
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"fault.stale": {"command": ["/bin/bash", "$FAULTS/stale.sh", "$HT_TMP/exec.log", "5"]}}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json

# A lease of 2 s: attempt 1 needs 5 s (its worker is frozen long before),
# attempt 2 0.3 s; the timeout_s of an hour plays no part.
export HANGTIGHT_LEASE_MS=2000
ht_start_stack --worker-args --concurrency 1

ht_submit '{"type": "fault.stale", "timeout_s": 3600, "max_attempts": 3}'
id=$HT_JOB
wait_until 10 "w1 runs the job" ht_job_is "$id" running
kill -STOP "${HT_PIDS[w1]}" # a failing assertion: the cleanup thaws it
stopped=$SECONDS
log "w1 frozen while running attempt 1 of $id"
ht_start_worker w2
wait_until 30 "w2 finishes the job after w1's lease ran out" ht_job_is "$id" succeeded
((SECONDS - stopped >= 2)) || fail "the job finished before w1's lease could run out"
assert_json .attempt 2 "the finishing attempt"
assert_json .result.attempt 2 "the result is the second attempt's"
before=$(jq -S -c . <<<"$HTTP_BODY")
etag_before=$(ht_header ETag)

kill -CONT "${HT_PIDS[w1]}"
log "w1 thawed"
# w1 now sees its handler's late progress and result: wait for its verdict.
stale_lines() { grep -F "$id" "${HT_LOGS[w1]}" | grep -E 'lease lost|outcome dropped' || true; }
wait_until 20 "w1 gives up the stale attempt" eval '[[ -n "$(stale_lines)" ]]'

# w1 serves again (w2 stopped, so the job can only be w1's): its one slot
# is through with the stale attempt.
ht_stop w2
assert_eq "$HT_EXIT" 0 "w2's exit status"
ht_submit '{"type": "echo", "payload": {"after": "thaw"}}'
wait_until 15 "the thawed w1 runs a new job" ht_job_is "$HT_JOB" succeeded
log "w1 said: $(stale_lines | jq -r .msg | paste -sd '|')"

ht_http GET "/v1/jobs/$id"
assert_status 200
after=$(jq -S -c . <<<"$HTTP_BODY")
assert_eq "$after" "$before" "the finished job's document after the stale writes"
assert_eq "$(ht_header ETag)" "$etag_before" "the finished job's ETag (version)"
assert_json .status succeeded
assert_json .result.attempt 2 "result after the stale completion"
assert_json .progress.percent 90 "the progress is the second attempt's"
ht_alive w1 || fail "w1 died after the thaw"

# Two executions, one per attempt: the stale one did not run again.
assert_eq "$(cut -d' ' -f2 "$HT_TMP/exec.log" | paste -sd,)" "1,2" "attempts executed"

echo "faults: fencing: stale writes refused=$(stale_lines | wc -l) document_changed=0" >&2
