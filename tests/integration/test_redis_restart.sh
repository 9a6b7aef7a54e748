#!/usr/bin/env bash
# Redis goes away and comes back: meanwhile the api answers 503 problems with
# Retry-After (readyz 503, healthz 200); afterwards it serves again without a
# restart, and the worker picks up new work.
source "$(dirname "$0")/lib.sh"

ht_start_stack --redis-args --aof
ht_submit '{"type": "echo", "payload": {"before": 1}}'
before=$HT_JOB
wait_until 15 "a job before the outage succeeds" ht_job_is "$before" succeeded
# Redis writes the AOF before it answers (appendfsync everysec delays only
# the fsync) and SHUTDOWN fsyncs it: the job survives without a pause.

ht_stop_redis
stopped_ms=$(ht_ms)
log "redis stopped"

post_is_503() {
    ht_http POST /v1/jobs '{"type": "echo"}'
    [[ "$HTTP_STATUS" == 503 ]]
}
wait_until 15 "POST answers 503" post_is_503
assert_problem 503 "POST while Redis is down"
assert_match "$(ht_header Retry-After)" '^[0-9]+$' "Retry-After of the POST 503"
ht_http GET "/v1/jobs/$before"
assert_problem 503 "GET while Redis is down"
assert_match "$(ht_header Retry-After)" '^[0-9]+$' "Retry-After of the GET 503"
ht_http GET /readyz
assert_status 503 "readyz while Redis is down"
ht_http GET /healthz
assert_status 200 "healthz while Redis is down"
# Both processes lost Redis; the outage then lasts 2 s in all, so that
# their reconnect attempts fail for a while.
lost_redis() { ht_log_has api '"msg":"redis unavailable"' && ht_log_has w1 'redis unavailable'; }
wait_until 15 "the api and the worker lose Redis" lost_redis
left_ms=$((stopped_ms + 2000 - $(ht_ms)))
((left_ms <= 0)) || sleep "$((left_ms / 1000)).$(printf %03d $((left_ms % 1000)))"
ht_alive api || fail "the api died while Redis was down"
ht_alive w1 || fail "the worker died while Redis was down"

ht_start_redis --aof
log "redis restarted on port $HT_REDIS_PORT"
post_is_202() {
    ht_http POST /v1/jobs '{"type": "echo", "payload": {"after": 1}}'
    [[ "$HTTP_STATUS" == 202 ]]
}
wait_until 15 "POST answers 202 again" post_is_202
after=$(ht_json .id)
wait_until 20 "the worker processes a job after the restart" ht_job_is "$after" succeeded
assert_json .result.after 1
ht_http GET /readyz
assert_status 200 "readyz after the restart"
ht_http GET "/v1/jobs/$before"
assert_status 200 "the job from before the outage survived (AOF)"
assert_json .status succeeded
