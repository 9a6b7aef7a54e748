#!/usr/bin/env bash
# Every malformed request class gets the right status as an RFC 9457
# application/problem+json document, and the api stays healthy after them.
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_MAX_BODY_BYTES=4096
ht_start_stack

# 400: not JSON at all, and JSON cut short.
ht_http POST /v1/jobs '{"type": "echo",'
assert_problem 400 "truncated JSON"
ht_http POST /v1/jobs 'type=echo'
assert_problem 400 "form-encoded body labelled JSON"

# 404: unknown route, unknown job, an id that cannot be a job id.
ht_http GET /no/such/route
assert_problem 404 "unknown route"
ht_http GET /v1/jobs/1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b
assert_problem 404 "unknown job"
ht_http GET /v1/jobs/not-a-job-id
assert_problem 404 "malformed job id"
ht_http GET "/v1/jobs/..%2F..%2Fetc%2Fpasswd"
assert_problem 404 "path games in the id"

# 405: a known path with a method it does not take, and the Allow header.
ht_http PUT /v1/jobs '{"type": "echo"}'
assert_problem 405 "PUT /v1/jobs"
assert_match "$(ht_header Allow)" 'POST' "Allow of /v1/jobs"
ht_http DELETE /healthz
assert_problem 405 "DELETE /healthz"

# 413: over HANGTIGHT_MAX_BODY_BYTES.
big=$(printf 'x%.0s' $(seq 1 5000))
ht_http POST /v1/jobs "{\"type\": \"echo\", \"payload\": {\"s\": \"$big\"}}"
assert_problem 413 "body over 4096 bytes"
# Just under the limit is fine.
small=$(printf 'x%.0s' $(seq 1 3900))
ht_http POST /v1/jobs "{\"type\": \"echo\", \"payload\": {\"s\": \"$small\"}}"
assert_status 202 "body under the limit"

# 415: a JSON body that is not labelled JSON.
ht_http POST /v1/jobs '' -H 'Content-Type: text/plain' --data-binary '{"type": "echo"}'
assert_problem 415 "text/plain body"

# 422: every bad field is listed, not only the first.
ht_http POST /v1/jobs '{"type": "Not A Type!", "max_attempts": 0, "timeout_s": -5,
                        "ttl_s": "soon", "metadata": {"k": 1}, "priority": "urgent"}'
assert_problem 422 "bad fields"
for field in /type /max_attempts /timeout_s /ttl_s /metadata /priority; do
    assert_jq "[.errors[].pointer | select(startswith(\"$field\"))] | length == 1" \
        "errors lists $field exactly once"
done
assert_jq '[.errors[] | (.detail | type == "string") and (.code | type == "string")] | all' \
    "each field error has a code and a detail"
ht_http POST /v1/jobs '{"payload": {}}'
assert_problem 422 "missing type"
assert_jq '[.errors[].pointer] | index("/type") != null' "missing type points at /type"
ht_http POST /v1/jobs '{"type": "no.such.handler"}'
assert_problem 422 "type no handler serves"
ht_http POST /v1/jobs '{"type": "echo", "max_attempts": 26}'
assert_problem 422 "max_attempts above 25"
ht_http POST /v1/jobs '["echo"]'
[[ "$HTTP_STATUS" == 400 || "$HTTP_STATUS" == 422 ]] || fail "array body: $HTTP_STATUS"
assert_problem "$HTTP_STATUS" "array body"

# Still healthy and still doing work.
ht_http GET /healthz
assert_status 200 "healthz after the errors"
ht_http GET /readyz
assert_status 200 "readyz after the errors"
ht_submit '{"type": "echo", "payload": {"ok": true}}'
id=$HT_JOB
wait_until 15 "a job after the errors succeeds" ht_job_is "$id" succeeded
assert_json .result.ok true
