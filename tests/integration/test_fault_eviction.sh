#!/usr/bin/env bash
# Fault suite (e): a Redis whose maxmemory-policy may evict keys would drop
# job keys silently when it fills up.  The api and the worker refuse to
# start on one unless told --allow-eviction (HANGTIGHT_ALLOW_EVICTION=1),
# and then log a loud warning; under noeviction they start quietly.
source "$(dirname "$0")/lib.sh"

ht_start_redis
ht_migrate
ht_redis CONFIG SET maxmemory-policy allkeys-lru >/dev/null
ht_redis CONFIG SET maxmemory 64mb >/dev/null

# Refused: exit status 1 at once, with the policy and the way out named.
for bin in api worker; do
    args=()
    [[ $bin == api ]] && args=(--listen 127.0.0.1:0)
    bin_path=$HT_API_BIN
    [[ $bin == worker ]] && bin_path=$HT_WORKER_BIN
    started=$SECONDS
    ht_spawn "refused-$bin" "$bin_path" "${args[@]}"
    ht_wait_exit "refused-$bin" 20
    assert_eq "$HT_EXIT" 1 "$bin's exit status on allkeys-lru"
    ((SECONDS - started <= 10)) || fail "$bin took $((SECONDS - started))s to refuse"
    msg=$(grep -m1 'maxmemory-policy is allkeys-lru' "${HT_LOGS[refused-$bin]}" || true)
    [[ -n "$msg" ]] || fail "$bin's log does not name the policy: $(cat "${HT_LOGS[refused-$bin]}")"
    assert_match "$msg" '"level":"error"' "$bin's refusal is an error line"
    assert_match "$msg" 'HANGTIGHT_ALLOW_EVICTION' "$bin's refusal names the override"
    log "$bin refused: $msg"
done

# Allowed by the override: both start and serve, each with a loud warning.
export HANGTIGHT_ALLOW_EVICTION=1
ht_start_api
ht_start_worker w1
for name in api w1; do
    grep '"level":"warn"' "${HT_LOGS[$name]}" | grep -q 'REDIS MAY EVICT JOBS.*allkeys-lru' ||
        fail "$name logged no eviction warning: $(cat "${HT_LOGS[$name]}")"
done
ht_submit '{"type": "echo", "payload": {"n": 1}}'
wait_until 15 "a job runs under the override" ht_job_is "$HT_JOB" succeeded
ht_stop w1
ht_stop api
# The next api run gets a fresh log (this one is still scanned at the end).
mv "${HT_LOGS[api]}" "$HT_TMP/api_allowed.log"
HT_LOGS["api_allowed"]=$HT_TMP/api_allowed.log
unset HANGTIGHT_ALLOW_EVICTION

# noeviction (Redis' default): no warning, no override needed.
ht_redis CONFIG SET maxmemory-policy noeviction >/dev/null
ht_start_api
ht_start_worker w2
for name in api w2; do
    if grep -q 'EVICT' "${HT_LOGS[$name]}"; then
        fail "$name warned about eviction under noeviction"
    fi
done
ht_submit '{"type": "echo", "payload": {"n": 2}}'
wait_until 15 "a job runs under noeviction" ht_job_is "$HT_JOB" succeeded

# Full under noeviction: Redis refuses writes (OOM) and keeps every key.  A
# submit is then a 503 problem with Retry-After (retry later), not a 500;
# reads go on; once there is room again, submits succeed.
done_job=$HT_JOB
ht_redis CONFIG SET maxmemory 1 >/dev/null
ht_http POST /v1/jobs '{"type": "echo", "payload": {"n": 3}}'
assert_problem 503 "a submit while Redis is full"
assert_match "$(ht_header Retry-After)" '^[0-9]+$' "Retry-After of the 503 while full"
ht_http GET "/v1/jobs/$done_job"
assert_status 200 "a read while Redis is full"
ht_redis CONFIG SET maxmemory 0 >/dev/null
ht_submit '{"type": "echo", "payload": {"n": 4}}'
wait_until 15 "a job after Redis has room again succeeds" ht_job_is "$HT_JOB" succeeded
