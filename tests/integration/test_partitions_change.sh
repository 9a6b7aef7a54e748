#!/usr/bin/env bash
# Changing HANGTIGHT_PARTITIONS on a live system (README "Partitions"):
# jobs made under N=1 (v4 ids, keys ht:{default}:...), then every process
# restarted with N=6.  The old jobs still run and stay readable and
# listed, new jobs spread over the 6 partitions, and `hangtight partitions
# --retire 1` is refused while N=1's partition holds work, allowed once it
# is drained; the N in use can never be retired.
# One redis-server whatever HT_TEST_CLUSTER says: partitions are about the
# keyspace layout, which one node shows plainly (the cluster runs of the
# other tests use HANGTIGHT_PARTITIONS=6 too).
export HT_TEST_CLUSTER=0
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_PARTITIONS=1
ht_start_stack --workers 0
ht_start_worker w0 --concurrency 1 # registers the types, then goes
ht_stop w0

# ---- under N=1 ------------------------------------------------------------
old=()
for i in $(seq 8); do ht_submit '{"type": "echo"}'; old+=("$HT_JOB"); done
ht_submit '{"type": "echo", "delay_s": 4}'
old_delayed=$HT_JOB
old+=("$HT_JOB")
for id in "${old[@]}"; do
    assert_match "$id" '^[0-9a-f]{8}-[0-9a-f]{4}-4' "a v4 id under N=1"
    assert_eq "$("$HT_CLI_BIN" job-key "$id")" "ht:{default}:job:$id" "today's key" 2>/dev/null
done
assert_eq "$(ht_redis LLEN 'ht:{default}:q:default:echo:default')" 8 "today's wait list"

# ---- every process restarted with N=6 (the api first here: nothing runs
# until the worker comes, so the refusal below is certain) ---------------
ht_stop api
export HANGTIGHT_PARTITIONS=6
ht_start_api
assert_eq "$(ht_redis SMEMBERS 'ht:partitions:{default}' | sort -n | tr '\n' ' ')" "1 6 " \
    "both Ns recorded"
out=$("$HT_CLI_BIN" partitions)
log "$out"
assert_match "$out" 'N=1' "the report names N=1"
assert_match "$(grep -E '^  0/1 ' <<<"$out")" '^  0/1 +default +[0-9]+ +8 +1 +0 +0' \
    "N=1's partition holds 8 queued and 1 scheduled"
assert_eq "$(grep -cE '^  [0-5]/6 ' <<<"$out")" 6 "N=6's partitions listed"
if err=$("$HT_CLI_BIN" partitions --retire 1 2>&1); then
    fail "retiring N=1 with work left was allowed: $err"
fi
assert_match "$err" 'refusing to retire N=1: partition 0/1 \(tag default\) holds 8 queued, 1 scheduled' \
    "why the retire is refused"
if err=$("$HT_CLI_BIN" partitions --retire 6 2>&1); then
    fail "retiring the N in use was allowed: $err"
fi
assert_match "$err" 'it is the N in use' "the N in use is never retired"

# New jobs go to the 6 partitions; the old ones stay readable meanwhile.
new=()
for i in $(seq 12); do ht_submit '{"type": "echo"}'; new+=("$HT_JOB"); done
declare -A parts=()
for id in "${new[@]}"; do
    assert_match "$id" '^[0-9a-f]{8}-[0-9a-f]{4}-8' "a v8 id under N=6"
    parts[$((16#${id:31:5} & 1023))]=1
done
assert_eq "${#parts[@]}" 6 "new jobs over the 6 partitions"
ht_http GET "/v1/jobs/${old[0]}"
assert_status 200 "an N=1 job read by an N=6 api"
ht_http GET "/v1/jobs?limit=100"
assert_json '.jobs | length' 21 "the listing merges N=1's and N=6's partitions"

# The worker (N=6) serves N=1's partition too: every job runs.
ht_start_worker w1 --concurrency 2
for id in "${old[@]}" "${new[@]}"; do
    wait_until 30 "$id done" ht_job_is "$id" succeeded
done
ht_http GET "/v1/jobs?status=succeeded&limit=7"
n=$(ht_json '.jobs | length')
seen=$n
while [[ -n "$(ht_json '.links.next // empty')" ]]; do
    ht_http GET "$(ht_json .links.next)"
    assert_status 200 "a later page"
    seen=$((seen + $(ht_json '.jobs | length')))
done
assert_eq "$seen" 21 "paging over both Ns lists every job"

# Drained: N=1 may go now.  Its jobs stay readable by id.
out=$("$HT_CLI_BIN" partitions --retire 1) || fail "retire refused after the drain: $out"
log "$out"
assert_eq "$(ht_redis SMEMBERS 'ht:partitions:{default}')" 6 "only N=6 recorded"
ht_http GET "/v1/jobs/$old_delayed"
assert_status 200 "an N=1 job after N=1 was retired"
assert_json .status succeeded
# ... but not run again: no worker serves its partition now.
ht_http DELETE "/v1/jobs/${old[0]}"
assert_problem 409 "cancel of a finished job"
ht_stop api
ht_start_api # reads the record again: N=6 alone
ht_http POST "/v1/jobs/${old[0]}/retry"
assert_problem 409 "retry of a job of a retired N"
assert_match "$(ht_json .detail)" 'no longer served' "why"
# An unknown id of that retired layout (a fresh v4 id) is just unknown.
ht_http POST "/v1/jobs/$(cat /proc/sys/kernel/random/uuid)/retry"
assert_problem 404 "retry of an unknown id of a retired N"
