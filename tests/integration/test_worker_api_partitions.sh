#!/usr/bin/env bash
# The HTTP worker API's claims on a partitioned queue (HANGTIGHT_PARTITIONS=4,
# one redis-server) and priorities, with no hangtight-worker:
#  - claims drain every partition: 24 jobs spread over the partitions are
#    all claimed, each once, attempt 1;
#  - within a partition high comes before default before low (jobs of one
#    partition, found by their keys, claimed in that order whatever the
#    submit order);
#  - a held claim is woken by a submit into any partition (loose bound:
#    the waker visits the partitions' signal lists in turn);
#  - claim_next takes the next job of the completed job's partition.
export HT_TEST_CLUSTER=0
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_PARTITIONS=4 HANGTIGHT_LEASE_MS=30000
ht_start_stack --workers 0

claim() { ht_http POST /v1/worker/claim "$1"; }
tag_of() { local k; k=$(ht_job_key "$1") && sed -E 's/^ht:\{([^}]*)\}:.*/\1/' <<<"$k"; }
# 0 when the api holds N claims.
claims_held() {
    [[ "$(curl -s "$HT_URL/metrics" |
        awk '/^hangtight_api_held_requests\{kind="worker_claim"\}/ { print $2 }')" == "$1" ]]
}

claim '{"types": ["p.a"], "worker": "p1"}' # registers the type
assert_status 204 "the first claim"

# ---- every partition is drained ------------------------------------------------------
declare -A tag_of_id=()
for i in $(seq 1 24); do
    ht_submit "{\"type\": \"p.a\", \"payload\": {\"i\": $i}}"
    tag_of_id[$HT_JOB]=$(tag_of "$HT_JOB")
done
tags=$(printf '%s\n' "${tag_of_id[@]}" | sort -u | wc -l)
((tags >= 2)) || fail "24 jobs landed in $tags partition(s)"
seen=()
for _ in $(seq 1 24); do
    claim '{"types": ["p.a"], "worker": "p1"}'
    assert_status 200 "a claim of the backlog"
    assert_json .job.attempt 1
    id=$(ht_json .job.id)
    [[ -n "${tag_of_id[$id]-}" ]] || fail "claimed an unknown job $id"
    seen+=("$id")
    ht_http POST "/v1/worker/jobs/$id/complete" "{\"token\": \"$(ht_json .token)\"}"
    assert_status 200 "complete"
done
assert_eq "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" 24 "distinct jobs claimed"
claim '{"types": ["p.a"]}'
assert_status 204 "nothing left in any partition"
log "24 jobs over $tags partitions claimed once each"

# ---- priorities within a partition --------------------------------------------------------
# Submits until one partition holds a low, a default and a high job (in
# that submit order); then claims until those three came: high first.
declare -A lows=() defs=() highs=()
target=""
for i in $(seq 1 60); do
    case $((i % 3)) in
    1) prio=low ;;
    2) prio=default ;;
    0) prio=high ;;
    esac
    ht_submit "{\"type\": \"p.a\", \"priority\": \"$prio\"}"
    t=$(tag_of "$HT_JOB")
    if [[ $prio == low && -z "${lows[$t]-}" ]]; then
        lows[$t]=$HT_JOB
    elif [[ $prio == default && -n "${lows[$t]-}" && -z "${defs[$t]-}" ]]; then
        defs[$t]=$HT_JOB
    elif [[ $prio == high && -n "${defs[$t]-}" ]]; then
        highs[$t]=$HT_JOB
        target=$t
        break
    fi
done
[[ -n "$target" ]] || fail "no partition got a low, a default and a high job in 60 submits"
low=${lows[$target]} def=${defs[$target]} high=${highs[$target]}
order=()
while :; do
    claim '{"types": ["p.a"]}'
    [[ "$HTTP_STATUS" == 200 ]] || break
    id=$(ht_json .job.id)
    [[ "$id" == "$low" || "$id" == "$def" || "$id" == "$high" ]] && order+=("$id")
    ht_http POST "/v1/worker/jobs/$id/complete" "{\"token\": \"$(ht_json .token)\"}"
done
assert_eq "${order[*]}" "$high $def $low" "one partition's jobs by priority (high, default, low)"

# ---- a held claim is woken by a submit into any partition -----------------------------------
for round in 1 2 3 4; do
    curl -s -o "$HT_TMP/held.body" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
        --data-binary '{"types": ["p.a"], "wait_s": 40}' "$HT_URL/v1/worker/claim" >"$HT_TMP/held.status" &
    held=$!
    wait_until 10 "the claim is held" claims_held 1
    ht_submit '{"type": "p.a"}'
    W=$HT_JOB
    t0=$(ht_ms)
    wait "$held"
    took=$(($(ht_ms) - t0))
    assert_eq "$(cat "$HT_TMP/held.status")" 200 "round $round: the held claim's answer"
    assert_eq "$(jq -r .job.id "$HT_TMP/held.body")" "$W" "round $round: the held claim got the job"
    log "round $round: a held claim took a job of partition $(tag_of "$W") $took ms after its submit"
    # The waker blocks on each partition in turn for 200 ms; a busy machine's slack.
    ((took < 8000)) || fail "round $round: the held claim took $took ms to wake"
    ht_http POST "/v1/worker/jobs/$W/complete" "{\"token\": \"$(jq -r .token "$HT_TMP/held.body")\"}"
    assert_status 200
done

# ---- claim_next stays in the completed job's partition -------------------------------------
ht_submit '{"type": "p.a"}'
X=$HT_JOB
xt=$(tag_of "$X")
Y=""
for _ in $(seq 1 40); do
    ht_submit '{"type": "p.a"}'
    if [[ "$(tag_of "$HT_JOB")" == "$xt" ]]; then
        Y=$HT_JOB
        break
    fi
done
[[ -n "$Y" ]] || fail "no second job in partition $xt in 40 submits"
# Take X first: claim until it comes, completing the others.
while :; do
    claim '{"types": ["p.a"]}'
    assert_status 200 "a claim while looking for $X"
    id=$(ht_json .job.id)
    tok=$(ht_json .token)
    [[ "$id" == "$X" ]] && break
    [[ "$id" == "$Y" ]] && fail "$Y came before $X of the same partition"
    ht_http POST "/v1/worker/jobs/$id/complete" "{\"token\": \"$tok\"}"
done
ht_http POST "/v1/worker/jobs/$X/complete" "{\"token\": \"$tok\", \"claim_next\": {\"types\": [\"p.a\"]}}"
assert_status 200 "complete with claim_next"
assert_json .next.job.id "$Y" "claim_next took the next job of the same partition"

log "worker API on partitions: all checked"
