#!/usr/bin/env bash
# Partitioned queues (issue 10) on one redis-server with
# HANGTIGHT_PARTITIONS=6: submits spread over the 6 partitions' hash tags,
# ids name their partition (hangtight job-key), priorities, delays,
# idempotency, lease renewals, cancel, retry, long polls, sync submits and
# SSE work across partitions; the listing merges the partitions newest
# first with paging and refuses forged cursors; /v1/queues and /metrics
# add the partitions up; a worker drains all partitions, none starved.
# One redis-server whatever HT_TEST_CLUSTER says: partitions are about the
# keyspace layout, which one node shows plainly (the cluster runs of the
# other tests use HANGTIGHT_PARTITIONS=6 too).
export HT_TEST_CLUSTER=0
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_PARTITIONS=6
# A lease of 3 s, renewed every second (the renewals are tested below).
export HANGTIGHT_LEASE_MS=3000
ht_start_stack --workers 0
# A worker registers the built-in types, then goes: the backlog waits.
ht_start_worker w0 --concurrency 1
ht_stop w0

# tag of a job key "ht:{TAG}:job:ID"
tag_of() { sed -E 's/^ht:\{([^}]*)\}:.*/\1/' <<<"$1"; }

# submit_many N BODY [CURL-ARGS]: N submits in one curl; prints the ids in
# submit order (the machine is slow: fewer processes).
submit_many() {
    local n=$1 body=$2 urls=()
    shift 2
    for _ in $(seq "$n"); do urls+=("$HT_URL/v1/jobs"); done
    curl -s --max-time 60 -H 'Content-Type: application/json' --data-binary "$body" "$@" \
        "${urls[@]}" | jq -r .id
}

# ---- 60 jobs over 6 partitions ---------------------------------------------
mapfile -t ids < <(submit_many 60 '{"type": "echo"}')
assert_eq "${#ids[@]}" 60 "jobs submitted"
for id in "${ids[@]}"; do
    assert_match "$id" '^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "v8 id"
done
# Every job hash is where `hangtight job-key` says (a sample: the CLI is
# slow under sanitizers), and the partitions hold 60 in all.
for id in "${ids[@]:0:6}"; do
    key=$("$HT_CLI_BIN" job-key "$id")
    assert_eq "$(ht_redis EXISTS "$key")" 1 "job hash at $key"
done
declare -A per_tag=()
while read -r key; do
    tag=$(tag_of "$key")
    per_tag[$tag]=$((${per_tag[$tag]:-0} + 1))
done < <(ht_redis --scan --pattern 'ht:*:job:*' | grep -Ev ':(log|ev)$')
log "jobs per partition tag: $(for t in "${!per_tag[@]}"; do printf '%s=%s ' "$t" "${per_tag[$t]}"; done)"
assert_eq "${#per_tag[@]}" 6 "partitions holding jobs"
for t in "${!per_tag[@]}"; do
    assert_match "$t" '^default\.p[0-5](-[0-9]+)?$' "partition tag"
    ((per_tag[$t] >= 5)) || fail "partition $t got only ${per_tag[$t]} of 60 jobs"
    assert_eq "$(ht_redis HGET "ht:{$t}:depth" default)" "${per_tag[$t]}" "queued in $t"
done
assert_eq "$(ht_redis EXISTS 'ht:{default}:depth')" 0 "nothing in the unpartitioned keys"
assert_eq "$(ht_redis SMEMBERS 'ht:partitions:{default}')" 6 "recorded N"

# GET of a job of every partition.
for id in "${ids[@]:0:6}"; do
    ht_http GET "/v1/jobs/$id"
    assert_status 200 "GET $id"
    assert_json .status queued
done
ht_http GET /v1/jobs/0f8fad5b-d9cb-869f-a165-708677201005 # v8 with i >= N: no id of ours
assert_problem 404 "an impossible v8 id"

# /v1/queues and /metrics add the partitions up.
ht_http GET /v1/queues
assert_status 200 "queues"
assert_json '.queues[0].queued.default' 60
assert_json '.queues[0].totals.submitted' 60
ht_http GET /metrics
assert_status 200 "metrics"
assert_match "$(grep -E '^hangtight_queue_depth\{priority="default"\}' <<<"$HTTP_BODY")" ' 60$' \
    "queue depth in /metrics"

# ---- the listing merges the partitions -------------------------------------
seen=()
url="/v1/jobs?limit=7"
pages=0
all_created=()
while [[ -n "$url" ]]; do
    ht_http GET "$url"
    assert_status 200 "page $((pages + 1))"
    pages=$((pages + 1))
    ((pages <= 10)) || fail "more than 9 pages for 60 jobs of 7"
    n=$(ht_json '.jobs | length')
    [[ -z "$(ht_json '.links.next // empty')" ]] || assert_eq "$n" 7 "jobs on page $pages"
    while read -r id; do seen+=("$id"); done < <(ht_json '.jobs[].id')
    while read -r c; do all_created+=("$c"); done < <(ht_json '.jobs[].created_at')
    url=$(ht_json '.links.next // empty')
done
assert_eq "${#seen[@]}" 60 "jobs over all pages"
assert_eq "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" 60 "distinct jobs over all pages"
sorted=$(printf '%s\n' "${all_created[@]}" | sort -r)
assert_eq "$(printf '%s\n' "${all_created[@]}")" "$sorted" "newest first across pages"
# (jobs of the same millisecond are ordered by id, as in one partition)

# Forged and mangled cursors: 400 problems, never a crash or a 5xx.
ht_http GET "/v1/jobs?limit=7"
cursor=$(ht_json .next_cursor)
for bad in AAAA '!!' 'AQ' 'ASAAAA' "${cursor}x" "${cursor:0:10}" "${cursor//A/B}" \
    '1:not-an-id' "$(printf 'A%.0s' $(seq 3000))"; do
    ht_http GET "/v1/jobs?limit=7&cursor=$bad"
    [[ "$HTTP_STATUS" == 400 || "$HTTP_STATUS" == 200 ]] ||
        fail "cursor '$bad': expected 400 (or a page), got $HTTP_STATUS $HTTP_BODY"
    [[ "$HTTP_STATUS" == 200 ]] || assert_problem 400 "forged cursor"
done
ht_http GET "/v1/jobs?limit=7&cursor=AAAA"
assert_problem 400 "a cursor of another version"
# An unpartitioned listing's cursor ("score:id") still pages.
ht_http GET "/v1/jobs?limit=5&cursor=9999999999999:${ids[0]}"
assert_status 200 "plain cursor"
assert_json '.jobs | length' 5

# ---- one worker drains every partition, none starved -------------------
ht_start_worker w1 --concurrency 4
wait_until 60 "all 60 jobs done" bash -c "
    n=0
    for t in ${!per_tag[*]}; do
        n=\$((n + \$(redis-cli -p $HT_REDIS_PORT ZCARD \"ht:{\$t}:t:default:status:succeeded\")))
    done
    ((n == 60))"
for t in "${!per_tag[@]}"; do
    assert_eq "$(ht_redis ZCARD "ht:{$t}:t:default:status:succeeded")" "${per_tag[$t]}" \
        "succeeded in partition $t"
done
ht_http GET "/v1/jobs?status=succeeded&limit=100"
assert_json '.jobs | length' 60 "succeeded listing"

# ---- priorities within partitions --------------------------------------
# With one slot, in every partition the high jobs start before the low ones
# submitted before them.  Times are in ms, and the call that finishes a job
# also starts the next (ht_complete with the claim's keys), often within
# the same ms: the last high and the first low may share a started_at,
# never the other way round.
ht_stop w1
mapfile -t lows < <(submit_many 12 '{"type": "echo", "priority": "low"}')
mapfile -t highs < <(submit_many 12 '{"type": "echo", "priority": "high"}')
ht_start_worker w2 --concurrency 1
for id in "${lows[@]}" "${highs[@]}"; do
    wait_until 20 "$id done" ht_job_is "$id" succeeded
done
ht_http GET "/v1/jobs?status=succeeded&limit=100"
assert_jq '[.jobs[] | select(.priority != "default")] | length == 24' "24 prioritised jobs listed"
assert_jq '[.jobs[] | select(.priority != "default")] | group_by(.id[31:]) |
    all(.[]; ([.[] | select(.priority == "high") | .started_at] | max) <=
             ([.[] | select(.priority == "low") | .started_at] | min))' \
    "high before low in every partition"

# ---- delays, idempotency, lease renewals --------------------------------
delayed=()
for i in $(seq 6); do
    ht_submit '{"type": "echo", "delay_s": 1}'
    assert_json .status scheduled
    delayed+=("$HT_JOB")
done
ht_http POST /v1/jobs '{"type": "echo", "payload": {"k": 1}}' -H 'Idempotency-Key: order-1'
assert_status 202 "keyed submit"
first=$(ht_json .id)
ht_http POST /v1/jobs '{"type": "echo", "payload": {"k": 1}}' -H 'Idempotency-Key: order-1'
assert_json .id "$first" "replayed id"
ht_http POST /v1/jobs '{"type": "echo", "payload": {"k": 2}}' -H 'Idempotency-Key: order-1'
assert_problem 422 "the key with another body"
# The partition is the id's last 20 bits' low 10 (shared/id.h).
declare -A idem_parts=()
for i in $(seq 12); do
    ht_http POST /v1/jobs '{"type": "echo"}' -H "Idempotency-Key: k-$i"
    assert_status 202 "keyed submit $i"
    id=$(ht_json .id)
    idem_parts[$((16#${id:31:5} & 1023))]=1
    ht_http POST /v1/jobs '{"type": "echo"}' -H "Idempotency-Key: k-$i"
    assert_json .id "$id" "replay of key k-$i"
done
((${#idem_parts[@]} >= 3)) || fail "12 idempotency keys landed in only ${#idem_parts[@]} partitions"
# A 2.5 s job is renewed about every second: renewals with the wrong
# partition's keys would lose the lease and the job.
ht_submit '{"type": "sleep", "payload": {"ms": 2500}}'
slow=$HT_JOB
for id in "${delayed[@]}"; do wait_until 15 "delayed $id done" ht_job_is "$id" succeeded; done
wait_until 15 "the slow job done" ht_job_is "$slow" succeeded
assert_json .attempt 1 "the slow job ran once"

# ---- long poll, sync submit and SSE hear every partition's channel ------
ht_stop w2
mapfile -t held < <(submit_many 6 '{"type": "echo"}')
pids=()
for id in "${held[@]}"; do
    ht_http GET "/v1/jobs/$id"
    etag=$(ht_header ETag) # here: the background command would read it late
    curl -s --max-time 20 -o "$HT_TMP/poll.$id" -H "If-None-Match: $etag" \
        -H 'Prefer: wait=15' "$HT_URL/v1/jobs/$id" &
    pids+=($!)
done
curl -sN --max-time 8 "$HT_URL/v1/jobs/${held[5]}/events" >"$HT_TMP/sse" &
pids+=($!)
held() {
    ht_http GET /metrics
    grep -q '^hangtight_api_held_requests{kind="long_poll"} 6$' <<<"$HTTP_BODY" &&
        grep -q '^hangtight_api_sse_streams 1$' <<<"$HTTP_BODY"
}
wait_until 10 "the api holds the 6 long polls and the stream" held
ht_start_worker w3 --concurrency 2
wait "${pids[@]}" || true # the SSE stream ends by its timeout
# A long poll answers the first change (the claim): heard on the channel
# of the job's partition.
for id in "${held[@]}"; do
    [[ "$(jq -r .status "$HT_TMP/poll.$id" 2>/dev/null)" =~ ^(running|succeeded)$ ]] ||
        fail "long poll of $id did not see the job change: $(cat "$HT_TMP/poll.$id")"
done
grep -q succeeded "$HT_TMP/sse" || fail "SSE stream saw no success: $(cat "$HT_TMP/sse")"
ht_http POST /v1/jobs '{"type": "echo", "payload": {"sync": true}}' -H 'Prefer: wait=10'
assert_status 200 "sync submit"
assert_json .status succeeded

# ---- cancel and retry --------------------------------------------------
ht_submit '{"type": "echo", "delay_s": 60}'
ht_http DELETE "/v1/jobs/$HT_JOB"
assert_status 200 "cancel a scheduled job"
assert_json .status canceled
ht_submit '{"type": "sleep", "payload": {"ms": 20000}}'
running=$HT_JOB
wait_until 10 "the sleeper runs" ht_job_is "$running" running
ht_http DELETE "/v1/jobs/$running"
assert_status 202 "cancel a running job"
wait_until 10 "the sleeper canceled" ht_job_is "$running" canceled
ht_http POST "/v1/jobs/$running/retry"
assert_status 202 "retry a canceled job"
# an idle slot blocked on that partition may claim it before the answer
assert_match "$(ht_json .status)" '^(queued|running)$' "the retried job queued again"
wait_until 10 "the retried sleeper runs" ht_job_is "$running" running
ht_submit '{"type": "fail", "max_attempts": 1, "payload": {"retry": false}}'
failing=$HT_JOB
wait_until 10 "the fail job failed" ht_job_is "$failing" failed
ht_http POST "/v1/jobs/$failing/retry"
assert_status 202 "retry a failed job"
wait_until 10 "the retried job ran and failed again" bash -c \
    "curl -s $HT_URL/v1/jobs/$failing | jq -e '.status == \"failed\" and .attempt == 1 and .finished_at != null' >/dev/null &&
     [[ \$(redis-cli -p $HT_REDIS_PORT HGET \"\$($HT_CLI_BIN job-key $failing)\" version) -gt 4 ]]"
ht_http DELETE "/v1/jobs/$running"

# ---- the CLI report ------------------------------------------------------
out=$("$HT_CLI_BIN" partitions)
log "$out"
assert_eq "$(grep -c '^  [0-5]/6 ' <<<"$out")" 6 "partitions listed"
