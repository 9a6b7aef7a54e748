#!/usr/bin/env bash
# Exactly one job per run, whatever the number of workers: three workers
# fire two schedules that run every second (a cron with a seconds field,
# HANGTIGHT_SCHEDULE_SECONDS, and an interval) for HT_SCHEDULE_TICKS runs
# (default 40; ./test --long runs 200), while the worker that fired the
# latest run is killed with SIGKILL just as the next one comes, three
# times, and started again.  Every run between the first and the last has
# exactly one job (its run_at), none is lost, none doubled.
source "$(dirname "$0")/lib.sh"

TICKS=${HT_SCHEDULE_TICKS:-40}
((TICKS >= 8)) || fail "HT_SCHEDULE_TICKS must be at least 8"
RUNS=$HT_SOURCE_DIR/tests/integration/clients/schedule_runs.py
export HANGTIGHT_SCHEDULE_SECONDS=1
# Debug logs say which worker fired which run ("schedule fired").
ht_start_stack --workers 3 --worker-args --log-level debug

ht_http POST /v1/schedules '{"name": "every second", "cron": "* * * * * *", "job": {"type": "echo"}}'
assert_status 201 "the cron schedule"
CRON=$(ht_json .id)
ht_http POST /v1/schedules '{"name": "every 1 s", "every_s": 1, "job": {"type": "echo"}}'
assert_status 201 "the interval schedule"
EVERY=$(ht_json .id)
first_of() {
    ht_http GET "/v1/schedules/$1"
    date -d "$(ht_json .next_run_at)" +%s%3N
}
CRON_FIRST=$(first_of "$CRON")
EVERY_FIRST=$(first_of "$EVERY")
FIRST=$((CRON_FIRST > EVERY_FIRST ? CRON_FIRST : EVERY_FIRST))
LAST=$((FIRST + (TICKS - 1) * 1000))
log "$TICKS runs each, from $FIRST to $LAST"

now_past() { (($(ht_ms) >= $1)); }

# The worker whose log has the latest "schedule fired" line.
latest_firer() {
    local best='' best_ts='' w ts
    for w in w1 w2 w3; do
        ts=$(grep '"schedule fired"' "${HT_LOGS[$w]}" | tail -n 1 | jq -r .ts 2>/dev/null || true)
        if [[ -n "$ts" && "$ts" > "$best_ts" ]]; then
            best=$w best_ts=$ts
        fi
    done
    printf '%s\n' "${best:-w1}"
}

killed=()
for quarter in 1 2 3; do
    tick=$((FIRST + (TICKS * quarter / 4) * 1000))
    wait_until $((TICKS + 30)) "run $tick comes" now_past $((tick - 150))
    victim=$(latest_firer)
    wait_until 5 "run $tick" now_past $((tick + 2))
    ht_stop "$victim" KILL
    killed+=("$victim@$tick")
    ht_start_worker "$victim" --log-level debug
done
log "killed: ${killed[*]}"

done_with() { (($(python3 "$RUNS" "$HT_URL" "$1" | jq .last) >= LAST)); }
wait_until 60 "the cron schedule's run $LAST" done_with "$CRON"
wait_until 60 "the interval schedule's run $LAST" done_with "$EVERY"

for s in "$CRON" "$EVERY"; do
    runs=$(python3 "$RUNS" "$HT_URL" "$s")
    got=$(jq -c --argjson f "$FIRST" --argjson l "$LAST" \
        '[.runs[] | select(. >= $f and . <= $l)]' <<<"$runs")
    want=$(jq -nc --argjson f "$FIRST" --argjson n "$TICKS" '[range($n) | $f + . * 1000]')
    if [[ "$got" != "$want" ]]; then
        missing=$(jq -nc --argjson g "$got" --argjson w "$want" '$w - $g')
        doubled=$(jq -nc --argjson g "$got" '$g | group_by(.) | map(select(length > 1) | .[0])')
        fail "schedule $s: runs not made exactly once: missing $missing, doubled $doubled"
    fi
    log "schedule $s: $TICKS runs, one job each"
done
# The firing is shared, not one scheduler's: several workers won runs.
firers=0
for w in w1 w2 w3; do
    ! ht_log_has "$w" '"schedule fired"' || firers=$((firers + 1))
done
((firers >= 2)) || fail "only $firers worker fired runs"
log "ok"
