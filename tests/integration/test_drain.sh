#!/usr/bin/env bash
# SIGTERM drains: a worker holding a long job past its --drain-timeout-s
# hands the job back (queued, attempt not counted), exits 0, and another
# worker finishes it.
source "$(dirname "$0")/lib.sh"

# Jobs of type "gate" run until the test creates $GATE (tests/faults/gate.sh):
# the job outlasts w1's drain whatever the load, and ends on w2.
GATE=$HT_TMP/gate
ht_gate_handlers gate="$GATE"
ht_start_stack --worker-args --drain-timeout-s 1

ht_submit '{"type": "gate", "max_attempts": 2}'

id=$HT_JOB
wait_until 10 "the job runs on w1" ht_job_is "$id" running
assert_json .attempt 1

ht_stop w1 TERM 15
assert_eq "$HT_EXIT" 0 "w1's exit status after draining"
ht_http GET "/v1/jobs/$id"
assert_json .status queued "status after the hand-back"
assert_json .attempt 0 "attempt after the hand-back (not counted)"

touch "$GATE"
ht_start_worker w2
wait_until 20 "w2 finishes the job" ht_job_is "$id" succeeded
assert_json .attempt 1 "attempt of the finishing run"

# A worker with nothing to do also drains and exits 0 at once.
ht_stop w2 TERM 10
assert_eq "$HT_EXIT" 0 "idle w2's exit status"
