#!/usr/bin/env bash
# POST /v1/jobs/batch (docs/http-api.md): up to 1000 jobs in one request,
# answered in request order with each job's document or its own problem;
# a refused item does not fail the others; an item's idempotency_key
# replays its first job (within a batch and across batches, key order of
# the fields aside) and refuses other fields; the top level's problems
# (no jobs array, 0 or 1001 items, malformed JSON, not JSON, too large)
# fail the request; one ht_submit_many call per partition the items go to
# (with a cluster, HT_TEST_CLUSTER=1, the items spread over 6 partitions);
# the jobs are the tenant's and run; Redis down is a 503 with nothing
# stored.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys acme globex

# No worker at first: the only function calls Redis sees are the api's.
ht_start_stack --workers 0 --api-args --api-keys-file "$KEYS"

batch() { ht_http POST /v1/jobs/batch "$1" "${acme[@]}" "${@:2}"; }
# jobs_of N [FIELDS]: {"jobs": [N echo jobs]} with FIELDS (JSON members) in each.
jobs_of() {
    local extra=${2:-'{}'}
    jq -nc --argjson n "$1" --argjson extra "$extra" \
        '{jobs: [range($n) | {type: "echo", payload: {i: .}} + $extra]}'
}
job_is() {
    ht_http GET "/v1/jobs/$1" "" "${acme[@]}"
    assert_status 200 "GET job $1"
    [[ "$(ht_json .status)" == "$2" ]]
}
fcalls() {
    ht_redis_each --masters INFO commandstats |
        awk -F'[=,:]' '/^cmdstat_fcall:/ { n += $3 } END { print n + 0 }'
}
# The partition of a job id: its last 5 hex digits (shared/id.h; v4: 0 of 1).
partition_of() { [[ "${1:14:1}" == 8 ]] && echo "${1: -5}" || echo 0; }

# ---- 100 jobs, one call per partition ----------------------------------------

before=$(fcalls)
batch "$(jobs_of 100)"
assert_status 200 "a batch of 100"
after=$(fcalls)
assert_json '.jobs | length' 100 "one answer per job"
assert_jq 'all(.jobs[]; .status == "queued" and .type == "echo")' "every job queued"
assert_jq '[.jobs[].id] | unique | length == 100' "100 jobs"
mapfile -t IDS < <(ht_json '.jobs[].id')
parts=$(for id in "${IDS[@]}"; do partition_of "$id"; done | sort -u | wc -l)
log "100 jobs in $parts partition(s), $((after - before)) function call(s)"
assert_eq $((after - before)) "$parts" "one ht_submit_many per partition the items went to"
[[ "$HT_TEST_CLUSTER" != 1 ]] || ((parts > 1)) || fail "the items went to one partition of 6"
ht_http GET "/v1/jobs/${IDS[42]}" "" "${acme[@]}"
assert_status 200 "a job of the batch"
assert_json '.metadata | tojson' '{}'
ht_http GET "/v1/jobs/${IDS[42]}" "" "${globex[@]}"
assert_problem 404 "acme's batch job, for globex"

# ---- items refused on their own, in order --------------------------------------

batch '{"jobs": [
  {"type": "echo", "payload": {"n": 0}},
  {"type": "Bad Type"},
  {"type": "nobody.serves.this"},
  7,
  {"type": "echo", "max_attempts": 0, "ttl_s": -1},
  {"type": "echo", "idempotency_key": "k-1", "payload": {"a": 1, "b": 2}, "priority": "high"},
  {"type": "echo", "priority": "high", "payload": {"b": 2, "a": 1}, "idempotency_key": "k-1"},
  {"type": "echo", "idempotency_key": "k-1", "payload": {"a": 1, "b": 3}},
  {"type": "echo", "idempotency_key": 5},
  {"type": "echo", "idempotency_key": ""},
  {"type": "echo", "delay_s": 3600}
]}'
assert_status 200 "a batch with refused items"
assert_json '.jobs | length' 11
item() { jq -c ".jobs[$1]" <<<"$HTTP_BODY"; }
assert_jq '.jobs[0].status == "queued"' "item 0 created"
refused_at() { # refused_at I POINTER CODE STATUS
    jq -e --arg p "$2" --arg c "$3" --argjson s "$4" ".jobs[$1].error |
        .status == \$s and (.type | startswith(\"urn:hangtight:problem:\")) and
        any(.errors[]; .pointer == \$p and .code == \$c)" <<<"$HTTP_BODY" >/dev/null ||
        fail "item $1: not refused with $2 $3 ($4): $(item "$1")"
}
refused_at 1 /jobs/1/type invalid_format 422
refused_at 2 /jobs/2/type unknown_type 422
refused_at 3 /jobs/3 invalid_type 422
refused_at 4 /jobs/4/max_attempts out_of_range 422
refused_at 4 /jobs/4/ttl_s out_of_range 422
assert_jq '.jobs[5].priority == "high" and .jobs[5].status == "queued"' "item 5: keyed, created"
assert_json '.jobs[6].id' "$(ht_json '.jobs[5].id')" \
    "item 6: the same key and fields in another order replay item 5's job"
refused_at 7 /jobs/7/idempotency_key idempotency_key_reused 422
refused_at 8 /jobs/8/idempotency_key invalid_format 422
refused_at 9 /jobs/9/idempotency_key invalid_format 422
assert_jq '.jobs[10].status == "scheduled" and .jobs[10].run_at != null' "item 10: delayed"
KEYED=$(ht_json '.jobs[5].id')
# Across batches, the key still names its first job.
batch '{"jobs": [{"type": "echo", "idempotency_key": "k-1", "priority": "high", "payload": {"a": 1, "b": 2}},
                 {"type": "echo", "idempotency_key": "k-2"}]}'
assert_status 200
assert_json '.jobs[0].id' "$KEYED" "replayed in a later batch"
K2=$(ht_json '.jobs[1].id')
batch '{"jobs": [{"type": "echo", "idempotency_key": "k-2"}]}'
assert_json '.jobs[0].id' "$K2" "k-2 replayed"
ht_http POST /v1/jobs/batch '{"jobs": [{"type": "echo", "idempotency_key": "k-2"}]}' "${globex[@]}"
assert_status 200
assert_jq ".jobs[0].id != \"$K2\"" "another tenant's key of the same name is its own"

# ---- what fails the whole request -------------------------------------------------

top_refused() { # top_refused BODY STATUS [POINTER CODE]
    batch "$1"
    assert_problem "$2" "batch $1"
    (($# < 4)) || assert_jq "any(.errors[]; .pointer == \"$3\" and .code == \"$4\")" \
        "batch $1 names '$3' $4"
}
top_refused '{}' 422 /jobs required
top_refused '{"jobs": []}' 422 /jobs out_of_range
top_refused '{"jobs": 5}' 422 /jobs invalid_type
top_refused '{"jobs": {"type": "echo"}}' 422 /jobs invalid_type
top_refused '[{"type": "echo"}]' 422 "" invalid_type
top_refused '{"jobs": [{"type": "echo"}], "atomic": true}' 422 "" unknown_field
top_refused "$(jobs_of 1001)" 422 /jobs out_of_range
assert_match "$(ht_json '.errors[0].detail')" '1 to 1000 jobs, not 1001' "the limit named"
top_refused '{"jobs": [' 400
ht_http POST /v1/jobs/batch '' "${acme[@]}" -H 'Content-Type: text/plain' \
    --data-binary "$(jobs_of 1)"
assert_problem 415 "not JSON"
big=$(head -c 1100000 /dev/zero | tr '\0' a)
printf '{"jobs": [{"type": "echo", "payload": "%s"}]}' "$big" >"$HT_TMP/big.json"
ht_http POST /v1/jobs/batch '' "${acme[@]}" -H 'Content-Type: application/json' \
    --data-binary "@$HT_TMP/big.json"
assert_problem 413 "a body over HANGTIGHT_MAX_BODY_BYTES"
ht_http POST /v1/jobs/batch "$(jobs_of 1)"
assert_problem 401 "no key"
ht_http GET /v1/jobs/batch "" "${acme[@]}"
assert_problem 405 "GET /v1/jobs/batch: the batch route's, not a job id's"
assert_eq "$(ht_header Allow)" POST "Allow of /v1/jobs/batch"

# ---- 1000 jobs, then they run --------------------------------------------------------

batch "$(jobs_of 1000 '{"ttl_s": 600}')"
assert_status 200 "a batch of 1000"
assert_json '.jobs | length' 1000
assert_jq 'all(.jobs[]; .status == "queued" and .ttl_s == 600)' "1000 jobs queued"
assert_jq '[.jobs[].id] | unique | length == 1000' "1000 distinct jobs"
LAST=$(ht_json '.jobs[999].id')
FIRST=$(ht_json '.jobs[0].id')
ht_start_worker w1 --concurrency 8
# With several partitions the worker claims from each in turn: the first
# and the last job of the batch finish in either order.
wait_until 120 "the last job of the batch succeeds" job_is "$LAST" succeeded
wait_until 120 "the first job of the batch succeeds" job_is "$FIRST" succeeded
ht_http GET "/v1/jobs/$FIRST" "" "${acme[@]}"
assert_json .status succeeded
assert_json '.result | tojson' '{"i":0}' "the first job's own payload"
ht_http GET "/v1/jobs/$LAST" "" "${acme[@]}"
assert_json '.result | tojson' '{"i":999}' "the last job's own payload"

# ---- hangtight submit --batch ----------------------------------------------------

cli() { HANGTIGHT_URL=$HT_URL HANGTIGHT_API_KEY=$ACME_KEY "$HT_CLI_BIN" submit "$@"; }
jq -nc '[range(1500) | {type: "echo", payload: {c: .}}]' >"$HT_TMP/jobs.json"
out=$(cli --batch "$HT_TMP/jobs.json") || fail "submit --batch of an array"
assert_eq "$(jq '[.jobs[].status] | length' <<<"$out")" 1500 "1500 jobs in two requests"
assert_eq "$(jq '[.jobs[] | select(.error)] | length' <<<"$out")" 0 "none refused"
printf '{"type": "echo"}\n\n{"type": "sleep", "payload": {"ms": 1}}\n' |
    cli --batch - >"$HT_TMP/lines.out" || fail "submit --batch of lines on stdin"
assert_eq "$(jq -c '[.jobs[].type]' "$HT_TMP/lines.out")" '["echo","sleep"]' "one job a line"
set +e
out=$(printf '{"jobs": [{"type": "echo"}, {"type": "Bad"}]}' | cli --batch - 2>"$HT_TMP/err")
rc=$?
printf 'not json\n' | cli --batch - 2>/dev/null
rc_bad=$?
set -e
assert_eq "$rc" 1 "a refused item: exit 1"
assert_eq "$(jq -c '[.jobs[0].status, .jobs[1].error.status]' <<<"$out")" '["queued",422]' \
    "the created job and the refused one, in order"
assert_match "$(cat "$HT_TMP/err")" 'job 1 refused' "the refusal on stderr"
assert_eq "$rc_bad" 2 "a file that holds no jobs: usage"

# ---- Redis down -----------------------------------------------------------------------

ht_stop_redis
batch "$(jobs_of 5)"
assert_problem 503 "Redis down: nothing stored, the request fails"
log "ok"
