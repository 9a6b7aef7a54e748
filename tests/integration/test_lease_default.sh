#!/usr/bin/env bash
# The recovery bound with the default settings (issue 22's "done when"): a
# worker killed with -9 while it holds a job whose timeout_s is an hour; the
# job runs again on another worker within 15 s (the default lease of 10 s,
# renewed every third of it, and the reaper's second).
source "$(dirname "$0")/lib.sh"

ht_start_stack
ht_submit '{"type": "sleep", "payload": {"ms": 60000, "steps": 60}, "timeout_s": 3600}'
id=$HT_JOB
wait_until 10 "w1 runs the job" ht_job_is "$id" running
ht_start_worker w2
ht_stop w1 KILL
killed=$(ht_ms)
rerun() {
    ht_http GET "/v1/jobs/$id"
    [[ "$(ht_json '.status + "/" + (.attempt | tostring)')" == running/2 ]]
}
wait_until 30 "the job runs again" rerun
elapsed=$(($(ht_ms) - killed))
log "running again on w2 ${elapsed} ms after the kill"
((elapsed < 15000)) || fail "the job ran again ${elapsed} ms after the kill: 15 s or more"
ht_http DELETE "/v1/jobs/$id"
assert_status 202 "cancel"
wait_until 15 "the job ends canceled" ht_job_is "$id" canceled
