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

ht_start_stack --workers 0
n=0
# Not waited for: the poison job may kill a worker before it says ready.
start_worker() {
    n=$((n + 1))
    current=w$n
    ht_spawn "$current" "$HT_WORKER_BIN"
}
start_worker
wait_until 30 "w1 is ready" ht_worker_ready w1

# timeout_s (the lease) of 1 s: each death is noticed about a second later.
ht_submit "{\"type\": \"fault.poison\", \"timeout_s\": 1, \"max_attempts\": $MAX_ATTEMPTS}"
id=$HT_JOB
deaths=0
deadline=$((SECONDS + 60))
until ht_job_is "$id" failed; do
    ((SECONDS < deadline)) || fail "the poison job is not failed after 60s: $HTTP_BODY"
    ((deaths <= MAX_ATTEMPTS + 1)) || fail "$deaths worker deaths: the poison job goes round and round"
    if ! ht_alive "$current"; then
        ht_wait_exit "$current"
        assert_eq "$HT_EXIT" 137 "exit status of the worker the poison job killed"
        deaths=$((deaths + 1))
        log "$current killed by the poison job (death $deaths); restarting"
        start_worker
    fi
    sleep 0.1
done
assert_json .attempt "$MAX_ATTEMPTS" "attempts of the poison job"
assert_json .error.code lease_expired "error of the poison job"
assert_json .result null
executions=$(wc -l <"$HT_TMP/exec.log")
assert_eq "$executions" "$MAX_ATTEMPTS" "executions of the poison job"
assert_eq "$(cut -d' ' -f2 "$HT_TMP/exec.log" | paste -sd,)" "1,2,3" "attempts executed"

# It stays failed: no further attempt, no further death.
sleep 2.5
ht_alive "$current" || fail "a worker died after the poison job had failed"
assert_eq "$(wc -l <"$HT_TMP/exec.log")" "$MAX_ATTEMPTS" "executions 2.5 s later"
ht_job_is "$id" failed || fail "the poison job left failed: $HTTP_BODY"

# Other work is done as usual.
ht_submit '{"type": "echo", "payload": {"after": "poison"}}'
wait_until 15 "a job after the poison one succeeds" ht_job_is "$HT_JOB" succeeded
echo "faults: poison: executions=$executions worker_deaths=$deaths final=failed error=lease_expired" >&2
