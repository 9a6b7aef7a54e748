#!/usr/bin/env bash
# GET /v1/jobs over jobs that wait in several lists: a submitted job is
# listed from its tenant's wait list (one per priority and type), a job
# queued again (a retry by hand) from status:queued, the others from their
# status index.  Every page size walks them all once, in (created_at, id)
# descending order, with and without status and type filters.
source "$(dirname "$0")/lib.sh"

# The running job must stay running however slow the machine: its lease is
# the longest the api allows (its timeout_s, 300 s, then bounds it).
export HANGTIGHT_LEASE_MS=600000
ht_start_stack --workers 0

claim() { ht_http POST /v1/worker/claim '{"types": ["lq.a", "lq.b"], "worker": "t1"}'; }
wcall() { ht_http POST "/v1/worker/jobs/$1/$2" "$3"; }
claim
assert_status 204 "the types are served (nothing queued yet)"

# Three lists: lq.a default, lq.b high, lq.a low, interleaved so that the
# newest jobs are spread over all three (many share a millisecond).
for i in $(seq 8); do
    ht_submit '{"type": "lq.a", "payload": {"i": '"$i"'}}'
    ht_submit '{"type": "lq.b", "priority": "high", "payload": {"i": '"$i"'}}'
    if ((i % 2 == 0)); then ht_submit '{"type": "lq.a", "priority": "low"}'; fi
done

# Four claims (high first: the lq.b jobs): one succeeds, two fail for good
# and are retried by hand (queued again, at the newest end of their list),
# one keeps running.  A queued job is canceled.
for n in 1 2 3 4; do
    claim
    assert_status 200 "claim $n"
    ids[n]=$(ht_json .job.id) tokens[n]=$(ht_json .token)
done
wcall "${ids[1]}" complete '{"token": "'"${tokens[1]}"'", "result": {}}'
assert_status 200 "complete"
for n in 2 3; do
    wcall "${ids[n]}" fail '{"token": "'"${tokens[n]}"'", "error": "no", "retry": false}'
    assert_status 200 "fail $n"
    ht_http POST "/v1/jobs/${ids[n]}/retry"
    assert_status 202 "retry by hand $n"
done
ht_http GET '/v1/jobs?status=queued&type=lq.a&limit=1'
canceled=$(ht_json '.jobs[0].id')
ht_http DELETE "/v1/jobs/$canceled"
assert_status 200 "cancel of a queued job"

# No job hash holds an id field (schema 19: the key names the job),
# whatever its state.  A job stored before (with the field) reads,
# lists and streams as the same document: one queued, one succeeded
# and one failed then retried are given the field and compared.
while read -r key; do
    assert_eq "$(ht_redis HEXISTS "$key" id)" 0 "no id field in $key"
done < <(ht_redis_each --masters --raw KEYS 'ht:{*}:job:*' | grep -E ':job:[^:]+$')
# sse_data ID: the data of the event stream of finished job ID (its
# document, read by ht_watch; the stream then ends).
sse_data() {
    curl -sN --max-time 20 "$HT_URL/v1/jobs/$1/events" | sed -n 's/^data: //p'
}
sse_before=$(sse_data "${ids[1]}")
jq -e --arg id "${ids[1]}" '.id == $id and .status == "succeeded"' <<<"$sse_before" >/dev/null ||
    fail "the event stream of ${ids[1]}: $sse_before"
ht_http GET '/v1/jobs?status=queued&type=lq.b&limit=1'
old_shape=("$(ht_json '.jobs[0].id')" "${ids[1]}" "${ids[2]}")
for id in "${old_shape[@]}"; do
    ht_http GET "/v1/jobs/$id"
    assert_status 200 "GET of $id"
    new_doc=$(jq -S 'del(.queue_position)' <<<"$HTTP_BODY")
    st=$(ht_json .status)
    ht_http GET "/v1/jobs?status=$st&limit=100"
    new_row=$(jq -S --arg id "$id" '.jobs[] | select(.id == $id)' <<<"$HTTP_BODY")
    [[ -n "$new_row" ]] || fail "$id not listed as $st"
    assert_eq "$(ht_redis HSET "$(ht_job_key "$id")" id "$id")" 1 "id field given to $id"
    ht_http GET "/v1/jobs/$id"
    assert_status 200 "GET of $id with an id field"
    [[ "$(jq -S 'del(.queue_position)' <<<"$HTTP_BODY")" == "$new_doc" ]] ||
        fail "$id reads otherwise with an id field: $HTTP_BODY against $new_doc"
    ht_http GET "/v1/jobs?status=$st&limit=100"
    [[ "$(jq -S --arg id "$id" '.jobs[] | select(.id == $id)' <<<"$HTTP_BODY")" == "$new_row" ]] ||
        fail "$id lists otherwise with an id field: $HTTP_BODY against $new_row"
done
sse_after=$(sse_data "${ids[1]}")
[[ "$sse_after" == "$sse_before" ]] ||
    fail "the event stream of ${ids[1]} sends otherwise with an id field: $sse_after against $sse_before"
# The queued lq.a jobs get the field too: the walks below list both
# shapes, and the claim between two pages takes one of the old shape.
while read -r id; do
    if [[ "$(ht_job_hget "$id" type)" == lq.a && "$(ht_job_hget "$id" status)" == queued ]]; then
        assert_eq "$(ht_redis HSET "$(ht_job_key "$id")" id "$id")" 1 "id field given to $id"
    fi
done < <(ht_redis_each --masters --raw KEYS 'ht:{*}:job:*' | grep -E ':job:[^:]+$' | sed 's/.*:job://')

# The expected order, from Redis: every job's status, type, created_at.
while read -r key; do
    id=${key##*:}
    printf '%s %s %s %s\n' "$(ht_redis HGET "$key" created_at)" "$id" \
        "$(ht_redis HGET "$key" status)" "$(ht_redis HGET "$key" type)"
done < <(ht_redis_each --masters --raw KEYS 'ht:{*}:job:*' | grep -E ':job:[^:]+$') |
    LC_ALL=C sort -r >"$HT_TMP/all.txt"
assert_eq "$(wc -l <"$HT_TMP/all.txt")" 20 "jobs in Redis"
assert_eq "$(awk '$3 == "queued"' "$HT_TMP/all.txt" | wc -l)" 17 "queued jobs"

# walk_url URL: the ids of the page at URL and of every page after it, in
# order.
walk_url() {
    local url=$1 pages=0
    while [[ -n "$url" ]]; do
        ht_http GET "$url"
        assert_status 200 "GET $url"
        ht_json '.jobs[].id'
        url=$(ht_json '.links.next // empty')
        pages=$((pages + 1))
        ((pages <= 40)) || fail "more than 40 pages from $1"
    done
}
# walk QUERY LIMIT: the ids of every page of GET /v1/jobs?QUERY, in order.
walk() { walk_url "/v1/jobs?limit=$2${1:+&$1}"; }
for q in "" status=queued status=running status=succeeded type=lq.a "status=queued&type=lq.b"; do
    st=$(sed -n 's/.*status=\([a-z]*\).*/\1/p' <<<"$q")
    ty=$(sed -n 's/.*type=\([a-z.]*\).*/\1/p' <<<"$q")
    awk -v s="$st" -v t="$ty" '(s == "" || $3 == s) && (t == "" || $4 == t) { print $2 }' \
        "$HT_TMP/all.txt" >"$HT_TMP/want.txt"
    for limit in 1 2 3 5 100; do
        walk "$q" "$limit" >"$HT_TMP/got.txt"
        diff "$HT_TMP/want.txt" "$HT_TMP/got.txt" >"$HT_TMP/diff.txt" ||
            fail "GET /v1/jobs?$q by $limit: not every job once, newest first: $(cat "$HT_TMP/diff.txt")"
    done
done

# Jobs that arrive during a walk are newer than its cursor: the walk goes
# on where it was, every job it had not reached listed once.
ht_http GET '/v1/jobs?status=queued&limit=4'
first=$(ht_json '[.jobs[].id] | join(" ")')
next=$(ht_json .links.next)
ht_submit '{"type": "lq.a"}'
new_a=$HT_JOB
ht_submit '{"type": "lq.b", "priority": "high"}'
{
    tr ' ' '\n' <<<"$first"
    walk_url "$next"
} >"$HT_TMP/got.txt"
awk '$3 == "queued" { print $2 }' "$HT_TMP/all.txt" >"$HT_TMP/want.txt"
diff "$HT_TMP/want.txt" "$HT_TMP/got.txt" >"$HT_TMP/diff.txt" ||
    fail "a walk with submits between its pages: $(cat "$HT_TMP/diff.txt")"

# A claim between two pages takes the oldest: the walk lists it no more
# (running is not walked) and the rest once.
ht_http GET '/v1/jobs?status=queued&type=lq.a&limit=3'
first=$(ht_json '[.jobs[].id] | join(" ")')
next=$(ht_json .links.next)
ht_http POST /v1/worker/claim '{"types": ["lq.a"], "worker": "t1"}'
assert_status 200 "a claim between two pages"
took=$(ht_json .job.id)
{
    tr ' ' '\n' <<<"$first"
    walk_url "$next"
} >"$HT_TMP/got.txt"
{
    echo "$new_a" # the newest
    awk -v took="$took" '$3 == "queued" && $4 == "lq.a" && $2 != took { print $2 }' "$HT_TMP/all.txt"
} >"$HT_TMP/want.txt"
diff "$HT_TMP/want.txt" "$HT_TMP/got.txt" >"$HT_TMP/diff.txt" ||
    fail "a walk with a claim between its pages: $(cat "$HT_TMP/diff.txt")"
