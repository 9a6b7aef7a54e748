#!/usr/bin/env bash
# The api's Redis connections against a Redis that stops answering (SIGSTOP)
# or loses its function library:
#   1. a submit sent just before Redis stopped is answered 503 once its
#      reply is overdue (it may still run when Redis resumes: Redis has the
#      bytes; a client retrying with the same Idempotency-Key gets that
#      job, not a second one), later ones at once;
#   2. while Redis is stopped the api does not claim to be connected (a TCP
#      connect to a stopped Redis succeeds; only an answered PING counts);
#   3. a Redis without the function library (emptied or replaced since the
#      migrate) gets 503 problem+json with Retry-After, not a 500, and one
#      log line saying to run `hangtight migrate`; after the migrate, 202.
source "$(dirname "$0")/lib.sh"

trap 'rc=$?; set +e; [[ -n "${HT_PIDS[redis]:-}" ]] && kill -CONT "${HT_PIDS[redis]}" 2>/dev/null; (exit $rc); ht__cleanup' EXIT

log_size() { stat -c %s "${HT_LOGS[$1]}"; }
logged_since() { tail -c "+$(($2 + 1))" "${HT_LOGS[$1]}" | grep -cE -- "$3" || true; }
job_keys() { ht_redis --scan --pattern 'ht:{default}:job:*' | grep -vc ':ev$' || true; }

ht_start_redis --aof --fsync always
ht_migrate >/dev/null
# One api thread: every request goes over the same connection.
ht_start_api --threads 1

ht_submit '{"type": "echo"}'
before=$(job_keys)
assert_eq "$before" 1 "jobs before the stop"

# ---- 1. a submit in flight when Redis stops --------------------------------
at=$(log_size api)
kill -STOP "${HT_PIDS[redis]}"
log "redis stopped"
ht_http POST /v1/jobs '{"type": "echo", "payload": {"in_flight": true}}' -H 'Idempotency-Key: in-flight-1'
assert_problem 503 "submit to a stopped redis"
assert_ne "$(ht_header Retry-After)" "" "Retry-After of the 503"
# Later submits fail at once while the connection is down.
ht_http POST /v1/jobs '{"type": "echo", "payload": {"while_down": true}}'
assert_problem 503 "submit while redis is stopped"

# ---- 2. no "connected" while Redis is stopped ------------------------------
# The api retries every 500 ms; give it several connect attempts (each
# times out after 2 s without a PING answer).
sleep 5
assert_eq "$(logged_since api "$at" '"msg":"redis connected"')" 0 \
    "'redis connected' lines while redis was stopped"

kill -CONT "${HT_PIDS[redis]}"
log "redis continued"
wait_until 20 "the api submits again" eval "ht_http POST /v1/jobs '{\"type\": \"echo\", \"payload\": {\"after\": true}}'; [[ \$HTTP_STATUS == 202 ]]"
assert_eq "$(logged_since api "$at" '"msg":"redis connected"')" 1 "'redis connected' lines after the resume"
# The retry of the 503'd submit with its key: one job, whether or not the
# first try ran when Redis resumed.
ht_http POST /v1/jobs '{"type": "echo", "payload": {"in_flight": true}}' -H 'Idempotency-Key: in-flight-1'
assert_status 202 "retry of the 503'd submit"
assert_eq "$(job_keys)" 3 "jobs: before, after, and the in-flight one once"

# ---- 3. a Redis without the function library -------------------------------
ht_redis FUNCTION FLUSH >/dev/null
at=$(log_size api)
for i in 1 2 3; do
    ht_http POST /v1/jobs '{"type": "echo"}'
    assert_problem 503 "submit $i to a redis without the library"
    assert_ne "$(ht_header Retry-After)" "" "Retry-After without the library"
done
assert_eq "$(logged_since api "$at" 'run `hangtight migrate`')" 1 "log lines saying to migrate"
ht_migrate >/dev/null
ht_submit '{"type": "echo"}'
