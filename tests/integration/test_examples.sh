#!/usr/bin/env bash
# The client examples of examples/ against the real stack, each the way a
# user runs it: curl (submit + poll, then a recorded delivery verified with
# openssl), Node (fetch + SSE, own receiver), Python requests (polling, own
# receiver), Python http.client (sync mode, heartbeat=0, own receiver) and
# Go net/http (long polls, own receiver).  Each one submits a sleep job with
# progress, follows it to succeeded and verifies its signed webhook, sending
# an API key (the api runs with --api-keys-file).  An example whose runtime
# is not installed is skipped with a message (ht_skip_part): the others
# run, and the test then counts as skipped, not passed.
source "$(dirname "$0")/lib.sh"

EX=$HT_SOURCE_DIR/examples
export HANGTIGHT_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
export HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1 # the examples' receivers listen on loopback
export PYTHONDONTWRITEBYTECODE=1         # no __pycache__ in examples/python

# The api has API keys: every example sends HANGTIGHT_API_KEY as Bearer.
export HANGTIGHT_API_KEY=examples-$(openssl rand -hex 12)
printf 'acme:%s\n' "$HANGTIGHT_API_KEY" >"$HT_TMP/keys"
ht_start_stack --api-args --api-keys-file "$HT_TMP/keys" --worker-args --concurrency 4
export HANGTIGHT_URL=$HT_URL
ht_http GET /v1/queues
assert_problem 401 "the api really wants a key"

ran=()
# run NAME COMMAND...: runs one example with a time limit; its output goes
# to $HT_TMP/NAME.out (stdout: the final document) and NAME.err.
run() {
    local name=$1 start rc=0
    shift
    start=$(ht_ms)
    timeout 90 "$@" >"$HT_TMP/$name.out" 2>"$HT_TMP/$name.err" || rc=$?
    ((rc == 0)) || fail "example $name exited $rc:
$(tail -n 30 "$HT_TMP/$name.err")"
    jq -e '.status == "succeeded"' "$HT_TMP/$name.out" >/dev/null ||
        fail "example $name did not print a succeeded job: $(cat "$HT_TMP/$name.out")"
    log "$name: ok in $(($(ht_ms) - start)) ms ($(grep -h -m1 -o 'webhook verified.*' "$HT_TMP/$name.err"))"
    ran+=("$name")
}

# ---- curl: submit, poll; the webhook recorded by a receiver, then verified ----
REQS=$HT_TMP/requests.jsonl
echo '{"/hook": ["204"]}' >"$HT_TMP/script.json"
: >"$REQS"
ht_spawn receiver python3 "$HT_CLIENTS_DIR/receiver.py" "$HT_TMP/port" "$REQS" "$HT_TMP/script.json"
wait_until 10 "the receiver listens" test -s "$HT_TMP/port"
hook=http://127.0.0.1:$(cat "$HT_TMP/port")/hook
run curl bash "$EX/curl/submit_and_follow.sh" \
    "{\"type\": \"sleep\", \"payload\": {\"ms\": 1500, \"steps\": 3}, \"callback_url\": \"$hook\"}"
grep -q '^succeeded 100%' "$HT_TMP/curl.err" || fail "curl example showed no progress: $(cat "$HT_TMP/curl.err")"
wait_until 20 "the curl job's webhook arrives" test -s "$REQS"
jq -r '.headers | to_entries[] | "\(.key): \(.value)"' <(head -n 1 "$REQS") >"$HT_TMP/hook.headers"
jq -j '.body' <(head -n 1 "$REQS") >"$HT_TMP/hook.body"
bash "$EX/curl/verify_webhook.sh" "$HT_TMP/hook.headers" "$HT_TMP/hook.body" >"$HT_TMP/verify.out" 2>&1 ||
    fail "verify_webhook.sh refused a real delivery: $(cat "$HT_TMP/verify.out")"
# ... and refuses a tampered body and a wrong secret.
sed 's/succeeded/failed/' "$HT_TMP/hook.body" >"$HT_TMP/hook.tampered"
! bash "$EX/curl/verify_webhook.sh" "$HT_TMP/hook.headers" "$HT_TMP/hook.tampered" 2>/dev/null ||
    fail "verify_webhook.sh accepted a tampered body"
! HANGTIGHT_WEBHOOK_SECRET=whsec_c2Vjb25kIHNlY3JldCBrZXk= bash "$EX/curl/verify_webhook.sh" \
    "$HT_TMP/hook.headers" "$HT_TMP/hook.body" 2>/dev/null || fail "verify_webhook.sh accepted a wrong secret"
log "curl: recorded delivery verified; tampered body and wrong secret refused"

# ---- Node ------------------------------------------------------------------------
# The example needs Node 18+ (fetch); ht_node20 gives a newer one where needed.
ht_node20 || true
if command -v node >/dev/null; then
    run node node "$EX/node/submit_follow.mjs"
    grep -q 'running 67%' "$HT_TMP/node.err" || fail "node example saw no progress event: $(cat "$HT_TMP/node.err")"
else
    ht_skip_part node "node is not installed"
fi

# ---- Python ------------------------------------------------------------------------
if python3 -c 'import requests' 2>/dev/null; then
    run python-requests python3 "$EX/python/poll_requests.py"
else
    ht_skip_part python-requests "the requests module is not installed for $(command -v python3)"
fi
run python-http-client python3 "$EX/python/sync_http_client.py"
grep -q '^200 after .*Preference-Applied: wait=30' "$HT_TMP/python-http-client.err" ||
    fail "the sync example was not answered 200 on the held request: $(cat "$HT_TMP/python-http-client.err")"

# ---- Go --------------------------------------------------------------------------------
if command -v go >/dev/null; then
    # Build caches in the build dir: the second run is fast, and nothing is
    # written to $HOME.
    export GOCACHE=$HT_BUILD_DIR/go/cache GOPATH=$HT_BUILD_DIR/go/path GOTOOLCHAIN=local
    run go go run "$EX/go/main.go"
else
    ht_skip_part go "go is not installed (apt-get install golang-go; scripts/deps.sh --test does)"
fi

log "ran: ${ran[*]}"
