#!/usr/bin/env bash
# Long polls: GET /v1/jobs/{id} with If-None-Match and `Prefer: wait=N`
# answers as soon as the job changes (state or progress) with a new ETag,
# or 304 after N; without Prefer a matching ETag is an immediate 304.
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_HEARTBEAT_MS=500
ht_start_stack --workers 0

# Times one conditional GET: sets ELAPSED (ms) besides HTTP_STATUS/BODY.
ELAPSED=
timed_get() {
    local t0
    t0=$(ht_ms)
    ht_http GET "$@"
    ELAPSED=$(($(ht_ms) - t0))
}

# ---- a queued job: the claim by a worker started later ends the poll -------
ht_submit '{"type": "sleep", "payload": {"ms": 6000, "steps": 3}}'
id=$HT_JOB
ht_http GET "/v1/jobs/$id"
etag=$(ht_header ETag)
assert_match "$etag" '^(W/)?".+"$' "ETag of the queued job"
# Nothing changes while no worker runs: 304 after about N.
timed_get "/v1/jobs/$id" '' -H "If-None-Match: $etag" -H 'Prefer: wait=2'
assert_status 304 "long poll on an unchanged job"
assert_eq "$HTTP_BODY" "" "304 body"
((ELAPSED >= 1800 && ELAPSED < 8000)) || fail "304 came after ${ELAPSED} ms, not about 2 s"
# A 20 s long poll, held by the api (its gauge says so) when the worker
# starts: the claim answers it.
curl -s -o "$HT_TMP/lp.body" -D "$HT_TMP/lp.headers" -w '%{http_code}' --max-time 30 \
    -H "If-None-Match: $etag" -H 'Prefer: wait=20' "$HT_URL/v1/jobs/$id" >"$HT_TMP/lp.code" &
poll=$!
poll_held() {
    ht_http GET /metrics
    grep -q '^hangtight_api_held_requests{kind="long_poll"} 1$' <<<"$HTTP_BODY"
}
wait_until 10 "the api holds the long poll" poll_held
t0=$(ht_ms)
ht_start_worker w1
wait "$poll"
ELAPSED=$(($(ht_ms) - t0))
HTTP_STATUS=$(<"$HT_TMP/lp.code") HTTP_BODY=$(<"$HT_TMP/lp.body")
cp "$HT_TMP/lp.headers" "$HT_TMP/http.headers"
assert_status 200 "long poll when the job is claimed"
assert_json .status running "status after the claim"
assert_ne "$(ht_header ETag)" "$etag" "ETag after the claim"
((ELAPSED < 10000)) || fail "the claim ended the long poll ${ELAPSED} ms after the worker started"

# ---- progress ends a long poll too, well before N ------------------------
etag=$(ht_header ETag)
pct=$(ht_json '.progress.percent // 0')
timed_get "/v1/jobs/$id" '' -H "If-None-Match: $etag" -H 'Prefer: wait=30'
assert_status 200 "long poll on progress"
new_etag=$(ht_header ETag)
assert_ne "$new_etag" "$etag" "ETag after progress"
assert_jq "(.progress.percent // 0) > $pct or .status != \"running\"" "progress moved"
((ELAPSED < 10000)) || fail "progress ended the long poll only after ${ELAPSED} ms"

# A stale ETag is answered at once (the job already changed since).  "At
# once" in these checks: well under the 30 s a held request would take, with
# room for a loaded machine.
AT_ONCE_MS=10000
timed_get "/v1/jobs/$id" '' -H "If-None-Match: $etag" -H 'Prefer: wait=30'
assert_status 200 "long poll with a stale ETag"
((ELAPSED < AT_ONCE_MS)) || fail "a stale ETag was held ${ELAPSED} ms"

# Follow the job to its end with long polls only: each answer is a change.
wait_done() {
    local e
    e=$(ht_header ETag)
    ht_http GET "/v1/jobs/$id" '' -H "If-None-Match: $e" -H 'Prefer: wait=30'
    [[ "$HTTP_STATUS" == 200 || "$HTTP_STATUS" == 304 ]] || fail "long poll: $HTTP_STATUS $HTTP_BODY"
    [[ "$HTTP_STATUS" == 200 && "$(ht_json .status)" == succeeded ]]
}
ht_http GET "/v1/jobs/$id"
wait_until 30 "the job succeeds (long polls)" wait_done
done_etag=$(ht_header ETag)

# ---- a finished job will not change: 304 at once, not after N -------------
timed_get "/v1/jobs/$id" '' -H "If-None-Match: $done_etag" -H 'Prefer: wait=30'
assert_status 304 "long poll on a finished job"
((ELAPSED < AT_ONCE_MS)) || fail "a long poll on a finished job was held ${ELAPSED} ms"
# Without Prefer: at once.
timed_get "/v1/jobs/$id" '' -H "If-None-Match: $done_etag"
assert_status 304 "conditional GET without Prefer"
((ELAPSED < AT_ONCE_MS)) || fail "a conditional GET without Prefer took ${ELAPSED} ms"
# Prefer without If-None-Match is a plain GET.
timed_get "/v1/jobs/$id" '' -H 'Prefer: wait=30'
assert_status 200 "Prefer: wait without If-None-Match"
((ELAPSED < AT_ONCE_MS)) || fail "a GET without If-None-Match was held ${ELAPSED} ms"
# An unknown job is a 404 at once, not a wait.
timed_get /v1/jobs/1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b '' -H 'If-None-Match: "3"' \
    -H 'Prefer: wait=30'
assert_problem 404 "long poll on an unknown job"
((ELAPSED < AT_ONCE_MS)) || fail "a long poll on an unknown job took ${ELAPSED} ms"

# ---- several long polls on one job all wake on one change ----------------
ht_submit '{"type": "sleep", "payload": {"ms": 3000, "steps": 1}}'
id2=$HT_JOB
wait_until 10 "the second job runs" ht_job_is "$id2" running
etag2=$(ht_header ETag)
pids=()
for i in 1 2 3 4 5; do
    curl -s -o "$HT_TMP/lp$i.body" -w '%{http_code}' --max-time 30 \
        -H "If-None-Match: $etag2" -H 'Prefer: wait=25' "$HT_URL/v1/jobs/$id2" \
        >"$HT_TMP/lp$i.code" &
    pids+=($!)
done
t0=$(ht_ms)
for p in "${pids[@]}"; do wait "$p"; done
elapsed=$(($(ht_ms) - t0))
for i in 1 2 3 4 5; do
    assert_eq "$(cat "$HT_TMP/lp$i.code")" 200 "parallel long poll $i"
    assert_match "$(jq -r .status "$HT_TMP/lp$i.body")" '^(running|succeeded)$' "parallel poll $i"
done
((elapsed < 15000)) || fail "parallel long polls took ${elapsed} ms"
