#!/usr/bin/env bash
# A rolling upgrade to the short lease (schema 10, issue 22): after
# `hangtight migrate` loaded the new library, workers of schema 9 or older
# may still run beside new ones until they are restarted.  Their calls (made
# here with redis-cli, exactly as shared/store.c of schemas 8 and 9 made
# them) keep their meaning: a claim without lease arguments leases the job
# for its timeout_s, ht_renew extends it by timeout_s, ht_complete stores
# the outcome and claims the next job the same way.  So a new worker's
# reaper (its lease 1 s here) leaves their jobs alone while they renew
# them, and reaps one whose old worker stopped renewing once its timeout_s
# lease runs out.
source "$(dirname "$0")/lib.sh"

cat >"$HT_TMP/handlers.json" <<'JSON'
{"handlers": {"test.old": {"command": ["/bin/true"]}}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
export HANGTIGHT_LEASE_MS=1000
ht_start_stack --worker-args --concurrency 1
A=ht:{default}:active
P=ht:{default}:job:
WAITS=(ht:{default}:wait:high ht:{default}:wait:default ht:{default}:wait:low)
CLAIM=(FCALL ht_claim 5 "${WAITS[@]}" "$A" ht:{default}:fence "$P")
OLD=old-worker:1:abcdef
now_ms() { ht_redis --raw TIME | paste -sd' ' | awk '{ printf "%d\n", $1 * 1000 + $2 / 1000 }'; }
score() { ht_redis --raw ZSCORE "$A" "$1"; }
# queued_by_reaper ID: 0 once the reaper put job ID back in its queue.
queued_by_reaper() {
    [[ "$(ht_job_hget "$1" status)" == queued && "$(ht_job_hget "$1" error)" == *lease_expired* ]]
}

# The jobs of type test.old are left to the "old worker" (redis-cli): w1
# serves the type (so the api takes it), but its only slot is busy.
ht_submit '{"type": "sleep", "payload": {"ms": 60000, "steps": 60}, "timeout_s": 3600}'
busy=$HT_JOB
wait_until 10 "w1's only slot is busy" ht_job_is "$busy" running

# ---- the old worker's claim: a lease of timeout_s ------------------------
ht_submit '{"type": "test.old", "timeout_s": 60}'
id=$HT_JOB
before=$(now_ms)
claimed=$(ht_redis --raw "${CLAIM[@]}" "$OLD" ht:{default}:events)
grep -qx "$id" <<<"$claimed" || fail "the old claim did not return the job: $claimed"
token=$(ht_job_hget "$id" token)
started=$(ht_job_hget "$id" started_at)
lease=$(($(score "$id") - started))
assert_eq "$lease" 60000 "the old claim's lease (timeout_s)"
assert_eq "$(ht_job_hget "$id" deadline_at)" $((started + 60000 + 30000)) "its deadline (timeout_s + default grace)"

# ---- renewed the old way, left alone by the new worker's reaper ----------
assert_eq "$(ht_redis --raw FCALL ht_renew 2 "$P$id" "$A" "$id" "$token")" 1 "the old renewal"
renewed=$(score "$id")
((renewed >= before + 60000)) || fail "the old renewal set the lease to $renewed, not now + timeout_s"
# A job claimed the new way with a lease of 1 ms: the reaper's next pass
# requeues it, and leaves the old worker's job alone.
ht_submit '{"type": "test.old"}'
probe=$HT_JOB
# The claim's answer shows it took the probe (a status read after it may
# come after the reaper's pass already, on a loaded machine).
claimed=$(ht_redis --raw "${CLAIM[@]}" new-worker:1:abcdef ht:{default}:events 1 30000)
grep -qx "$probe" <<<"$claimed" || fail "the new claim did not return the probe job: $claimed"
wait_until 10 "a reaper pass requeues the probe job" queued_by_reaper "$probe"
ht_job_is "$id" running || fail "the old worker's job was taken from it: $HTTP_BODY"
assert_json .attempt 1 "the old worker's job"
ht_job_is "$busy" running || fail "w1's own job: $HTTP_BODY"
assert_json .attempt 1 "w1's own job (renewed by w1 all along)"

# ---- completed the old way, claiming the next job the old way ------------
# The next job is the probe, requeued at the head of the queue.
ht_redis HSET "$P$probe" timeout_s 30 >/dev/null
out=$(ht_redis --raw FCALL ht_complete 8 "$P$id" "$A" ht:{default}:wait:default ht:{default}:signal \
    "${WAITS[@]}" ht:{default}:fence "$id" "$token" succeeded '{"old": true}' 0 ht:{default}:events 0 "$P" "$OLD")
assert_eq "$(head -n 1 <<<"$out")" succeeded "the old completion"
assert_eq "$(awk 'prev == "id" { print; exit } { prev = $0 }' <<<"$out")" "$probe" "the job the old completion claimed"
ht_job_is "$id" succeeded || fail "the old worker's job: $HTTP_BODY"
assert_json .result.old true
assert_eq $(($(score "$probe") - $(ht_job_hget "$probe" started_at))) 30000 "the next job's lease (its timeout_s)"

# ---- the old worker dies: its job is reaped when its timeout_s lease ends --
# (the score moved to now here rather than waiting 30 s: the reaper only
# compares it with the time)
ht_redis ZADD "$A" "$(now_ms)" "$probe" >/dev/null
wait_until 10 "the new worker's reaper requeues the dead old worker's job" queued_by_reaper "$probe"
assert_eq "$(ht_job_hget "$probe" attempt)" 2 "attempts of the requeued job"
ht_http DELETE "/v1/jobs/$busy"
assert_status 202 "cancel of w1's job"
wait_until 15 "w1 runs the requeued job" ht_job_is "$probe" succeeded
assert_json .attempt 3 "the requeued job's attempt"
