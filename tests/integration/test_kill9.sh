#!/usr/bin/env bash
# At-least-once: the worker holding a job is killed with -9 mid-job; its
# lease runs out and another worker finishes the job as attempt 2.
source "$(dirname "$0")/lib.sh"

# A lease of 4 s; the job itself needs 3 s (its timeout_s of an hour plays
# no part).
export HANGTIGHT_LEASE_MS=4000
ht_start_stack --workers 2

ht_submit '{"type": "sleep", "payload": {"ms": 3000, "steps": 6}, "timeout_s": 3600}'
id=$HT_JOB
wait_until 10 "the job runs" ht_job_is "$id" running

# The job document does not name its worker; the job hash does, and each
# worker logs its id when it starts.
holder=$(ht_job_hget "$id" worker)
assert_ne "$holder" "" "worker field of the running job"
victim=
for w in w1 w2; do
    if grep -qF -- "$holder" "${HT_LOGS[$w]}"; then victim=$w; fi
done
[[ -n "$victim" ]] || fail "no worker log mentions the holder '$holder'"
survivor=$([[ $victim == w1 ]] && echo w2 || echo w1)
log "$victim holds the job ($holder); killing it with -9"
ht_stop "$victim" KILL
killed_at=$SECONDS

# Back in the queue once the lease runs out, then done by the survivor.
wait_until 30 "the job succeeds on $survivor" ht_job_is "$id" succeeded
elapsed=$((SECONDS - killed_at))
log "finished ${elapsed}s after the kill"
((elapsed <= 4 + 3 + 8)) || fail "took ${elapsed}s after the kill (lease 4s + job 3s + slack)"
assert_json .attempt 2 "attempt of the finishing run"
assert_jq '.result != null' "result present"
final=$(ht_job_hget "$id" worker)
assert_ne "$final" "$holder" "the finishing worker"
grep -qF -- "$final" "${HT_LOGS[$survivor]}" || fail "$survivor's log does not mention '$final'"
ht_alive "$survivor" || fail "$survivor died"
