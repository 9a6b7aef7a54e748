#!/usr/bin/env bash
# Cancel of a running job: DELETE answers 202 and the worker holding the job
# is told at once over pub/sub; a built-in handler stops, an exec handler's
# child gets SIGTERM (then SIGKILL after the grace if it ignores it), and the
# job ends canceled.  A cancel that pub/sub missed is caught by the next
# lease renewal.  A cancel racing the job's own completion leaves exactly one
# terminal state.
source "$(dirname "$0")/lib.sh"

# Sleep durations unique to this run, to find the children later.
child_sleep=61.$$
stubborn_sleep=62.$$
cat >"$HT_TMP/slow.sh" <<SH
#!/bin/bash
cat >/dev/null
echo '{"progress": 1, "message": "sleeping"}'
sleep $child_sleep
echo '{"never": "here"}'
SH
cat >"$HT_TMP/stubborn.sh" <<SH
#!/bin/bash
trap '' TERM
cat >/dev/null
echo '{"progress": 1, "message": "ignoring SIGTERM"}'
sleep $stubborn_sleep &
wait \$! || wait \$!
SH
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {
  "test.slow":     {"command": ["/bin/bash", "$HT_TMP/slow.sh"]},
  "test.stubborn": {"command": ["/bin/bash", "$HT_TMP/stubborn.sh"]}
}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json

# A lease of 3 s, renewed every second: the renewal catches a cancel that
# pub/sub missed within about a second (below).
export HANGTIGHT_LEASE_MS=3000
# Each job's status history is read from its event log: kept for every job
# (docs/keyspace.md, "Watching"), not only for the watched ones.
export HANGTIGHT_LOG_EVERY_JOB=1
ht_start_stack --worker-args --concurrency 3

history() {
    ht_redis --raw LRANGE "$(ht_job_key "$1"):ev" 0 -1 |
        awk '$2 == "status" { printf "%s/%s ", $3, $4 }'
}

# DELETE the running job ID; asserts 202; sets CANCELED_AT (ms).
cancel_running() {
    ht_http DELETE "/v1/jobs/$1"
    CANCELED_AT=$(ht_ms)
    assert_status 202 "DELETE of a running job"
}

# Waits until job ID is canceled and asserts it took at most MS.
ends_canceled_within() {
    local id=$1 ms=$2
    wait_until $((ms / 1000 + 10)) "job $id ends canceled" ht_job_is "$id" canceled
    local took=$(($(ht_ms) - CANCELED_AT))
    log "canceled $took ms after the DELETE"
    ((took <= ms)) || fail "the cancel took $took ms (more than $ms)"
    assert_json .result null
    assert_jq '.finished_at != null' "finished_at of the canceled job"
    assert_jq '.cancel_requested != true' "no pending cancel on a finished job"
}

# ---- a built-in handler stops at once ---------------------------------
ht_submit '{"type": "sleep", "payload": {"ms": 30000, "steps": 30}, "max_attempts": 3}'
id=$HT_JOB
wait_until 10 "the sleep job runs" ht_job_is "$id" running
cancel_running "$id"
ends_canceled_within "$id" 1500
assert_json .attempt 1
# The event log starts with the first change after the submit.
assert_eq "$(history "$id")" "running/1 canceled/1 " "history of the canceled job"
grep -F "\"$id\"" "${HT_LOGS[w1]}" | grep -qF 'cancel requested: stopping the handler' ||
    fail "the worker did not log the pub/sub cancel"
ht_http DELETE "/v1/jobs/$id"
assert_problem 409 "DELETE of a canceled job"

# ---- an exec handler's child is killed --------------------------------
children() { pgrep -f "sleep $1" >/dev/null; }
ht_submit '{"type": "test.slow"}'
id=$HT_JOB
wait_until 10 "the exec child sleeps" children "$child_sleep"
assert_eq "$(ht_job_field "$id" .status)" running
cancel_running "$id"
ends_canceled_within "$id" 1500
wait_until 3 "the exec child is gone" eval "! children $child_sleep"

# ---- a child that ignores SIGTERM gets SIGKILL after the grace --------
# The grace is 5 s (worker/exec.c).  The child sleeping proves its trap is
# set (the script sets it first).  The job stays running, canceling, until
# the child is killed; the child dies no earlier than the grace after the
# DELETE (a child that obeyed SIGTERM would be gone at once).
ht_submit '{"type": "test.stubborn"}'
id=$HT_JOB
wait_until 10 "the stubborn child sleeps" children "$stubborn_sleep"
cancel_running "$id"
stopping() { grep -F "\"$id\"" "${HT_LOGS[w1]}" | grep -qF 'cancel requested: stopping the handler'; }
wait_until 5 "the worker stops the handler" stopping
ht_http GET "/v1/jobs/$id"
assert_json .status running "status during the kill grace"
assert_json .cancel_requested true "cancel_requested during the kill grace"
wait_until 15 "the stubborn child is gone" eval "! children $stubborn_sleep"
died=$(($(ht_ms) - CANCELED_AT))
log "the child that ignores SIGTERM died $died ms after the DELETE"
((died >= 4500)) || fail "the child that ignores SIGTERM died $died ms after the DELETE, before the 5 s grace"
ends_canceled_within "$id" 8000

# ---- a cancel that pub/sub missed: the lease renewal catches it -------
# Set the flag behind the worker's back (no message is published); the
# lease (3 s) is renewed every second.
ht_submit '{"type": "sleep", "payload": {"ms": 30000, "steps": 30}}'
id=$HT_JOB
wait_until 10 "the sleep job runs" ht_job_is "$id" running
ht_redis HSET "$(ht_job_key "$id")" cancel_requested 1 >/dev/null
CANCELED_AT=$(ht_ms)
ends_canceled_within "$id" 2500
grep -F "\"$id\"" "${HT_LOGS[w1]}" | grep -qF 'cancel requested (seen on renewal)' ||
    fail "the worker did not log the cancel seen on renewal"

# ---- cancel racing completion -----------------------------------------
# A 1 s job (long enough for the poll below to see it running on a loaded
# machine, where a redis-cli start takes a few hundred ms), DELETEd at its
# start time (from the job hash) + 1000 ms + an offset, i.e. around the
# moment it finishes: whatever wins, the job ends in one terminal state
# (succeeded with its result, or canceled), the answer to the DELETE
# agrees, and nothing changes after the worker's last word on the job (its
# outcome log line).
#
# The offset is found by bisection between LO (a DELETE that early lands
# while the job runs) and HI (that late, after it finished): a canceled run
# moves LO up to its offset, a succeeded one HI down, so the runs close in
# on the moment where either may win, from both sides.  Both outcomes must
# have been seen, or the race was not run.
finished() {
    ht_http GET "/v1/jobs/$id"
    [[ "$(ht_json .status)" =~ ^(succeeded|canceled|failed)$ ]]
}
last_word() {
    grep -F "\"$id\"" "${HT_LOGS[w1]}" |
        grep -qE '"msg":"(job succeeded|job canceled|outcome dropped[^"]*)"'
}
lo=-800 hi=600 outcomes="" won_cancel=0 won_job=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
    offset=$(((lo + hi) / 2))
    ht_submit '{"type": "sleep", "payload": {"ms": 1000, "steps": 1}}'
    id=$HT_JOB
    # Started, not "running": on a loaded machine a poll can miss the 1 s
    # it runs, and a job already done only makes this a late DELETE.
    wait_until 20 "job $id starts" eval "[[ -n \$(ht_job_hget $id started_at) ]]"
    at=$(($(ht_job_hget "$id" started_at) + 1000 + offset))
    wait_ms=$((at - $(ht_ms)))
    ((wait_ms > 0)) && sleep "$((wait_ms / 1000)).$(printf %03d $((wait_ms % 1000)))"
    ht_http DELETE "/v1/jobs/$id"
    answer=$HTTP_STATUS
    wait_until 10 "job $id finishes" finished
    status=$(ht_json .status)
    case "$answer/$status" in
    409/succeeded | 202/succeeded)
        # 202 then succeeded: the handler was done before the stop reached it.
        assert_jq '.result.slept_ms == 1000' "result of a job that beat its cancel"
        won_job=$((won_job + 1)) hi=$offset ;;
    202/canceled)
        assert_json .result null "result of a canceled job"
        won_cancel=$((won_cancel + 1)) lo=$offset ;;
    *) fail "DELETE answered $answer and the job ended $status (offset $offset ms)" ;;
    esac
    h=$(history "$id")
    assert_match "$h" '^running/1 (succeeded|canceled)/1 $' "history (offset $offset ms)"
    outcomes+="$offset:$answer/$status "
    wait_until 10 "the worker's last word on job $id" last_word
    assert_eq "$(ht_job_field "$id" .status)" "$status" "status after the worker's last word"
    assert_eq "$(history "$id")" "$h" "history after the worker's last word"
done
log "race outcomes (offset:answer/status): $outcomes"
((won_cancel > 0 && won_job > 0)) ||
    fail "the race was not run: $won_cancel canceled, $won_job succeeded over offsets $outcomes"
ht_alive w1 || fail "the worker died during the races"

# The worker still serves.
ht_submit '{"type": "echo", "payload": {"still": "here"}}'
id=$HT_JOB
wait_until 10 "an echo job after the cancels succeeds" ht_job_is "$id" succeeded
