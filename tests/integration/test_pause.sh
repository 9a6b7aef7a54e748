#!/usr/bin/env bash
# Pause and resume (operator), of the whole queue and of one type, with the
# CLI (hangtight pause|resume [--type T], HANGTIGHT_OPERATOR_KEY): running
# jobs finish, nothing new starts, submits are still accepted, the pause
# shows in GET /v1/queues and /metrics, and resume drains what waited.
source "$(dirname "$0")/lib.sh"

ACME_KEY=acme-key-0123456789abcdef
OPS_KEY=ops-key-0123456789abcdef0123
printf 'acme:%s\n' "$ACME_KEY" >"$HT_TMP/keys"
printf 'ops:%s\n' "$OPS_KEY" >"$HT_TMP/operators"
ht_start_stack --workers 2 --worker-args --concurrency 2 \
    --api-args --api-keys-file "$HT_TMP/keys" --operator-keys-file "$HT_TMP/operators"
acme=(-H "Authorization: Bearer $ACME_KEY")
ops=(-H "Authorization: Bearer $OPS_KEY")
export HANGTIGHT_API_KEY=$ACME_KEY HANGTIGHT_OPERATOR_KEY=$OPS_KEY
cli() { "$HT_CLI_BIN" "$@"; }
job_is() {
    ht_http GET "/v1/jobs/$1" "" "${acme[@]}"
    [[ "$HTTP_STATUS" == 200 ]] || fail "GET job $1: $HTTP_STATUS $HTTP_BODY"
    [[ "$(ht_json .status)" == "$2" ]]
}
metric() { ht_http GET /metrics "" "${ops[@]}"; awk -v k="$1" '$1 == k { print $2 }' <<<"$HTTP_BODY"; }
queue() { ht_http GET /v1/queues "" "${ops[@]}"; ht_json ".queues[0].$1"; }

# Without the operator key the CLI is refused.
HANGTIGHT_OPERATOR_KEY= cli pause 2>"$HT_TMP/refused.err" && fail "pause with a tenant key succeeded"
assert_match "$(cat "$HT_TMP/refused.err")" '403|operator key' "the CLI says why"

# ---- the queue ----------------------------------------------------------------
running=()
for i in 1 2; do
    ht_submit '{"type": "sleep", "payload": {"ms": 2500, "steps": 5}}' "${acme[@]}"
    running+=("$HT_JOB")
done
for id in "${running[@]}"; do
    wait_until 20 "job $id runs" job_is "$id" running
done
assert_eq "$(cli pause)" "queue default paused" "hangtight pause"
assert_eq "$(queue paused)" true "GET /v1/queues: paused"
assert_eq "$(metric hangtight_queue_paused)" 1 "hangtight_queue_paused"
waiting=()
for i in 1 2 3; do
    ht_submit "{\"type\": \"echo\", \"payload\": {\"n\": $i}}" "${acme[@]}"
    assert_json .status queued "a submit while paused is accepted"
    waiting+=("$HT_JOB")
done
# The running jobs finish; their workers' outcome calls claim the next job
# in the same call, and find nothing: that is the chance the waiting jobs
# had to start.
for id in "${running[@]}"; do
    wait_until 20 "running job $id finishes while paused" job_is "$id" succeeded
done
ht_submit '{"type": "echo", "payload": {"after": "the running ones"}}' "${acme[@]}"
waiting+=("$HT_JOB")
for id in "${waiting[@]}"; do
    ht_http GET "/v1/jobs/$id" "" "${acme[@]}"
    assert_json .status queued "job $id while paused"
    assert_json .attempt 0 "job $id never started"
done
assert_eq "$(queue 'queued.default')" 4 "depth while paused"
assert_eq "$(cli pause)" "queue default paused" "pause again: idempotent"

assert_eq "$(cli resume)" "queue default resumed" "hangtight resume"
assert_eq "$(queue paused)" false "GET /v1/queues: resumed"
assert_eq "$(metric hangtight_queue_paused)" 0 "hangtight_queue_paused after resume"
for id in "${waiting[@]}"; do
    wait_until 20 "job $id runs once resumed" job_is "$id" succeeded
done

# ---- one type ---------------------------------------------------------------------
ht_submit '{"type": "sleep", "payload": {"ms": 2000, "steps": 4}}' "${acme[@]}"
sleeper=$HT_JOB
wait_until 20 "the sleep job runs" job_is "$sleeper" running
assert_eq "$(cli pause --type sleep)" "type sleep paused" "hangtight pause --type sleep"
assert_eq "$(queue paused)" false "the queue itself is not paused"
assert_eq "$(queue 'paused_types | join(",")')" sleep "GET /v1/queues: paused_types"
assert_eq "$(metric 'hangtight_type_paused{type="sleep"}')" 1 "hangtight_type_paused"
ht_submit '{"type": "sleep", "payload": {"ms": 10}}' "${acme[@]}"
held=$HT_JOB
others=()
for i in 1 2 3; do
    ht_submit "{\"type\": \"echo\", \"payload\": {\"t\": $i}}" "${acme[@]}"
    others+=("$HT_JOB")
done
for id in "${others[@]}"; do
    wait_until 20 "echo job $id runs while sleep is paused" job_is "$id" succeeded
done
wait_until 20 "the running sleep job finishes" job_is "$sleeper" succeeded
ht_http GET "/v1/jobs/$held" "" "${acme[@]}"
assert_json .status queued "the sleep job submitted while its type is paused"
assert_json .attempt 0
cli pause --type nosuch.type 2>"$HT_TMP/type.err" && fail "pause of an unknown type succeeded"
assert_match "$(cat "$HT_TMP/type.err")" 'nosuch.type' "the CLI names the type"
assert_eq "$(cli resume --type sleep)" "type sleep resumed" "hangtight resume --type sleep"
wait_until 20 "the held sleep job runs once its type is resumed" job_is "$held" succeeded
assert_eq "$(queue 'paused_types | length')" 0 "no paused type left"
ht_http GET /metrics "" "${ops[@]}"
assert_eq "$(grep -c '^hangtight_type_paused{' <<<"$HTTP_BODY")" 0 "no hangtight_type_paused sample left"
