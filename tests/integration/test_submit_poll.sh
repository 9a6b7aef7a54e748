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

# ---- ht_submit's argument layouts ------------------------------------------
# The api leaves the fields at their default out of ht_submit (and the
# queue); an api of schema 18 and older, still running during a rolling
# upgrade, sends them all.  Both store the same job hash (created_at
# aside), for defaults and for other values, queued or scheduled, with or
# without an idempotency key.
# fields KEY: the job hash's fields and values, one "name<TAB>value" a
# line, sorted, without created_at (and idem_key's value: its name).
fields() {
    ht_redis --raw HGETALL "$1" | paste - - | sed 's/^\(idem_key\)\t.*/\1/' |
        grep -v '^created_at	' | LC_ALL=C sort
}
old_submit=0
# same_as_old_api BODY [RUN_AT_MS [IDEM]] OLD-LAYOUT-FIELDS...: submits
# BODY through the api and the same job with ht_submit as the api of
# schema 18 called it, then compares the hashes.
same_as_old_api() {
    local body=$1 run_at=$2 idem=$3 key old_key old_id base
    shift 3
    if [[ -n "$idem" ]]; then
        ht_submit "$body" -H "Idempotency-Key: $idem"
    else
        ht_submit "$body"
    fi
    key=$(ht_job_key "$HT_JOB")
    old_id=$(cat /proc/sys/kernel/random/uuid)
    old_key=$(ht_job_key "$old_id")
    base=${old_key%job:*}
    old_submit=$((old_submit + 1))
    ht_redis FCALL ht_submit 3 "$old_key" "${base}wait:default" "${base}signal" "$old_id" \
        "${base}events" "$run_at" "${idem:+${base}idem:default:old-$old_submit}" \
        "${idem:+$(printf %064d 0)}" "$@" >"$HT_TMP/old.out"
    assert_eq "$(head -n 1 "$HT_TMP/old.out")" 1 "version of the old layout's job ($body)"
    assert_eq "$(fields "$old_key")" "$(fields "$key")" "the job hash of $body, old layout against new"
    ht_http GET "/v1/jobs/$old_id"
    assert_status 200 "GET of the old layout's job ($body)"
    local old_doc
    old_doc=$(jq -S 'del(.id, .created_at, .links, .queue_position)' <<<"$HTTP_BODY")
    ht_http GET "/v1/jobs/$HT_JOB"
    assert_eq "$old_doc" "$(jq -S 'del(.id, .created_at, .links, .queue_position)' <<<"$HTTP_BODY")" \
        "the document of $body, old layout against new"
}
# Nothing claims them meanwhile: echo is paused.
ht_http POST '/v1/queues/default/pause?type=echo'
assert_status 200 "pause echo"
payload='{"a":1}'
same_as_old_api '{"type": "echo", "payload": {"a": 1}}' 0 "" \
    type echo queue default tenant default priority default payload "$payload" \
    max_attempts 3 timeout_s 300 ttl_s 86400 failed_ttl_s 604800
same_as_old_api '{"type": "echo", "payload": {"a": 1}, "priority": "high", "max_attempts": 5,
    "timeout_s": 60, "ttl_s": 100, "metadata": {"k": "v"}}' 0 "" \
    type echo queue default tenant default priority high payload "$payload" metadata '{"k":"v"}' \
    max_attempts 5 timeout_s 60 ttl_s 100 failed_ttl_s 604800
run_at=$(($(date +%s) + 3600))
same_as_old_api '{"type": "echo", "payload": {"a": 1}, "run_at": "'"$(date -u -d "@$run_at" +%Y-%m-%dT%H:%M:%SZ)"'"}' \
    "${run_at}000" \
    layout-idem type echo queue default tenant default priority default payload "$payload" \
    max_attempts 3 timeout_s 300 ttl_s 86400 failed_ttl_s 604800
ht_http POST '/v1/queues/default/resume?type=echo'
assert_status 200 "resume echo"
