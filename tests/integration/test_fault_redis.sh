#!/usr/bin/env bash
# Fault suite (c): redis-server killed with -9 under submit load, restarted
# (AOF, appendfsync always) on the same port after an outage of at least
# OUTAGE_S seconds (the processes go through several reconnect attempts)
# that was seen by the submitter (503s) and by both workers (their "redis
# unavailable" line).  Every job
# that got a 202 exists afterwards and finishes; requests during the outage
# get a 503 problem+json with Retry-After quickly (no hang); the api and the
# workers reconnect by themselves (no restart of either).
source "$(dirname "$0")/lib.sh"

FAULTS=$HT_SOURCE_DIR/tests/faults
OUTAGE_S=${HT_FAULT_OUTAGE_S:-3}
MAX_503_MS=3000 # a refusal must come this fast (generous: 2 shared cores)
# appendfsync of the test's Redis.  "always" is the promise under test; with
# everysec a kill -9 of redis-server alone loses nothing either (what was
# written is in the kernel's page cache): only an OS crash or power loss
# shows the difference, which this test cannot cause.
FSYNC=${HT_FAULT_FSYNC:-always}

# A lease of 3 s (see the end).
export HANGTIGHT_LEASE_MS=3000
ht_start_stack --workers 2 --redis-args --aof --fsync "$FSYNC" --worker-args --concurrency 2

ht_spawn submitter python3 "$FAULTS/submit.py" "$HT_URL" "$HT_TMP/submits.jsonl" \
    --until-file "$HT_TMP/stop" --timeout 15 \
    --body '{"type": "echo", "payload": {"n": @SEQ@}}'
acked_count() {
    local n
    n=$(grep -c '"status": 202' "$HT_TMP/submits.jsonl" 2>/dev/null) || true
    echo "${n:-0}"
}
refused_count() {
    local n
    n=$(grep -c '"status": 503' "$HT_TMP/submits.jsonl" 2>/dev/null) || true
    echo "${n:-0}"
}
acked_since() { (($(acked_count) >= $1 + $2)); }
wait_until 30 "the submitter has 50 jobs acknowledged" acked_since 0 50
acked_before=$(acked_count)

ht_stop redis KILL
killed_ms=$(ht_ms)
log "redis killed with -9 after $acked_before acknowledged submits"
outage_seen() {
    (($(refused_count) >= 5)) && ht_log_has w1 'redis unavailable' && ht_log_has w2 'redis unavailable'
}
wait_until 30 "the submitter got 503s and both workers lost Redis" outage_seen
left_ms=$((killed_ms + OUTAGE_S * 1000 - $(ht_ms)))
# The rest of the outage: its length is the fault, not a wait for an event.
((left_ms <= 0)) || sleep "$((left_ms / 1000)).$(printf %03d $((left_ms % 1000)))"
log "down for $(($(ht_ms) - killed_ms)) ms"
ht_alive api || fail "the api died while Redis was down"
ht_alive w1 || fail "w1 died while Redis was down"
ht_alive w2 || fail "w2 died while Redis was down"
restart_ms=$(ht_ms)
acked_down=$(acked_count)
ht_start_redis --aof --fsync "$FSYNC"
log "redis restarted on port $HT_REDIS_PORT (AOF, appendfsync $FSYNC)"
wait_until 30 "the submitter has 50 more jobs acknowledged" acked_since "$acked_down" 50
touch "$HT_TMP/stop"
ht_wait_exit submitter 30
assert_eq "$HT_EXIT" 0 "the submitter's exit status"

# The outage as the clients saw it.
python3 "$FAULTS/outage.py" "$HT_TMP/submits.jsonl" "$killed_ms" "$restart_ms" "$MAX_503_MS" ||
    fail "the outage was not answered as it should be (see above)"

# Every acknowledged job exists and finishes (the workers reconnected too).
# A claim that Redis stored (AOF) but whose reply the worker never got is
# a job "running" on nobody: its lease (3 s) runs out and it runs again as
# attempt 2.
ht_redis --scan --pattern 'ht:{default}:job:*' |
    sed -nE 's/^ht:\{default\}:job:([0-9a-f-]{36})$/\1/p' >"$HT_TMP/existing.ids"
python3 "$FAULTS/check.py" --url "$HT_URL" --submits "$HT_TMP/submits.jsonl" \
    --existing "$HT_TMP/existing.ids" --expect succeeded --wait-s 60 \
    --summary "$HT_TMP/summary.json" || fail "the checker found lost jobs (see above)"
ht_http GET /readyz
assert_status 200 "readyz after the restart"
