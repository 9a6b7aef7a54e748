#!/usr/bin/env bash
# Partitions of two Ns that share a hash tag (README "Partitions"):
# "default.p0" is partition 0 of N=2 and of N=3, served once.  A job made
# under N=2 in that partition is retried by an N=3 api (its tag is served,
# not "no longer served"); two apis of different N page one listing
# between them without a job shown twice or skipped (cursor positions are
# matched by tag); `hangtight partitions --retire` refuses a --partitions N
# that is not recorded, and does not count the shared partition as N=2's.
# One redis-server whatever HT_TEST_CLUSTER says: partitions are about the
# keyspace layout.
export HT_TEST_CLUSTER=0
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_PARTITIONS=2
ht_start_stack --workers 0
ht_start_worker w0 --concurrency 1 # registers the types, then goes
ht_stop w0

part_of() { echo $((16#${1:31:5} & 1023)); }

# ---- under N=2: jobs canceled while queued (no worker runs) ---------------
old=()
for i in $(seq 6); do ht_submit '{"type": "echo"}'; old+=("$HT_JOB"); done
p0='' p1=''
for id in "${old[@]}"; do
    ht_http DELETE "/v1/jobs/$id"
    assert_status 200 "cancel of a queued job"
    case $(part_of "$id") in 0) p0=$id ;; 1) p1=$id ;; esac
done
[[ -n "$p0" && -n "$p1" ]] || fail "round-robin left a partition of 2 empty"
assert_eq "$("$HT_CLI_BIN" job-key "$p0")" "ht:{default.p0}:job:$p0" "0 of 2 is default.p0" \
    2>/dev/null

# ---- an N=3 api: 0 of 3 is default.p0 too ----------------------------------
ht_stop api
export HANGTIGHT_PARTITIONS=3
ht_start_api
assert_eq "$(ht_redis SMEMBERS 'ht:partitions:{default}' | sort -n | tr '\n' ' ')" "2 3 " \
    "both Ns recorded"
new=()
for i in $(seq 6); do ht_submit '{"type": "echo"}'; new+=("$HT_JOB"); done
for id in "${new[@]}"; do
    [[ $(part_of "$id") != 0 ]] && continue
    assert_eq "$("$HT_CLI_BIN" job-key "$id")" "ht:{default.p0}:job:$id" "0 of 3 is default.p0" \
        2>/dev/null
done
ht_http POST "/v1/jobs/$p0/retry"
assert_status 202 "retry of an N=2 job in the shared partition (was 409 'no longer served')"
assert_json .status queued
ht_http POST "/v1/jobs/$p1/retry"
assert_status 202 "retry of an N=2 job in its own partition"

# ---- one listing paged by an N=3 and an N=2 api in turn ---------------------
ht_start_api --name api2 --partitions 2
api3=$HT_URL
api2=$(ht_api_url api2)
declare -A seen=()
total=0 pages=0 path="/v1/jobs?limit=2"
while [[ -n "$path" ]]; do
    HT_URL=$([[ $((pages % 2)) == 0 ]] && echo "$api3" || echo "$api2")
    ht_http GET "$path"
    assert_status 200 "page $pages"
    for id in $(ht_json '.jobs[].id'); do
        [[ -z "${seen[$id]:-}" ]] || fail "job $id listed twice (page $pages from $HT_URL)"
        seen[$id]=1
        total=$((total + 1))
    done
    pages=$((pages + 1))
    ((pages < 40)) || fail "the listing does not end"
    path=$(ht_json '.links.next // empty')
done
HT_URL=$api3
assert_eq "$total" 12 "every job listed once over both apis"
ht_stop api2

# ---- retire ------------------------------------------------------------------
if err=$("$HT_CLI_BIN" partitions --partitions 5 --retire 2 2>&1); then
    fail "retire with an N no process runs with was allowed: $err"
fi
assert_match "$err" 'N=5 is not recorded' "why: --partitions must be recorded"
if err=$("$HT_CLI_BIN" partitions --partitions 3 --retire 2 2>&1); then
    fail "retiring N=2 with work left was allowed: $err"
fi
assert_match "$err" 'partition 1/2' "N=2's own partition holds work"
[[ "$err" != *"partition 0/2"* ]] || fail "the shared partition counted as N=2's: $err"
