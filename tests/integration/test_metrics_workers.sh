#!/usr/bin/env bash
# Counts made in the worker (docs/operations.md, "Counters"): a
# hangtight-worker counts the starts, outcomes and wait and run times of the
# jobs it runs and sends them to Redis every --counts-every-ms, and once
# more when it stops; the HTTP worker API's jobs are counted in Redis by the
# call itself.  Here:
#  - two workers that send only every minute run jobs of every outcome (each
#    holds gate jobs at once, so both have counts); until they stop, none of
#    their counts is in Redis, while the HTTP worker API's already are;
#  - SIGTERM: each sends its last counts on its way out, so /metrics and
#    GET /v1/queues are exact right after they exited, the two workers and
#    the HTTP worker API added up;
#  - Redis away as a worker stops: its last counts are kept and sent again
#    until Redis is back (within the 10 s it tries on its way out);
#  - ht_count_add applies a batch once: the same seq again (a batch resent
#    after a lost reply) changes nothing, and anything but a counter of the
#    partition is refused.
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_RETRY_BASE_MS=1 # retries at once
export HANGTIGHT_LEASE_MS=20000  # the remote worker's steps on a busy machine
GATE=$HT_TMP/gate
ht_gate_handlers gate="$GATE"
ht_start_stack --workers 0 --redis-args --aof # Redis stops and comes back below
ht_start_worker w1 --concurrency 2 --counts-every-ms 600000
ht_start_worker w2 --concurrency 2 --counts-every-ms 600000

# A sample of a fresh /metrics page ("absent" when it has none).
metric() {
    curl -s --max-time 10 "$HT_URL/metrics" |
        awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? "absent" : v) }'
}
assert_metric() { assert_eq "$(metric "$1")" "$2" "$1"; }

# ---- the workers run jobs; their counts stay in the processes ------------
# 4 gate jobs: 2 slots each, so both workers hold two at once.
gates=()
for i in 1 2 3 4; do
    ht_submit '{"type": "gate"}'
    gates+=("$HT_JOB")
done
all_running() {
    local id
    for id in "${gates[@]}"; do ht_job_is "$id" running || return 1; done
}
wait_until 30 "both workers hold two gate jobs" all_running
holders=$(for id in "${gates[@]}"; do ht_job_hget "$id" worker; done | sort -u | wc -l)
assert_eq "$holders" 2 "workers holding the gate jobs"
touch "$GATE"
# 6 echo jobs succeed; 2 fail jobs fail twice each (one retry each).
ids=("${gates[@]}")
for i in 1 2 3 4 5 6; do
    ht_submit "{\"type\": \"echo\", \"payload\": {\"i\": $i}}"
    ids+=("$HT_JOB")
done
fails=()
for i in 1 2; do
    ht_submit '{"type": "fail", "max_attempts": 2}'
    fails+=("$HT_JOB")
done
all_ended() {
    local id
    for id in "${ids[@]}"; do ht_job_is "$id" succeeded || return 1; done
    for id in "${fails[@]}"; do ht_job_is "$id" failed || return 1; done
}
wait_until 30 "every job ends" all_ended
# Counted inside the api's calls: the submits.  Counted by the workers: the
# rest, not sent yet.
assert_metric 'hangtight_jobs_submitted_total{type="echo"}' 6
assert_metric 'hangtight_jobs_started_total{type="echo"}' absent
assert_metric 'hangtight_jobs_succeeded_total{type="gate"}' absent
assert_metric 'hangtight_jobs_failed_total{type="fail"}' absent
assert_metric hangtight_job_run_seconds_count 0
assert_eq "$(ht_redis --raw KEYS 'ht:{default}:counted:*')" "" "no batch sent yet"

# ---- the HTTP worker API: counted in Redis at once ------------------------
wcall() { ht_http POST "/v1/worker/$1" "$2"; }
wcall claim '{"types": ["wr.t"], "worker": "r1"}' # registers the type
assert_status 204 "a first remote claim"
for i in 1 2 3; do ht_submit '{"type": "wr.t", "max_attempts": 1}'; done
for i in 0 1 2; do
    wcall claim '{"types": ["wr.t"], "worker": "r1"}'
    assert_status 200 "a remote claim"
    id=$(ht_json .job.id) tok=$(ht_json .token)
    if ((i < 2)); then
        wcall "jobs/$id/complete" "{\"token\": \"$tok\", \"result\": {\"i\": $i}}"
    else
        wcall "jobs/$id/fail" "{\"token\": \"$tok\", \"error\": \"no\", \"retry\": false}"
    fi
    assert_status 200 "a remote outcome"
done
assert_metric 'hangtight_jobs_started_total{type="wr.t"}' 3
assert_metric 'hangtight_jobs_succeeded_total{type="wr.t"}' 2
assert_metric 'hangtight_jobs_failed_total{type="wr.t"}' 1
assert_metric hangtight_job_run_seconds_count 3

# ---- SIGTERM: the last counts go out; exact at once -----------------------
ht_stop w1
assert_eq "$HT_EXIT" 0 "w1's exit status"
ht_stop w2
assert_eq "$HT_EXIT" 0 "w2's exit status"
# Exactly, read once, no wait:
#   gate 4 started 4 succeeded; echo 6 and 6; fail 2 jobs x 2 attempts:
#   4 started, 2 retried, 2 failed; wr.t (the api) 3 started, 2 + 1.
#   Wait times: one first start per job (4 + 6 + 2 + 3 = 15); run times:
#   one per attempt that ended (4 + 6 + 4 + 3 = 17).
assert_metric 'hangtight_jobs_started_total{type="gate"}' 4
assert_metric 'hangtight_jobs_succeeded_total{type="gate"}' 4
assert_metric 'hangtight_jobs_started_total{type="echo"}' 6
assert_metric 'hangtight_jobs_succeeded_total{type="echo"}' 6
assert_metric 'hangtight_jobs_started_total{type="fail"}' 4
assert_metric 'hangtight_jobs_retried_total{type="fail"}' 2
assert_metric 'hangtight_jobs_failed_total{type="fail"}' 2
assert_metric 'hangtight_jobs_started_total{type="wr.t"}' 3
assert_metric 'hangtight_jobs_succeeded_total{type="wr.t"}' 2
assert_metric 'hangtight_jobs_failed_total{type="wr.t"}' 1
assert_metric hangtight_job_wait_seconds_count 15
assert_metric hangtight_job_run_seconds_count 17
assert_metric hangtight_jobs_running 0
# The tenant's totals (GET /v1/queues) are the same counts.
ht_http GET /v1/queues
assert_status 200 "GET /v1/queues"
assert_json '.queues[0].totals.submitted' 15
assert_json '.queues[0].totals.succeeded' 12
assert_json '.queues[0].totals.failed' 3
assert_json '.queues[0].totals.retried' 2
# One batch from each worker (sent on the way out), seq 1.
assert_eq "$(ht_redis --raw KEYS 'ht:{default}:counted:*' | wc -l)" 2 "batches' seq keys"
for k in $(ht_redis --raw KEYS 'ht:{default}:counted:*'); do
    assert_eq "$(ht_redis --raw GET "$k")" 1 "the seq of $k"
done

# ---- Redis away as a worker stops: its counts wait for it -----------------
ht_start_worker w3 --concurrency 1 --counts-every-ms 600000
for i in 1 2; do
    ht_submit '{"type": "echo"}'
    wait_until 30 "an echo job of w3 succeeds" ht_job_is "$HT_JOB" succeeded
done
ht_stop_redis
kill -TERM "${HT_PIDS[w3]}"
wait_until 20 "w3 could not send its counts" ht_log_has w3 'counters not sent: kept'
ht_alive w3 || fail "w3 exited without its counts sent: $(tail -n 5 "${HT_LOGS[w3]}")"
ht_start_redis --aof
ht_wait_exit w3
assert_eq "$HT_EXIT" 0 "w3's exit status"
ht_log_has w3 'counters sent again' || fail "w3 did not say its counts went out"
api_reads_redis() { [[ "$(metric hangtight_redis_up)" == 1 ]]; }
wait_until 20 "the api reads Redis again" api_reads_redis
assert_metric 'hangtight_jobs_started_total{type="echo"}' 8
assert_metric 'hangtight_jobs_succeeded_total{type="echo"}' 8
assert_metric hangtight_job_run_seconds_count 19

# ---- ht_count_add: a batch counts once ----------------------------------------
add() { ht_redis --raw FCALL ht_count_add 1 'ht:{default}:metrics' 'ht:{default}:' probe "$@"; }
assert_eq "$(add 1 metrics jobs:started:probe 5 t:default:stats succeeded 2)" 1 "batch 1 applied"
assert_eq "$(add 1 metrics jobs:started:probe 5 t:default:stats succeeded 2)" 0 "batch 1 again"
assert_metric 'hangtight_jobs_started_total{type="probe"}' 5
assert_eq "$(ht_redis --raw HGET 'ht:{default}:t:default:stats' succeeded)" 16 "the tenant's total"
assert_eq "$(add 2 metrics jobs:started:probe 1)" 1 "batch 2 applied"
assert_metric 'hangtight_jobs_started_total{type="probe"}' 6
assert_eq "$(add 2 metrics jobs:started:probe 1)" 0 "batch 2 again"
assert_eq "$(add 1 metrics jobs:started:probe 1)" 0 "an older batch"
assert_metric 'hangtight_jobs_started_total{type="probe"}' 6
for bad in "3 job:x status 1" "3 metrics f 1.5" "3 metrics f 1e3" "3 metrics f" "0 metrics f 1" "x metrics f 1"; do
    # shellcheck disable=SC2086 # the words are the arguments
    out=$(add $bad 2>&1) || true
    [[ "$out" == *BADCOUNT* ]] || fail "ht_count_add $bad: $out"
done
assert_metric 'hangtight_jobs_started_total{type="probe"}' 6
log "worker counts: held until sent, sent on SIGTERM, exact with the HTTP worker API's; a batch counts once"
