#!/usr/bin/env bash
# The core loop over HTTP: submit a sleep job, poll it while it runs (status,
# progress, ETag, Retry-After, 304), and see it succeed with a result.
source "$(dirname "$0")/lib.sh"

ht_start_stack --worker-args --concurrency 2

# 12 s in 12 steps: a window that a loaded machine's polls (a curl and a jq
# each) do not miss.
ht_http POST /v1/jobs '{"type": "sleep", "payload": {"ms": 12000, "steps": 12}}'
assert_status 202 "submit"
assert_match "$(ht_header Content-Type)" '^application/json' "submit Content-Type"
id=$(ht_json .id)
assert_match "$id" '^[0-9a-f]{8}-[0-9a-f]{4}-[48][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "job id (UUIDv4; v8 with partitions)"
assert_eq "$(ht_header Location)" "/v1/jobs/$id" "Location"
assert_eq "$(ht_header Operation-Location)" "/v1/jobs/$id" "Operation-Location"
assert_match "$(ht_header Retry-After)" '^[0-9]+$' "Retry-After"
assert_match "$(ht_header ETag)" '^(W/)?".+"$' "ETag"
assert_json .status queued
assert_json .type sleep
assert_json .attempt 0
assert_json .max_attempts 3
assert_json .links.self "/v1/jobs/$id"
assert_match "$(ht_json .created_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' "created_at"

# While it runs: status running, progress above zero with a message.
saw_progress() {
    ht_http GET "/v1/jobs/$id"
    [[ "$HTTP_STATUS" == 200 ]] || fail "poll: $HTTP_STATUS $HTTP_BODY"
    jq -e '.status == "running" and (.progress.percent // 0) > 0 and (.progress.percent < 100)
           and (.progress.message | type == "string" and length > 0)' \
        <<<"$HTTP_BODY" >/dev/null
}
wait_until 15 "the job runs and reports progress" saw_progress
assert_json .attempt 1
assert_match "$(ht_json .started_at)" '^[0-9]{4}-.*Z$' "started_at while running"
assert_json .finished_at null
assert_match "$(ht_header Retry-After)" '^[0-9]+$' "Retry-After while running"
etag1=$(ht_header ETag)
pct1=$(ht_json .progress.percent)
assert_ne "$etag1" "" "ETag while running"

# The same ETag gives 304 with no body as long as nothing changed...
ht_http GET "/v1/jobs/$id" '' -H "If-None-Match: $etag1"
if [[ "$HTTP_STATUS" == 304 ]]; then
    assert_eq "$HTTP_BODY" "" "304 body"
else
    # ...unless progress moved in between: then it is a fresh 200 and ETag.
    assert_status 200 "conditional GET"
    assert_ne "$(ht_header ETag)" "$etag1" "ETag after a change"
fi

# The ETag changes with progress.
progress_moved() {
    ht_http GET "/v1/jobs/$id"
    [[ "$(ht_json .progress.percent)" != "$pct1" || "$(ht_json .status)" != running ]]
}
wait_until 10 "progress moves on" progress_moved
assert_ne "$(ht_header ETag)" "$etag1" "ETag after progress"

# And it finishes with a result.
wait_until 30 "the job succeeds" ht_job_is "$id" succeeded
assert_jq '.result != null' "result present"
assert_jq ".progress.percent >= $pct1" "final progress"
assert_json .error null
assert_match "$(ht_json .finished_at)" '^[0-9]{4}-.*Z$' "finished_at"
etag_done=$(ht_header ETag)
assert_ne "$etag_done" "" "ETag when finished"
ht_http GET "/v1/jobs/$id" '' -H "If-None-Match: $etag_done"
assert_status 304 "If-None-Match with the current ETag"
assert_eq "$HTTP_BODY" "" "304 body"
ht_http GET "/v1/jobs/$id" '' -H 'If-None-Match: "not-the-etag"'
assert_status 200 "If-None-Match with another ETag"
