#!/usr/bin/env bash
# Graceful drain, with real clients.
#
# Worker, SIGTERM: it stops claiming (a job submitted meanwhile stays
# queued), lets a running job that ends within --drain-timeout-s finish
# (one that ends after the drain began),
# hands the rest back at once after that grace (queued, attempt not
# counted, long before its lease would run out) and exits 0.
#
# Api, SIGTERM: it stops accepting, answers a held sync submit (curl with
# Prefer: wait, after some 102s) with the 202 fallback and a held long poll
# with 304, ends an SSE stream
# (curl -N) with a last "shutdown" event, and exits 0 within a bound.
source "$(dirname "$0")/lib.sh"

# The short job ends after the test sees the drain begin: the grace leaves
# room for the test's reaction on a loaded machine.
GRACE_S=5
API_EXIT_BOUND_S=8

# Jobs of type "gate" run until the test creates $GATE, jobs of type "hold"
# until it creates $HOLD (tests/faults/gate.sh), which it never does: they
# outlast any grace.
GATE=$HT_TMP/gate
HOLD=$HT_TMP/hold
ht_gate_handlers gate="$GATE" hold="$HOLD"

ht_start_stack --workers 0 --api-args --heartbeat-ms 500

# ---- the worker --------------------------------------------------------

ht_start_worker wd --concurrency 2 --drain-timeout-s "$GRACE_S"
# The short job ends when the test opens its gate: once wd drains.
ht_submit '{"type": "gate"}'
short=$HT_JOB
# A lease of 300 s: handing it back by lease expiry would take that long.
ht_submit '{"type": "hold", "timeout_s": 300}'
long=$HT_JOB
wait_until 15 "both jobs run on wd" eval 'ht_job_is "$short" running && ht_job_is "$long" running'

term_ms=$(ht_ms)
kill -TERM "${HT_PIDS[wd]}"
wait_until 15 "wd drains" ht_log_has wd '"draining: '
touch "$GATE"
ht_submit '{"type": "echo", "payload": {"submitted": "while draining"}}'
late=$HT_JOB
ht_wait_exit wd $((GRACE_S + 15))
exit_ms=$(($(ht_ms) - term_ms))
assert_eq "$HT_EXIT" 0 "wd's exit status after draining"
log "wd exited ${exit_ms} ms after SIGTERM (grace ${GRACE_S}s)"
((exit_ms >= GRACE_S * 1000 - 500)) || fail "wd exited before the grace was over (${exit_ms} ms)"
((exit_ms <= (GRACE_S + 6) * 1000)) || fail "wd took ${exit_ms} ms to exit (grace ${GRACE_S}s)"

ht_http GET "/v1/jobs/$short"
assert_json .status succeeded "the short job finished within the grace"
assert_json .attempt 1
ht_http GET "/v1/jobs/$long"
assert_json .status queued "the long job after the hand-back"
assert_json .attempt 0 "the long job's attempt (the hand-back is not counted)"
ht_http GET "/v1/jobs/$late"
assert_json .status queued "the job submitted while draining (not claimed)"
grep -qF '"job handed back"' "${HT_LOGS[wd]}" || fail "wd did not log the hand-back"

# The next worker takes both over.
ht_start_worker w2 --concurrency 2 --drain-timeout-s 1
wait_until 15 "w2 runs the late job" ht_job_is "$late" succeeded
wait_until 15 "w2 runs the handed-back job" ht_job_is "$long" running

# ---- the api -----------------------------------------------------------

# An SSE stream on the running job, a held sync submit, and a long poll on
# a job scheduled an hour ahead (it does not change: only the shutdown ends
# the wait).
ht_submit '{"type": "echo", "delay_s": 3600}'
later=$HT_JOB
ht_http GET "/v1/jobs/$later"
later_etag=$(ht_header ETag)
curl -sS --max-time 60 -D "$HT_TMP/poll.headers" -o /dev/null -w '%{http_code}' \
    -H 'Prefer: wait=60' -H "If-None-Match: $later_etag" \
    "$HT_URL/v1/jobs/$later" >"$HT_TMP/poll.code" 2>"$HT_TMP/poll.err" &
poll_pid=$!
curl -sS -N --max-time 60 "$HT_URL/v1/jobs/$long/events" >"$HT_TMP/sse.out" 2>"$HT_TMP/sse.err" &
sse_pid=$!
curl -sS --max-time 60 -D "$HT_TMP/sync.headers" -o "$HT_TMP/sync.body" -w '%{http_code}' \
    -H 'Prefer: wait=60' -H 'Content-Type: application/json' \
    --data-binary '{"type": "sleep", "payload": {"ms": 20000, "steps": 20}}' \
    "$HT_URL/v1/jobs" >"$HT_TMP/sync.code" 2>"$HT_TMP/sync.err" &
sync_pid=$!
wait_until 15 "the SSE stream has its first event" grep -q '^event: status' "$HT_TMP/sse.out"
wait_until 15 "the sync submit is held (102 sent)" grep -q '^HTTP/1.1 102' "$HT_TMP/sync.headers"
wait_until 15 "the long poll is held (102 sent)" grep -q '^HTTP/1.1 102' "$HT_TMP/poll.headers"

term_ms=$(ht_ms)
kill -TERM "${HT_PIDS[api]}"
sync_rc=0
wait "$sync_pid" || sync_rc=$?
sync_ms=$(($(ht_ms) - term_ms))
sse_rc=0
wait "$sse_pid" || sse_rc=$?
sse_ms=$(($(ht_ms) - term_ms))
poll_rc=0
wait "$poll_pid" || poll_rc=$?
ht_wait_exit api "$API_EXIT_BOUND_S"
api_ms=$(($(ht_ms) - term_ms))
assert_eq "$HT_EXIT" 0 "the api's exit status"
log "after SIGTERM: sync answered in ${sync_ms} ms, SSE ended in ${sse_ms} ms, api gone in ${api_ms} ms"

# The held sync submit: the 202 fallback, a complete answer.
assert_eq "$sync_rc" 0 "curl's exit status for the held sync submit ($(cat "$HT_TMP/sync.err"))"
assert_eq "$(cat "$HT_TMP/sync.code")" 202 "the held sync submit's final status"
# shellcheck disable=SC2034 # read by assert_jq
HTTP_BODY=$(cat "$HT_TMP/sync.body")
assert_jq '.id | type == "string"' "the 202 carries the job"
location=$(tr -d '\r' <"$HT_TMP/sync.headers" | awk 'tolower($1) == "location:" { print $2 }' | tail -1)
assert_match "$location" '^/v1/jobs/[0-9a-f-]{36}$' "Location of the 202 fallback"
tr -d '\r' <"$HT_TMP/sync.headers" | grep -qi '^connection: close' ||
    fail "the 202 fallback does not close the connection"

# The long poll: "not modified" as far as the api knows.
assert_eq "$poll_rc" 0 "curl's exit status for the long poll ($(cat "$HT_TMP/poll.err"))"
assert_eq "$(cat "$HT_TMP/poll.code")" 304 "the held long poll's final status"

# The SSE stream: ended cleanly, its last event says why.
assert_eq "$sse_rc" 0 "curl's exit status for the SSE stream ($(cat "$HT_TMP/sse.err"))"
last_event=$(grep '^event:' "$HT_TMP/sse.out" | tail -1)
assert_eq "$last_event" "event: shutdown" "the last SSE event"
grep -q '^retry: ' "$HT_TMP/sse.out" || fail "the shutdown event has no retry hint"

# Stopped accepting: nobody listens any more.
curl_rc=0
curl -sS --max-time 5 -o /dev/null "$HT_URL/healthz" 2>/dev/null || curl_rc=$?
assert_eq "$curl_rc" 7 "curl's exit status connecting after the api stopped (refused)"
echo "faults: drain: worker_exit_ms=$exit_ms (grace ${GRACE_S}s) api_exit_ms=$api_ms" \
    "sync_answer_ms=$sync_ms sse_end_ms=$sse_ms" >&2
