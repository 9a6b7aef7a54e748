#!/usr/bin/env bash
# A Redis that stops answering without closing its connections (SIGSTOP:
# the kernel still accepts connections and takes the bytes sent, nothing
# answers), at three moments:
#   1. at start: the api and a worker start while Redis is stopped;
#   2. mid-claim: the worker idles in its BLPOP, the api holds a long poll;
#   3. mid-job: a job runs while Redis is stopped and ends before it comes
#      back, with more jobs queued behind it on a worker of one slot.
# Each time both log what they wait for, and once Redis answers again
# (SIGCONT) they recover within RECOVER_MS: the api answers /readyz, the
# worker claims, and no acknowledged job is lost or held by an attempt that
# nobody runs (which would only come back when its lease ends).
source "$(dirname "$0")/lib.sh"

# A lease longer than the freezes below (each lasts until a reply times
# out, 5 s, and more): a job whose outcome waits across one is not presumed
# lost, so it ends in attempt 1 (with a lease shorter than the freeze it may
# run again: at least once).
export HANGTIGHT_LEASE_MS=30000

# Jobs of type "gate" run until the test creates $GATE (tests/faults/gate.sh).
GATE=$HT_TMP/gate
ht_gate_handlers gate="$GATE"

# Recovery measured here is well under a second (bench/README.md has no
# figure: it is not a speed); the bound leaves room for a loaded machine.
RECOVER_MS=10000

trap 'rc=$?; set +e; [[ -n "${HT_PIDS[redis]:-}" ]] && kill -CONT "${HT_PIDS[redis]}" 2>/dev/null; (exit $rc); ht__cleanup' EXIT

redis_stop() { kill -STOP "${HT_PIDS[redis]}" && log "redis stopped (SIGSTOP)"; }
redis_cont() {
    kill -CONT "${HT_PIDS[redis]}"
    T_CONT=$(ht_ms)
    log "redis continued (SIGCONT)"
}
# ht_log_since NAME OFFSET REGEX: 0 when NAME's log after byte OFFSET has a
# line matching REGEX.
log_size() { stat -c %s "${HT_LOGS[$1]}"; }
logged_since() { tail -c "+$(($2 + 1))" "${HT_LOGS[$1]}" | grep -qE -- "$3"; }
# Fails unless what was awaited came within RECOVER_MS of the SIGCONT.
assert_recovered() {
    local took=$(($(ht_ms) - T_CONT))
    ((took <= RECOVER_MS)) || fail "$1 took $took ms after SIGCONT (bound $RECOVER_MS ms)"
    log "$1: $took ms after SIGCONT"
}
api_ready() {
    ht_alive api || fail "the api exited: $(tail -n 20 "${HT_LOGS[api]}")"
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$HT_URL/readyz")" == 200 ]]
}
# job_is ID STATUS: 0 when job ID is STATUS; a 503 (an api thread whose
# connection to Redis is not back yet) is a "not yet", as for submits.
job_is() {
    ht_http GET "/v1/jobs/$1"
    [[ "$HTTP_STATUS" == 200 || "$HTTP_STATUS" == 503 ]] || fail "GET job $1: $HTTP_STATUS $HTTP_BODY"
    [[ "$HTTP_STATUS" == 200 && "$(ht_json .status)" == "$2" ]]
}

ht_start_redis --aof --fsync always
ht_migrate >/dev/null

# ---- 1. at start ---------------------------------------------------------

redis_stop
port=$(ht_free_port)
HT_URL=http://127.0.0.1:$port
export HANGTIGHT_URL=$HT_URL
ht_spawn api env HANGTIGHT_LISTEN="127.0.0.1:$port" "$HT_API_BIN" --threads 2
ht_spawn w1 "$HT_WORKER_BIN" --concurrency 1
wait_until 30 "the api logs that it waits for redis" logged_since api 0 '"msg":"waiting for redis"'
wait_until 30 "the worker logs that it waits for redis" logged_since w1 0 '"msg":"waiting for redis"'
ht_alive api || fail "the api gave up: $(tail -n 5 "${HT_LOGS[api]}")"
ht_alive w1 || fail "the worker gave up: $(tail -n 5 "${HT_LOGS[w1]}")"
redis_cont
wait_until 30 "the api is ready" api_ready
assert_recovered "api ready after a start against a stopped redis"
wait_until 30 "the worker is ready" logged_since w1 0 '"msg":"worker ready"'
assert_recovered "worker ready after a start against a stopped redis"
ht_submit_retrying '{"type": "echo", "payload": {"phase": 1}}'
wait_until 30 "the first job succeeds" job_is "$HT_JOB" succeeded

# ---- 2. mid-claim --------------------------------------------------------

# The worker idles in BLPOP; a long poll waits on the api for a change of
# a job due in an hour.
ht_submit_retrying '{"type": "echo", "payload": {"phase": 2}, "delay_s": 3600}'
parked=$HT_JOB
ht_http_retrying GET "/v1/jobs/$parked"
etag=$(ht_header ETag)
ht_spawn poll curl -s -o "$HT_TMP/poll.body" -w '%{http_code}' --max-time 60 \
    -H "If-None-Match: $etag" -H 'Prefer: wait=45, heartbeat=0' "$HT_URL/v1/jobs/$parked"
# Held once the api subscribed to the job's events.
watched() { [[ -n "$(ht_redis PUBSUB CHANNELS "ht:*:events:$parked")" ]]; }
wait_until 30 "the long poll is held" watched
w_at=$(log_size w1)
a_at=$(log_size api)
redis_stop
# While Redis is stopped, the api answers at once or within its reply
# timeout, with a 503 problem, never hanging.
t0=$(ht_ms)
ht_http GET "/v1/jobs/$parked"
assert_problem 503 "a GET while redis is stopped"
(($(ht_ms) - t0 < 15000)) || fail "a GET while redis is stopped took $(($(ht_ms) - t0)) ms"
wait_until 30 "the worker logs that redis is unavailable" \
    logged_since w1 "$w_at" '"msg":"redis unavailable, retrying"'
wait_until 30 "the api logs that redis is unavailable" \
    logged_since api "$a_at" '"msg":"redis unavailable"'
redis_cont
ht_submit_retrying '{"type": "echo", "payload": {"phase": 2}}'
wait_until 30 "a job submitted after SIGCONT succeeds" job_is "$HT_JOB" succeeded
assert_recovered "a job claimed and run after a stop mid-claim"
wait_until 30 "the worker logs that redis is back" \
    logged_since w1 "$w_at" '"msg":"redis available again"'
# The long poll held across the stop is woken by a change made after it.
ht_http_retrying DELETE "/v1/jobs/$parked"
# 409 (finished): a try answered 503 was run by Redis all the same.
[[ "$HTTP_STATUS" == 200 || "$HTTP_STATUS" == 409 ]] ||
    fail "cancel of the parked job: $HTTP_STATUS $HTTP_BODY"
ht_wait_exit poll 60
assert_eq "$(cat "${HT_LOGS[poll]}")" 200 "status of the long poll held across the stop"
assert_eq "$(jq -r .status "$HT_TMP/poll.body")" canceled "the long poll's document"
assert_recovered "the long poll held across the stop woken by a cancel"

# ---- 3. mid-job ----------------------------------------------------------

# One slot: a job runs, three wait behind it.  Redis stops while it runs,
# then the job ends (the test opens its gate); its outcome, and the claim of
# the next job that goes with it, are sent to a Redis that does not answer,
# given up, and sent again.  The handler reports progress as it ends (as the
# sleep handler does after its last step): that update meets the stopped
# Redis first, on the slot's open connection, and runs when Redis resumes
# (harmless); the outcome's tries go out on new connections, which the
# worker resets unrun when it gives up (shared/rconn.c), so none of them
# claims a job that nobody runs.
# Retrying: an api thread whose connection was presumed dead in phase 2
# may still be connecting again this soon after the SIGCONT (503).
ht_submit_retrying '{"type": "gate"}'
running=$HT_JOB
queued=()
for i in 1 2 3; do
    ht_submit_retrying "{\"type\": \"echo\", \"payload\": {\"phase\": 3, \"n\": $i}}"
    queued+=("$HT_JOB")
done
wait_until 30 "the gate job runs" job_is "$running" running
w_at=$(log_size w1)
redis_stop
touch "$GATE"
wait_until 60 "the worker retries the outcome of the finished job" \
    logged_since w1 "$w_at" '"msg":"redis unavailable, retrying","during":"complete"'
redis_cont
wait_until 30 "the job that ran across the stop succeeds" job_is "$running" succeeded
assert_eq "$(ht_json .attempt)" 1 "attempts of the job that ran across the stop"
for id in "${queued[@]}"; do
    wait_until 30 "queued job $id succeeds" job_is "$id" succeeded
    assert_eq "$(ht_json .attempt)" 1 "attempts of queued job $id"
done
assert_recovered "the running job and the three behind it finished"
if logged_since w1 "$w_at" '"msg":"outcome dropped'; then
    fail "an outcome was dropped: $(grep 'outcome dropped' "${HT_LOGS[w1]}")"
fi
assert_eq "$(ht_redis ZCARD 'ht:{default}:active')" 0 "jobs still held after all finished"
