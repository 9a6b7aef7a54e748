#!/usr/bin/env bash
# Worker keys (HANGTIGHT_WORKER_KEYS_FILE, docs/security.md): a worker key
# claims and settles the jobs of every tenant and reaches nothing else; a
# tenant's API key never reaches the worker API; no key is 401.  Reloaded on
# SIGHUP beside the API keys (a bad file keeps the keys in force); a key in
# two files stops the api at start.  With API keys but no worker keys file
# the worker API is closed: no key opens it.
source "$(dirname "$0")/lib.sh"

ACME=acme-key-0123456789abcdef
GLOBEX=globex-key-0123456789abcd
ETL=etl-worker-key-0123456789
SPARE=spare-worker-key-01234567
printf 'acme:%s\nglobex:%s\n' "$ACME" "$GLOBEX" >"$HT_TMP/api-keys"
printf '# remote workers\netl:sha256:%s\n' "$(printf '%s' "$ETL" | sha256sum | cut -d' ' -f1)" \
    >"$HT_TMP/worker-keys"

# ---- a key in both files: the api does not start ------------------------------------
ht_start_redis
ht_migrate
printf 'acme:%s\n' "$ACME" >"$HT_TMP/both-keys"
rc=0
timeout 60 "$HT_API_BIN" --listen 127.0.0.1:0 --api-keys-file "$HT_TMP/api-keys" \
    --worker-keys-file "$HT_TMP/both-keys" >"$HT_TMP/both.log" 2>&1 || rc=$?
assert_eq "$rc" 1 "exit status of an api whose tenant and worker keys share a key"
grep -q 'cannot load the API keys.*a key has one role' "$HT_TMP/both.log" ||
    fail "no message about the shared key: $(cat "$HT_TMP/both.log")"

ht_start_api --api-keys-file "$HT_TMP/api-keys" --worker-keys-file "$HT_TMP/worker-keys"

as() { ht_http "$2" "$3" "${4-}" -H "Authorization: Bearer $1"; }
claim() { as "$1" POST /v1/worker/claim "$2"; }

# ---- who may reach what ---------------------------------------------------------------
ht_http POST /v1/worker/claim '{"types": ["k.a"]}'
assert_problem 401 "a claim without a key"
assert_match "$(ht_header WWW-Authenticate)" '^Bearer' "WWW-Authenticate"
claim not-a-known-key-0123456789 '{"types": ["k.a"]}'
assert_problem 401 "a claim with an unknown key"
for key in "$ACME" "$GLOBEX"; do
    claim "$key" '{"types": ["k.a"]}'
    assert_problem 403 "a claim with a tenant's key"
    for action in progress complete fail; do
        as "$key" POST "/v1/worker/jobs/5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11/$action" '{"token": "1"}'
        assert_problem 403 "$action with a tenant's key"
    done
done

# The worker key claims: its name names the worker unless the claim does.
claim "$ETL" '{"types": ["k.a"]}'
assert_status 204 "a worker key's claim"
rec=$(ht_redis --raw HGET ht:workers http:etl)
jq -e '.name == "etl" and .key == "etl"' <<<"$rec" >/dev/null || fail "the worker's record: $rec"

# ... and nothing else.
as "$ETL" POST /v1/jobs '{"type": "k.a"}'
assert_problem 403 "a submit with a worker key"
as "$ETL" GET /v1/jobs
assert_problem 403 "a listing with a worker key"
as "$ETL" GET /v1/jobs/5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11
assert_problem 403 "a job read with a worker key"
as "$ETL" GET /v1/queues
assert_problem 403 "queues with a worker key"
as "$ETL" GET /metrics
assert_problem 403 "/metrics with a worker key"

# ---- every tenant's jobs ------------------------------------------------------------------
as "$ACME" POST /v1/jobs '{"type": "k.a", "payload": {"who": "acme"}}'
assert_status 202 "acme submits"
A=$(ht_json .id)
as "$GLOBEX" POST /v1/jobs '{"type": "k.a", "payload": {"who": "globex"}}'
assert_status 202 "globex submits"
G=$(ht_json .id)
seen=""
for _ in 1 2; do
    claim "$ETL" '{"types": ["k.a"], "worker": "etl-1"}'
    assert_status 200 "the worker key claims"
    id=$(ht_json .job.id)
    tenant=$(ht_json .job.tenant)
    assert_eq "$tenant" "$(ht_json .job.payload.who)" "the claim names the job's tenant"
    seen="$seen $tenant"
    as "$ETL" POST "/v1/worker/jobs/$id/complete" "{\"token\": \"$(ht_json .token)\", \"result\": \"$tenant\"}"
    assert_status 200 "the worker key completes"
done
assert_eq "$(tr ' ' '\n' <<<"$seen" | sort | xargs)" "acme globex" "the tenants of the claimed jobs"
as "$ACME" GET "/v1/jobs/$A"
assert_json .status succeeded
assert_json .result acme
as "$GLOBEX" GET "/v1/jobs/$G"
assert_json .result globex
as "$ACME" GET "/v1/jobs/$G"
assert_problem 404 "acme does not see globex's job, whoever ran it"

# ---- SIGHUP reloads the worker keys --------------------------------------------------------
printf 'spare:%s\n' "$SPARE" >>"$HT_TMP/worker-keys"
claim "$SPARE" '{"types": ["k.a"]}'
assert_problem 401 "the spare key before the reload"
kill -HUP "${HT_PIDS[api]}"
wait_until 30 "the worker keys are reloaded" ht_log_has api '"worker keys reloaded"'
claim "$SPARE" '{"types": ["k.a"]}'
assert_status 204 "the spare key after the reload"
# A broken file (and a tenant's key in it) keeps the keys in force.
printf 'etl %s\n' "$ETL" >"$HT_TMP/worker-keys"
kill -HUP "${HT_PIDS[api]}"
wait_until 30 "the failed reload is logged" ht_log_has api '"API keys not reloaded.*worker-keys'
claim "$SPARE" '{"types": ["k.a"]}'
assert_status 204 "the spare key after a failed reload"
printf 'spare:%s\nsneaky:%s\n' "$SPARE" "$GLOBEX" >"$HT_TMP/worker-keys"
kill -HUP "${HT_PIDS[api]}"
wait_until 30 "the refused reload is logged" \
    ht_log_has api '"API keys not reloaded.*a key has one role'
claim "$GLOBEX" '{"types": ["k.a"]}'
assert_problem 403 "a tenant key slipped into the worker keys file stays a tenant key"

# ---- API keys and no worker keys file: the worker API takes no key -------------------------
ht_start_api --name closed --api-keys-file "$HT_TMP/api-keys"
url=$(ht_api_url closed)
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary '{"types": ["k.a"]}' "$url/v1/worker/claim")
assert_eq "$status" 401 "a claim without a key, no worker keys"
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $ACME" --data-binary '{"types": ["k.a"]}' "$url/v1/worker/claim")
assert_eq "$status" 403 "a claim with a tenant key, no worker keys"
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $ETL" --data-binary '{"types": ["k.a"]}' "$url/v1/worker/claim")
assert_eq "$status" 401 "a worker key that this api does not know"

log "worker keys: all paths checked"
