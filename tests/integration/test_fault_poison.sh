#!/usr/bin/env bash
# Fault suite (d): a poison job, whose handler kills its worker (SIGKILL to
# its parent) on every attempt.  Each death is noticed when the lease runs
# out and counts as an attempt (lease_expired); after max_attempts the job
# ends failed instead of going round forever.  Dead workers are restarted,
# as a supervisor would, and other work goes on.
source "$(dirname "$0")/lib.sh"

FAULTS=$HT_SOURCE_DIR/tests/faults
MAX_ATTEMPTS=3
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"fault.poison": {"command": ["/bin/bash", "$FAULTS/poison.sh", "$HT_TMP/exec.log"]}}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json

# A lease of 1 s: each death is noticed about a second later.
export HANGTIGHT_LEASE_MS=1000
ht_start_stack --workers 0
n=0
# Not waited for: the poison job may kill a worker before it says ready.
# One job at a time: a worker that runs a later job has claimed every job
# queued before it.
start_worker() {
    n=$((n + 1))
    current=w$n
    ht_spawn "$current" "$HT_WORKER_BIN" --concurrency 1
}
start_worker
wait_until 30 "w1 is ready" ht_worker_ready w1

# until_failed ID MAX: waits until job ID is failed, restarting each worker
# it kills (at most MAX + 1 deaths); sets DEATHS.
until_failed() {
    local id=$1 max=$2 deadline=$((SECONDS + 60))
    DEATHS=0
    until ht_job_is "$id" failed; do
        ((SECONDS < deadline)) || fail "the poison job is not failed after 60s: $HTTP_BODY"
        ((DEATHS <= max + 1)) || fail "$DEATHS worker deaths: the poison job goes round and round"
        if ! ht_alive "$current"; then
            ht_wait_exit "$current"
            assert_eq "$HT_EXIT" 137 "exit status of the worker the poison job killed"
            DEATHS=$((DEATHS + 1))
            log "$current killed by the poison job (death $DEATHS); restarting"
            start_worker
        fi
        sleep 0.1
    done
}
runs_of() { grep -c "^$1 " "$HT_TMP/exec.log" || true; }

ht_submit "{\"type\": \"fault.poison\", \"max_attempts\": $MAX_ATTEMPTS}"
id=$HT_JOB
until_failed "$id" "$MAX_ATTEMPTS"
deaths=$DEATHS
assert_json .attempt "$MAX_ATTEMPTS" "attempts of the poison job"
assert_json .error.code lease_expired "error of the poison job"
assert_json .result null
executions=$(wc -l <"$HT_TMP/exec.log")
assert_eq "$executions" "$MAX_ATTEMPTS" "executions of the poison job"
assert_eq "$(cut -d' ' -f2 "$HT_TMP/exec.log" | paste -sd,)" "1,2,3" "attempts executed"

# It stays failed: no further attempt, no further death.  The proof that
# the reaper had its chance: a second poison job of one attempt, claimed
# after the first failed, kills its worker and is failed by the reaper
# when its lease runs out, which is after every lease of the first job ran
# out.  Then an echo job, run by a worker that runs one job at a time, is
# claimed after anything queued before it (the first job, had it come back).
ht_submit '{"type": "fault.poison", "max_attempts": 1}'
canary=$HT_JOB
until_failed "$canary" 1
assert_eq "$DEATHS" 1 "worker deaths of the one-attempt poison job"
assert_json .error.code lease_expired "error of the one-attempt poison job"
wait_until 30 "$current is ready" ht_worker_ready "$current"
ht_submit '{"type": "echo", "payload": {"after": "poison"}}'
wait_until 15 "a job after the poison ones succeeds" ht_job_is "$HT_JOB" succeeded
ht_alive "$current" || fail "a worker died after the poison job had failed"
assert_eq "$(runs_of "$id")" "$MAX_ATTEMPTS" "executions of the first poison job at the end"
ht_job_is "$id" failed || fail "the poison job left failed: $HTTP_BODY"
echo "faults: poison: executions=$executions worker_deaths=$deaths final=failed error=lease_expired" >&2
