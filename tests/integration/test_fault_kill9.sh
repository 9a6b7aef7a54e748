#!/usr/bin/env bash
# Fault suite (a): workers killed with -9 at random, every fraction of a
# second, while a hundred jobs run; each killed worker is replaced at once.
# Counted like Jepsen's queue checker (tests/faults/check.py): no
# acknowledged job is lost, every one ends succeeded (one terminal state),
# and duplicated executions, from the handler's own log, are at most one per
# kill (each worker runs one job at a time, so a kill interrupts at most one).
#
# The kills must hit running jobs, or the test proves nothing: each job
# works 200-600 ms and the backlog outlasts the kills (4 workers need about
# 10 s for it), so a worker is nearly always mid-job when it is killed.
# Asserted: some jobs ended in a later attempt than the first (retried > 0),
# and no more than one per kill.
source "$(dirname "$0")/lib.sh"

FAULTS=$HT_SOURCE_DIR/tests/faults
JOBS=${HT_FAULT_JOBS:-100}
KILL_FOR_S=${HT_FAULT_KILL_FOR_S:-8}
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"fault.record": {"command": ["/bin/bash", "$FAULTS/record.sh", "$HT_TMP/exec.log", "400", "200"]}}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json

# A lease of 3 s: a killed worker's job is requeued about 3 s later.
export HANGTIGHT_LEASE_MS=3000
ht_start_stack --workers 0

workers=()
n=0
# start_worker SLOT: a fresh worker in workers[SLOT], not waited for (a kill
# may find it still starting, as in life).
start_worker() {
    n=$((n + 1))
    ht_spawn "w$n" "$HT_WORKER_BIN" --concurrency 1
    workers[$1]=w$n
}
for slot in 0 1 2 3; do start_worker "$slot"; done
for w in "${workers[@]}"; do wait_until 30 "$w is ready" ht_worker_ready "$w"; done
# The type is known once a worker registered it.

body='{"type": "fault.record", "payload": {"n": @SEQ@}, "max_attempts": 10}'
ht_spawn submitter python3 "$FAULTS/submit.py" "$HT_URL" "$HT_TMP/submits.jsonl" \
    --count "$JOBS" --body "$body"

kills=0
end=$((SECONDS + KILL_FOR_S))
while ((SECONDS < end)); do
    sleep "0.$((RANDOM % 4 + 2))" # 0.2-0.5 s
    slot=$((RANDOM % ${#workers[@]}))
    ht_stop "${workers[$slot]}" KILL 10
    kills=$((kills + 1))
    start_worker "$slot"
done
log "$kills workers killed with -9 in ${KILL_FOR_S}s"
ht_wait_exit submitter 120
assert_eq "$HT_EXIT" 0 "the submitter's exit status"

# Every acknowledged job finishes; then count.  (Workers keep running.)
ht_redis --scan --pattern 'ht:{default}:job:*' |
    sed -nE 's/^ht:\{default\}:job:([0-9a-f-]{36})$/\1/p' >"$HT_TMP/existing.ids"
python3 "$FAULTS/check.py" --url "$HT_URL" --submits "$HT_TMP/submits.jsonl" \
    --exec-log "$HT_TMP/exec.log" --existing "$HT_TMP/existing.ids" --kills "$kills" \
    --expect succeeded --wait-s 90 --summary "$HT_TMP/summary.json" ||
    fail "the checker found lost or over-duplicated jobs (see above)"
acked=$(jq .acknowledged "$HT_TMP/summary.json")
assert_eq "$acked" "$JOBS" "acknowledged jobs (every submit got a 202)"
retried=$(jq .retried "$HT_TMP/summary.json")
((retried > 0)) || fail "no job ended in a later attempt: none of the $kills kills hit a running job"
((retried <= kills)) || fail "$retried jobs retried after $kills kills (at most one each)"
log "$retried of $JOBS jobs were interrupted by one of the $kills kills and ran again"
