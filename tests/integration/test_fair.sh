#!/usr/bin/env bash
# Fair claims across tenants (docs/fairness.md): tenant A has 10,000 queued
# jobs, then tenant B submits one of the same type and priority: B's job is
# among the next 2 claims of its partition (the bound for 2 tenants of
# weight 1: A's turn, then B's), with 1 worker and with 3, and A's backlog
# is still there.  Measured two ways on the partition's fencing counter
# (every claim takes the next token):
#   - exact: with the queue paused nothing is claimed, so the counter read
#     after B's submit is the last claim before it; B's token - that <= 2;
#   - live, no pause: the counter read right after the 202 may already
#     count claims made after the submit, so B's token - it <= 2 holds
#     whenever the bound holds (and fails by thousands when B waits behind
#     A's backlog, as a FIFO does).
# A lone tenant takes every free slot.  Weights: a tenant of weight 3 gets
# 3 claims for another's 1 (deficit round-robin), exactly, in claim order.
# test_fair_partitions.sh runs this with HANGTIGHT_PARTITIONS=6 (the bound
# is per partition: a partition's claims take turns among its tenants).
source "$(dirname "$0")/lib.sh"
if [[ -n "${HT_FAIR_PARTITIONS:-}" ]]; then export HANGTIGHT_PARTITIONS=$HT_FAIR_PARTITIONS; fi

BACKLOG=${HT_FAIR_BACKLOG:-10000}
BOUND=2
A_KEY=tenant-a-key-0123456789abcdef B_KEY=tenant-b-key-0123456789abcdef
C_KEY=tenant-c-key-0123456789abcdef D_KEY=tenant-d-key-0123456789abcdef
OPS_KEY=ops-key-0123456789abcdef0123
printf 'a:%s\nb:%s\nc:%s\nd:%s\n' "$A_KEY" "$B_KEY" "$C_KEY" "$D_KEY" >"$HT_TMP/keys"
printf 'ops:%s\n' "$OPS_KEY" >"$HT_TMP/operators"
ht_start_stack --workers 0 --api-args --api-keys-file "$HT_TMP/keys" \
    --operator-keys-file "$HT_TMP/operators"
ops=(-H "Authorization: Bearer $OPS_KEY")
# A worker registers the built-in types, then goes: the backlogs wait.
ht_start_worker w0 --concurrency 1
ht_stop w0
PARTS=${HANGTIGHT_PARTITIONS:-1}

job_of() { # ID KEY: GET as that tenant into HTTP_BODY
    ht_http GET "/v1/jobs/$1" "" -H "Authorization: Bearer $2"
    [[ "$HTTP_STATUS" == 200 ]] || fail "GET job $1: $HTTP_STATUS $HTTP_BODY"
}
job_is() { job_of "$1" "$3" && [[ "$(ht_json .status)" == "$2" ]]; }
submit_as() { ht_submit "$2" -H "Authorization: Bearer $1"; }
operator() { ht_http POST "/v1/queues/default/$1" "" "${ops[@]}"; assert_status 200 "$1"; }
queued_total() { ht_http GET /v1/queues "" "${ops[@]}"; ht_json '.queues[0].queued.default'; }

# ---- weights: 3 claims of C for 1 of D, in claim order --------------------------
if ((PARTS == 1)); then
    ht_http PUT /v1/limits/tenants/c '{"weight": 3}' "${ops[@]}"
    assert_status 200 "c's weight"
    ids=()
    for i in $(seq 24); do submit_as "$C_KEY" '{"type": "echo", "payload": {}}'; ids+=("c:$HT_JOB"); done
    for i in $(seq 16); do submit_as "$D_KEY" '{"type": "echo", "payload": {}}'; ids+=("d:$HT_JOB"); done
    ht_start_worker w1 --concurrency 1
    for e in "${ids[@]}"; do
        key=$C_KEY
        [[ ${e%%:*} == d ]] && key=$D_KEY
        wait_until 30 "job ${e#*:} runs" job_is "${e#*:}" succeeded "$key"
    done
    order=$(for e in "${ids[@]}"; do
        printf '%s %s\n' "$(ht_job_hget "${e#*:}" token)" "${e%%:*}"
    done | sort -n | awk '{ printf "%s", $2 }')
    assert_eq "$order" "cccdcccdcccdcccdcccdcccdcccdcccddddddddd" \
        "claim order of c (weight 3) and d (weight 1)"
    ht_stop w1
    ht_http DELETE /v1/limits/tenants/c "" "${ops[@]}"
fi

# ---- A's backlog ------------------------------------------------------------------
# A's jobs take 200 ms each: the backlog outlasts the test many times over.
t0=$(ht_ms)
made=$(python3 "$HT_CLIENTS_DIR/bulk_submit.py" "$HT_URL" "$A_KEY" "$BACKLOG" \
    '{"type": "sleep", "payload": {"ms": 200}}' 4) || fail "the backlog submit failed: $made"
assert_eq "$made" "$BACKLOG" "A's jobs accepted"
log "A submitted $BACKLOG jobs in $(($(ht_ms) - t0)) ms"
assert_eq "$(queued_total)" "$BACKLOG" "A's backlog queued"

# A lone tenant takes every free slot.
ht_start_worker w1 --concurrency 4
all_slots() { ht_http GET /v1/queues "" "${ops[@]}"; [[ "$(ht_json '.queues[0].running')" == 4 ]]; }
wait_until 30 "A alone runs in all 4 slots" all_slots

# b_turn LABEL: one job of B, measured both ways (see the header).
b_turn() {
    local label=$1 id fence token
    # Live: the workers claim A's jobs all along.
    submit_as "$B_KEY" '{"type": "sleep", "payload": {"ms": 1}}'
    id=$HT_JOB
    fence=$(ht_redis GET "$(ht_job_tag_key "$id" fence)")
    fence=${fence:-0} # no claim in that partition yet
    wait_until 30 "B's job runs ($label, live)" job_is "$id" succeeded "$B_KEY"
    token=$(ht_job_hget "$id" token)
    log "$label, live: B's job took token $token, the partition's counter was at $fence after its 202"
    ((token - fence <= BOUND)) ||
        fail "$label, live: B's job was claim $((token - fence)) after its submit (bound $BOUND)"
    # Exact: nothing is claimed while paused.
    operator pause
    submit_as "$B_KEY" '{"type": "sleep", "payload": {"ms": 1}}'
    id=$HT_JOB
    fence=$(ht_redis GET "$(ht_job_tag_key "$id" fence)")
    fence=${fence:-0} # no claim in that partition yet
    operator resume
    wait_until 30 "B's job runs ($label, exact)" job_is "$id" succeeded "$B_KEY"
    token=$(ht_job_hget "$id" token)
    log "$label, exact: B's job took token $token, the last claim before it was $fence"
    ((token > fence)) || fail "$label, exact: token $token not after $fence: a claim while paused"
    ((token - fence <= BOUND)) ||
        fail "$label, exact: B's job was claim $((token - fence)) after its submit (bound $BOUND)"
}

b_turn "1 worker"
ht_start_worker w2 --concurrency 4
ht_start_worker w3 --concurrency 4
many_slots() { ht_http GET /v1/queues "" "${ops[@]}"; [[ "$(ht_json '.queues[0].running')" == 12 ]]; }
wait_until 30 "A alone runs in all 12 slots of 3 workers" many_slots
b_turn "3 workers"
b_turn "3 workers, again"
left=$(queued_total)
log "A's jobs still queued: $left of $BACKLOG"
((left >= BACKLOG * 8 / 10)) || fail "A's backlog ran down to $left: B did not compete with it"
