#!/usr/bin/env bash
# Per-tenant limits: the request rate limiter (GCRA in Redis, shared by api
# processes) answers 429 + Retry-After to the tenant over it while another
# tenant is served as before, and a second api process on the same Redis
# shares the budget; the caps on held sync requests and on SSE streams per
# tenant answer 429 while another tenant still gets its own.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys a b

# ---- rate: 5/s with a burst of 10 -----------------------------------------

ht_start_stack --workers 0 --api-args --api-keys-file "$KEYS" --rate-limit 5:10
FIRST_URL=$HT_URL

# Tenant a sends 40 requests back to back on one connection (one process,
# so even a loaded machine sends them well above 5/s): the burst passes,
# the rest is mostly refused with 429 problem+json and Retry-After.
burst() { # burst KEY N URL: prints "status retry-after content-type" lines
    python3 - "$@" <<'PY'
import http.client, sys, urllib.parse
key, n, url = sys.argv[1], int(sys.argv[2]), urllib.parse.urlsplit(sys.argv[3])
c = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
for _ in range(n):
    c.request("GET", "/v1/queues", headers={"Authorization": "Bearer " + key})
    r = c.getresponse()
    r.read()
    print(r.status, r.getheader("Retry-After", "-"), r.getheader("Content-Type", "-"))
PY
}
burst "$A_KEY" 40 "$HT_URL" >"$HT_TMP/burst.txt"
ok=$(grep -c '^200 ' "$HT_TMP/burst.txt" || true)
limited=$(grep -c '^429 [1-9][0-9]* application/problem+json' "$HT_TMP/burst.txt" || true)
echo "tenant a: $ok allowed, $limited limited of 40"
((ok + limited == 40)) || fail "answers other than 200 or 429 problem+json with Retry-After: $(sort "$HT_TMP/burst.txt" | uniq -c)"
((ok >= 10)) || fail "the burst of 10 was not allowed ($ok)"
((limited >= 15)) || fail "too few requests limited ($limited of 40)"
ht_http GET /v1/queues "" "${a[@]}"
if [[ "$HTTP_STATUS" == 429 ]]; then
    assert_problem 429 "a over its rate"
    assert_jq '.detail | test("rate limit")' "the 429 says why"
fi
# Rejected requests are not counted: after a second a has budget again.
sleep 1.2
ht_http GET /v1/queues "" "${a[@]}"
assert_status 200 "a is served again after waiting"

# Tenant b is not slowed by a hammering from 4 parallel clients: its
# requests' time (curl's own time_total, without process start-up) stays
# within 10x its time on an idle server (at least 1 s: 2 shared cores).
b_ms() { # prints the time of one request of b in ms; fails unless 200
    local out
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 30 "${b[@]}" \
        "$FIRST_URL/v1/queues")
    [[ "${out% *}" == 200 ]] || fail "b's request answered ${out% *}"
    awk -v t="${out#* }" 'BEGIN { printf "%d\n", t * 1000 }'
}
idle=0
for _ in 1 2 3 4 5; do
    t=$(b_ms)
    ((t > idle)) && idle=$t
done
hammer() {
    local end=$((SECONDS + 4))
    while ((SECONDS < end)); do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "${a[@]}" "$FIRST_URL/v1/queues" ||
            true
    done >>"$HT_TMP/hammer.codes"
}
hammers=()
for _ in 1 2 3 4; do
    hammer &
    hammers+=($!)
done
wait_until 10 "a's hammering is under way" test -s "$HT_TMP/hammer.codes"
bound=$((idle * 10 > 1000 ? idle * 10 : 1000))
worst=0
for i in 1 2 3 4 5 6 7 8; do
    t=$(b_ms)
    ((t > worst)) && worst=$t
    sleep 0.25
done
wait "${hammers[@]}" # (a bare wait would wait for the api and redis too)
hammered=$(grep -c '^429$' "$HT_TMP/hammer.codes" || true)
echo "tenant b: slowest request ${worst} ms under a's hammering (${hammered} of a's requests got 429), ${idle} ms idle"
((hammered > 0)) || fail "the hammering tenant was never limited: no load to be isolated from"
((worst < bound)) || fail "b's slowest request took ${worst} ms while a was limited (idle: ${idle} ms)"

# A second api process on the same Redis shares the tenant's budget.
sleep 2.5 # a's bucket refills
ht_start_api --name api2 --api-keys-file "$KEYS" --rate-limit 5:10
SECOND_URL=$(ht_api_url api2)
burst "$A_KEY" 20 "$FIRST_URL" >"$HT_TMP/burst1.txt" &
first_burst=$!
burst "$A_KEY" 20 "$SECOND_URL" >"$HT_TMP/burst2.txt"
wait "$first_burst"
ok=$(cat "$HT_TMP/burst1.txt" "$HT_TMP/burst2.txt" | grep -c '^200 ' || true)
echo "two api processes: $ok of 40 allowed"
((ok < 30)) || fail "two api processes gave a far more than one budget ($ok of 40 quick requests)"
ht_stop api2
assert_eq "$HT_EXIT" 0 "api2 exit status"
ht_stop api
assert_eq "$HT_EXIT" 0 "api exit status"

# ---- held requests and SSE streams per tenant --------------------------------

ht_start_api --api-keys-file "$KEYS" --max-held-per-tenant 2 --max-streams-per-tenant 1 --metrics-public
ht_start_worker w1 --concurrency 4

held() { # held NAME KEY: a sync submit of a 20 s job, in the background
    curl -s -o "$HT_TMP/$1.body" -w '%{http_code}' -H "Authorization: Bearer $2" \
        -H 'Content-Type: application/json' -H 'Prefer: wait=30' \
        --data-binary '{"type": "sleep", "payload": {"ms": 20000, "steps": 200}}' \
        "$HT_URL/v1/jobs" >"$HT_TMP/$1.code" &
}
held h1 "$A_KEY"
held h2 "$A_KEY"
a_jobs() { ht_redis ZCARD "ht:{default}:t:a:$1"; }
a_listed() { # the ids of a's jobs, oldest first (GET /v1/jobs)
    ht_http GET '/v1/jobs?limit=100' "" "${a[@]}" >/dev/null
    ht_json '.jobs | reverse | .[].id'
}
# Held by the api (its gauge), not only written to Redis.
held_two() {
    ht_http GET /metrics "" "${b[@]}"
    grep -q '^hangtight_api_held_requests{kind="sync"} 2$' <<<"$HTTP_BODY"
}
wait_until 10 "a's two sync submits are held" held_two
assert_eq "$(a_listed | wc -l)" 2 "a's held jobs"
ht_http POST /v1/jobs '{"type": "echo"}' "${a[@]}" -H 'Prefer: wait=5'
assert_problem 429 "a's third held request"
assert_eq "$(ht_header Retry-After)" 1 "held cap: Retry-After"
assert_eq "$(a_listed | wc -l)" 2 "the refused sync submit made no job"
ht_http POST /v1/jobs '{"type": "echo"}' "${a[@]}"
assert_status 202 "a can still submit without waiting"
ht_http POST /v1/jobs '{"type": "echo", "payload": {"n": 1}}' "${b[@]}" -H 'Prefer: wait=10'
assert_status 200 "b's sync submit is held and answered while a is at its cap"
B_JOB=$(ht_json .id)

JOB_A=$(a_listed | head -n 1)
curl -s -N -o "$HT_TMP/sse1.out" "${a[@]}" "$HT_URL/v1/jobs/$JOB_A/events" &
wait_until 10 "a's first stream is open" test -s "$HT_TMP/sse1.out"
ht_http GET "/v1/jobs/$JOB_A/events" "" "${a[@]}" --max-time 3
assert_problem 429 "a's second event stream"
ht_http GET "/v1/jobs/$B_JOB/events" "" "${b[@]}" --max-time 5
assert_status 200 "b's stream of its finished job"
assert_match "$HTTP_BODY" 'event: status' "b's stream carries the job"

# Slots come back when requests end: cancel a's two 20 s jobs, the holds
# answer with the canceled jobs long before the jobs could have finished.
wait_until 10 "a's two held jobs run" eval '[[ $(a_jobs status:running) == 2 ]]'
canceled=0
for id in $(ht_redis ZRANGE 'ht:{default}:t:a:status:running' 0 -1); do
    ht_http DELETE "/v1/jobs/$id" "" "${a[@]}"
    assert_status 202 "cancel of a's running job"
    canceled=$((canceled + 1))
done
assert_eq "$canceled" 2 "running jobs of a canceled"
wait_until 10 "a's held requests are answered" \
    bash -c "[[ -s $HT_TMP/h1.code && -s $HT_TMP/h2.code ]]"
for h in h1 h2; do
    assert_eq "$(cat "$HT_TMP/$h.code")" 200 "a's held request $h ends"
    assert_eq "$(jq -r .status "$HT_TMP/$h.body")" canceled "a's held request $h answers the canceled job"
done
ht_http POST /v1/jobs '{"type": "echo"}' "${a[@]}" -H 'Prefer: wait=10'
assert_status 200 "a can hold again once its held requests ended"

echo "tenant limits: ok"
