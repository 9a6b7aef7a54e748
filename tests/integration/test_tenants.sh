#!/usr/bin/env bash
# API keys and tenants: every /v1 route needs a key (401 + WWW-Authenticate
# otherwise), health stays open, a tenant never sees another tenant's jobs
# (404 on every route of the job, lists and counts of its own), keys in
# clear and as SHA-256 both work, SIGHUP reloads the file (and a broken
# file keeps the old keys), and a body cannot set server-owned fields.
source "$(dirname "$0")/lib.sh"

ACME_KEY=acme-key-0123456789abcdef
ACME_KEY2=acme-second-key-0123456789
GLOBEX_KEY=globex-key-0123456789abcdef
GLOBEX_SHA=$(printf '%s' "$GLOBEX_KEY" | sha256sum | cut -d' ' -f1)
KEYS=$HT_TMP/keys
cat >"$KEYS" <<EOF
# tenants of this test
acme:$ACME_KEY
acme:$ACME_KEY2

globex:sha256:$GLOBEX_SHA
EOF

ht_start_stack --api-args --api-keys-file "$KEYS" --worker-args --concurrency 2

acme=(-H "Authorization: Bearer $ACME_KEY")
acme2=(-H "Authorization: bearer $ACME_KEY2") # the scheme is case-insensitive
globex=(-H "Authorization: Bearer $GLOBEX_KEY")

# ---- who may ask ----------------------------------------------------------

for route in "GET /v1/jobs" "POST /v1/jobs" "GET /v1/queues" "GET /v1/nothing-here" \
    "GET /v1/jobs/00000000-0000-4000-8000-000000000000"; do
    ht_http ${route% *} "${route#* }"
    assert_problem 401 "$route without a key"
    assert_match "$(ht_header WWW-Authenticate)" '^Bearer realm="hangtight"$' "$route: challenge"
done
ht_http GET /v1/jobs "" -H "Authorization: Bearer wrong-key-0123456789abcdef"
assert_problem 401 "a wrong key"
assert_match "$(ht_header WWW-Authenticate)" 'error="invalid_token"' "wrong key: challenge"
ht_http GET /v1/jobs "" -H "Authorization: Basic $(printf 'acme:%s' "$ACME_KEY" | base64 -w0)"
assert_problem 401 "Basic instead of Bearer"
ht_http GET /v1/jobs "" -H "Authorization: Bearer $GLOBEX_SHA"
assert_problem 401 "the stored hash is not a key"
ht_http GET /healthz
assert_status 200 "/healthz stays open"
ht_http GET /readyz
assert_status 200 "/readyz stays open"
ht_http GET /metrics
assert_problem 401 "/metrics without a key (keys configured, not --metrics-public)"
ht_http GET /metrics "" "${globex[@]}"
assert_problem 403 "/metrics with a tenant's key (it takes an operator key: test_operator)"
grep -q '"API keys loaded"' "${HT_LOGS[api]}" || fail "no 'API keys loaded' log line"
if grep -q 'no API keys file' "${HT_LOGS[api]}"; then fail "open-mode warning with a keys file"; fi

# ---- what a tenant sees ---------------------------------------------------

ht_submit '{"type": "sleep", "payload": {"ms": 30000, "steps": 300}}' "${acme[@]}"
A_RUNNING=$HT_JOB
assert_eq "$(ht_job_hget "$A_RUNNING" tenant)" acme "the job is stored as acme's"
ht_submit '{"type": "fail", "max_attempts": 1}' "${acme[@]}"
A_FAILED=$HT_JOB
ht_submit '{"type": "echo"}' "${globex[@]}"
G_JOB=$HT_JOB
# Each tenant joined the partition's tenants at its first submit (its
# submitted total 1), once.
assert_eq "$(ht_redis SMEMBERS 'ht:{default}:tenants' | LC_ALL=C sort | paste -sd' ')" \
    "acme globex" "the tenants recorded"
assert_eq "$(ht_redis HGET 'ht:{default}:t:acme:stats' submitted)" 2 "acme's submits"
wait_until 20 "acme's jobs run and fail" \
    bash -c "[[ \$(redis-cli -p $HT_REDIS_PORT HGET 'ht:{default}:job:$A_FAILED' status) == failed &&
               \$(redis-cli -p $HT_REDIS_PORT HGET 'ht:{default}:job:$A_RUNNING' status) == running ]]"

ht_http GET "/v1/jobs/$A_RUNNING" "" "${acme2[@]}"
assert_status 200 "acme reads its job with its second key"
ht_http GET "/v1/jobs/00000000-0000-4000-8000-000000000000" "" "${globex[@]}"
assert_problem 404 "an id that does not exist"
missing_body=$(jq -c 'del(.detail)' <<<"$HTTP_BODY")
for route in "GET /v1/jobs/$A_RUNNING" "GET /v1/jobs/$A_RUNNING/events" \
    "DELETE /v1/jobs/$A_RUNNING" "POST /v1/jobs/$A_FAILED/retry" "GET /v1/jobs/$A_FAILED"; do
    ht_http ${route% *} "${route#* }" "" "${globex[@]}"
    assert_problem 404 "globex: $route"
    assert_eq "$(jq -c 'del(.detail)' <<<"$HTTP_BODY")" "$missing_body" \
        "globex: $route answers like a missing id"
done
# Long poll and sync-style reads of another tenant's job: 404 as well.
ht_http GET "/v1/jobs/$A_RUNNING" "" "${globex[@]}" -H 'Prefer: wait=5' -H 'If-None-Match: "1"'
assert_problem 404 "globex: long poll of acme's job"
# Nothing changed: the running job still runs, the failed one stays failed.
assert_eq "$(ht_job_hget "$A_RUNNING" status)" running "acme's job after globex's cancel"
assert_eq "$(ht_job_hget "$A_RUNNING" cancel_requested)" "" "no cancel requested by globex"
assert_eq "$(ht_job_hget "$A_FAILED" status)" failed "acme's dead letter after globex's retry"

ht_http GET /v1/jobs "" "${acme[@]}"
assert_status 200
assert_jq '[.jobs[].id] | sort' "acme lists"
assert_eq "$(ht_json '[.jobs[].id] | sort | join(",")')" \
    "$(printf '%s\n' "$A_RUNNING" "$A_FAILED" | sort | paste -sd,)" "acme lists exactly its jobs"
ht_http GET /v1/jobs "" "${globex[@]}"
assert_eq "$(ht_json '[.jobs[].id] | join(",")')" "$G_JOB" "globex lists exactly its job"
ht_http GET "/v1/jobs?status=failed" "" "${globex[@]}"
assert_json '.jobs | length' 0 "globex has no failed jobs"
ht_http GET /v1/queues "" "${acme[@]}"
assert_jq '.queues[0] | .running == 1 and .failed == 1 and .totals.submitted == 2' "acme's counts"
ht_http GET /v1/queues "" "${globex[@]}"
assert_jq '.queues[0] | .running == 0 and .failed == 0 and .totals.submitted == 1' "globex's counts"

# The same Idempotency-Key from two tenants names two requests.
ht_http POST /v1/jobs '{"type": "echo"}' "${acme[@]}" -H 'Idempotency-Key: order-1'
assert_status 202
first=$(ht_json .id)
ht_http POST /v1/jobs '{"type": "echo"}' "${globex[@]}" -H 'Idempotency-Key: order-1'
assert_status 202
assert_ne "$(ht_json .id)" "$first" "globex's request with acme's key is its own job"
assert_eq "$(ht_header Idempotent-Replayed)" "" "not a replay across tenants"

# The owner's actions work.
ht_http DELETE "/v1/jobs/$A_RUNNING" "" "${acme[@]}"
assert_status 202 "acme cancels its running job"
ht_http POST "/v1/jobs/$A_FAILED/retry" "" "${acme[@]}"
assert_status 202 "acme retries its dead letter"
wait_until 20 "acme's canceled job stops" \
    bash -c "[[ \$(redis-cli -p $HT_REDIS_PORT HGET 'ht:{default}:job:$A_RUNNING' status) == canceled ]]"

# ---- mass assignment --------------------------------------------------------

ht_http POST /v1/jobs '{"type": "echo", "status": "succeeded", "tenant": "globex", "attempt": 3,
    "id": "x", "created_at": 1, "token": 9, "version": 7}' "${acme[@]}"
assert_problem 422 "server-owned fields in a submit"
for f in status tenant attempt id created_at token version; do
    assert_jq "[.errors[] | select(.pointer == \"/$f\" and .code == \"unknown_field\")] | length == 1" \
        "/$f listed as unknown_field"
done

# The CLI sends $HANGTIGHT_API_KEY.
out=$(HANGTIGHT_API_KEY=$GLOBEX_KEY "$HT_CLI_BIN" status "$G_JOB") ||
    fail "hangtight status with globex's key: $out"
assert_match "$out" "$G_JOB" "the CLI shows globex's job"
if out=$("$HT_CLI_BIN" status "$G_JOB" 2>&1); then fail "the CLI without a key got: $out"; fi
assert_match "$out" "401|API key" "the CLI without a key reports the 401"

# ---- SIGHUP reload ----------------------------------------------------------

NEW_KEY=acme-rotated-key-0123456789
printf 'acme:%s\nglobex:sha256:%s\n' "$NEW_KEY" "$GLOBEX_SHA" >"$KEYS"
kill -HUP "${HT_PIDS[api]}"
wait_until 10 "the reload is logged" grep -q '"API keys reloaded"' "${HT_LOGS[api]}"
ht_http GET /v1/jobs "" -H "Authorization: Bearer $NEW_KEY"
assert_status 200 "the new key works after SIGHUP"
ht_http GET /v1/jobs "" "${acme[@]}"
assert_problem 401 "the removed key is refused after SIGHUP"
printf 'acme %s\n' "$NEW_KEY" >"$KEYS" # broken: no colon
kill -HUP "${HT_PIDS[api]}"
wait_until 10 "the failed reload is logged" grep -q 'API keys not reloaded' "${HT_LOGS[api]}"
ht_http GET /v1/jobs "" -H "Authorization: Bearer $NEW_KEY"
assert_status 200 "a broken file keeps the keys in force"
ht_alive api || fail "the api died on a reload"

# --metrics-public: /metrics without a key, the API still behind its keys.
ht_stop api
assert_eq "$HT_EXIT" 0 "api exit status"
printf 'acme:%s\n' "$NEW_KEY" >"$KEYS"
ht_start_api --api-keys-file "$KEYS" --metrics-public
ht_http GET /metrics
assert_status 200 "/metrics without a key with --metrics-public"
ht_http GET /v1/jobs
assert_problem 401 "/v1 still needs a key with --metrics-public"

echo "tenants: ok"
