#!/usr/bin/env bash
# Exec handlers from HANGTIGHT_HANDLERS: payload on stdin, progress lines and
# a result on stdout, the job's id and attempt in the environment, failures
# with the stderr tail, a child killed when its time runs out, and the api
# refusing types that no handler serves.
source "$(dirname "$0")/lib.sh"

cat >"$HT_TMP/progress.sh" <<'SH'
#!/bin/bash
set -eu
payload=$(cat)
echo '{"progress": 25, "message": "read the payload"}'
echo "this line is not JSON and is ignored"
sleep 0.5
echo '{"progress": 50, "message": "half way"}'
sleep 1.5
jq -cn --argjson p "$payload" --arg id "$HANGTIGHT_JOB_ID" --arg attempt "$HANGTIGHT_ATTEMPT" \
    '{got: $p, job_id: $id, attempt: $attempt}'
SH
cat >"$HT_TMP/fails.sh" <<'SH'
#!/bin/bash
cat >/dev/null
echo '{"progress": 10, "message": "trying"}'
for i in $(seq 1 50); do echo "noise line $i" >&2; done
echo "fatal: the disk is on fire" >&2
exit 3
SH
# A grandchild with a duration unique to this test run, to find it later.
slow_sleep=60.$$
cat >"$HT_TMP/slow.sh" <<SH
#!/bin/bash
cat >/dev/null
echo '{"progress": 1, "message": "starting something long"}'
sleep $slow_sleep
echo '{"never": "here"}'
SH
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {
  "test.progress": {"command": ["/bin/bash", "$HT_TMP/progress.sh"]},
  "test.fails":    {"command": ["/bin/bash", "$HT_TMP/fails.sh"], "timeout_s": 60},
  "test.slow":     {"command": ["/bin/bash", "$HT_TMP/slow.sh"]}
}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json

ht_start_stack --worker-args --concurrency 3

# Progress and result, with the environment the child saw.
ht_submit '{"type": "test.progress", "payload": {"n": 7, "s": "ß"}}'
id=$HT_JOB
half_way() {
    ht_http GET "/v1/jobs/$id"
    [[ "$(ht_json .progress.percent)" == 50 && "$(ht_json .progress.message)" == "half way" ]]
}
wait_until 15 "the exec job reports 50% half way" half_way
assert_json .status running
wait_until 15 "the exec job succeeds" ht_job_is "$id" succeeded
assert_eq "$(jq -c .result.got <<<"$HTTP_BODY")" '{"n":7,"s":"ß"}' "payload seen on stdin"
assert_json .result.job_id "$id" "HANGTIGHT_JOB_ID"
assert_json .result.attempt 1 "HANGTIGHT_ATTEMPT"

# A non-zero exit fails the job, carrying the tail of stderr.
ht_submit '{"type": "test.fails", "max_attempts": 1}'
id=$HT_JOB
wait_until 15 "the failing exec job fails" ht_job_is "$id" failed
assert_json .attempt 1
assert_jq '.error.code | type == "string" and length > 0' "error code"
assert_jq '.error.message | contains("the disk is on fire")' "stderr tail in the error"
assert_json .result null

# A child that outlives the job's timeout_s is killed; the error says timeout.
ht_submit '{"type": "test.slow", "max_attempts": 1, "timeout_s": 2}'
id=$HT_JOB
wait_until 10 "the slow exec job runs" ht_job_is "$id" running
started=$SECONDS
wait_until 20 "the slow exec job fails" ht_job_is "$id" failed
assert_json .error.code timeout
((SECONDS - started <= 12)) || fail "the timeout took $((SECONDS - started))s to act"
sleep_children() { pgrep -f "sleep $slow_sleep" >/dev/null; }
wait_until 10 "the killed handler's children are gone too" eval '! sleep_children'

# The worker goes on serving after all that.
ht_submit '{"type": "echo", "payload": {"still": "alive"}}'
id=$HT_JOB
wait_until 15 "an echo job after the exec jobs succeeds" ht_job_is "$id" succeeded

# A type no handler serves is refused.
ht_http POST /v1/jobs '{"type": "test.nobody-serves-this", "payload": {}}'
assert_problem 422 "unknown type"
assert_jq '[.errors[]?.pointer] | index("/type") != null' "the error points at /type"
