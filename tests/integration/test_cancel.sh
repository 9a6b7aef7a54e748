#!/usr/bin/env bash
# DELETE /v1/jobs/{id}: a queued or scheduled job is canceled at once (200)
# and never runs; a running one is asked to stop (202); a finished one is a
# 409; an unknown one a 404.  A canceled job can be retried.
source "$(dirname "$0")/lib.sh"

ht_start_stack --workers 0

# A queued job (no worker yet).
ht_submit '{"type": "echo", "payload": {"q": 1}}'
queued=$HT_JOB
assert_json .links.cancel "/v1/jobs/$queued" "links.cancel of a queued job"
ht_http DELETE "/v1/jobs/$queued"
assert_status 200 "cancel of a queued job"
assert_json .status canceled
assert_json .id "$queued"
assert_match "$(ht_json .finished_at)" '^[0-9]{4}-.*Z$' "finished_at of a canceled job"
assert_json .links.cancel null "no cancel link once canceled"
assert_json .links.retry "/v1/jobs/$queued/retry"
assert_eq "$(ht_sum_keys HGET depth default)" 0 "queued after the cancel"
assert_eq "$(ht_keys q:default:echo:default)" "" "wait list after the cancel"

# A scheduled job (delay_s), with its run_at in the document.
ht_submit '{"type": "echo", "delay_s": 3600, "priority": "high"}'
scheduled=$HT_JOB
assert_json .status scheduled "status of a delayed job"
run_at=$(ht_json .run_at)
assert_match "$run_at" '^[0-9]{4}-.*Z$' "run_at of a delayed job"
now=$(date +%s)
due=$(date -d "$run_at" +%s)
((due >= now + 3590 && due <= now + 3610)) || fail "run_at $run_at is not about an hour ahead"
assert_eq "$(ht_redis ZSCORE "$(ht_job_tag_key "$scheduled" scheduled)" "$scheduled" | cut -c1-9)" \
    "$(ht_job_hget "$scheduled" run_at | cut -c1-9)" "scheduled set entry"
ht_http DELETE "/v1/jobs/$scheduled"
assert_status 200 "cancel of a scheduled job"
assert_json .status canceled
assert_eq "$(ht_sum_keys ZCARD scheduled)" 0 "scheduled set after the cancel"

# A run_at in the future also schedules; both at once is a 422.
ht_submit "{\"type\": \"echo\", \"run_at\": \"$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)\"}"
assert_json .status scheduled "status with run_at"
later=$HT_JOB
ht_http POST /v1/jobs "{\"type\": \"echo\", \"delay_s\": 5, \"run_at\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
assert_problem 422 "delay_s and run_at together"
assert_json '.errors[0].code' conflict

# Neither canceled job runs once a worker is there; an ordinary job does.
ht_start_worker w1 --concurrency 2
ht_submit '{"type": "echo", "payload": {"after": true}}'
canary=$HT_JOB
wait_until 15 "the canary job succeeds" ht_job_is "$canary" succeeded
for id in "$queued" "$scheduled"; do
    ht_http GET "/v1/jobs/$id"
    assert_json .status canceled "canceled job $id after a worker ran"
    assert_json .attempt 0 "attempts of canceled job $id"
    assert_json .started_at null "canceled job $id never started"
done
ht_http DELETE "/v1/jobs/$later"
assert_status 200 "cancel of a job scheduled by run_at"

# Finished: 409, and the job is left as it was.
ht_http DELETE "/v1/jobs/$canary"
assert_problem 409 "cancel of a succeeded job"
assert_eq "$(ht_job_field "$canary" .status)" succeeded "status after a refused cancel"
ht_http DELETE "/v1/jobs/$queued"
assert_problem 409 "cancel of a canceled job"

# Unknown and malformed ids: 404.
ht_http DELETE /v1/jobs/0f8fad5b-d9cb-469f-a165-70867728950e
assert_problem 404 "cancel of an unknown job"
ht_http DELETE /v1/jobs/not-an-id
assert_problem 404 "cancel of a malformed id"

# Running: 202 with the document (still running) and where to watch it.
ht_submit '{"type": "sleep", "payload": {"ms": 20000, "steps": 20}}'
running=$HT_JOB
wait_until 15 "the sleep job runs" ht_job_is "$running" running
ht_http DELETE "/v1/jobs/$running"
assert_status 202 "cancel of a running job"
assert_eq "$(ht_header Location)" "/v1/jobs/$running" "Location of a cancel in progress"
assert_match "$(ht_json .status)" '^(running|canceled)$' "status right after the request"
wait_until 15 "the running job ends canceled" ht_job_is "$running" canceled

# A canceled job can be retried: it runs again with fresh attempts.
ht_http POST "/v1/jobs/$queued/retry"
assert_status 202 "retry of a canceled job"
assert_eq "$(ht_header Location)" "/v1/jobs/$queued" "Location of a retry"
assert_match "$(ht_json .status)" '^(queued|running|succeeded)$' "status after a retry"
wait_until 15 "the retried job succeeds" ht_job_is "$queued" succeeded
assert_json .attempt 1 "attempts after the retry"

# Methods on a job: GET, HEAD, DELETE.
ht_http PUT "/v1/jobs/$queued"
assert_problem 405 "PUT on a job"
assert_match "$(ht_header Allow)" 'DELETE' "Allow lists DELETE"
