#!/usr/bin/env bash
# Caps an operator sets (docs/fairness.md):
#   - a tenant's max_queued: a submit over it is 429 over-cap naming the
#     cap, other tenants go on, and once some start it takes submits again;
#   - a tenant's max_running: at most that many of its jobs run at once
#     (sampled in Redis every millisecond), the rest stay queued while the
#     other tenants' jobs run; raising the cap lets them start;
#   - a type's max_running across 2 workers x 4 slots: at most N of that
#     type run at any moment (sampled), and exactly N at some moment;
#   - a tenant's max_priority: a request for high is applied as the cap,
#     and the job document says so.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys acme globex
OPS_KEY=ops-key-0123456789abcdef0123
printf 'ops:%s\n' "$OPS_KEY" >"$HT_TMP/operators"
ht_start_stack --workers 0 --api-args --api-keys-file "$KEYS" \
    --operator-keys-file "$HT_TMP/operators"
ops=(-H "Authorization: Bearer $OPS_KEY")
json=(-H 'Content-Type: application/json')
job_is() { # ID STATUS KEY-ARRAY-NAME
    declare -n key=$3
    ht_http GET "/v1/jobs/$1" "" "${key[@]}"
    [[ "$HTTP_STATUS" == 200 ]] || fail "GET job $1: $HTTP_STATUS $HTTP_BODY"
    [[ "$(ht_json .status)" == "$2" ]]
}
limit() { ht_http PUT "/v1/limits/$1" "$2" "${ops[@]}" "${json[@]}"; assert_status 200 "PUT /v1/limits/$1 $2"; }
# sample OUT SCRIPT KEYS...: the sampler (clients/redis_sampler.py) as process "sampler".
sample() { ht_spawn sampler python3 "$HT_CLIENTS_DIR/redis_sampler.py" "$HT_REDIS_PORT" "$@"; }
stop_sampler() {
    ht_stop sampler
    assert_eq "$HT_EXIT" 0 "the sampler's exit status"
    local n
    n=$(awk '$1 == "samples" { print $2 }' "$1")
    ((n >= 50)) || fail "only ${n:-0} samples were taken"
    log "$n samples of $2"
}
# The largest value of column COL of the sampler's OUT.
sampled_max() { awk -v c="$2" '$1 != "samples" && $c > m { m = $c } END { print m + 0 }' "$1"; }

# ---- max_queued ------------------------------------------------------------------
limit tenants/acme '{"max_queued": 3}'
acme_q=()
for i in 1 2 3; do
    ht_submit "{\"type\": \"echo\", \"payload\": {\"q\": $i}}" "${acme[@]}"
    acme_q+=("$HT_JOB")
done
ht_http POST /v1/jobs '{"type": "echo", "payload": {"q": 4}}' "${acme[@]}"
assert_problem 429 "a fourth waiting job of acme"
assert_json .type urn:hangtight:problem:over-cap
assert_match "$(ht_json .detail)" '^max_queued: tenant acme has 3 jobs waiting' "the detail names the cap"
assert_match "$(ht_header Retry-After)" '^[0-9]+$' "Retry-After"
ht_http POST /v1/jobs '{"type": "echo", "delay_s": 60}' "${acme[@]}"
assert_problem 429 "a scheduled job counts as waiting too"
ht_submit '{"type": "echo", "payload": {"q": "globex"}}' "${globex[@]}"
globex_q=$HT_JOB
ht_http GET /v1/jobs "" "${acme[@]}"
assert_json '.jobs | length' 3 "nothing was stored by the refused submits"
ht_start_worker w1 --concurrency 2
for id in "${acme_q[@]}"; do wait_until 20 "acme's job $id runs" job_is "$id" succeeded acme; done
wait_until 20 "globex's job runs" job_is "$globex_q" succeeded globex
ht_submit '{"type": "echo", "payload": {"q": "again"}}' "${acme[@]}"
ht_http DELETE /v1/limits/tenants/acme "" "${ops[@]}"
assert_status 204
ht_stop w1

# ---- a tenant's max_running --------------------------------------------------------
limit tenants/acme '{"max_running": 1}'
acme_r=() globex_r=()
for i in 1 2 3 4; do
    ht_submit '{"type": "sleep", "payload": {"ms": 1500, "steps": 2}}' "${acme[@]}"
    acme_r+=("$HT_JOB")
done
for i in 1 2 3; do
    ht_submit '{"type": "sleep", "payload": {"ms": 300}}' "${globex[@]}"
    globex_r+=("$HT_JOB")
done
sample "$HT_TMP/tenant.samples" \
    "return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}" \
    'ht:{default}:t:acme:status:running' 'ht:{default}:t:globex:status:running'
wait_until 10 "the sampler runs" test -s "$HT_TMP/tenant.samples"
ht_start_worker w1 --concurrency 4
for id in "${globex_r[@]}"; do wait_until 20 "globex's job $id runs" job_is "$id" succeeded globex; done
for id in "${acme_r[@]}"; do wait_until 30 "acme's job $id runs in turn" job_is "$id" succeeded acme; done
# Others progress while the capped tenant waits: by Redis' clock (the
# hashes' ms), every globex job finished before acme's second started,
# which the cap holds back until acme's first (1.5 s) is done.  Without the
# cap acme's second starts in the first round; were the claim stuck behind
# the capped tenant, globex's would wait too.
globex_done=0
for id in "${globex_r[@]}"; do
    t=$(ht_job_hget "$id" finished_at)
    if ((t > globex_done)); then globex_done=$t; fi
done
acme_second=$(for id in "${acme_r[@]}"; do ht_job_hget "$id" started_at; done | sort -n | sed -n 2p)
((globex_done < acme_second)) ||
    fail "globex's jobs finished at $globex_done, after acme's second started ($acme_second): the cap did not hold acme, or held globex"
log "globex's 3 done $((acme_second - globex_done)) ms before acme's second started"
stop_sampler "$HT_TMP/tenant.samples" "acme's and globex's running jobs"
assert_eq "$(sampled_max "$HT_TMP/tenant.samples" 2)" 1 "the most acme jobs running at once"
(($(sampled_max "$HT_TMP/tenant.samples" 3) >= 2)) || fail "globex never ran two at once: the cap held it too"

# A capped tenant waits parked; raising its cap brings it back at once.
acme_p=()
for i in 1 2 3; do
    ht_submit '{"type": "sleep", "payload": {"ms": 3000, "steps": 3}}' "${acme[@]}"
    acme_p+=("$HT_JOB")
done
wait_until 20 "one acme job runs" job_is "${acme_p[0]}" running acme
ht_submit '{"type": "echo"}' "${globex[@]}" # a claim that meets acme at its cap
wait_until 20 "globex's job runs" job_is "$HT_JOB" succeeded globex
assert_eq "$(ht_redis SMEMBERS 'ht:{default}:parked:acme')" default:sleep "acme is parked"
limit tenants/acme '{"max_running": 3}'
for id in "${acme_p[@]:1}"; do wait_until 10 "acme's job $id starts once the cap is raised" job_is "$id" running acme; done
assert_eq "$(ht_redis EXISTS 'ht:{default}:parked:acme')" 0 "acme is back in the rotation"
for id in "${acme_p[@]}"; do wait_until 20 "acme's job $id finishes" job_is "$id" succeeded acme; done
ht_http DELETE /v1/limits/tenants/acme "" "${ops[@]}"
ht_stop w1

# ---- a type's max_running across 2 workers x 4 slots --------------------------------
limit types/sleep '{"max_running": 2}'
sleepers=() echoes=()
for i in $(seq 10); do
    ht_submit '{"type": "sleep", "payload": {"ms": 400, "steps": 2}}' "${acme[@]}"
    sleepers+=("$HT_JOB")
done
for i in $(seq 6); do
    ht_submit '{"type": "echo", "payload": {}}' "${globex[@]}"
    echoes+=("$HT_JOB")
done
sample "$HT_TMP/type.samples" \
    "return {redis.call('HGET', KEYS[1], 'y:sleep') or 0, redis.call('ZCARD', KEYS[2])}" \
    'ht:{default}:running' 'ht:{default}:active'
wait_until 10 "the sampler runs" test -s "$HT_TMP/type.samples"
ht_start_worker w1 --concurrency 4
ht_start_worker w2 --concurrency 4
for id in "${echoes[@]}"; do wait_until 20 "echo job $id runs beside the capped type" job_is "$id" succeeded globex; done
for id in "${sleepers[@]}"; do wait_until 40 "sleep job $id runs in turn" job_is "$id" succeeded acme; done
stop_sampler "$HT_TMP/type.samples" "running sleep jobs"
assert_eq "$(sampled_max "$HT_TMP/type.samples" 2)" 2 "the most sleep jobs running at once (cap 2)"
# The same from the jobs' own times: no three sleep jobs overlap.
for id in "${sleepers[@]}"; do
    ht_redis HMGET "$(ht_job_key "$id")" started_at finished_at | xargs
done | awk '{ print $1, 1; print $2, -1 }' | sort -k1,1n -k2,2n |
    awk '{ n += $2; if (n > m) m = n } END { print m }' >"$HT_TMP/overlap"
assert_eq "$(cat "$HT_TMP/overlap")" 2 "the most sleep jobs overlapping in time"
assert_eq "$(ht_redis HGET 'ht:{default}:running' y:sleep)" 0 "the running count of sleep once drained"
ht_http GET /metrics "" "${ops[@]}"
assert_match "$HTTP_BODY" 'hangtight_jobs_running_by_type\{type="sleep"\} 0' "running by type in /metrics"
ht_http DELETE /v1/limits/types/sleep "" "${ops[@]}"

# ---- max_priority -----------------------------------------------------------------------
limit tenants/acme '{"max_priority": "low"}'
ht_submit '{"type": "echo", "priority": "high"}' "${acme[@]}"
assert_json .priority low "the 202's document shows the priority applied"
ht_http GET "/v1/jobs/$HT_JOB" "" "${acme[@]}"
assert_json .priority low "and so does a GET"
ht_submit '{"type": "echo"}' "${acme[@]}"
assert_json .priority low "a submit without a priority gets the cap too"
ht_submit '{"type": "echo", "priority": "high"}' "${globex[@]}"
assert_json .priority high "another tenant's high stays high"
limit tenants/acme '{"max_priority": "default"}'
ht_submit '{"type": "echo", "priority": "low"}' "${acme[@]}"
assert_json .priority low "a lower priority than the cap is kept"
