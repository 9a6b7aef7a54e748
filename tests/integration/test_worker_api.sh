#!/usr/bin/env bash
# The HTTP worker API (docs/handlers.md, "HTTP worker API") against the real
# api and Redis, with no hangtight-worker at all (the api requeues lost
# leases and promotes retries itself while remote workers use it):
#  - a claim registers its types (submits of them are accepted), answers 204
#    after its wait_s, and a held claim is woken by a submit;
#  - the claim answer: the job's fields, its payload as stored, the token and
#    the lease; only the types asked for (another type's job stays queued,
#    its attempt not counted);
#  - progress renews the lease (an empty one is a heartbeat) and stores
#    percent and message; a cancel while running is 409 job-canceled, and a
#    fail then ends the job canceled;
#  - complete stores the result (a second complete is 409 stale-token);
#    claim_next claims the next job in the same call;
#  - fail with retry false fails the job; with retry true it runs again
#    (attempt 2) until its attempts are spent;
#  - a lease that runs out (no renewal) requeues the job: the old token is
#    409 stale-token for progress and complete, and the next claim is
#    attempt 2;
#  - a held claim whose client hung up takes no job;
#  - /metrics and the dashboard's reading of it show the remote worker;
#  - bad requests: 400, 404, 415, 422 problems.
source "$(dirname "$0")/lib.sh"

# A lease long enough for the steps between a claim and its calls on a
# busy machine; the lost lease below uses an api of a short lease.
export HANGTIGHT_LEASE_MS=20000 HANGTIGHT_RETRY_BASE_MS=100
ht_start_stack --workers 0
ht_start_api --name short --lease-ms 2000
SHORT_URL=$(ht_api_url short)

claim() { ht_http POST /v1/worker/claim "$1"; }
wcall() { ht_http POST "/v1/worker/jobs/$1/$2" "$3"; }
# 0 when the api holds N claims (hangtight_api_held_requests on /metrics).
claims_held() {
    local n
    n=$(curl -s "$HT_URL/metrics" | awk '/^hangtight_api_held_requests\{kind="worker_claim"\}/ { print $2 }')
    [[ "$n" == "$1" ]]
}

# ---- types: registered by the claim ---------------------------------------------
ht_http POST /v1/jobs '{"type": "wt.a"}'
assert_problem 422 "a type nobody serves yet"
assert_json '.errors[0].code' unknown_type
t0=$(ht_ms)
claim '{"types": ["wt.a", "wt.b", "wt.a"], "worker": "t1"}'
assert_status 204 "a claim with nothing queued, wait_s 0"
(($(ht_ms) - t0 < 10000)) || fail "a claim without wait_s took $(($(ht_ms) - t0)) ms"
assert_eq "$(ht_header Cache-Control)" no-store "claim Cache-Control"
ht_submit '{"type": "wt.a", "payload": {"n": 1.50, "s": "ß<&>", "deep": [{"x": null}]}, "metadata": {"k": "v"}}'
A=$HT_JOB
rec=$(ht_redis --raw HGET ht:workers http:t1)
schema=$(grep -oP '^local SCHEMA = \K[0-9]+' "$HT_SOURCE_DIR/shared/library.lua")
jq -e --argjson s "$schema" '.kind == "http" and .name == "t1" and .types == ["wt.a", "wt.b"] and
    .schema == $s' <<<"$rec" >/dev/null ||
    fail "the worker's record: $rec"

# ---- claim, progress, complete ---------------------------------------------------------
claim '{"types": ["wt.a"], "worker": "t1"}'
assert_status 200 "claim of a queued job"
assert_json .job.id "$A"
assert_json .job.type wt.a
assert_json .job.attempt 1
assert_json .job.max_attempts 3
assert_json .job.tenant default
assert_json .job.metadata.k v
assert_json .lease_ms 20000
assert_jq '.job.payload == {"n": 1.5, "s": "ß<&>", "deep": [{"x": null}]}' "the payload came back"
assert_jq '(.token | test("^[0-9]+$")) and (.job.deadline_ms > 0) and (.lease_expires_at | test("Z$"))'
# The payload is the stored text, byte for byte.
stored=$(ht_redis --raw HGET "$(ht_job_key "$A")" payload)
assert_eq "$(jq -c .job.payload <<<"$HTTP_BODY")" "$(jq -c . <<<"$stored")" "payload as stored"
grep -qF "\"payload\":$stored}" "$HT_TMP/http.body" || fail "the payload is not the stored bytes: $HTTP_BODY"
tok=$(ht_json .token)
assert_eq "$(ht_job_hget "$A" worker)" http:t1 "the job's worker"
assert_eq "$(ht_job_field "$A" .status)" running "status after the claim"

score=$(ht_redis ZSCORE "$(ht_job_tag_key "$A" active)" "$A")
sleep 0.05
wcall "$A" progress "{\"token\": \"$tok\"}"
assert_status 200 "a heartbeat"
assert_json .cancel_requested false
assert_json .lease_ms 20000
renewed=$(ht_redis ZSCORE "$(ht_job_tag_key "$A" active)" "$A")
((renewed > score)) || fail "the heartbeat did not renew the lease ($score -> $renewed)"
wcall "$A" progress "{\"token\": \"$tok\", \"percent\": 49.6, \"message\": \"half way\"}"
assert_status 200 "progress"
ht_http GET "/v1/jobs/$A"
assert_json .progress.percent 50
assert_json .progress.message "half way"

wcall "$A" complete "{\"token\": \"$tok\", \"result\": {\"pages\": 10}}"
assert_status 200 "complete"
assert_json .id "$A"
assert_json .status succeeded
assert_json .result.pages 10
assert_jq 'has("next") | not' "no next without claim_next"
wcall "$A" complete "{\"token\": \"$tok\", \"result\": 2}"
assert_problem 409 "a second complete"
assert_json .type urn:hangtight:problem:stale-token
wcall "$A" fail "{\"token\": \"$tok\", \"error\": \"late\"}"
assert_problem 409 "a fail after complete"
assert_json .type urn:hangtight:problem:stale-token
assert_eq "$(ht_job_field "$A" .result.pages)" 10 "the first outcome stands"

# ---- fail: retry false, retry true ----------------------------------------------------
ht_submit '{"type": "wt.a", "payload": {}}'
B=$HT_JOB
claim '{"types": ["wt.a"]}'
assert_json .job.id "$B"
wcall "$B" fail "{\"token\": \"$(ht_json .token)\", \"error\": \"bad input\", \"retry\": false}"
assert_status 200 "fail, retry false"
assert_json .status failed
assert_json .attempt 1
assert_json .error.code handler_error
assert_json .error.message "bad input"

ht_submit '{"type": "wt.a", "max_attempts": 2}'
C=$HT_JOB
claim '{"types": ["wt.a"]}'
assert_json .job.id "$C"
wcall "$C" fail "{\"token\": \"$(ht_json .token)\", \"error\": {\"code\": \"flaky\", \"message\": \"try again\"}}"
assert_status 200 "fail, retry true"
assert_jq '.status == "scheduled" or .status == "queued"' "retried"
assert_json .error.code flaky
claim '{"types": ["wt.a"], "wait_s": 20}'
assert_status 200 "the retry, claimed (promoted by the api)"
assert_json .job.id "$C"
assert_json .job.attempt 2
wcall "$C" fail "{\"token\": \"$(ht_json .token)\", \"error\": \"again\"}"
assert_json .status failed
assert_json .attempt 2

# ---- cancel while running -----------------------------------------------------------------
ht_submit '{"type": "wt.a"}'
D=$HT_JOB
claim '{"types": ["wt.a"]}'
tok=$(ht_json .token)
ht_http DELETE "/v1/jobs/$D"
assert_status 202 "cancel of a running job"
wcall "$D" progress "{\"token\": \"$tok\"}"
assert_problem 409 "progress of a canceled job"
assert_json .type urn:hangtight:problem:job-canceled
wcall "$D" fail "{\"token\": \"$tok\", \"error\": \"stopped\"}"
assert_status 200 "fail of a canceled job"
assert_json .status canceled

# ---- a lease that runs out -------------------------------------------------------------------
ht_submit '{"type": "wt.a"}'
E=$HT_JOB
HT_URL=$SHORT_URL claim '{"types": ["wt.a"], "worker": "lost"}'
assert_json .lease_ms 2000 "the short api's lease"
assert_json .job.id "$E"
tok=$(ht_json .token)
wait_until 30 "the lost lease is requeued by the api" ht_job_is "$E" queued
{ ht_log_has api 'requeued jobs whose lease ran out' || ht_log_has short 'requeued jobs whose lease ran out'; } ||
    fail "no api said it requeued"
wcall "$E" progress "{\"token\": \"$tok\"}"
assert_problem 409 "progress with a lost lease's token"
assert_json .type urn:hangtight:problem:stale-token
wcall "$E" complete "{\"token\": \"$tok\", \"result\": \"late\"}"
assert_problem 409 "complete with a lost lease's token"
assert_json .type urn:hangtight:problem:stale-token
claim '{"types": ["wt.a"]}'
assert_json .job.id "$E"
assert_json .job.attempt 2
wcall "$E" complete "{\"token\": \"$(ht_json .token)\", \"result\": \"on time\"}"
assert_json .result "on time"

# ---- held claims ------------------------------------------------------------------------------
# Nothing comes: 204 once wait_s is up, not before.
t0=$(ht_ms)
claim '{"types": ["wt.a"], "wait_s": 2}'
took=$(($(ht_ms) - t0))
assert_status 204 "a held claim that nothing came to"
((took >= 1900 && took < 12000)) || fail "a 2 s claim answered after $took ms"

# A submit wakes a held claim.
curl -s -o "$HT_TMP/held.body" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
    --data-binary '{"types": ["wt.a"], "wait_s": 30}' "$HT_URL/v1/worker/claim" >"$HT_TMP/held.status" &
held=$!
wait_until 10 "the claim is held" claims_held 1
ht_submit '{"type": "wt.a"}'
F=$HT_JOB
t0=$(ht_ms)
wait "$held"
took=$(($(ht_ms) - t0))
assert_eq "$(cat "$HT_TMP/held.status")" 200 "the held claim's answer"
assert_eq "$(jq -r .job.id "$HT_TMP/held.body")" "$F" "the held claim got the job"
log "a held claim answered $took ms after the submit"
((took < 10000)) || fail "the held claim took $took ms to wake"
wcall "$F" complete "{\"token\": \"$(jq -r .token "$HT_TMP/held.body")\"}"
assert_json .status succeeded
assert_json .result null

# A held claim whose client hung up takes no job: the next claim gets it,
# attempt 1.
curl -s -o /dev/null --max-time 1 -H 'Content-Type: application/json' \
    --data-binary '{"types": ["wt.a"], "wait_s": 30}' "$HT_URL/v1/worker/claim" || true
ht_submit '{"type": "wt.a"}'
G=$HT_JOB
claim '{"types": ["wt.a"], "wait_s": 10}'
assert_status 200 "the claim after a client left"
assert_json .job.id "$G"
assert_json .job.attempt 1
wait_until 10 "no claim stays held" claims_held 0

# ---- only the types asked for --------------------------------------------------------------
ht_submit '{"type": "wt.b"}'
H=$HT_JOB
claim '{"types": ["wt.a"]}'
assert_status 204 "a claim for another type"
ht_http GET "/v1/jobs/$H"
assert_json .status queued "the other type's job waits"
assert_json .attempt 0 "its attempt is not counted"
claim '{"types": ["wt.b"]}'
assert_json .job.id "$H"
assert_json .job.attempt 1
htok=$(ht_json .token)

# ---- claim_next ------------------------------------------------------------------------------
ht_submit '{"type": "wt.b", "payload": {"i": 2}}'
I=$HT_JOB
wcall "$H" complete "{\"token\": \"$htok\", \"claim_next\": {\"types\": [\"wt.b\"], \"worker\": \"t1\"}}"
assert_status 200 "complete with claim_next"
assert_json .status succeeded
assert_json .next.job.id "$I"
assert_json .next.job.payload.i 2
itok=$(ht_json .next.token)
wcall "$I" complete "{\"token\": \"$itok\", \"claim_next\": {\"types\": [\"wt.b\"]}}"
assert_json .status succeeded
assert_json .next null

# ---- what the api shows ---------------------------------------------------------------------
# A worker name of its own: t1 claimed with other type lists above, and each
# api thread rewrites a worker's record only when the list it saw changes
# (docs/handlers.md), so t1's record may hold another call's list.
ht_submit '{"type": "wt.a"}'
claim '{"types": ["wt.a"], "worker": "t9"}'
J=$(ht_json .job.id)
jtok=$(ht_json .token)
metrics=$(curl -s "$HT_URL/metrics")
grep -qE '^hangtight_remote_worker_jobs_held\{worker="t9"\} 1$' <<<"$metrics" ||
    fail "/metrics: t9 holds 1 job: $(grep remote <<<"$metrics")"
grep -qE '^hangtight_remote_worker_types\{type="wt.a",worker="t9"\} 1$' <<<"$metrics" ||
    fail "/metrics: t9 serves wt.a"
grep -qE '^hangtight_remote_worker_last_seen_seconds\{worker="t9"\} [0-9.e+]+$' <<<"$metrics" ||
    fail "/metrics: t9 last seen"
# The dashboard's reading of the same page (its own functions, run by Node).
rows=$(node --input-type=module -e '
    const base = process.argv[1];
    const src = await (await fetch(base + "/dashboard/app.js")).text();
    const fns = ["metricSamples", "remoteRows"].map((n) => {
        const m = src.match(new RegExp("function " + n + "[\\s\\S]*?\\n}\\n"));
        if (!m) throw new Error("no " + n + " in app.js");
        return m[0];
    });
    const remoteRows = new Function(fns.join("\n") + "; return remoteRows;")();
    console.log(JSON.stringify(remoteRows(await (await fetch(base + "/metrics")).text())));
' "$HT_URL") || fail "the dashboard's remote worker rows: $rows"
jq -e 'any(.[]; .worker == "t9" and .jobs_held == 1 and (.types | index("wt.a")) and .last_seen_seconds > 0)' \
    <<<"$rows" >/dev/null || fail "the dashboard reads the remote workers wrong: $rows"
wcall "$J" complete "{\"token\": \"$jtok\"}"
assert_status 200

# ---- bad requests ------------------------------------------------------------------------------
claim '{"types": []}'
assert_problem 422 "no types"
claim '{"types": ["Bad Type"], "wait_s": -1, "worker": "a b", "extra": 1}'
assert_problem 422 "four bad fields"
assert_json '.errors | length' 4
assert_jq '[.errors[].pointer] | sort == ["", "/types", "/wait_s", "/worker"]'
claim '{"wait_s": 1}'
assert_problem 422 "types missing"
assert_json '.errors[0].code' required
claim '{"types": '
assert_problem 400 "malformed JSON"
claim '[1]'
assert_problem 422 "not an object"
ht_http POST /v1/worker/claim '' -H 'Content-Type: text/plain' --data-binary 'x'
assert_problem 415 "not JSON"
ht_http GET /v1/worker/claim
assert_problem 405 "GET of the claim"
wcall not-an-id progress '{"token": "1"}'
assert_problem 404 "a malformed id"
wcall 5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11 progress '{"token": "1"}'
assert_problem 404 "an unknown job's progress"
assert_json .type urn:hangtight:problem:job-not-found
wcall 5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11 complete '{"token": "1"}'
assert_problem 404 "an unknown job's complete"
wcall 5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11 fail '{"token": "1", "error": "x"}'
assert_problem 404 "an unknown job's fail"
wcall "$A" progress '{"token": 7, "percent": 101, "message": 3}'
assert_problem 422 "bad progress fields"
assert_json '.errors | length' 3
wcall "$A" fail '{"token": "1", "error": {"code": "Bad Code"}, "retry": "no"}'
assert_problem 422 "bad fail fields"
assert_jq '[.errors[].pointer] | sort == ["/error/code", "/error/message", "/retry"]'
wcall "$A" complete '{"token": "1", "claim_next": {"types": "wt.a"}}'
assert_problem 422 "bad claim_next"
assert_json '.errors[0].pointer' /claim_next/types
long=$(printf 'x%.0s' $(seq 1025))
wcall "$A" progress "{\"token\": \"1\", \"message\": \"$long\"}"
assert_problem 422 "a progress message over 1024 bytes"

log "worker API: all paths checked"
