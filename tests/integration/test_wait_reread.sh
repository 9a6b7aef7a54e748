#!/usr/bin/env bash
# A held request (a long poll, a sync submit) whose read of the job after a
# notification fails for Redis trouble reads again a little later, and
# answers as soon as a read succeeds: that notification may be the job's
# last (a job that changed while the api thread's command connection was
# away, told by a subscriber that came back first; a Redis still loading
# its data), so waiting for the next one would hold the request until its
# deadline although the job is done.
#
# Redis refuses the read on demand here: the api logs in as an ACL user
# whose HMGET (the job read, api/store.c) is taken away, and given back
# once Redis logged a refusal; the jobs change through a second api that
# logs in as the default user, and a worker.
source "$(dirname "$0")/lib.sh"

# Jobs of type "gate" run until the test creates $GATE (tests/faults/gate.sh).
GATE=$HT_TMP/gate
ht_gate_handlers gate="$GATE"

# Far beyond the bound below: a request answered within that bound was
# answered by a read after a notification, not by its deadline's.
WAIT_S=120
ANSWER_S=60

ht_start_redis
ht_migrate >/dev/null
ht_redis ACL SETUSER hangtight-api on '>api-pass' '~*' '&*' '+@all' >/dev/null
ht_start_api --redis-url "redis://hangtight-api:api-pass@127.0.0.1:$HT_REDIS_PORT/0"
ht_start_api --name api2
ht_start_worker w1

# on_api2 CMD...: CMD (ht_http, ht_job_is...) against api2.
on_api2() {
    local HT_URL=${HT_API_URLS[api2]}
    "$@"
}
# Redis refused an HMGET of the api's user since the ACL log was reset.
read_refused() { ht_redis --raw ACL LOG | grep -qx hmget; }
deny_reads() {
    ht_redis ACL LOG RESET >/dev/null
    ht_redis ACL SETUSER hangtight-api -hmget >/dev/null
}
allow_reads() {
    ht_redis ACL SETUSER hangtight-api +hmget >/dev/null
    T_ALLOWED=$(ht_ms)
}
# assert_answered NAME STATUS JOB-STATUS: the held request NAME (its curl)
# answered STATUS with the job in JOB-STATUS, within ANSWER_S of allow_reads.
assert_answered() {
    ht_wait_exit "$1" "$ANSWER_S"
    local took=$(($(ht_ms) - T_ALLOWED))
    assert_eq "$(cat "${HT_LOGS[$1]}")" "$2" "status of the $1"
    assert_eq "$(jq -r .status "$HT_TMP/$1.body")" "$3" "the $1's document"
    log "the $1 answered $took ms after its reads were allowed again"
}

# ---- a long poll on a job canceled while its read is refused --------------
ht_submit '{"type": "echo", "delay_s": 3600}'
parked=$HT_JOB
ht_http GET "/v1/jobs/$parked"
etag=$(ht_header ETag)
ht_spawn long-poll curl -s -o "$HT_TMP/long-poll.body" -w '%{http_code}' --max-time $((WAIT_S + 30)) \
    -H "If-None-Match: $etag" -H "Prefer: wait=$WAIT_S, heartbeat=0" "$HT_URL/v1/jobs/$parked"
watched() { [[ -n "$(ht_redis PUBSUB CHANNELS "ht:*:events:$1")" ]]; }
wait_until 30 "the long poll is held" watched "$parked"
deny_reads
on_api2 ht_http DELETE "/v1/jobs/$parked"
assert_status 200 "cancel through api2"
wait_until 30 "redis refuses the long poll's read" read_refused
ht_alive long-poll || fail "the long poll ended while its reads were refused: $(cat "${HT_LOGS[long-poll]}")"
allow_reads
assert_answered long-poll 200 canceled

# ---- a sync submit whose job ends while its read is refused ----------------
ht_spawn sync-submit curl -s -o "$HT_TMP/sync-submit.body" -w '%{http_code}' --max-time $((WAIT_S + 30)) \
    -H 'Content-Type: application/json' -H "Prefer: wait=$WAIT_S" \
    --data-binary '{"type": "gate"}' "$HT_URL/v1/jobs"
# The job's id from api2's listing of running jobs.
gate_running() {
    on_api2 ht_http GET '/v1/jobs?status=running&type=gate'
    assert_status 200 "running jobs through api2"
    [[ "$(ht_json '.jobs | length')" == 1 ]]
}
wait_until 30 "the sync submit's job runs" gate_running
running=$(ht_json '.jobs[0].id')
wait_until 30 "the sync submit is held" watched "$running"
deny_reads
touch "$GATE"
wait_until 30 "the gate job succeeds" on_api2 ht_job_is "$running" succeeded
wait_until 30 "redis refuses the sync submit's read" read_refused
ht_alive sync-submit || fail "the sync submit ended while its reads were refused: $(cat "${HT_LOGS[sync-submit]}")"
allow_reads
assert_answered sync-submit 200 succeeded
