#!/usr/bin/env bash
# GET /v1/jobs: newest first, cursor paging without gaps or repeats, status
# and type filters, pages cut at about 1 MiB of results, and 400 for bad
# parameters.
source "$(dirname "$0")/lib.sh"

ht_start_stack --workers 0

# An empty listing.
ht_http GET /v1/jobs
assert_status 200 "empty listing"
assert_json '.jobs | length' 0
assert_json .next_cursor null
assert_json '.links.next' null

# 25 echo jobs and 5 fail jobs, submitted back to back (many share a
# millisecond, which the cursor must handle).
declare -A submitted=()
for i in $(seq 25); do
    ht_submit "{\"type\": \"echo\", \"payload\": {\"i\": $i}}"
    submitted[$HT_JOB]=echo
done
for i in $(seq 5); do
    ht_submit "{\"type\": \"fail\", \"max_attempts\": 1, \"payload\": {\"retry\": false}}"
    submitted[$HT_JOB]=fail
done

# Three pages of at most 12: every job exactly once, newest first.
seen=()
url="/v1/jobs?limit=12"
pages=0
while [[ -n "$url" ]]; do
    ht_http GET "$url"
    assert_status 200 "page $((pages + 1))"
    assert_match "$(ht_header Content-Type)" '^application/json' "listing Content-Type"
    pages=$((pages + 1))
    n=$(ht_json '.jobs | length')
    if ((pages < 3)); then
        assert_eq "$n" 12 "jobs on page $pages"
        assert_jq '.next_cursor | type == "string"' "next_cursor on page $pages"
        assert_match "$(ht_json .links.next)" '^/v1/jobs\?limit=12&cursor=' "links.next"
    else
        assert_eq "$n" 6 "jobs on the last page"
        assert_json .next_cursor null "next_cursor on the last page"
    fi
    assert_jq '[.jobs[].created_at] as $c | $c == ($c | sort | reverse)' \
        "newest first on page $pages"
    assert_jq 'all(.jobs[]; .links.self == "/v1/jobs/" + .id and .status == "queued")' \
        "documents on page $pages"
    while read -r id; do seen+=("$id"); done < <(ht_json '.jobs[].id')
    url=$(ht_json '.links.next // empty')
    ((pages <= 3)) || fail "more than 3 pages"
done
assert_eq "${#seen[@]}" 30 "jobs seen over all pages"
assert_eq "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" 30 "distinct jobs seen"
for id in "${seen[@]}"; do
    [[ -n "${submitted[$id]:-}" ]] || fail "listed a job never submitted: $id"
done

# The cursor as a client would send it, percent-encoded.
ht_http GET /v1/jobs?limit=2
c=$(ht_json .next_cursor)
second=$(ht_json '.jobs[1].id')
ht_http GET "/v1/jobs?limit=1&cursor=$(jq -rn --arg c "$c" '$c | @uri')"
assert_status 200 "percent-encoded cursor"
ht_http GET "/v1/jobs?limit=2"
assert_json '.jobs[1].id' "$second" "a page does not change between reads"

# Filters.
ht_http GET '/v1/jobs?type=fail&limit=100'
assert_status 200 "type filter"
assert_json '.jobs | length' 5
assert_jq 'all(.jobs[]; .type == "fail")' "only fail jobs"
ht_http GET '/v1/jobs?status=queued&limit=100'
assert_json '.jobs | length' 30 "queued jobs"
ht_http GET '/v1/jobs?status=failed'
assert_json '.jobs | length' 0 "failed jobs before any worker"

ht_start_worker w1 --concurrency 4
all_done() {
    ht_http GET '/v1/jobs?status=queued'
    [[ "$(ht_json '.jobs | length')" == 0 ]] || return 1
    ht_http GET '/v1/jobs?status=running'
    [[ "$(ht_json '.jobs | length')" == 0 ]]
}
wait_until 30 "every job ran" all_done
ht_http GET '/v1/jobs?status=failed&limit=100'
assert_json '.jobs | length' 5 "failed jobs (dead letters)"
assert_jq 'all(.jobs[]; .type == "fail" and .status == "failed" and
               .links.retry == "/v1/jobs/" + .id + "/retry")' "failed documents"
ht_http GET '/v1/jobs?status=succeeded&type=echo&limit=10'
assert_json '.jobs | length' 10 "succeeded echo jobs, first page"
assert_match "$(ht_json .links.next)" '^/v1/jobs\?status=succeeded&type=echo&limit=10&cursor=' \
    "links.next keeps the filters"
ht_http GET "$(ht_json .links.next)"
ht_http GET "$(ht_json .links.next)"
assert_json '.jobs | length' 5 "succeeded echo jobs, last page"
assert_json .next_cursor null
ht_http GET '/v1/jobs?status=succeeded&type=fail'
assert_json '.jobs | length' 0 "succeeded fail jobs"
ht_http GET '/v1/jobs?status=&type=&limit=100'
assert_json '.jobs | length' 30 "empty filters mean any"

# A page holds about 1 MiB of results at most (shared/library.lua,
# PAGE_BYTES): three echo jobs of a 600 KB result come one per page (with
# partitions, one per partition's share of a page), the cursor going on,
# none skipped or repeated.
python3 -c 'import json; print(json.dumps({"type": "echo", "payload": {"p": "r" * 600000}}))' \
    >"$HT_TMP/big.json"
big_ids=()
for i in 1 2 3; do
    ht_http POST /v1/jobs "" -H 'Content-Type: application/json' --data-binary @"$HT_TMP/big.json"
    assert_status 202 "a job of a 600 KB payload"
    big_ids+=("$(ht_json .id)")
done
for id in "${big_ids[@]}"; do
    wait_until 15 "the big job succeeds" ht_job_is "$id" succeeded
done
listed=()
url='/v1/jobs?limit=100'
for page in 1 2 3 4 5; do
    ht_http GET "$url"
    assert_status 200
    big_here=$(ht_json '[.jobs[] | select(.result.p != null)] | length')
    if [[ "${HT_TEST_CLUSTER:-0}" != 1 ]]; then
        ((big_here <= 1)) || fail "page $page holds $big_here results of 600 KB"
    fi
    mapfile -t -O "${#listed[@]}" listed < <(ht_json '.jobs[].id')
    url=$(ht_json '.links.next // empty')
    [[ -n "$url" ]] || break
done
[[ -z "$url" ]] || fail "more than 5 pages for 33 jobs"
assert_eq "$(printf '%s\n' "${listed[@]}" | sort | uniq -d | wc -l)" 0 "jobs listed twice"
assert_eq "${#listed[@]}" 33 "every job listed once"
for id in "${big_ids[@]}"; do
    printf '%s\n' "${listed[@]}" | grep -qx "$id" || fail "big job $id not listed"
done

# Bad parameters: 400 problem+json.
for q in 'status=bogus' 'status=Failed' 'limit=0' 'limit=101' 'limit=abc' 'limit=-1' \
    'limit=5x' 'type=BAD!' 'cursor=garbage' 'cursor=%zz' 'stauts=failed' 'cursor=12%00ab'; do
    ht_http GET "/v1/jobs?$q"
    assert_problem 400 "GET /v1/jobs?$q"
done

# Methods: the collection allows POST and GET.
ht_http PUT /v1/jobs
assert_problem 405 "PUT /v1/jobs"
assert_match "$(ht_header Allow)" 'POST' "Allow lists POST"
assert_match "$(ht_header Allow)" 'GET' "Allow lists GET"
