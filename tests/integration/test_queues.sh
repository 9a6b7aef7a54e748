#!/usr/bin/env bash
# GET /v1/queues counts what the queue holds (depth per priority,
# scheduled, running, failed, canceled, succeeded) and the totals; and a
# dead letter (failed, out of attempts) is retried with POST .../retry.
source "$(dirname "$0")/lib.sh"

# Jobs of type "hold" run until the test cancels them (tests/faults/gate.sh
# with a gate nobody opens).
ht_gate_handlers hold="$HT_TMP/never"
ht_start_stack --workers 0

ht_http GET /v1/queues
assert_status 200 "queues of an empty keyspace"
assert_json '.queues | length' 1
assert_json '.queues[0].name' default
assert_jq '.queues[0] | .queued == {"high": 0, "default": 0, "low": 0} and .scheduled == 0
           and .running == 0 and .failed == 0 and .canceled == 0 and .succeeded == 0
           and .totals.submitted == 0' "all zero"

for p in high high default default default low; do
    ht_submit "{\"type\": \"echo\", \"priority\": \"$p\"}"
done
ht_submit '{"type": "echo", "delay_s": 600}'
ht_submit '{"type": "echo", "delay_s": 600}'
ht_http DELETE "/v1/jobs/$HT_JOB"
assert_status 200 "cancel of a scheduled job"

ht_http GET /v1/queues
assert_status 200
assert_json '.queues[0].queued.high' 2
assert_json '.queues[0].queued.default' 3
assert_json '.queues[0].queued.low' 1
assert_json '.queues[0].scheduled' 1
assert_json '.queues[0].canceled' 1
assert_json '.queues[0].running' 0
assert_json '.queues[0].totals.submitted' 8
assert_json '.queues[0].totals.canceled' 1
assert_match "$(ht_header Cache-Control)" 'no-cache' "Cache-Control"

# A worker drains the queue; a job that fails for good is a dead letter.
ht_start_worker w1 --concurrency 2
ht_submit '{"type": "fail", "max_attempts": 1, "payload": {"message": "nope"}}'
dead=$HT_JOB
ht_submit '{"type": "hold"}'
held=$HT_JOB
wait_until 15 "the fail job is a dead letter" ht_job_is "$dead" failed
assert_json .links.retry "/v1/jobs/$dead/retry"
assert_json .error.code handler_failed
wait_until 15 "the held job runs" ht_job_is "$held" running
# The totals trail by the second the worker takes to send its counts.
drained() {
    ht_http GET /v1/queues
    jq -e '.queues[0] | .queued.high + .queued.default + .queued.low == 0
           and .succeeded == 6 and .totals.succeeded == 6 and .totals.failed == 1' \
        <<<"$HTTP_BODY" >/dev/null
}
wait_until 15 "the queue drains" drained
assert_json '.queues[0].running' 1 "running while the held job runs"
assert_json '.queues[0].failed' 1
assert_json '.queues[0].scheduled' 1
assert_json '.queues[0].totals.failed' 1
assert_json '.queues[0].totals.succeeded' 6

# Retry of the dead letter: 202, it runs again (and fails again).
ht_http POST "/v1/jobs/$dead/retry"
assert_status 202 "retry of a failed job"
assert_eq "$(ht_header Location)" "/v1/jobs/$dead" "Location of a retry"
assert_json .id "$dead"
assert_match "$(ht_json .status)" '^(queued|running|failed)$' "status right after a retry"
ht_http GET /v1/queues
assert_json '.queues[0].totals.retried' 1 "retried total"
ran_again() {
    ht_job_is "$dead" failed && [[ "$(ht_json .started_at)" != null ]]
}
wait_until 15 "the retried job fails again" ran_again
assert_json .attempt 1 "attempts after the retry (fresh)"
assert_json .error.message nope
failed_total() {
    ht_http GET /v1/queues
    jq -e ".queues[0].totals.failed == $1" <<<"$HTTP_BODY" >/dev/null
}
wait_until 10 "the worker's count of the second failure arrives" failed_total 2
assert_json '.queues[0].totals.failed' 2 "failed total after the second failure"
assert_json '.queues[0].failed' 1 "one failed job kept"

# Retry of anything but a dead letter: 409; unknown: 404.
ht_http POST "/v1/jobs/$held/retry"
assert_problem 409 "retry of a running job"
# An id of this layout nobody was given: a real one with other leading
# digits (the last digits name the partition when there are several).
ht_http POST "/v1/jobs/00000000${held:8}/retry"
assert_problem 404 "retry of an unknown job"
ht_http GET "/v1/jobs/$dead/retry"
assert_problem 405 "GET on retry"
assert_eq "$(ht_header Allow)" "POST" "Allow of retry"
ht_http POST /v1/queues '{}'
assert_problem 405 "POST /v1/queues"

# A failed job is kept for HANGTIGHT_FAILED_TTL_S (7 days by default), not ttl_s.
ttl=$(ht_redis TTL "$(ht_job_key "$dead")")
((ttl > 86400 && ttl <= 604800)) || fail "TTL of a failed job: $ttl"
# (The default is left out of the job's hash: its absence reads as it.)
assert_eq "$(ht_redis HEXISTS "$(ht_job_key "$dead")" failed_ttl_s)" 0 "failed_ttl_s stored"

# Cancel the held job so the worker stops promptly at the end.
ht_http DELETE "/v1/jobs/$held"
assert_status 202 "cancel of the running held job"
wait_until 15 "the held job ends canceled" ht_job_is "$held" canceled
ht_http GET /v1/queues
assert_json '.queues[0].running' 0 "running after the cancel"
assert_json '.queues[0].canceled' 2
