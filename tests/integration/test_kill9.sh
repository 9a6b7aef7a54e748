#!/usr/bin/env bash
# At-least-once: the worker holding a job is killed with -9 mid-job; its
# lease runs out and another worker finishes the job as attempt 2.
source "$(dirname "$0")/lib.sh"

# A lease of 4 s (the job's timeout_s of an hour plays no part).  The job
# runs until the test opens its gate (tests/faults/gate.sh), once its
# worker is killed: a job that finished first would prove nothing.
export HANGTIGHT_LEASE_MS=4000
GATE=$HT_TMP/gate
ht_gate_handlers gate="$GATE"
ht_start_stack --workers 2

ht_submit '{"type": "gate", "timeout_s": 3600}'
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
killed_ms=$(ht_ms)
ht_stop "$victim" KILL
touch "$GATE"

# Back in the queue once the lease runs out, then done by the survivor; by
# its finished_at (the test's GETs may see it seconds later on a loaded
# machine).
wait_until 30 "the job succeeds on $survivor" ht_job_is "$id" succeeded
elapsed=$(($(ht_job_hget "$id" finished_at) - killed_ms))
log "finished ${elapsed} ms after the kill"
((elapsed <= 15000)) || fail "took ${elapsed} ms after the kill (lease 4 s + slack)"
assert_json .attempt 2 "attempt of the finishing run"
assert_jq '.result != null' "result present"
final=$(ht_job_hget "$id" worker)
assert_ne "$final" "$holder" "the finishing worker"
grep -qF -- "$final" "${HT_LOGS[$survivor]}" || fail "$survivor's log does not mention '$final'"
ht_alive "$survivor" || fail "$survivor died"
