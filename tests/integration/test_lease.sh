#!/usr/bin/env bash
# Leases (issue 22): a claimed job is owned for HANGTIGHT_LEASE_MS (2 s
# here) past its last renewal, by the worker's lease thread, whatever the
# job's timeout_s (an hour here).
#  - kill -9 of a worker holding jobs: they run again on another worker
#    within lease + 2 s, as attempt 2, reaped with lease_expired;
#  - jobs of six leases whose handler says nothing all along finish on
#    attempt 1: the renewals come from the lease thread, never from the
#    handler, one call per partition per round (seen with MONITOR);
#  - SIGSTOP of a worker past the lease: its jobs run elsewhere; after
#    SIGCONT its late outcomes are refused, it says so in its log, the
#    documents do not change, and it goes on serving.
# The queue has 4 partitions (on one Redis): a worker's jobs spread over
# them, and each partition's are renewed together.
source "$(dirname "$0")/lib.sh"

LEASE_MS=2000
PARTS=4
BUSY_S=${HT_LEASE_BUSY_S:-12} # the quiet jobs' length (40 for the issue's case)
cat >"$HT_TMP/quiet.sh" <<SH
#!/bin/bash
cat >/dev/null
sleep $BUSY_S
echo '{"slept_s": $BUSY_S}'
SH
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"test.quiet": {"command": ["/bin/bash", "$HT_TMP/quiet.sh"]}}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
export HANGTIGHT_LEASE_MS=$LEASE_MS
export HANGTIGHT_PARTITIONS=$PARTS

# Each job's status history is read from its event log: kept for every job
# (docs/keyspace.md, "Watching"), not only for the watched ones.
export HANGTIGHT_LOG_EVERY_JOB=1
ht_start_stack --workers 0
ht_start_worker w1 --concurrency 4

# submit_n N BODY: N jobs; their ids in IDS.
IDS=()
submit_n() {
    IDS=()
    for ((i = 0; i < $1; i++)); do
        ht_submit "$2"
        IDS+=("$HT_JOB")
    done
}
# all_are STATUS ATTEMPT: 0 when every job of IDS is STATUS in attempt ATTEMPT.
all_are() {
    local id
    for id in "${IDS[@]}"; do
        ht_http GET "/v1/jobs/$id"
        [[ "$(ht_json '.status + "/" + (.attempt | tostring)')" == "$1/$2" ]] || return 1
    done
}
# worker_id NAME: the id worker NAME logged when ready.
worker_id() { grep -m1 '"worker ready"' "${HT_LOGS[$1]}" | jq -r .worker; }

# ---- kill -9 of a worker holding jobs ---------------------------------------
submit_n 3 '{"type": "sleep", "payload": {"ms": 60000, "steps": 60}, "timeout_s": 3600}'
wait_until 15 "w1 runs the 3 jobs" all_are running 1
ht_start_worker w2 --concurrency 8
killed=$(ht_ms)
ht_stop w1 KILL
log "w1 killed with -9 holding ${IDS[*]}"
wait_until 20 "the 3 jobs run again" all_are running 2
# When they ran again is the claims' time (started_at), not when this loop
# saw them: its GETs lag by seconds on a loaded machine.
elapsed=0
for id in "${IDS[@]}"; do
    again=$(($(ht_job_hget "$id" started_at) - killed))
    ((again > elapsed)) && elapsed=$again
done
log "running again on w2 ${elapsed} ms after the kill (lease ${LEASE_MS} ms)"
((elapsed <= LEASE_MS + 2000)) || fail "the jobs ran again ${elapsed} ms after the kill: more than lease + 2 s"
w2=$(worker_id w2)
for id in "${IDS[@]}"; do
    assert_eq "$(ht_job_hget "$id" worker)" "$w2" "the worker running $id again"
    assert_match "$(ht_job_hget "$id" error)" '"lease_expired"' "why $id ran again"
    ht_http DELETE "/v1/jobs/$id"
    assert_status 202 "cancel of $id"
done
wait_until 15 "the 3 jobs end canceled" all_are canceled 2

# ---- quiet jobs of six leases finish on attempt 1 ---------------------------
# MONITOR records every ht_renew_many call while they run.
ht_spawn monitor redis-cli -p "$HT_REDIS_PORT" MONITOR
wait_until 10 "MONITOR is on" grep -q OK "${HT_LOGS[monitor]}"
submit_n 8 '{"type": "test.quiet", "timeout_s": 3600}'
quiet=("${IDS[@]}")
wait_until 15 "w2 runs the 8 quiet jobs" all_are running 1
wait_until $((BUSY_S + 30)) "the quiet jobs succeed" all_are succeeded 1
ht_stop monitor
for id in "${quiet[@]}"; do
    ht_http GET "/v1/jobs/$id"
    assert_json .result.slept_s "$BUSY_S" "result of $id"
    statuses=$(ht_redis --raw LRANGE "$(ht_job_key "$id"):ev" 0 -1 |
        awk '$2 == "status" { printf "%s/%s ", $3, $4 }')
    assert_eq "$statuses" "running/1 succeeded/1 " "status history of $id"
done
ht_log_has w2 '"lease lost|"lease ran out without' && fail "w2 lost a lease: $(grep -E '"lease (lost|ran out without)' "${HT_LOGS[w2]}")"

# The renewal rounds: calls less than 300 ms apart are one round.  Each
# round has one call per partition holding jobs; once all 8 run, a round
# names all 8, in fewer calls than jobs (4 partitions).
"$HT_PY" - "${HT_LOGS[monitor]}" "${quiet[@]}" <<'PY' || fail "the renewals were not one call per partition per round (see above)"
import re, shlex, sys
log, quiet = sys.argv[1], set(sys.argv[2:])
calls = []  # (time, partition tag, ids)
for line in open(log, errors="replace"):
    if '"ht_renew_many"' not in line:
        continue
    t = float(line.split(" ", 1)[0])
    args = shlex.split(line.split("] ", 1)[1])
    tag = re.match(r"ht:\{([^}]*)\}:active$", args[3]).group(1)
    pairs = args[6].split(" ")
    calls.append((t, tag, set(pairs[0::2])))
rounds, last = [], None
for t, tag, ids in calls:
    if last is None or t - last > 0.3:
        rounds.append([])
    rounds[-1].append((tag, ids))
    last = t
full, full_calls = 0, set()
for r in rounds:
    tags = [tag for tag, _ in r]
    if len(tags) != len(set(tags)):
        sys.exit(f"a round renewed a partition twice: {tags}")
    ids = set().union(*(ids for _, ids in r))
    if quiet <= ids:
        full += 1
        full_calls.add(len(r))
        if len(r) >= len(quiet):
            sys.exit(f"a round took {len(r)} calls for {len(quiet)} jobs")
print(f"lease: {len(calls)} ht_renew_many calls in {len(rounds)} rounds, {full} naming all "
      f"8 jobs, in {sorted(full_calls)} calls (one per partition)", file=sys.stderr)
if full < 3:
    sys.exit(f"only {full} rounds named all 8 running jobs")
PY

# ---- SIGSTOP past the lease: the jobs run elsewhere, late outcomes refused ---
submit_n 2 '{"type": "sleep", "payload": {"ms": 5000, "steps": 5}, "timeout_s": 3600}'
stale=("${IDS[@]}")
wait_until 15 "w2 runs the 2 jobs" all_are running 1
kill -STOP "${HT_PIDS[w2]}" # a failing assertion: the cleanup thaws it
stopped=$(ht_ms)
log "w2 frozen while running ${stale[*]}"
ht_start_worker w3 --concurrency 2
wait_until 30 "w3 finishes the 2 jobs" all_are succeeded 2
# Not before the lease ran out: w2 renewed last at most a third of it
# before it was frozen.
for id in "${stale[@]}"; do
    again=$(($(ht_job_hget "$id" started_at) - stopped))
    log "$id ran again ${again} ms after w2 froze"
    ((again >= LEASE_MS - LEASE_MS / 3)) || fail "$id ran again ${again} ms after w2 froze, within its lease"
done
declare -A before=()
for id in "${stale[@]}"; do
    ht_http GET "/v1/jobs/$id"
    before[$id]=$(jq -S -c . <<<"$HTTP_BODY")
done
kill -CONT "${HT_PIDS[w2]}"
log "w2 thawed"
# Its last word on each stale attempt: the outcome dropped.
gave_up() {
    local id
    for id in "${stale[@]}"; do
        grep -F "\"$id\"" "${HT_LOGS[w2]}" | grep -q 'outcome dropped' || return 1
    done
}
wait_until 20 "w2 drops its 2 late outcomes" gave_up
ht_log_has w2 '"lease lost|"lease ran out without a renewal' || fail "w2 did not log its lease loss"
ht_stop w3
ht_submit '{"type": "echo", "payload": {"after": "thaw"}}'
wait_until 15 "the thawed w2 runs a new job" ht_job_is "$HT_JOB" succeeded
for id in "${stale[@]}"; do
    ht_http GET "/v1/jobs/$id"
    assert_eq "$(jq -S -c . <<<"$HTTP_BODY")" "${before[$id]}" "$id's document after w2's late outcome"
done
log "w2 said: $(grep -E 'lease|outcome dropped' "${HT_LOGS[w2]}" | jq -r .msg | sort | uniq -c | paste -sd '|')"
