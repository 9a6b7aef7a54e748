#!/usr/bin/env bash
# Redis killed under claim load, ROUNDS (3) times in a row (issue 22): each
# time redis-server dies with -9 while the workers claim, complete and hold
# jobs, and comes back (AOF, appendfsync always) on the same port after an
# outage of OUTAGE_S.  A claim Redis stored whose reply never reached the
# worker is a job "running" under nobody: its lease (the default, 10 s)
# runs out and the reaper runs it again.  So every job acknowledged (202) up
# to a moment after each restart finishes, succeeded, within 30 s of that
# restart, whatever its timeout_s (the default, 300 s); the api and the
# workers reconnect by themselves.
#
# Load: echo jobs back to back (claims and completions always in flight)
# beside sleep jobs of 300 ms (jobs held at the moment of the kill).
source "$(dirname "$0")/lib.sh"

FAULTS=$HT_SOURCE_DIR/tests/faults
ROUNDS=${HT_LEASE_REDIS_ROUNDS:-3}
OUTAGE_S=2
BOUND_S=30

ht_start_stack --workers 2 --redis-args --aof --fsync always --worker-args --concurrency 4

ht_spawn echoes python3 "$FAULTS/submit.py" "$HT_URL" "$HT_TMP/echoes.jsonl" \
    --until-file "$HT_TMP/stop" --timeout 15 --pause-ms 5 \
    --body '{"type": "echo", "payload": {"n": @SEQ@}, "max_attempts": 10}'
ht_spawn sleeps python3 "$FAULTS/submit.py" "$HT_URL" "$HT_TMP/sleeps.jsonl" \
    --until-file "$HT_TMP/stop" --timeout 15 --pause-ms 40 \
    --body '{"type": "sleep", "payload": {"ms": 300}, "max_attempts": 10}'
acked() { cat "$HT_TMP"/echoes.jsonl "$HT_TMP"/sleeps.jsonl 2>/dev/null | grep -c '"status": 202' || true; }
acked_since() { (($(acked) >= $1 + $2)); }
# 0 once both workers logged a Redis failure after their log offsets $1, $2.
both_saw_outage() {
    ht__log_since w1 "$1" | grep -qE 'redis unavailable|leases not renewed' &&
        ht__log_since w2 "$2" | grep -qE 'redis unavailable|leases not renewed'
}

for ((round = 1; round <= ROUNDS; round++)); do
    wait_until 30 "40 more jobs acknowledged before kill $round" acked_since "$(acked)" 40
    from1=$(ht__log_size w1) from2=$(ht__log_size w2)
    ht_stop redis KILL
    killed=$(ht_ms)
    log "round $round: redis killed with -9 after $(acked) acknowledged submits"
    wait_until 30 "both workers lost Redis" both_saw_outage "$from1" "$from2"
    left_ms=$((killed + OUTAGE_S * 1000 - $(ht_ms)))
    # The rest of the outage: its length is the fault, not a wait for an event.
    ((left_ms <= 0)) || sleep "$((left_ms / 1000)).$(printf %03d $((left_ms % 1000)))"
    ht_start_redis --aof --fsync always
    restarted=$(ht_ms)
    log "round $round: redis back after $((restarted - killed)) ms"
    wait_until 30 "40 jobs acknowledged after restart $round" acked_since "$(acked)" 40
    cat "$HT_TMP"/echoes.jsonl "$HT_TMP"/sleeps.jsonl >"$HT_TMP/acked-$round.jsonl"
    left_s=$(((restarted + BOUND_S * 1000 - $(ht_ms)) / 1000))
    ((left_s > 0)) || fail "round $round: no time left to check the jobs"
    python3 "$FAULTS/check.py" --url "$HT_URL" --submits "$HT_TMP/acked-$round.jsonl" \
        --expect succeeded --wait-s "$left_s" --summary "$HT_TMP/summary-$round.json" ||
        fail "round $round: acknowledged jobs not succeeded within ${BOUND_S}s of the restart (see above)"
    log "round $round: every job acknowledged so far succeeded within $((($(ht_ms) - restarted) / 1000))s" \
        "of the restart (retried: $(jq .retried "$HT_TMP/summary-$round.json"))"
    ht_alive api && ht_alive w1 && ht_alive w2 || fail "a process died in round $round"
done
touch "$HT_TMP/stop"
ht_wait_exit echoes 30
ht_wait_exit sleeps 30
python3 "$FAULTS/check.py" --url "$HT_URL" --submits "$HT_TMP/echoes.jsonl" "$HT_TMP/sleeps.jsonl" \
    --expect succeeded --wait-s "$BOUND_S" --summary "$HT_TMP/summary.json" ||
    fail "acknowledged jobs not succeeded at the end (see above)"
log "$(jq .acknowledged "$HT_TMP/summary.json") jobs acknowledged over $ROUNDS kills;" \
    "$(jq .retried "$HT_TMP/summary.json") of them ran more than once"
