#!/usr/bin/env bash
# Retention: a finished job is kept ttl_s seconds, then its hash, its event
# log and its idempotency key expire (GET answers 404) and the next trim
# drops it from the listing indexes; a failed job is kept
# max(ttl_s, HANGTIGHT_FAILED_TTL_S) (7 days by default); an unfinished job
# never expires.  Bounds are loose: Redis expires keys lazily or within
# about 100 ms, and the workers trim about once a second, each expiry bucket
# (10 s of expiry times, docs/keyspace.md) once its end has passed.
source "$(dirname "$0")/lib.sh"

# Every job keeps an event log (docs/keyspace.md, "Watching"): it must expire
# with its job.
export HANGTIGHT_LOG_EVERY_JOB=1
# The kept times are long enough for the checks made while a job exists
# to run on a loaded machine (over 4 s there); each is checked by Redis's
# clock, and waited out.
TTL=10
FAILED_TTL=8
# Jobs of type "hold" run until the test cancels them (tests/faults/gate.sh
# with a gate nobody opens).
ht_gate_handlers hold="$HT_TMP/never"
# A webhook receiver that answers the first delivery of /later 429 (retry
# in 2 s), then 200: a job with a callback starts expiring at its
# delivery's end.
export HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1 HANGTIGHT_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
echo '{"/later": ["429 retry-after=2", "200"]}' >"$HT_TMP/script.json"
: >"$HT_TMP/requests.jsonl"
ht_spawn receiver python3 "$HT_CLIENTS_DIR/receiver.py" "$HT_TMP/port" "$HT_TMP/requests.jsonl" \
    "$HT_TMP/script.json"
wait_until 10 "the receiver listens" test -s "$HT_TMP/port"
ht_start_stack --api-args --failed-ttl-s "$FAILED_TTL" --worker-args --concurrency 2

job_key() { printf 'ht:{default}:job:%s' "$1"; }
in_index() { [[ -n "$(ht_redis ZSCORE "ht:{default}:t:default:$1" "$2")" ]]; }
gone() {
    ht_http GET "/v1/jobs/$1"
    [[ "$HTTP_STATUS" == 404 ]]
}
trimmed() {
    local id=$1 s
    for s in status:succeeded status:failed status:queued status:running; do
        if in_index "$s" "$id"; then return 1; fi
    done
}
# buckets ENTRY: the expiry buckets whose list holds ENTRY ("<id>", or
# "<id> <tenant>"), one "<n> <end ms>" a line.
buckets() {
    local n end
    while read -r n && read -r end; do
        if [[ -n "$(ht_redis LPOS "ht:{default}:exp:$n" "$1")" ]]; then echo "$n $end"; fi
    done < <(ht_redis ZRANGE 'ht:{default}:exps' 0 -1 WITHSCORES)
}
redis_ms() { ht_redis TIME | { read -r s && read -r us && echo $((s * 1000 + us / 1000)); }; }
listed() { # listed ID [QUERY]: the id is on the first page of GET /v1/jobs?QUERY
    ht_http GET "/v1/jobs?limit=100&${2:-}"
    assert_status 200 "GET /v1/jobs?${2:-}"
    jq -e --arg id "$1" 'any(.jobs[]; .id == $id)' <<<"$HTTP_BODY" >/dev/null
}

# ---- a succeeded job with a short ttl_s -------------------------------------
ht_http POST /v1/jobs '{"type": "echo", "payload": {"keep": "briefly"}, "ttl_s": '"$TTL"'}' \
    -H 'Idempotency-Key: retention-1'
assert_status 202 "submit with ttl_s $TTL"
id=$(ht_json .id)
wait_until 15 "the ttl_s $TTL job succeeded" ht_job_is "$id" succeeded
finished=$(ht_ms)
idem_keys() { ht_redis --scan --pattern 'ht:{default}:idem:*' | wc -l; }
assert_eq "$(idem_keys)" 1 "idempotency keys while the job exists"

pttl=$(ht_redis PTTL "$(job_key "$id")")
((pttl > 0 && pttl <= TTL * 1000)) || fail "PTTL of the finished job: $pttl (want 1..$((TTL * 1000)) ms)"
log_ttl=$(ht_redis PTTL "$(job_key "$id"):ev")
((log_ttl > 0 && log_ttl <= TTL * 1000)) || fail "PTTL of its event log: $log_ttl (want 1..$((TTL * 1000)) ms)"
in_index status:succeeded "$id" || fail "the finished job is not in status:succeeded"
# It is filed in the expiry bucket of its expiry time: the one that ends
# within 10 s after it (the library reads its clock a moment after the
# EXPIRE, so allow a few ms).
expire_at=$(ht_redis PEXPIRETIME "$(job_key "$id")")
filed=$(buckets "$id")
assert_eq "$(wc -l <<<"$filed")" 1 "expiry buckets holding the finished job ($filed)"
read -r bucket bucket_end <<<"$filed"
((bucket_end >= expire_at && bucket_end < expire_at + 10000 + 50)) ||
    fail "the job expires at $expire_at, its bucket $bucket ends at $bucket_end"
assert_eq "$bucket_end" "$((bucket * 10000))" "end of bucket $bucket"
listed "$id" "status=succeeded" || fail "the finished job is not listed: $HTTP_BODY"

wait_until $((TTL + 5)) "the ttl_s $TTL job is gone (404)" gone "$id"
elapsed=$(($(ht_ms) - finished))
log "404 ${elapsed} ms after the job was seen finished"
assert_problem 404 "GET of an expired job"
assert_eq "$(ht_redis EXISTS "$(job_key "$id")" "$(job_key "$id"):ev")" 0 \
    "job hash and event log keys after expiry"
assert_eq "$(idem_keys)" 0 "idempotency keys after the job expired"

# The trim walks its bucket once the bucket's end has passed: up to 10 s
# after the expiry, then within the trim's second.
wait_until 20 "the expired job is trimmed from the indexes" trimmed "$id"
assert_eq "$(ht_redis EXISTS "ht:{default}:exp:$bucket")" 0 "bucket $bucket after its walk"
assert_eq "$(ht_redis ZSCORE 'ht:{default}:exps' "$bucket")" "" "bucket $bucket in exps after its walk"
if listed "$id"; then fail "the expired job is still listed: $HTTP_BODY"; fi
# The idempotency key expired with the job: the same key makes a new job.
ht_http POST /v1/jobs '{"type": "echo", "payload": {"keep": "briefly"}, "ttl_s": 1}' \
    -H 'Idempotency-Key: retention-1'
assert_status 202 "the same Idempotency-Key after expiry"
assert_ne "$(ht_json .id)" "$id" "job id for a reused, expired Idempotency-Key"

# ---- a failed job: kept max(ttl_s, HANGTIGHT_FAILED_TTL_S) -----------------
ht_submit '{"type": "fail", "payload": {"message": "kept for a while"}, "max_attempts": 1,
            "ttl_s": 1}'
fid=$HT_JOB
wait_until 15 "the failing job failed" ht_job_is "$fid" failed
assert_eq "$(ht_job_hget "$fid" failed_ttl_s)" "$FAILED_TTL" "failed_ttl_s of the job"
# The expiry is set at the finish: FAILED_TTL after it (its ttl_s of 1 s
# does not count), by Redis's clock (the test may read it seconds later on a
# loaded machine).
want_ms=$((FAILED_TTL * 1000))
expire_at=$(ht_redis PEXPIRETIME "$(job_key "$fid")")
finished_ms=$(ht_job_hget "$fid" finished_at)
((expire_at - finished_ms >= want_ms - 100 && expire_at - finished_ms <= want_ms + 100)) ||
    fail "the failed job expires $((expire_at - finished_ms)) ms after its finish (want $want_ms)"
listed "$fid" "status=failed" || fail "the failed job is not listed as failed: $HTTP_BODY"
# It is gone after about FAILED_TTL.
wait_until $((FAILED_TTL + 5)) "the failed job is gone (404)" gone "$fid"
# (Redis runs on this machine: its clock is the test's.)
elapsed=$(($(ht_ms) - finished_ms))
((elapsed >= want_ms - 100)) ||
    fail "the failed job went ${elapsed} ms after its finish, before its ${FAILED_TTL} s"
log "failed job 404 ${elapsed} ms after its finish"
wait_until 20 "the failed job is trimmed from the indexes" trimmed "$fid"

# ---- defaults: a day for succeeded, seven days for failed -------------------
ht_submit '{"type": "echo", "payload": {}}'
wait_until 15 "default-ttl job succeeded" ht_job_is "$HT_JOB" succeeded
ttl=$(ht_redis TTL "$(job_key "$HT_JOB")")
((ttl > 86000 && ttl <= 86400)) || fail "TTL of a job with the default ttl_s: $ttl"

# The failed-job default needs an api without --failed-ttl-s.
ht_start_api --name api2 --threads 1
fid2=$(curl -s -X POST "$(ht_api_url api2)/v1/jobs" -H 'Content-Type: application/json' \
    -d '{"type": "fail", "payload": {"message": "default"}, "max_attempts": 1, "ttl_s": 60}' |
    jq -r .id)
assert_match "$fid2" '^[0-9a-f-]{36}$' "id from the second api"
wait_until 15 "the default failed job failed" ht_job_is "$fid2" failed
# The default is left out of the hash (the library reads its absence as it).
assert_eq "$(ht_redis HEXISTS "$(job_key "$fid2")" failed_ttl_s)" 0 "default failed_ttl_s stored"
ttl=$(ht_redis TTL "$(job_key "$fid2")")
((ttl > 604000 && ttl <= 604800)) || fail "TTL of a failed job by default: $ttl"

# ---- an unfinished job never expires ----------------------------------------
# It runs (until canceled) past the expiry of a ttl_s 1 job that finished
# after it started.
ht_submit '{"type": "hold", "ttl_s": 1}'
held=$HT_JOB
wait_until 15 "the held job runs" ht_job_is "$held" running
ht_submit '{"type": "echo", "payload": {"mark": "running"}, "ttl_s": 1}'
wait_until 15 "a ttl_s 1 job that finished while it runs expires" gone "$HT_JOB"
assert_eq "$(ht_redis TTL "$(job_key "$held")")" -1 "TTL of a running job with ttl_s 1"
ht_http GET "/v1/jobs/$held"
assert_status 200 "a running job past its ttl_s"
assert_json .status running "the held job, still running"
# Canceled now, so the worker has nothing to drain at the end.
ht_http DELETE "/v1/jobs/$held"
assert_status 202 "cancel of the held job"
wait_until 10 "the held job ends canceled" ht_job_is "$held" canceled

# ---- a job with a callback: filed at its delivery's end ---------------------
ht_submit '{"type": "echo", "payload": {}, "ttl_s": '"$TTL"',
            "callback_url": "http://127.0.0.1:'"$(cat "$HT_TMP/port")"'/later"}'
cb=$HT_JOB
wait_until 15 "the callback job succeeded" ht_job_is "$cb" succeeded
cb_state() { [[ "$(ht_job_hget "$cb" cb_state)" == "$1" ]]; }
wait_until 10 "the first delivery was answered 429" \
    eval '[[ "$(ht_job_hget "$cb" cb_attempts)" == 1 ]]'
if cb_state pending; then
    assert_eq "$(ht_redis PTTL "$(job_key "$cb")")" -1 "PTTL of the job while its delivery is pending"
    assert_eq "$(buckets "$cb")" "" "expiry buckets holding the job while its delivery is pending"
fi
wait_until 15 "the delivery ended" cb_state delivered
expire_at=$(ht_redis PEXPIRETIME "$(job_key "$cb")")
filed=$(buckets "$cb")
assert_eq "$(wc -l <<<"$filed")" 1 "expiry buckets holding the delivered job ($filed)"
read -r _ bucket_end <<<"$filed"
((bucket_end >= expire_at && bucket_end < expire_at + 10000 + 50)) ||
    fail "the delivered job expires at $expire_at, its bucket ends at $bucket_end"
wait_until $((TTL + 25)) "the delivered job is gone and trimmed" \
    eval 'gone "$cb" && trimmed "$cb"'

# ---- the trim's cases, one call on keys written by hand --------------------
# A bucket whose end has passed (member "1", scored 100 ms ago by Redis'
# clock) holds: a job gone (in status:succeeded) and one of tenant acme
# gone (in its status:failed); a job that expires 500 ms from now, within
# the trim's slack of the bucket's end (Redis judged it alive at the
# script's start): filed again, in the bucket of now; a job that expires a
# minute from now (retried and finished again: its new finish filed it in
# a later bucket): left there, not filed twice; a job without a TTL (retried,
# running again): not ours.  A sorted set `expiry` of schema 18 with a due
# entry of a gone job is drained too.
new_id() { cat /proc/sys/kernel/random/uuid; }
g=$(new_id) ga=$(new_id) edge=$(new_id) later=$(new_id) nottl=$(new_id) old=$(new_id)
now=$(redis_ms)
ht_redis ZADD 'ht:{default}:t:default:status:succeeded' 1 "$g" 1 "$edge" 1 "$later" 1 "$old" >/dev/null
ht_redis ZADD 'ht:{default}:t:default:status:running' 1 "$nottl" >/dev/null
ht_redis SADD 'ht:{default}:tenants' acme >/dev/null
ht_redis ZADD 'ht:{default}:t:acme:status:failed' 1 "$ga" >/dev/null
ht_redis HSET "$(job_key "$edge")" status succeeded >/dev/null
ht_redis PEXPIRE "$(job_key "$edge")" 500 >/dev/null
ht_redis HSET "$(job_key "$later")" status succeeded >/dev/null
ht_redis PEXPIRE "$(job_key "$later")" 60000 >/dev/null
ht_redis HSET "$(job_key "$nottl")" status running >/dev/null
ht_redis ZADD 'ht:{default}:t:default:expiry' $((now - 5)) "$old" >/dev/null
ht_redis RPUSH 'ht:{default}:exp:1' "$g" "$ga acme" "$edge" "$later" "$nottl" >/dev/null
ht_redis ZADD 'ht:{default}:exps' $((now - 100)) 1 >/dev/null
# (The workers trim too, about once a second: whichever call walks the
# bucket, the outcome is the same.)
dropped=$(ht_redis FCALL ht_trim 1 'ht:{default}:tenants' 'ht:{default}:' 500)
((dropped >= 0 && dropped <= 3)) || fail "ht_trim answered $dropped"
assert_eq "$(ht_redis EXISTS 'ht:{default}:exp:1' 'ht:{default}:t:default:expiry')" 0 \
    "the walked bucket and the drained sorted set"
assert_eq "$(ht_redis ZSCORE 'ht:{default}:exps' 1)" "" "the walked bucket in exps"
for x in "$g" "$old"; do
    assert_eq "$(ht_redis ZSCORE 'ht:{default}:t:default:status:succeeded' "$x")" "" \
        "a gone job in status:succeeded after the trim"
done
assert_eq "$(ht_redis ZSCORE 'ht:{default}:t:acme:status:failed' "$ga")" "" \
    "acme's gone job in its status:failed after the trim"
filed=$(buckets "$edge")
assert_eq "$(wc -l <<<"$filed")" 1 "buckets holding the job at the clock's edge ($filed)"
read -r _ bucket_end <<<"$filed"
((bucket_end >= now && bucket_end <= now + 10000 + 5000)) ||
    fail "the job at the clock's edge was filed in a bucket ending at $bucket_end (now $now)"
assert_eq "$(buckets "$later")" "" "buckets holding the job finished again (its own is not written here)"
assert_eq "$(buckets "$nottl")" "" "buckets holding the job without a TTL"
assert_eq "$(ht_redis ZSCORE 'ht:{default}:t:default:status:running' "$nottl")" 1 \
    "the job without a TTL in status:running"
assert_eq "$(ht_redis ZSCORE 'ht:{default}:t:default:status:succeeded' "$later")" 1 \
    "the job finished again in status:succeeded"
# The job at the edge goes with the walk of its new bucket.
wait_until 20 "the job at the clock's edge is trimmed" trimmed "$edge"
ht_redis DEL "$(job_key "$later")" "$(job_key "$nottl")" >/dev/null
