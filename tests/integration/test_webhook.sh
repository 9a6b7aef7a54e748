#!/usr/bin/env bash
# Webhook callbacks against a real receiver on loopback
# (clients/receiver.py): the POST of a finished job (body, Standard Webhooks
# headers, signatures under every configured secret), a stable webhook-id
# across retries, retries with backoff until 2xx, Retry-After as a minimum,
# 410 stops at once, attempts run out, a hanging receiver is timed out and
# retried, a retried job gets a new webhook-id, and a deliverer that may not
# reach private addresses refuses a name resolving to loopback (no hit).
source "$(dirname "$0")/lib.sh"

SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
SECRET2=whsec_c2Vjb25kIHNlY3JldCBrZXk=
export HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1
export HANGTIGHT_WEBHOOK_RETRY_BASE_MS=200
export HANGTIGHT_WEBHOOK_SECRET="$SECRET,$SECRET2"
export HANGTIGHT_WEBHOOK_TIMEOUT_MS=1000

REQS=$HT_TMP/requests.jsonl
SCRIPT=$HT_TMP/script.json
cat >"$SCRIPT" <<'JSON'
{"/flaky": ["503", "503", "200"],
 "/later": ["429 retry-after=2", "200"],
 "/gone": ["410"],
 "/down": ["500"],
 "/hang": ["hang 3", "200"],
 "/refused": ["200"],
 "/restart": ["503 retry-after=3", "200"],
 "/ok": ["200"]}
JSON
: >"$REQS"
ht_spawn receiver python3 "$HT_CLIENTS_DIR/receiver.py" "$HT_TMP/port" "$REQS" "$SCRIPT"
wait_until 10 "the receiver listens" test -s "$HT_TMP/port"
RECV=http://127.0.0.1:$(cat "$HT_TMP/port")

ht_start_stack --worker-args --webhook-max-attempts 3

# The requests the receiver got on PATH, as a JSON array.
requests() { jq -s --arg p "$1" '[.[] | select(.path == $p)]' "$REQS"; }
hits() { requests "$1" | jq length; }

# 0 when job ID's callback state is STATE.
cb_is() {
    ht_http GET "/v1/jobs/$1"
    [[ "$(ht_json .callback.state)" == "$2" ]]
}

# Verifies request N of PATH the way a receiver would (Python's hmac): each
# "v1," signature of the header must match one secret, in order.
verify() {
    requests "$1" | jq -c ".[$2]" | python3 -c '
import base64, hashlib, hmac, json, sys, time
r = json.load(sys.stdin)
h = r["headers"]
secrets = sys.argv[1:]
sigs = h["webhook-signature"].split(" ")
assert len(sigs) == len(secrets), sigs
signed = (h["webhook-id"] + "." + h["webhook-timestamp"] + "." + r["body"]).encode()
for sig, secret in zip(sigs, secrets):
    key = base64.b64decode(secret[len("whsec_"):])
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert sig == "v1," + want, (sig, want)
assert abs(int(h["webhook-timestamp"]) - time.time()) < 60, h["webhook-timestamp"]
' "$SECRET" "$SECRET2" || fail "request $2 to $1 does not verify"
}

# ---- 503, 503, 200: delivered on the third attempt, one webhook-id -----
ht_submit "{\"type\": \"echo\", \"payload\": {\"n\": 7}, \"callback_url\": \"$RECV/flaky\"}"
id=$HT_JOB
wait_until 20 "the flaky callback is delivered" cb_is "$id" delivered
assert_json .status succeeded
assert_json .callback.url "$RECV/flaky"
assert_json .callback.attempts 3
assert_json .callback.last_status 200
assert_jq '.callback.last_attempt_at | type == "string"' "last_attempt_at is a time"
assert_eq "$(hits /flaky)" 3 "requests to /flaky"
r=$(requests /flaky)
assert_eq "$(jq -r '[.[].headers["webhook-id"]] | unique | join(" ")' <<<"$r")" "msg_${id}_1" \
    "the webhook-id of every attempt"
assert_eq "$(jq -r '[.[].method] | unique | join(" ")' <<<"$r")" POST "method"
assert_eq "$(jq -r '.[0].headers["content-type"]' <<<"$r")" application/json "Content-Type"
body=$(jq -r '.[2].body' <<<"$r")
assert_eq "$(jq -r .type <<<"$body")" job.succeeded "body type"
assert_eq "$(jq -r .data.id <<<"$body")" "$id" "body data.id"
assert_eq "$(jq -r .data.status <<<"$body")" succeeded "body data.status"
assert_eq "$(jq -c .data.result <<<"$body")" '{"n":7}' "body data.result"
assert_match "$(jq -r .timestamp <<<"$body")" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' \
    "body timestamp"
for n in 0 1 2; do verify /flaky "$n"; done
# Each attempt is signed anew: timestamps never go backwards.
ts=$(jq -r '[.[].headers["webhook-timestamp"] | tonumber] | (. == sort)' <<<"$r")
assert_eq "$ts" true "attempt timestamps in order"

# ---- Retry-After is a minimum delay ------------------------------------
ht_submit "{\"type\": \"echo\", \"callback_url\": \"$RECV/later\"}"
id=$HT_JOB
wait_until 20 "the delayed callback is delivered" cb_is "$id" delivered
assert_json .callback.attempts 2
gap=$(requests /later | jq '.[1].at - .[0].at')
((gap >= 1900)) || fail "Retry-After: 2 honoured: the retry came after ${gap} ms"

# ---- 410 Gone: failed after one attempt --------------------------------
ht_submit "{\"type\": \"fail\", \"max_attempts\": 1, \"callback_url\": \"$RECV/gone\"}"
id=$HT_JOB
wait_until 20 "the gone callback fails" cb_is "$id" failed
assert_json .status failed
assert_json .callback.attempts 1
assert_json .callback.last_status 410
assert_eq "$(requests /gone | jq -r '.[0].body | fromjson | .type')" job.failed "body type"
verify /gone 0
# A retried job is a new event: a new webhook-id, counted from zero.
ht_http POST "/v1/jobs/$id/retry"
assert_status 202
wait_until 20 "the retried job's callback fails again" \
    eval '[[ "$(hits /gone)" == 2 ]] && cb_is "$id" failed'
assert_json .callback.attempts 1
assert_eq "$(requests /gone | jq -r '.[1].headers["webhook-id"]')" "msg_${id}_2" \
    "webhook-id after a retry"
# No attempt after a 410: checked below, once later deliveries are done.

# ---- 500 every time: failed when the attempts run out (3 here) ---------
ht_submit "{\"type\": \"echo\", \"callback_url\": \"$RECV/down\"}"
id=$HT_JOB
wait_until 20 "the down callback fails" cb_is "$id" failed
assert_json .callback.attempts 3
assert_json .callback.last_status 500
assert_eq "$(hits /down)" 3 "requests to /down"

# ---- a receiver that hangs is timed out (1 s) and retried --------------
ht_submit "{\"type\": \"echo\", \"callback_url\": \"$RECV/hang\"}"
id=$HT_JOB
wait_until 20 "the hanging callback is delivered" cb_is "$id" delivered
assert_json .callback.attempts 2
assert_eq "$(hits /hang)" 2 "requests to /hang"
grep -q "\"job_id\":\"$id\".*\"status\":\"timeout\"" "${HT_LOGS[w1]}" ||
    fail "the worker did not log a timeout for $id"
# The /hang delivery ran twice, more than a second after the 410 above: a
# retry of /gone would have been due long before (its first retry comes
# within HANGTIGHT_WEBHOOK_RETRY_BASE_MS) and delivered first.
assert_eq "$(hits /gone)" 2 "attempts at /gone after later deliveries (none after a 410)"

# ---- a canceled job is delivered too -----------------------------------
ht_submit "{\"type\": \"echo\", \"delay_s\": 600, \"callback_url\": \"$RECV/ok\"}"
id=$HT_JOB
ht_http DELETE "/v1/jobs/$id"
wait_until 20 "the canceled job's callback is delivered" cb_is "$id" delivered
assert_eq "$(requests /ok | jq -r '.[0].body | fromjson | .type')" job.canceled "body type"

# ---- no callback_url: callback is null, nothing sent -------------------
ht_submit '{"type": "echo"}'
id=$HT_JOB
wait_until 20 "the plain job succeeds" ht_job_is "$id" succeeded
assert_json .callback null

# ---- a pending delivery survives a worker restart (it lives in Redis) --
ht_submit "{\"type\": \"echo\", \"callback_url\": \"$RECV/restart\"}"
id=$HT_JOB
wait_until 20 "the first attempt at /restart" eval '[[ "$(hits /restart)" == 1 ]]'
ht_stop w1
assert_eq "$HT_EXIT" 0 "w1 exit status"
assert_ne "$(ht_redis ZSCORE "$(ht_job_tag_key "$id" deliveries)" "$id")" "" "the delivery is still due"
assert_eq "$(ht_job_hget "$id" cb_state)" pending "cb_state while no worker runs"
ht_start_worker w1b
wait_until 20 "the restarted worker delivers" cb_is "$id" delivered
assert_json .callback.attempts 2
assert_eq "$(requests /restart | jq -r '[.[].headers["webhook-id"]] | unique | join(" ")')" \
    "msg_${id}_1" "the webhook-id across the restart"
ht_stop w1b
assert_eq "$HT_EXIT" 0 "w1b exit status"

# ---- a deliverer that may not reach private addresses ------------------
# "localhost" passes the api (a name), but resolves to loopback: refused
# after DNS, failed at once, and the receiver never sees it.
HANGTIGHT_WEBHOOK_ALLOW_PRIVATE= ht_start_worker w2
ht_submit "{\"type\": \"echo\", \"callback_url\": \"http://localhost:${RECV##*:}/refused\"}"
id=$HT_JOB
wait_until 20 "the refused callback fails" cb_is "$id" failed
assert_json .callback.attempts 1
assert_json .callback.last_status refused_address
assert_eq "$(hits /refused)" 0 "requests reaching /refused"
