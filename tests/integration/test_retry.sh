#!/usr/bin/env bash
# Retries: a failed attempt waits a full-jitter backoff (scheduled, or
# queued when the draw is 0) with its error kept, until max_attempts; a
# permanent error (the fail handler's {"retry": false}, an exec handler's
# {"error": ..., "retry": false} line) fails the job at once; a worker killed
# with -9 mid-job costs an attempt and the job is retried elsewhere.
source "$(dirname "$0")/lib.sh"

cat >"$HT_TMP/permanent.sh" <<'SH'
#!/bin/bash
cat >/dev/null
echo '{"progress": 10, "message": "looking"}'
echo '{"error": "bad input", "retry": false}'
exit 0
SH
cat >"$HT_TMP/flaky.sh" <<'SH'
#!/bin/bash
cat >/dev/null
echo '{"error": "try again later"}'
exit 0
SH
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {
  "test.permanent": {"command": ["/bin/bash", "$HT_TMP/permanent.sh"]},
  "test.flaky":     {"command": ["/bin/bash", "$HT_TMP/flaky.sh"]},
  "test.gate":      {"command": ["/bin/bash", "$HT_SOURCE_DIR/tests/faults/gate.sh", "$HT_TMP/gate"]}
}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
export HANGTIGHT_RETRY_BASE_MS=200
# A lease of 3 s: the job of a killed worker (below) runs again 3 s later.
export HANGTIGHT_LEASE_MS=3000

# Each job's status history is read from its event log: kept for every job
# (docs/keyspace.md, "Watching"), not only for the watched ones.
export HANGTIGHT_LOG_EVERY_JOB=1
ht_start_stack --worker-args --concurrency 2

# The statuses (with attempts) a job went through, from its event log:
# "running/1 scheduled/1 ..." (progress entries left out; the log starts
# with the first change after the submit).
history() {
    ht_redis --raw LRANGE "$(ht_job_key "$1"):ev" 0 -1 |
        awk '$2 == "status" { printf "%s/%s ", $3, $4 }'
}

# ---- a retryable failure runs max_attempts times, with a backoff ------
started=$(ht_ms)
ht_submit '{"type": "fail", "payload": {"message": "boom"}, "max_attempts": 3}'
id=$HT_JOB
wait_until 15 "the failing job runs out of attempts" ht_job_is "$id" failed
elapsed=$(($(ht_ms) - started))
assert_json .attempt 3 "attempts used"
assert_json .error.code handler_failed
assert_json .error.message boom "the error of the last attempt"
assert_json .result null
h=$(history "$id")
log "history: $h (${elapsed} ms)"
# Between attempts the job waits, scheduled (or queued when the jitter drew
# 0), never straight from failed attempt to running.
wait_between='(scheduled|queued)/N (queued/N )?'
want="^running/1 ${wait_between//N/1}running/2 ${wait_between//N/2}running/3 failed/3 \$"
assert_match "$h" "$want" "status history of the retried job"
# Base 200 ms: the waits are at most 200 and 400 ms, plus the promotion
# (about 100 ms; up to a second on a loaded machine), by Redis' clock: from
# the failed attempt's entry (scheduled or queued) to the next start.
waits=$(ht_redis --raw LRANGE "$(ht_job_key "$id"):ev" 0 -1 | awk '$2 == "status" {
    if ($3 == "running" && $4 > 1) printf "%d:%d ", $4 - 1, $6 - left
    if ($3 == "scheduled" || ($3 == "queued" && prev == "running")) left = $6
    prev = $3 }')
log "waits before attempts 2 and 3 (attempt:ms): $waits"
for w in $waits; do
    n=${w%%:*} ms=${w#*:}
    cap=$((200 * (1 << (n - 1))))
    ((ms >= 0 && ms <= cap + 1000)) ||
        fail "the wait after attempt $n took $ms ms (backoff at most $cap ms, plus promotion)"
done
assert_eq "$(wc -w <<<"$waits")" 2 "waits measured"
# The worker draws each delay from [0, 200 * 2^(attempt-1)].
delays=$(grep -F "\"$id\"" "${HT_LOGS[w1]}" | grep -F 'attempt failed' |
    jq -r '"\(.attempt) \(.retryable) \(.retry_delay_ms)"')
log "delays: $(tr '\n' ';' <<<"$delays")"
while read -r attempt retryable delay; do
    assert_eq "$retryable" true "attempt $attempt retryable"
    cap=$((200 << (attempt - 1)))
    ((delay >= 0 && delay <= cap)) || fail "attempt $attempt waited $delay ms, outside [0, $cap]"
done <<<"$delays"
assert_eq "$(wc -l <<<"$delays")" 3 "attempt failed log lines"

# ---- between attempts: scheduled, with the error and the due time ------
# A second worker with a long backoff takes the next job alone: the first
# retry then waits a random 0..60 s, long enough to look at.
ht_stop w1
ht_start_worker w2 --retry-base-ms 60000 --retry-max-ms 60000
ht_submit '{"type": "fail", "payload": {"message": "first try"}, "max_attempts": 5}'
id=$HT_JOB
waiting() {
    ht_job_is "$id" scheduled
}
wait_until 10 "the failed attempt is scheduled for a retry" waiting
assert_json .attempt 1
assert_json .error.message "first try" "the error kept while waiting"
assert_json .result null
due=$(date -d "$(ht_json .run_at)" +%s%3N)
now=$(ht_ms)
((due > now - 1000 && due <= now + 61000)) || fail "run_at $(ht_json .run_at) is not within 60 s"
ht_stop w2

# ---- permanent errors fail at once ------------------------------------
ht_start_worker w3 --concurrency 2
ht_submit '{"type": "fail", "payload": {"message": "no point", "retry": false}, "max_attempts": 3}'
id=$HT_JOB
wait_until 10 "the permanent failure fails" ht_job_is "$id" failed
assert_json .attempt 1 "a permanent failure uses one attempt"
assert_json .error.message "no point"
assert_eq "$(history "$id")" "running/1 failed/1 " "history of the permanent failure"

ht_submit '{"type": "test.permanent", "max_attempts": 3}'
id=$HT_JOB
wait_until 10 "the exec handler's permanent error fails the job" ht_job_is "$id" failed
assert_json .attempt 1 "an exec {retry: false} line uses one attempt"
assert_json .error.message "bad input"

# An exec error line without "retry": false is retried.
ht_submit '{"type": "test.flaky", "max_attempts": 2}'
id=$HT_JOB
wait_until 10 "the exec handler's retryable error uses both attempts" ht_job_is "$id" failed
assert_json .attempt 2
assert_json .error.message "try again later"
# The retries so far (2 + 1 + 1) reach the totals within about a second
# (the workers send their counts once a second): before a worker is killed
# below, which would lose what it had not sent.
retried_at_least() { (($(ht_sum_keys HGET t:default:stats retried) >= $1)); }
wait_until 10 "every retry so far is counted" retried_at_least 4

# ---- a worker killed -9 mid-job: the job is retried and succeeds ------
ht_start_worker w4
# A job that runs until the test opens its gate (tests/faults/gate.sh), after
# the kill: finding the holder and killing it takes a while on a loaded
# machine (a cluster's redis-cli -c, the CLI's job-key), and a job that
# finishes first proves nothing.
ht_submit '{"type": "test.gate", "max_attempts": 3}'
id=$HT_JOB
wait_until 10 "the gate job runs" ht_job_is "$id" running
holder=$(ht_job_hget "$id" worker)
victim=
for w in w3 w4; do
    if grep -qF -- "$holder" "${HT_LOGS[$w]}"; then victim=$w; fi
done
[[ -n "$victim" ]] || fail "no worker log mentions the holder '$holder'"
log "$victim holds the job; killing it with -9"
ht_stop "$victim" KILL
touch "$HT_TMP/gate"
wait_until 30 "the job is retried and succeeds" ht_job_is "$id" succeeded
assert_json .attempt 2 "the attempt lost with the worker counts"
assert_jq '.result.gate == "opened"' "result of the second attempt"
assert_ne "$(ht_job_hget "$id" worker)" "$holder" "the worker that finished it"
assert_match "$(history "$id")" '^running/1 queued/1 running/2 succeeded/2 $' \
    "history of the job whose worker died"

# Totals: every retry was counted.
retried=$(ht_sum_keys HGET t:default:stats retried)
((retried >= 2 + 1 + 1)) || fail "stats retried is $retried, expected at least 4"
