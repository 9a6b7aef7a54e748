#!/usr/bin/env bash
# `hangtight webhook verify`: a delivery signed by an independent
# implementation (python's hmac, and the Standard Webhooks spec's own
# example) verifies; a changed body, id or timestamp, a wrong secret, a
# stale timestamp and missing headers do not (exit 1 with a reason); a bad
# secret is a usage error (exit 2).  Needs no Redis and no server.
source "$(dirname "$0")/lib.sh"

cli() { "$HT_CLI_BIN" "$@"; }
key_b64=$(printf 'hangtight-webhook-test-key-0001' | base64 -w0)
secret="whsec_$key_b64"
other="whsec_$(printf 'some-other-key-of-another-team' | base64 -w0)"

# request ID TS BODY [SIGNATURE]: a dumped request, signed with `secret`
# unless SIGNATURE is given (python computes it, not our code).
request() {
    local id=$1 ts=$2 body=$3 sig=${4-}
    if [[ -z "$sig" ]]; then
        sig=$(python3 -c '
import base64, hashlib, hmac, sys
key = base64.b64decode(sys.argv[1])
msg = f"{sys.argv[2]}.{sys.argv[3]}.{sys.argv[4]}".encode()
print("v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode())
' "$key_b64" "$id" "$ts" "$body")
    fi
    printf 'POST /hooks/hangtight HTTP/1.1\r\nHost: receiver.example\r\n'
    printf 'Content-Type: application/json\r\nContent-Length: %d\r\n' "${#body}"
    printf 'Webhook-Id: %s\r\nwebhook-timestamp: %s\r\nwebhook-signature: %s\r\n\r\n%s' \
        "$id" "$ts" "$sig" "$body"
}

# verify EXPECTED-EXIT WHAT [ARGS...] < request
verify() {
    local want=$1 what=$2 rc=0
    shift 2
    out=$(cli webhook verify "$@" 2>&1) || rc=$?
    assert_eq "$rc" "$want" "$what: exit status (output: $out)"
}

now=$(date +%s)
body='{"type":"job.succeeded","timestamp":"2026-11-26T06:00:00.000Z","data":{"id":"j1"}}'
request msg_j1_1 "$now" "$body" >"$HT_TMP/good"

verify 0 "a good delivery" --secret "$secret" <"$HT_TMP/good"
assert_match "$out" '^valid: webhook-id msg_j1_1$' "valid output"
HANGTIGHT_WEBHOOK_SECRET=$secret verify 0 "secret from the environment" <"$HT_TMP/good"
verify 0 "one of two secrets (rotation)" --secret "$other,$secret" <"$HT_TMP/good"
# Without a request line, LF line ends, and a newline a dump tool appended.
{ tail -n +2 "$HT_TMP/good" | tr -d '\r'; echo; } >"$HT_TMP/lf"
verify 0 "LF-only dump without a request line" --secret "$secret" <"$HT_TMP/lf"

verify 1 "wrong secret" --secret "$other" <"$HT_TMP/good"
assert_match "$out" 'no v1 signature' "wrong secret reason"
sed 's/"j1"/"j2"/' "$HT_TMP/good" >"$HT_TMP/tampered"
verify 1 "changed body" --secret "$secret" <"$HT_TMP/tampered"
sed 's/msg_j1_1/msg_j1_2/' "$HT_TMP/good" >"$HT_TMP/other-id"
verify 1 "changed webhook-id" --secret "$secret" <"$HT_TMP/other-id"
sed "s/webhook-timestamp: $now/webhook-timestamp: $((now + 1))/" "$HT_TMP/good" >"$HT_TMP/ts"
verify 1 "changed timestamp" --secret "$secret" <"$HT_TMP/ts"
request msg_j1_1 $((now - 3600)) "$body" >"$HT_TMP/stale"
verify 1 "an hour old" --secret "$secret" <"$HT_TMP/stale"
assert_match "$out" 'tolerance 300 s' "stale reason"
verify 0 "an hour old within --tolerance-s 4000" --secret "$secret" --tolerance-s 4000 \
    <"$HT_TMP/stale"
grep -v '^webhook-signature' "$HT_TMP/good" >"$HT_TMP/unsigned"
verify 1 "no signature header" --secret "$secret" <"$HT_TMP/unsigned"
assert_match "$out" 'missing header webhook-signature' "unsigned reason"
request msg_j1_1 "$now" "$body" "v2,$(printf x | base64)" >"$HT_TMP/v2"
verify 1 "only an unknown signature version" --secret "$secret" <"$HT_TMP/v2"
printf 'webhook-id: x\r\n' | verify 1 "no blank line" --secret "$secret"

verify 2 "a secret without whsec_" --secret "$key_b64" <"$HT_TMP/good"
verify 2 "no secret" <"$HT_TMP/good"

# The Standard Webhooks spec's example (spec/standard-webhooks.md): any
# receiver library accepts it, so must we (its timestamp is from 2021).
spec_body='{"test": 2432232314}'
request msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 "$spec_body" \
    'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' >"$HT_TMP/spec"
verify 0 "the spec's example" --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw \
    --tolerance-s 1000000000 <"$HT_TMP/spec"
verify 1 "the spec's example, default tolerance" \
    --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw <"$HT_TMP/spec"
log "ok"
