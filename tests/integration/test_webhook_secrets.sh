#!/usr/bin/env bash
# Per-tenant webhook signing secrets (issue 17, docs/webhooks.md "Your own
# signing secret"), with the real api, workers, redis-server and a real
# receiver (clients/receiver.py); every signature is checked by Python's
# hmac, not by our code:
#   - each tenant's deliveries verify with its own secret only (not another
#     tenant's, not the operator's fallback); a tenant without its own is
#     signed with the fallback;
#   - a new secret: deliveries carry two signatures, each verifying with its
#     secret; after the rotation window only the new one; a revoked secret
#     stops signing within the worker's cache time; the current secret
#     cannot be revoked; at most 4 live;
#   - the secret is shown once (never by GET), Redis holds it sealed (not in
#     clear), and a sealed value moved to another tenant's record does not
#     open: that delivery is not sent;
#   - a worker with a wrong or no HANGTIGHT_SECRETS_KEY sends no delivery of
#     a tenant with its own secrets (and still signs the others); an api
#     without it answers 501 to POST, one with a malformed one refuses to
#     start; handlers never see the key, nor /proc/<pid>/environ;
#   - a delivery costs no Redis call while its tenant's secrets are cached;
#   - the CLI (hangtight webhook-secret); 503 when Redis is down.
source "$(dirname "$0")/lib.sh"

declare -A KEY=([acme]=acme-key-0123456789abcdef [globex]=globex-key-0123456789abcdef
    [initech]=initech-key-0123456789abcdef [hooli]=hooli-key-0123456789abcdef)
cat >"$HT_TMP/keys" <<EOF
acme:${KEY[acme]}
globex:${KEY[globex]}
initech:${KEY[initech]}
hooli:${KEY[hooli]}
EOF
FALLBACK=whsec_$(head -c 32 /dev/urandom | base64 -w0)
SECRETS_KEY=$(openssl rand -hex 32)
export HANGTIGHT_SECRETS_KEY=$SECRETS_KEY
export HANGTIGHT_WEBHOOK_SECRET=$FALLBACK
export HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1
export HANGTIGHT_WEBHOOK_RETRY_BASE_MS=200
# The deliveries refused below are retried for as long as the test takes to
# let them out (the default 8 attempts run out within seconds at this base
# on a loaded machine).
export HANGTIGHT_WEBHOOK_MAX_ATTEMPTS=100
export HANGTIGHT_WEBHOOK_SECRETS_CACHE_MS=1000

# A handler that says whether it can see the secrets key.
cat >"$HT_TMP/env.py" <<'PY'
import json, os, sys
sys.stdin.read()
print(json.dumps({"sees_key": "HANGTIGHT_SECRETS_KEY" in os.environ}))
PY
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"test.env": {"command": ["python3", "$HT_TMP/env.py"]}}}
JSON

REQS=$HT_TMP/requests.jsonl
echo '{"/hook": ["200"]}' >"$HT_TMP/script.json"
: >"$REQS"
ht_spawn receiver python3 "$HT_CLIENTS_DIR/receiver.py" "$HT_TMP/port" "$REQS" "$HT_TMP/script.json"
wait_until 10 "the receiver listens" test -s "$HT_TMP/port"
RECV=http://127.0.0.1:$(cat "$HT_TMP/port")

WORKER_ARGS=(--handlers "$HT_TMP/handlers.json")
ht_start_stack --api-args --api-keys-file "$HT_TMP/keys" --worker-args "${WORKER_ARGS[@]}"

# as TENANT METHOD PATH [BODY [CURL-ARGS...]]: ht_http with TENANT's key.
as() {
    local tenant=$1 method=$2 path=$3 body=${4-}
    shift $(($# < 4 ? $# : 4))
    ht_http "$method" "$path" "$body" -H "Authorization: Bearer ${KEY[$tenant]}" "$@"
}

# new_secret TENANT [API-URL]: POST /v1/webhook-secrets; sets SECRET, SECRET_ID
# and SECRET_AT (created_at).
new_secret() {
    local url=${2:-$HT_URL}
    HT_URL=$url as "$1" POST /v1/webhook-secrets
    assert_status 201 "$1 creates a secret"
    SECRET=$(ht_json .secret)
    SECRET_ID=$(ht_json .id)
    SECRET_AT=$(ht_json .created_at)
    assert_match "$SECRET" '^whsec_[A-Za-z0-9+/]{43}=$' "the secret is whsec_ and 32 bytes"
    assert_match "$SECRET_ID" '^ws_[0-9a-f]{24}$' "the secret's id"
    assert_eq "$(ht_header Location)" "/v1/webhook-secrets/$SECRET_ID" "Location"
    assert_eq "$(ht_header Cache-Control)" no-store "Cache-Control of the answer with the secret"
    assert_json .current true
    assert_json .expires_at null
}

# deliver TENANT: submits an echo job of TENANT with a callback and waits
# for the receiver to get its delivery; REQ is that request (JSON), JOB the job.
deliver() {
    as "$1" POST /v1/jobs "{\"type\": \"echo\", \"callback_url\": \"$RECV/hook\"}"
    assert_status 202 "$1 submits"
    JOB=$(ht_json .id)
    wait_until 30 "the delivery of $1's job $JOB" got_request "$JOB"
}
got_request() {
    REQ=$(jq -c --arg id "$1" 'select((.body | fromjson? | .data.id) == $id)' "$REQS" | tail -n 1)
    [[ -n "$REQ" ]]
}

# The signatures of REQ, one per line.
sigs() { jq -r '.headers["webhook-signature"] // "" | split(" ")[]' <<<"$REQ"; }
nsigs() { sigs | grep -c . || true; }

# signed_with SECRET [INDEX]: 0 when a signature of REQ (the INDEXth, when
# given) is the HMAC-SHA256 of "id.timestamp.body" under SECRET.
cat >"$HT_TMP/signed_with.py" <<'PY'
import base64, hashlib, hmac, json, sys
r = json.loads(sys.argv[1])
h = r["headers"]
key = base64.b64decode(sys.argv[2][len("whsec_"):])
msg = (h["webhook-id"] + "." + h["webhook-timestamp"] + "." + r["body"]).encode()
want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
sigs = h.get("webhook-signature", "").split(" ")
i = int(sys.argv[3])
sys.exit(0 if (want in sigs if i < 0 else i < len(sigs) and sigs[i] == want) else 1)
PY
signed_with() { "$HT_PY" "$HT_TMP/signed_with.py" "$REQ" "$1" "${2:--1}"; }

# expect_signed WHAT GOOD-SECRET BAD-SECRET...: REQ verifies with the first
# and with none of the others.
expect_signed() {
    local what=$1 good=$2 bad
    shift 2
    signed_with "$good" || fail "$what: the delivery does not verify with its tenant's secret: $REQ"
    for bad in "$@"; do
        if signed_with "$bad"; then fail "$what: the delivery verifies with another secret: $REQ"; fi
    done
}

# The live secrets of TENANT as "id expires_at current" lines, newest first.
listed() {
    as "$1" GET /v1/webhook-secrets
    assert_status 200 "$1 lists its secrets"
    ht_json '.secrets[] | "\(.id) \(.expires_at) \(.current)"'
}

# callback_status TENANT JOB: the job's callback.last_status.
callback_status() {
    as "$1" GET "/v1/jobs/$2"
    ht_json .callback.last_status
}

# The key read, neither process shows it in /proc/<pid>/environ.
for p in api w1; do
    grep -qaF "$SECRETS_KEY" "/proc/${HT_PIDS[$p]}/environ" &&
        fail "$p shows HANGTIGHT_SECRETS_KEY in /proc/${HT_PIDS[$p]}/environ"
done

# ---- who may ask, and what is refused ---------------------------------------

ht_http POST /v1/webhook-secrets
assert_problem 401 "POST without a key"
as acme GET /v1/webhook-secrets
assert_status 200 "an empty list"
assert_json '.secrets | length' 0
assert_eq "$(ht_header Cache-Control)" no-store "Cache-Control of the list"
as acme POST /v1/webhook-secrets '{"rotation": 1}'
assert_problem 422 "a body with a field"
assert_json '.errors[0].code' invalid_value
as acme POST /v1/webhook-secrets '[]'
assert_problem 422 "a body that is no object"
as acme POST /v1/webhook-secrets '{"a":'
assert_problem 400 "malformed JSON"
as acme POST /v1/webhook-secrets '' --data-binary x -H 'Content-Type: text/plain'
assert_problem 415 "a body that is not JSON"
for id in nope ws_0123456789abcdef01234567 "ws_0123456789ABCDEF01234567"; do
    as acme DELETE "/v1/webhook-secrets/$id"
    assert_problem 404 "DELETE of $id"
    as acme GET "/v1/webhook-secrets/$id"
    assert_problem 404 "GET of $id"
done
as acme PUT /v1/webhook-secrets
assert_problem 405 "PUT"

# ---- tenants: each signed with its own secret only -------------------------

new_secret acme
A1=$SECRET A1_ID=$SECRET_ID A1_AT=$SECRET_AT
new_secret globex
G1=$SECRET G1_ID=$SECRET_ID

# Shown once: never by GET, in a list or alone.
for path in /v1/webhook-secrets "/v1/webhook-secrets/$A1_ID"; do
    as acme GET "$path"
    assert_status 200 "GET $path"
    [[ "$HTTP_BODY" != *whsec_* && "$HTTP_BODY" != *"${A1#whsec_}"* ]] ||
        fail "GET $path shows the secret: $HTTP_BODY"
    assert_jq '[.. | objects | has("secret")] | any | not' "GET $path has no secret field"
done
assert_json .id "$A1_ID"
assert_json .current true
assert_json .created_at "$A1_AT"
# Another tenant's secret is not there for globex.
as globex GET "/v1/webhook-secrets/$A1_ID"
assert_problem 404 "globex reads acme's secret"
as globex DELETE "/v1/webhook-secrets/$A1_ID"
assert_problem 404 "globex revokes acme's secret"
assert_eq "$(listed globex)" "$G1_ID null true" "globex lists its own secret only"

# Redis holds it sealed: neither the whsec_ text, its base64 part, nor the
# key's bytes in hex.
stored=$(ht_redis HGETALL 'ht:whsec:{acme}')
assert_match "$stored" "$A1_ID" "the record is under acme's key"
key_hex=$(printf '%s' "${A1#whsec_}" | base64 -d | od -An -tx1 | tr -d ' \n')
for clear in "$A1" "${A1#whsec_}" "$key_hex"; do
    [[ "$stored" != *"$clear"* ]] || fail "Redis holds the secret in clear: $stored"
done
assert_match "$(ht_redis HGET 'ht:whsec:{acme}' "$A1_ID")" '^[0-9]+ 0 v1\.[A-Za-z0-9+/]+=*$' \
    "the record: created, no end, sealed key"

deliver acme
assert_eq "$(nsigs)" 1 "acme's delivery: one signature"
expect_signed "acme" "$A1" "$G1" "$FALLBACK"
deliver globex
expect_signed "globex" "$G1" "$A1" "$FALLBACK"
deliver initech
assert_eq "$(nsigs)" 1 "initech's delivery: one signature"
expect_signed "initech (no secret of its own: the fallback)" "$FALLBACK" "$A1" "$G1"

# ---- rotation: two signatures, each with its secret ---------------------------

new_secret acme
A2=$SECRET A2_ID=$SECRET_ID
mapfile -t rows < <(listed acme)
assert_eq "${#rows[@]}" 2 "acme has two live secrets"
assert_match "${rows[0]}" "^$A2_ID null true$" "the new one is current"
assert_match "${rows[1]}" "^$A1_ID 20[0-9T:.-]+Z false$" "the previous one has an end"
# The previous secret keeps signing for the rotation window (24 h here).
a1_end=$(as acme GET "/v1/webhook-secrets/$A1_ID" && ht_json .expires_at)
a2_at=$(date -d "$SECRET_AT" +%s%3N)
assert_eq "$(($(date -d "$a1_end" +%s%3N) - a2_at))" 86400000 "the window is 24 h"

two_signatures() { deliver acme && (($(nsigs) == 2)); }
wait_until 30 "an acme delivery carries two signatures" two_signatures
signed_with "$A2" 0 || fail "the first signature is the new secret's: $REQ"
signed_with "$A1" 1 || fail "the second signature is the previous secret's: $REQ"
expect_signed "acme during a rotation" "$A2" "$G1" "$FALLBACK"

as acme DELETE "/v1/webhook-secrets/$A2_ID"
assert_problem 409 "revoking the current secret"
assert_match "$(ht_json .detail)" 'make a new one first' "409 detail"

# ---- the end of a rotation window ---------------------------------------------
# An api whose window is short: after its create only the new secret signs.
# 10 s: the previous secrets are read (GET) within it on a loaded machine,
# where the create and its checks can take seconds.
ROT_S=10

ht_start_api --name short --api-keys-file "$HT_TMP/keys" --webhook-rotation-s "$ROT_S"
new_secret acme "$(ht_api_url short)"
A3=$SECRET A3_ID=$SECRET_ID
a3_at=$(date -d "$SECRET_AT" +%s%3N)
for id in "$A1_ID" "$A2_ID"; do
    as acme GET "/v1/webhook-secrets/$id"
    assert_status 200 "GET of previous secret $id within the window"
    assert_eq "$(($(date -d "$(ht_json .expires_at)" +%s%3N) - a3_at))" $((ROT_S * 1000)) \
        "secret $id ends $ROT_S s after the new one"
done
one_secret_listed() { [[ "$(listed acme | wc -l)" == 1 ]]; }
wait_until $((ROT_S + 20)) "the rotation window ends (only the new secret is listed)" one_secret_listed
one_signature() { deliver acme && (($(nsigs) == 1)); }
wait_until 20 "an acme delivery carries one signature" one_signature
expect_signed "acme after the window" "$A3" "$A1" "$A2" "$G1" "$FALLBACK"
ts=$(jq -r '.headers["webhook-timestamp"]' <<<"$REQ")
((ts * 1000 >= a3_at + ROT_S * 1000 - 1000)) || fail "the old secrets stopped before their end"
ht_stop short

# ---- revoke: stops signing within the cache time ------------------------------

new_secret acme
A4=$SECRET A4_ID=$SECRET_ID
wait_until 30 "an acme delivery carries the new and the previous signature" two_signatures
expect_signed "acme with A4 and A3" "$A4" "$A1" "$A2" "$G1"
signed_with "$A3" 1 || fail "the previous secret signs beside the new one: $REQ"
as acme DELETE "/v1/webhook-secrets/$A3_ID"
assert_status 204 "revoking a previous secret"
revoked_at=$(ht_ms)
wait_until 20 "an acme delivery no longer carries the revoked secret's signature" one_signature
expect_signed "acme after the revoke" "$A4" "$A3" "$A1" "$A2"
log "a revoked secret stopped signing $(($(ht_ms) - revoked_at)) ms after the revoke (cache 1000 ms)"
assert_eq "$(listed acme)" "$A4_ID null true" "the revoked secret is gone from the list"
as acme DELETE "/v1/webhook-secrets/$A3_ID"
assert_problem 404 "revoking it again"

# ---- at most 4 live secrets ---------------------------------------------------

for i in 1 2 3 4; do new_secret hooli; done
as hooli POST /v1/webhook-secrets
assert_problem 409 "a fifth live secret"
assert_match "$(ht_json .detail)" 'revoke a previous one' "409 detail"
oldest=$(listed hooli | tail -n 1 | cut -d' ' -f1)
as hooli DELETE "/v1/webhook-secrets/$oldest"
assert_status 204 "revoking the oldest"
new_secret hooli

# ---- a sealed key moved to another tenant does not open -----------------------
# globex's record gets acme's sealed key: the associated data (tenant, id)
# no longer matches, so the worker sends nothing rather than sign with it
# or with the fallback.

a4_sealed=$(ht_redis HGET 'ht:whsec:{acme}' "$A4_ID" | cut -d' ' -f3)
g1_record=$(ht_redis HGET 'ht:whsec:{globex}' "$G1_ID")
ht_redis HSET 'ht:whsec:{globex}' "$G1_ID" "${g1_record% *} $a4_sealed" >/dev/null
# The worker may still hold globex's entry for up to its cache time: a job
# whose delivery is refused shows up within a few.
refused_job() {
    as globex POST /v1/jobs "{\"type\": \"echo\", \"callback_url\": \"$RECV/hook\"}"
    JOB=$(ht_json .id)
    wait_until 20 "globex's job $JOB has a delivery attempt" \
        eval '[[ "$(callback_status globex "$JOB")" != null ]]'
    [[ "$(callback_status globex "$JOB")" == no_signing_secret ]]
}
wait_until 30 "a globex delivery is refused for want of a secret that opens" refused_job
MOVED_JOB=$JOB
if got_request "$MOVED_JOB"; then fail "a delivery was sent without a secret that opens: $REQ"; fi
ht_log_has w1 "does not open with HANGTIGHT_SECRETS_KEY" || fail "the worker did not say why"
# Put globex's own sealed key back: the delivery is retried and goes out,
# signed with globex's secret.  Its next try follows a backoff that grew
# with each refusal (with jitter, up to twice the time it was refused).
ht_redis HSET 'ht:whsec:{globex}' "$G1_ID" "$g1_record" >/dev/null
wait_until 120 "the refused delivery goes out once the record is whole" got_request "$MOVED_JOB"
expect_signed "globex after the repair" "$G1" "$A4" "$FALLBACK"

# ---- handlers never see the key -----------------------------------------------

as acme POST /v1/jobs '{"type": "test.env"}'
assert_status 202 "submit test.env"
JOB=$(ht_json .id)
job_done() { as acme GET "/v1/jobs/$JOB" && [[ "$(ht_json .status)" == succeeded ]]; }
wait_until 30 "the env job succeeds" job_done
assert_json .result.sees_key false

# ---- a delivery costs no Redis call while its tenant is cached ---------------

ht_stop w1
# FCALL_RO calls so far, summed over every master (on a cluster).
fcall_ro() {
    ht_redis_each --masters INFO commandstats |
        awk -F'[=,]' '/^cmdstat_fcall_ro:/ { n += $2 } END { print n + 0 }'
}
ht_start_worker w-cache "${WORKER_ARGS[@]}" --webhook-secrets-cache-ms 300000
before=$(fcall_ro)
for i in 1 2 3 4; do
    deliver acme
    expect_signed "acme through the caching worker" "$A4" "$A3" "$G1"
done
assert_eq "$(($(fcall_ro) - before))" 1 "Redis reads of acme's secrets for 4 deliveries"
ht_stop w-cache

# ---- a worker with a wrong key, or none ----------------------------------------

HANGTIGHT_SECRETS_KEY=$(openssl rand -hex 32) ht_start_worker w-wrong "${WORKER_ARGS[@]}"
as acme POST /v1/jobs "{\"type\": \"echo\", \"callback_url\": \"$RECV/hook\"}"
STUCK=$(ht_json .id)
wait_until 20 "the wrong key's worker refuses acme's delivery" \
    eval '[[ "$(callback_status acme "$STUCK")" == no_signing_secret ]]'
ht_log_has w-wrong "does not open with HANGTIGHT_SECRETS_KEY" || fail "w-wrong did not say why"
# A tenant without secrets of its own is still signed with the fallback.
deliver initech
expect_signed "initech through the wrong key's worker" "$FALLBACK" "$A4" "$G1"
if got_request "$STUCK"; then fail "the wrong key's worker sent acme's delivery: $REQ"; fi
ht_stop w-wrong

HANGTIGHT_SECRETS_KEY= ht_start_worker w-none "${WORKER_ARGS[@]}"
attempts() { as acme GET "/v1/jobs/$STUCK" && ht_json .callback.attempts; }
seen=$(attempts)
wait_until 20 "the keyless worker refuses acme's delivery too" \
    eval '(($(attempts) > seen)) && [[ "$(callback_status acme "$STUCK")" == no_signing_secret ]]'
ht_log_has w-none "has no HANGTIGHT_SECRETS_KEY" || fail "w-none did not say why"
if got_request "$STUCK"; then fail "the keyless worker sent acme's delivery: $REQ"; fi
ht_stop w-none

# With the right key again, the refused delivery goes out, signed by acme's.
# Due at once (no worker runs to hold it): its backoff grew with each
# refusal, which is not what this part is about.
assert_eq "$(ht_redis ZADD 'ht:{default}:deliveries' XX CH "$(ht_ms)" "$STUCK")" 1 \
    "the refused delivery is pending"
ht_start_worker w1 "${WORKER_ARGS[@]}"
wait_until 30 "acme's refused delivery goes out" got_request "$STUCK"
expect_signed "acme's refused delivery" "$A4" "$G1" "$FALLBACK"

# ---- an api without the key, or with a malformed one --------------------------

HANGTIGHT_SECRETS_KEY= ht_start_api --name nokey --api-keys-file "$HT_TMP/keys"
HT_URL=$(ht_api_url nokey) as acme POST /v1/webhook-secrets
assert_problem 501 "POST without HANGTIGHT_SECRETS_KEY"
assert_match "$(ht_json .detail)" 'HANGTIGHT_SECRETS_KEY' "501 detail names the setting"
HT_URL=$(ht_api_url nokey) as acme GET /v1/webhook-secrets
assert_status 200 "listing needs no key"
assert_json '.secrets[0].id' "$A4_ID"
ht_stop nokey
ht_spawn api-badkey env HANGTIGHT_SECRETS_KEY=0123abcd-not-a-key "$HT_API_BIN" \
    --listen 127.0.0.1:0 --api-keys-file "$HT_TMP/keys"
ht_wait_exit api-badkey 30
assert_eq "$HT_EXIT" 2 "an api with a malformed secrets key exits"
ht_log_has api-badkey 'secrets-key: secrets key 1 is not 32 bytes' || fail "no reason given"
if ht_log_has api-badkey '0123abcd'; then fail "the refusal quotes the key"; fi

# ---- the CLI ------------------------------------------------------------------

cli() { HANGTIGHT_API_KEY=${KEY[initech]} "$HT_CLI_BIN" --url "$HT_URL" webhook-secret "$@"; }
out=$(cli create 2>"$HT_TMP/cli.err")
assert_match "$out" '^whsec_[A-Za-z0-9+/]{43}=$' "create prints the secret alone on stdout"
cli_id=$(grep -o 'ws_[0-9a-f]\{24\}' "$HT_TMP/cli.err")
assert_match "$(cat "$HT_TMP/cli.err")" 'shown only now' "create says the secret is shown once"
deliver initech
expect_signed "initech after its CLI-made secret" "$out" "$FALLBACK" "$A4"
out=$(cli list)
assert_match "$out" "^ID +CREATED +EXPIRES +CURRENT" "list: header"
assert_match "$out" "$cli_id +20[0-9T:.-]+Z +- +yes" "list: the row"
[[ "$out" != *whsec_* ]] || fail "list shows a secret"
assert_eq "$(cli list --json | jq -r '.secrets[0].id')" "$cli_id" "list --json"
rc=0
cli revoke "$cli_id" >"$HT_TMP/cli.out" 2>"$HT_TMP/cli.err" || rc=$?
assert_eq "$rc" 1 "revoke of the current secret: refused"
assert_match "$(cat "$HT_TMP/cli.err")" 'make a new one first' "revoke: the problem is shown"
cli create >/dev/null 2>&1
assert_eq "$(cli revoke "$cli_id")" "revoked $cli_id" "revoke of the previous one"
rc=0
cli frobnicate 2>/dev/null || rc=$?
assert_eq "$rc" 2 "an unknown subcommand"

# ---- Redis down: 503 -----------------------------------------------------------

ht_stop w1
ht_stop_redis
as acme GET /v1/webhook-secrets
assert_problem 503 "list with Redis down"
as acme POST /v1/webhook-secrets
assert_problem 503 "create with Redis down"
as acme DELETE "/v1/webhook-secrets/$A1_ID"
assert_problem 503 "revoke with Redis down"
log "ok"
