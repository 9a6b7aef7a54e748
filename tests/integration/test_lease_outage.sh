#!/usr/bin/env bash
# A worker that cannot reach Redis for longer than its lease (issue 22):
# its jobs' leases run out in Redis meanwhile (the jobs will run again), so
# the worker stops their handlers when no renewal has succeeded for a whole
# lease, says so once, drops their outcomes, and claims again once Redis is
# back: the jobs run again, as attempt 2, and succeed.
source "$(dirname "$0")/lib.sh"

LEASE_MS=2000
OUTAGE_S=5
export HANGTIGHT_LEASE_MS=$LEASE_MS
# The jobs run until the test opens their gate (tests/faults/gate.sh), after
# the outage: they are running whenever Redis goes, whatever the load.
GATE=$HT_TMP/gate
ht_gate_handlers gate="$GATE"
ht_start_stack --redis-args --aof --fsync always --worker-args --concurrency 2

ids=()
for i in 1 2; do
    ht_submit '{"type": "gate", "timeout_s": 3600}'
    ids+=("$HT_JOB")
done
both_running() { ht_job_is "${ids[0]}" running && ht_job_is "${ids[1]}" running; }
wait_until 10 "w1 runs both jobs" both_running
# One renewal round after both claims, so that they share their last renewal.
claimed=$(ht_redis ZSCORE "$(ht_job_tag_key "${ids[1]}" active)" "${ids[1]}")
renewed() { (($(ht_redis ZSCORE "$(ht_job_tag_key "${ids[1]}" active)" "${ids[1]}") > claimed)); }
wait_until 10 "a renewal round" renewed

from=$(ht__log_size w1)
ht_stop redis KILL
killed=$(ht_ms)
log "redis killed with -9 while w1 runs ${ids[*]}"
stopped_line() { ht__log_since w1 "$from" | grep -q '"lease ran out without a renewal'; }
wait_until 15 "w1 stops its handlers" stopped_line
after=$(($(ht_ms) - killed))
log "w1 stopped its handlers ${after} ms after the kill (lease ${LEASE_MS} ms)"
((after >= LEASE_MS - LEASE_MS / 3)) || fail "w1 stopped its handlers ${after} ms after the kill, within the lease"
dropped() {
    local id
    for id in "${ids[@]}"; do
        ht__log_since w1 "$from" | grep -F "\"$id\"" | grep -q 'outcome dropped' || return 1
    done
}
wait_until 15 "w1 drops both outcomes" dropped
assert_eq "$(ht__log_since w1 "$from" | grep -c '"lease ran out without a renewal')" 1 \
    "lines saying the leases ran out (both jobs in one)"
assert_match "$(ht__log_since w1 "$from" | grep '"lease ran out without a renewal' | jq -r .count)" '^2$' \
    "jobs whose handlers were stopped"
left_ms=$((killed + OUTAGE_S * 1000 - $(ht_ms)))
# The rest of the outage: its length is the fault, not a wait for an event.
((left_ms <= 0)) || sleep "$((left_ms / 1000)).$(printf %03d $((left_ms % 1000)))"
touch "$GATE"
ht_start_redis --aof --fsync always
log "redis back after $(($(ht_ms) - killed)) ms"
# succeeded ID: 0 once job ID succeeded (the api may still answer 503 while
# it reconnects).
succeeded() {
    ht_http GET "/v1/jobs/$1"
    [[ "$HTTP_STATUS" == 200 && "$(ht_json .status)" == succeeded ]]
}
for id in "${ids[@]}"; do
    wait_until 30 "$id runs again and succeeds" succeeded "$id"
    assert_json .attempt 2 "the attempt that finished $id"
    assert_match "$(ht_job_hget "$id" worker)" "^$(grep -m1 '"worker ready"' "${HT_LOGS[w1]}" | jq -r .worker)\$" \
        "the worker that ran $id again"
done
ht_alive w1 || fail "w1 died"
