#!/usr/bin/env bash
# The worker's dispatcher (worker/dispatch.c): one process' slots hand their
# outcomes to one thread that stores them, and claims the slots' next jobs,
# several in one ht_complete_many.
#   1. Batching: a worker with --concurrency 16 drains 3,060 jobs of three
#      tenants (echo, and jobs that fail for good) in fewer function calls
#      than jobs (INFO commandstats: every FCALL Redis ran meanwhile, the
#      worker's housekeeping included); every job ran exactly once (attempt
#      1, one "job started" each) with its result, each tenant's jobs all
#      finished, and /metrics is exact once the worker stopped (it sends
#      its last counts on the way out).
#   2. A lost reply: Redis sleeps (DEBUG SLEEP) past the worker's reply
#      timeout while the dispatcher's call, an outcome and a claim, waits
#      behind it; Redis runs it after the sleep, and the dispatcher, having
#      given up on that reply, sends the same outcome again and claims
#      again.  The outcome is stored once and counted once; of the two
#      queued jobs, one is claimed by the call whose reply was lost (leased
#      to the worker, held by no slot) and one by the call that was
#      answered; the dispatcher finds the first among the partition's
#      running jobs and hands it back, so it runs at once, attempt 1, rather
#      than when its lease (12 s) runs out.  Both succeed, counted once.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys a b c
# A "gate" job runs until the test creates $GATE, then succeeds at once
# (no progress call that would wait on Redis first).
GATE=$HT_TMP/gate
printf '{"handlers": {"gate": {"command": ["/bin/bash", "-c", "%s", "gate", "%s"]}}}\n' \
    'cat >/dev/null; until [[ -e $1 ]]; do sleep 0.05; done; echo {}' "$GATE" \
    >"$HT_TMP/handlers.json"
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
ht_start_stack --workers 0 --redis-args --debug-command \
    --api-args --api-keys-file "$KEYS" --metrics-public
# A worker registers the types, then goes: the jobs wait for w1.
ht_start_worker w0 --concurrency 1
ht_stop w0

fcalls() {
    ht_redis INFO commandstats | tr -d '\r' |
        awk -F'[=,:]' '/^cmdstat_fcall:/ { n += $3 } END { print n + 0 }'
}
# batch TENANT JSON: the jobs of one batch request, their ids appended to IDS.
IDS=$HT_TMP/ids
: >"$IDS"
batch() {
    local -n hdr=$1
    ht_http POST /v1/jobs/batch "$2" "${hdr[@]}"
    assert_status 200 "a batch of tenant $1"
    jq -e '[.jobs[] | select(.status != "queued")] | length == 0' <<<"$HTTP_BODY" >/dev/null ||
        fail "tenant $1: a job of the batch was not queued: $HTTP_BODY"
    jq -r '.jobs[].id' <<<"$HTTP_BODY" >>"$IDS"
}
finished() { # finished STATUS: the jobs in STATUS, over the three tenants
    local t n=0
    for t in a b c; do
        n=$((n + $(ht_redis ZCARD "ht:{default}:t:$t:status:$1")))
    done
    echo "$n"
}
all_finished() { [[ "$(finished succeeded)" == "$1" && "$(finished failed)" == "$2" ]]; }

# ---- 1. batching -----------------------------------------------------------
ECHO_N=1000 FAIL_N=20
for t in a b c; do
    batch "$t" "$(jq -nc --arg t "$t" --argjson n "$ECHO_N" \
        '{jobs: [range($n) | {type: "echo", payload: {t: $t, i: .}}]}')"
    batch "$t" "$(jq -nc --arg t "$t" --argjson n "$FAIL_N" \
        '{jobs: [range($n) | {type: "fail", max_attempts: 1,
                              payload: {retry: false, message: ("no " + $t)}}]}')"
done
TOTAL=$((3 * (ECHO_N + FAIL_N)))
assert_eq "$(wc -l <"$IDS")" "$TOTAL" "jobs submitted"

before=$(fcalls)
ht_start_worker w1 --concurrency 16
wait_until 180 "the $TOTAL jobs finish" all_finished $((3 * ECHO_N)) $((3 * FAIL_N))
calls=$(($(fcalls) - before))
log "FCALLs during the drain: $calls for $TOTAL jobs"
((calls < TOTAL)) || fail "the drain made $calls function calls for $TOTAL jobs: no batching"
for t in a b c; do
    assert_eq "$(ht_redis ZCARD "ht:{default}:t:$t:status:succeeded")" "$ECHO_N" \
        "tenant $t's jobs succeeded"
    assert_eq "$(ht_redis ZCARD "ht:{default}:t:$t:status:failed")" "$FAIL_N" \
        "tenant $t's jobs failed"
done
ht_stop w1
assert_eq "$(ht_log_count w1 '"job started"')" "$TOTAL" "one start per job"
assert_eq "$(ht_log_count w1 '"job succeeded"')" $((3 * ECHO_N)) "one success per echo job"
assert_eq "$(ht_log_count w1 '"attempt failed"')" $((3 * FAIL_N)) "one failure per fail job"
ht_log_has w1 'outcome not stored|outcome dropped' && fail "an outcome was lost or dropped"

# Every job, from Redis: status, attempt 1, and an echo's result is its
# payload; a failed job's error is its own.
sed 's/.*/HMGET ht:{default}:job:& type status attempt payload result error/' "$IDS" |
    ht_redis >"$HT_TMP/jobs.txt"
python3 - "$HT_TMP/jobs.txt" "$TOTAL" <<'EOF' || fail "a job did not finish exactly once with its result"
import json, sys
lines = open(sys.argv[1]).read().split("\n")
total = int(sys.argv[2])
bad = []
for n in range(total):
    jtype, status, attempt, payload, result, error = lines[6 * n:6 * n + 6]
    p = json.loads(payload)
    if attempt != "1":
        bad.append((n, "attempt " + attempt))
    elif jtype == "echo" and (status != "succeeded" or json.loads(result) != p):
        bad.append((n, status, result, payload))
    elif jtype == "fail" and (status != "failed" or
                              json.loads(error).get("message") != p["message"]):
        bad.append((n, status, error))
if bad:
    sys.exit("%d jobs wrong, first: %r" % (len(bad), bad[:3]))
EOF

# The worker sent its counts as it stopped: exact now.
peek() { curl -s --max-time 5 "$HT_URL/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { print v }'; }
assert_metric() { assert_eq "$(peek "$1")" "$2" "metric $1"; }
assert_metric 'hangtight_jobs_started_total{type="echo"}' $((3 * ECHO_N))
assert_metric 'hangtight_jobs_succeeded_total{type="echo"}' $((3 * ECHO_N))
assert_metric 'hangtight_jobs_started_total{type="fail"}' $((3 * FAIL_N))
assert_metric 'hangtight_jobs_failed_total{type="fail"}' $((3 * FAIL_N))
assert_metric hangtight_job_wait_seconds_count "$TOTAL"
assert_metric hangtight_job_run_seconds_count "$TOTAL"
assert_metric hangtight_jobs_running 0
assert_metric 'hangtight_queue_depth{priority="default"}' 0

# ---- 2. a lost reply -------------------------------------------------------
# Redis sleeps 7 s: the gate job's lease (renewed a third of a lease
# before at the latest) outlasts it, so no reaper takes that job meanwhile,
# and the lost claim's lease runs out long after the test has seen its job
# run again.
ht_start_worker w2 --concurrency 1 --lease-ms 12000
ht_submit '{"type": "gate", "payload": {}}' "${a[@]}"
G=$HT_JOB
status_is() { [[ "$(ht_job_hget "$1" status)" == "$2" ]]; }
wait_until 30 "the gate job runs" status_is "$G" running
# The only slot is busy: these two wait in the queue.
ht_submit '{"type": "echo", "payload": {"e": 1}}' "${b[@]}"
E1=$HT_JOB
ht_submit '{"type": "echo", "payload": {"e": 2}}' "${b[@]}"
E2=$HT_JOB
from=$(ht__log_size w2)
# Redis sleeps past the worker's 5 s reply timeout; the job's outcome is
# sent meanwhile and waits behind the sleep.
ht_redis DEBUG SLEEP 7 >/dev/null &
sleeper=$!
asleep() { ! timeout 0.5 redis-cli -p "$HT_REDIS_PORT" PING >/dev/null 2>&1; }
wait_until 10 "Redis sleeps" asleep
touch "$GATE"
wait "$sleeper"
wait_until 60 "the gate job and both echo jobs succeed" \
    eval 'status_is "$G" succeeded && status_is "$E1" succeeded && status_is "$E2" succeeded'
ht__log_since w2 "$from" | grep -q '"redis unavailable, retrying".*"during":"complete"' ||
    fail "the dispatcher did not retry its call: $(ht__log_since w2 "$from" | tail -n 20)"
assert_eq "$(ht_job_hget "$G" attempt)" 1 "the gate job ran once"
assert_eq "$(ht_job_hget "$E1" attempt) $(ht_job_hget "$E2" attempt)" "1 1" \
    "the echo jobs ran once each (the lost claim's handed back, not counted)"
handed=$(ht__log_since w2 "$from" | grep -c '"a job claimed by a call whose reply was lost: handed back"')
assert_eq "$handed" 1 "the lost claim's job handed back"
ht_stop w2
assert_eq "$(ht__log_since w2 "$from" | grep -c '"job succeeded"')" 3 "three successes logged"
assert_metric 'hangtight_jobs_succeeded_total{type="gate"}' 1
assert_metric 'hangtight_jobs_succeeded_total{type="echo"}' $((3 * ECHO_N + 2))
assert_metric 'hangtight_jobs_started_total{type="echo"}' $((3 * ECHO_N + 2))
assert_metric hangtight_jobs_running 0
