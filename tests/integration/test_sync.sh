#!/usr/bin/env bash
# Sync mode: POST /v1/jobs with `Prefer: wait=N` holds the request, sends
# `102 Processing` every heartbeat on HTTP/1.1, and answers 200 with the
# finished document (or the usual 202 when N runs out).  HTTP/1.0 never
# gets a 1xx; HTTP/2 gets the final answer without heartbeats; the
# connection stays usable after a held request (keep-alive, pipelining).
source "$(dirname "$0")/lib.sh"

HB_MS=500 # the server's default heartbeat here: short, to keep the test fast
export HANGTIGHT_HEARTBEAT_MS=$HB_MS
ht_start_stack --worker-args --concurrency 4

sleep_job() { printf '{"type": "sleep", "payload": {"ms": %d, "steps": %d}}' "$1" "$2"; }

# The finished document of a sync answer in $1 (a body): succeeded, result.
assert_finished_doc() {
    local body=$1 what=$2
    jq -e '.status == "succeeded" and .result.slept_ms != null and .finished_at != null
           and .progress.percent == 100' <<<"$body" >/dev/null ||
        fail "$what: not the finished document: $body"
}

# ---- curl, HTTP/1.1: 102s, then 200 with the document -------------------
curl -si --max-time 30 -X POST "$HT_URL/v1/jobs" -H 'Content-Type: application/json' \
    -H 'Prefer: wait=10' --data-binary "$(sleep_job 2500 5)" >"$HT_TMP/sync.out"
tr -d '\r' <"$HT_TMP/sync.out" >"$HT_TMP/sync.txt"
n102=$(grep -c '^HTTP/1.1 102 Processing$' "$HT_TMP/sync.txt" || true)
((n102 >= 2)) || fail "expected at least 2 '102 Processing' lines, got $n102: $(cat "$HT_TMP/sync.txt")"
status_lines=$(grep '^HTTP/' "$HT_TMP/sync.txt")
assert_match "$(tail -n 1 <<<"$status_lines")" '^HTTP/1.1 200' "final status line"
assert_eq "$(grep -c '^HTTP/1.1 200' "$HT_TMP/sync.txt")" 1 "number of final answers"
# Interim responses come first: nothing but 102s before the 200.
assert_eq "$(head -n -1 <<<"$status_lines" | grep -vc '^HTTP/1.1 102 Processing$' || true)" 0 \
    "status lines before the final one"
final_headers=$(sed -n '/^HTTP\/1.1 200/,/^$/p' "$HT_TMP/sync.txt")
hdr() { awk -v n="${1,,}" -F': ' 'tolower($1) == n { sub(/^[^:]*: /, ""); print; exit }' <<<"$final_headers"; }
body=$(sed '1,/^HTTP\/1.1 200/d' "$HT_TMP/sync.txt" | sed '1,/^$/d')
id=$(jq -r .id <<<"$body")
assert_match "$id" '^[0-9a-f-]{36}$' "id in the sync answer"
assert_finished_doc "$body" "sync answer"
assert_eq "$(hdr Content-Location)" "/v1/jobs/$id" "Content-Location"
assert_match "$(hdr Preference-Applied)" 'wait=10' "Preference-Applied"
assert_match "$(hdr Vary)" '(^|[ ,])Prefer($|[ ,])' "Vary"
assert_match "$(hdr Content-Type)" '^application/json' "Content-Type"
assert_match "$(hdr ETag)" '^(W/)?".+"$' "ETag of the sync answer"
# It is the same document a poll gives.
ht_http GET "/v1/jobs/$id"
assert_status 200 "poll after a sync answer"
assert_json .status succeeded
assert_eq "$(ht_json .result)" "$(jq -r .result <<<"$body")" "result of sync answer vs poll"

# ---- raw socket: the 102s are spaced by the heartbeat ---------------------
ht_raw "$(jq -n --argjson job "$(sleep_job 3000 3)" \
    '{requests: [{method: "POST", path: "/v1/jobs", headers: {Prefer: "wait=15"}, json: $job}]}')"
r=$(ht_raw_json '.responses[0]')
assert_eq "$(jq -r .status <<<"$r")" 200 "raw sync status"
assert_finished_doc "$(jq -r .body <<<"$r")" "raw sync answer"
jq -e '.interim | length >= 3 and all(.status == 102 and .reason == "Processing")' <<<"$r" \
    >/dev/null || fail "expected >= 3 interim 102 Processing: $r"
# Loose bounds that a busy machine cannot break: the first heartbeat is not
# sent at once, consecutive ones are at least half a heartbeat apart, their
# median gap is within a few heartbeats, and the final answer comes after
# the last 102.
jq -e --argjson hb "$HB_MS" '
    [.interim[].t] as $t
    | ($t[0] >= $hb / 2000)
      and ([range(1; $t | length) | $t[.] - $t[. - 1]] as $gaps
           | all($gaps[]; . >= $hb / 2000)
             and ($gaps | sort | .[length / 2 | floor]) <= $hb * 4 / 1000)
      and (.t >= $t[-1])' <<<"$r" >/dev/null ||
    fail "interim responses not spaced by the ${HB_MS} ms heartbeat: $(jq -c '[.interim[].t], .t' <<<"$r")"

# A per-request heartbeat (seconds) is applied and said so.
ht_raw "$(jq -n --argjson job "$(sleep_job 3500 2)" \
    '{requests: [{method: "POST", path: "/v1/jobs", headers: {Prefer: "wait=15, heartbeat=1"}, json: $job}]}')"
r=$(ht_raw_json '.responses[0]')
assert_eq "$(jq -r .status <<<"$r")" 200 "sync status with heartbeat=1"
assert_match "$(jq -r '.headers["preference-applied"]' <<<"$r")" 'heartbeat=1' \
    "Preference-Applied names the heartbeat"
jq -e '(.interim | length) >= 2 and (.interim | length) <= 5
       and ([.interim[].t] as $t | all(range(1; $t | length); $t[.] - $t[. - 1] >= 0.5))' \
    <<<"$r" >/dev/null || fail "heartbeat=1 not applied: $(jq -c '[.interim[].t], .t' <<<"$r")"

# heartbeat=0: held without any 102.
ht_raw "$(jq -n --argjson job "$(sleep_job 1500 3)" \
    '{requests: [{method: "POST", path: "/v1/jobs", headers: {Prefer: "wait=10, heartbeat=0"}, json: $job}]}')"
r=$(ht_raw_json '.responses[0]')
assert_eq "$(jq -r .status <<<"$r")" 200 "sync status with heartbeat=0"
assert_eq "$(jq '.interim | length' <<<"$r")" 0 "interim responses with heartbeat=0"
assert_finished_doc "$(jq -r .body <<<"$r")" "heartbeat=0 answer"
jq -e '.t >= 1.0' <<<"$r" >/dev/null || fail "heartbeat=0 answered before the job ran: $r"

# ---- N runs out: the async 202, and the job goes on ----------------------
t0=$(ht_ms)
ht_http POST /v1/jobs "$(sleep_job 4000 4)" -H 'Prefer: wait=1'
elapsed=$(($(ht_ms) - t0))
assert_status 202 "wait=1 on a 4 s job"
id=$(ht_json .id)
assert_eq "$(ht_header Location)" "/v1/jobs/$id" "Location of the fallback"
assert_match "$(ht_header Retry-After)" '^[0-9]+$' "Retry-After of the fallback"
assert_ne "$(ht_json .status)" succeeded "status in the 202"
((elapsed >= 900 && elapsed < 4000)) || fail "wait=1 held the request ${elapsed} ms"
wait_until 20 "the job of the fallback succeeds" ht_job_is "$id" succeeded

# ---- ?wait=N for clients that cannot set headers -------------------------
ht_http POST '/v1/jobs?wait=10' "$(sleep_job 1000 2)"
assert_status 200 "?wait=10"
assert_json .status succeeded
assert_eq "$(ht_header Content-Location)" "/v1/jobs/$(ht_json .id)" "Content-Location with ?wait"
ht_http POST '/v1/jobs?wait=1' "$(sleep_job 4000 2)"
assert_status 202 "?wait=1 on a 4 s job"

# No Prefer: the plain async answer at once, as before.
t0=$(ht_ms)
ht_http POST /v1/jobs "$(sleep_job 2000 2)"
assert_status 202 "no Prefer"
(($(ht_ms) - t0 < 1500)) || fail "a submit without Prefer was held"
assert_eq "$(ht_header Preference-Applied)" "" "Preference-Applied without Prefer"

# ---- HTTP/1.0: never a 1xx, the right final answer -----------------------
curl -si -0 --max-time 30 -X POST "$HT_URL/v1/jobs" -H 'Content-Type: application/json' \
    -H 'Prefer: wait=10' --data-binary "$(sleep_job 2000 4)" | tr -d '\r' >"$HT_TMP/h10.txt"
assert_eq "$(grep -c '^HTTP/[0-9.]* 1[0-9][0-9]' "$HT_TMP/h10.txt" || true)" 0 "1xx lines on HTTP/1.0"
assert_match "$(head -n 1 "$HT_TMP/h10.txt")" '^HTTP/1\.[01] 200' "HTTP/1.0 final status"
assert_finished_doc "$(sed '1,/^$/d' "$HT_TMP/h10.txt")" "HTTP/1.0 answer"
# The same over a raw socket, where nothing could hide an interim response.
ht_raw "$(jq -n --argjson job "$(sleep_job 1500 3)" \
    '{requests: [{method: "POST", path: "/v1/jobs", version: "HTTP/1.0", headers: {Prefer: "wait=10"}, json: $job}]}')"
assert_eq "$(ht_raw_json '.responses[0].interim | length')" 0 "raw HTTP/1.0 interim responses"
assert_eq "$(ht_raw_json '.responses[0].status')" 200 "raw HTTP/1.0 status"

# ---- HTTP/2 (h2c): held without heartbeats, the right final answer -------
# One URL per curl call: Debian's curl 7.88 mishandles reused h2 connections.
curl -si --http2-prior-knowledge --max-time 30 -X POST "$HT_URL/v1/jobs" \
    -H 'Content-Type: application/json' -H 'Prefer: wait=10' \
    --data-binary "$(sleep_job 2000 4)" | tr -d '\r' >"$HT_TMP/h2.txt"
assert_match "$(head -n 1 "$HT_TMP/h2.txt")" '^HTTP/2 200' "HTTP/2 final status"
assert_eq "$(grep -c '^HTTP/2 1[0-9][0-9]' "$HT_TMP/h2.txt" || true)" 0 "1xx on HTTP/2"
h2body=$(sed '1,/^$/d' "$HT_TMP/h2.txt")
assert_finished_doc "$h2body" "HTTP/2 answer"
grep -qi "^content-location: /v1/jobs/$(jq -r .id <<<"$h2body")$" "$HT_TMP/h2.txt" ||
    fail "HTTP/2 answer has no Content-Location: $(cat "$HT_TMP/h2.txt")"
curl -si --http2-prior-knowledge --max-time 30 -X POST "$HT_URL/v1/jobs" \
    -H 'Content-Type: application/json' -H 'Prefer: wait=1' \
    --data-binary "$(sleep_job 4000 2)" | tr -d '\r' >"$HT_TMP/h2b.txt"
assert_match "$(head -n 1 "$HT_TMP/h2b.txt")" '^HTTP/2 202' "HTTP/2 fallback status"

# ---- keep-alive and pipelining after a held request ----------------------
# Sequential on one connection: held (200), held (202), then a plain GET.
ht_raw "$(jq -n --argjson a "$(sleep_job 1500 3)" --argjson b "$(sleep_job 4000 2)" '
    {requests: [{method: "POST", path: "/v1/jobs", headers: {Prefer: "wait=10"}, json: $a},
                {method: "POST", path: "/v1/jobs", headers: {Prefer: "wait=1"}, json: $b},
                {method: "GET", path: "/healthz"}]}')"
assert_eq "$(ht_raw_json '[.responses[].status] | join(",")')" "200,202,200" \
    "statuses on one keep-alive connection"
assert_eq "$(ht_raw_json '.responses[0].body | fromjson | .status')" succeeded "first held answer"
assert_eq "$(ht_raw_json '.responses[2].body | fromjson | .status')" ok "GET after held requests"
# Pipelined: a held POST and two GETs in one write; all answered, in order,
# the GETs only after the held POST (HTTP/1.1 answers in request order).
ht_raw "$(jq -n --argjson a "$(sleep_job 1500 3)" '
    {mode: "pipelined",
     requests: [{method: "POST", path: "/v1/jobs", headers: {Prefer: "wait=10"}, json: $a},
                {method: "GET", path: "/healthz"},
                {method: "GET", path: "/readyz"}]}')"
assert_eq "$(ht_raw_json '[.responses[].status] | join(",")')" "200,200,200" "pipelined statuses"
assert_eq "$(ht_raw_json '.responses[0].body | fromjson | .status')" succeeded "pipelined held answer"
jq -e '.responses[0].interim | length >= 1' <<<"$RAW" >/dev/null ||
    fail "pipelined held request got no 102: $RAW"
assert_eq "$(ht_raw_json '.responses[1].interim | length')" 0 "interim responses of the pipelined GET"
assert_eq "$(ht_raw_json '.responses[1].body | fromjson | .status')" ok "pipelined /healthz"
assert_eq "$(ht_raw_json '.responses[2].body | fromjson | .status')" ready "pipelined /readyz"

# ---- a bad Prefer is ignored, not an error (RFC 7240 section 2) ----------
ht_http POST /v1/jobs "$(sleep_job 100 1)" -H 'Prefer: wait=soon'
assert_status 202 "Prefer: wait=soon is ignored"

# The api is still healthy.
ht_http GET /healthz
assert_status 200 "healthz at the end"
