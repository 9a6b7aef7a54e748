#!/usr/bin/env bash
# Redis replaced under a running api and worker:
#   1. restarted many times in a row, some of the time as a Redis that
#      refuses the worker (a password it does not have): the worker logs
#      each change of state (lost, refused, back) and claims again;
#   2. replaced by an empty Redis (a fresh data dir: no keyspace, no
#      function library): the worker says so, with what to run, instead of
#      retrying in silence; the api's /readyz says so too; after `hangtight
#      migrate` both serve again within RECOVER_MS.
source "$(dirname "$0")/lib.sh"

RECOVER_MS=10000

log_size() { stat -c %s "${HT_LOGS[$1]}"; }
logged_since() { tail -c "+$(($2 + 1))" "${HT_LOGS[$1]}" | grep -qE -- "$3"; }
api_ready() {
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$HT_URL/readyz")" == 200 ]]
}
# The slot's state lines (one slot: --concurrency 1), in order.
slot_states() {
    jq -r 'select(.msg | test("^redis (still )?unavailable|^redis available again")) | .msg' \
        "${HT_LOGS[w1]}" 2>/dev/null
}

ht_start_redis --aof
ht_migrate >/dev/null
ht_start_api
ht_start_worker w1 --concurrency 1

# ---- 1. restarts, and a Redis that refuses ------------------------------

for i in $(seq 20); do
    ht_stop_redis
    ht_start_redis --aof
done
# Each cycle waits for the refusal, then for the recovery logged after it:
# a recovery logged before the refusal (from the restarts above, or the
# previous cycle) proves nothing, and a worker that never got back between
# two cycles is still in the outage in which it logged that refusal, so it
# would rightly not log the same kind again within the minute.
for i in 1 2 3; do
    at=$(log_size w1)
    ht_stop_redis
    ht_start_redis --aof --password "refuses-$i"
    wait_until 30 "the worker logs that redis refuses it (cycle $i)" \
        logged_since w1 "$at" '"msg":"redis (still )?unavailable, retrying".*(NOAUTH|unauthenticated)'
    at=$(log_size w1)
    ht_stop_redis
    ht_start_redis --aof
    wait_until 30 "the worker logs that redis is back (cycle $i)" \
        logged_since w1 "$at" '"msg":"redis available again"'
done
t0=$(ht_ms)
ht_submit_retrying '{"type": "echo", "payload": {"after": "restarts"}}'
wait_until 30 "a job after the restarts succeeds" ht_job_is "$HT_JOB" succeeded
took=$(($(ht_ms) - t0))
((took <= RECOVER_MS)) || fail "the job after the restarts took $took ms"
log "a job after 26 restarts (3 refusing): done in $took ms"
assert_eq "$(slot_states | tail -n 1)" "redis available again" "the slot's last state line"
wait_until 30 "the api is ready after the restarts" api_ready

# ---- 2. an empty Redis ---------------------------------------------------

at=$(log_size w1)
ht_stop_redis
mv "$HT_TMP/redis" "$HT_TMP/redis.replaced"
ht_start_redis --aof
# Empty: no function library, no data (the worker's presence record in
# ht:workers, a plain HSET, may be back already).
assert_eq "$(ht_redis --scan | grep -vx 'ht:workers')" "" "keys in the new Redis"
assert_eq "$(ht_redis FUNCTION LIST)" "" "functions in the new Redis"
wait_until 30 "the worker logs that redis has no function library" \
    logged_since w1 "$at" '"msg":"redis (still )?unavailable, retrying".*no hangtight function library.*hangtight migrate'
# The api's connections come back to the new Redis, then /readyz says
# what is missing.
says_migrate() {
    ht_http GET /readyz
    [[ "$HTTP_STATUS" == 503 && "$(ht_json .detail)" == *"hangtight migrate"* ]]
}
wait_until 30 "/readyz says to run hangtight migrate" says_migrate
assert_problem 503 "/readyz against an empty redis"

ht_migrate >/dev/null
t0=$(ht_ms)
wait_until 30 "the api is ready after the migrate" api_ready
ht_submit_retrying '{"type": "echo", "payload": {"after": "replaced"}}'
wait_until 30 "a job after the migrate succeeds" ht_job_is "$HT_JOB" succeeded
took=$(($(ht_ms) - t0))
((took <= RECOVER_MS)) || fail "api ready and a job done took $took ms after the migrate"
log "api ready and a job done $took ms after the migrate"
logged_since w1 "$at" '"msg":"redis available again"' ||
    fail "the worker did not log that redis is back"
assert_eq "$(slot_states | tail -n 1)" "redis available again" "the slot's last state line"
