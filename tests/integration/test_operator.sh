#!/usr/bin/env bash
# The operator role: operator keys (HANGTIGHT_OPERATOR_KEYS_FILE, the same
# lines as the API keys file) reach every operator route (pause, resume,
# limits, the queue-wide view, /metrics) and no tenant route; tenant keys
# reach no operator route (403 problem+json on every one); a key in both
# files is refused at start; SIGHUP reloads the operator keys; with API
# keys but no operator keys nobody is an operator; bad limits are 4xx
# problems naming the field.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys acme globex
OPS_KEY=ops-key-0123456789abcdef0123
OPS_SHA=$(printf '%s' "$OPS_KEY" | sha256sum | cut -d' ' -f1)
printf '# operators\nops:sha256:%s\n' "$OPS_SHA" >"$HT_TMP/operators"

ht_start_stack --workers 0 --api-args --api-keys-file "$KEYS" \
    --operator-keys-file "$HT_TMP/operators"
ops=(-H "Authorization: Bearer $OPS_KEY")
json=(-H 'Content-Type: application/json')
grep -q '"operator keys loaded"' "${HT_LOGS[api]}" || fail "no 'operator keys loaded' log line"

# ---- who reaches what -------------------------------------------------------
OPERATOR_ROUTES=("POST /v1/queues/default/pause" "POST /v1/queues/default/resume" "GET /v1/limits"
    "PUT /v1/limits/tenants/acme" "DELETE /v1/limits/tenants/acme" "PUT /v1/limits/types/echo"
    "DELETE /v1/limits/types/echo" "GET /metrics")
for route in "${OPERATOR_ROUTES[@]}"; do
    for who in acme globex; do
        declare -n key=$who
        ht_http ${route% *} "${route#* }" '{"max_running": 1}' "${key[@]}" "${json[@]}"
        assert_problem 403 "$route with tenant $who's key"
        assert_match "$(ht_json .detail)" 'operator key' "$route: the detail says what is needed"
    done
    ht_http ${route% *} "${route#* }"
    assert_problem 401 "$route without a key"
done
log "every operator route refuses tenant keys (403) and no key (401)"

ht_submit '{"type": "echo", "delay_s": 600}' "${acme[@]}"
job=$HT_JOB
ht_submit '{"type": "echo", "delay_s": 600}' "${acme[@]}"
ht_submit '{"type": "echo", "delay_s": 600}' "${globex[@]}"
TENANT_ROUTES=("POST /v1/jobs" "GET /v1/jobs" "GET /v1/jobs/$job" "DELETE /v1/jobs/$job"
    "POST /v1/jobs/$job/retry" "GET /v1/jobs/$job/events" "POST /v1/webhook-secrets"
    "GET /v1/webhook-secrets")
for route in "${TENANT_ROUTES[@]}"; do
    ht_http ${route% *} "${route#* }" '{"type": "echo"}' "${ops[@]}" "${json[@]}"
    assert_problem 403 "$route with the operator's key"
    assert_match "$(ht_json .detail)" "not a tenant's key" "$route: the detail"
done
log "no tenant route takes the operator's key"
ht_http GET "/v1/jobs/$job" "" "${acme[@]}"
assert_json .status scheduled "the job is untouched"

# The queue-wide view: every tenant's jobs for the operator, the caller's
# own for a tenant.
ht_http GET /v1/queues "" "${ops[@]}"
assert_status 200 "GET /v1/queues with the operator's key"
assert_json '.queues[0].scheduled' 3 "every tenant's scheduled jobs"
assert_json '.queues[0].totals.submitted' 3 "every tenant's submits"
assert_json '.queues[0].paused' false
ht_http GET /v1/queues "" "${acme[@]}"
assert_json '.queues[0].scheduled' 2 "acme's own"
ht_http GET /v1/queues "" "${globex[@]}"
assert_json '.queues[0].scheduled' 1 "globex's own"

ht_http GET /metrics "" "${ops[@]}"
assert_status 200 "/metrics with the operator's key"
assert_match "$HTTP_BODY" 'hangtight_redis_up 1' "the metrics page"
assert_match "$HTTP_BODY" 'hangtight_queue_paused 0' "the pause gauge"

# ---- limits: what is refused, naming the field ------------------------------
put_tenant() { ht_http PUT "/v1/limits/tenants/$1" "$2" "${ops[@]}" "${json[@]}"; }
for bad in '{"max_running": 0}' '{"max_running": -3}' '{"max_queued": 0}' '{"weight": 0}' \
    '{"weight": 101}' '{"max_running": "2"}' '{"max_running": 1.5}'; do
    put_tenant acme "$bad"
    assert_problem 422 "tenant limits $bad"
    field=$(jq -r 'keys[0]' <<<"$bad")
    assert_jq "[.errors[].detail | startswith(\"$field:\")] | any" "the error names $field ($bad)"
done
put_tenant acme '{"max_priority": "urgent"}'
assert_problem 422 "a priority that is none"
assert_jq '[.errors[].detail | startswith("max_priority:")] | any' "names max_priority"
put_tenant acme '{"max_running": 2, "max_parallel": 4}'
assert_problem 422 "an unknown field"
assert_jq '[.errors[].code] | index("unknown_field") != null' "code unknown_field"
put_tenant nobody '{"max_running": 2}'
assert_problem 422 "a tenant with no key"
assert_jq '[.errors[].code] | index("unknown_tenant") != null' "code unknown_tenant"
put_tenant acme '{"max_running": 2'
assert_problem 400 "malformed JSON"
put_tenant acme '[1]'
assert_problem 422 "not an object"
ht_http PUT /v1/limits/tenants/acme '' "${ops[@]}" -H 'Content-Type: text/plain' \
    --data-binary '{"max_running": 2}'
assert_problem 415 "not JSON"
ht_http PUT /v1/limits/types/nosuch.type '{"max_running": 2}' "${ops[@]}" "${json[@]}"
assert_problem 422 "a type no worker serves"
assert_jq '[.errors[].code] | index("unknown_type") != null' "code unknown_type"
ht_http PUT /v1/limits/types/echo '{}' "${ops[@]}" "${json[@]}"
assert_problem 422 "a type cap without max_running"
ht_http PUT /v1/limits/types/echo '{"max_running": 0}' "${ops[@]}" "${json[@]}"
assert_problem 422 "a type cap of 0"
assert_jq '[.errors[].detail | startswith("max_running:")] | any' "names max_running"
ht_http POST /v1/queues/elsewhere/pause "" "${ops[@]}"
assert_problem 404 "a queue that does not exist"
ht_http POST '/v1/queues/default/pause?type=nosuch.type' "" "${ops[@]}"
assert_problem 422 "pause of a type no worker serves"
ht_http POST '/v1/queues/default/pause?kind=echo' "" "${ops[@]}"
assert_problem 422 "an unknown parameter"
ht_http GET /v1/limits "" "${ops[@]}"
assert_jq '.tenants == {} and .types == {}' "nothing was stored by the refused requests"

# ---- limits: set, read, removed ---------------------------------------------
put_tenant acme '{"max_queued": 50, "max_running": 3, "max_priority": "default", "weight": 2}'
assert_status 200 "acme's limits"
assert_jq '. == {"tenant": "acme", "max_queued": 50, "max_running": 3, "max_priority": "default",
                 "weight": 2}' "the answer"
ht_http PUT /v1/limits/types/echo '{"max_running": 4}' "${ops[@]}" "${json[@]}"
assert_status 200 "echo's cap"
assert_jq '. == {"type": "echo", "max_running": 4}' "the answer"
ht_http GET /v1/limits "" "${ops[@]}"
assert_status 200
assert_jq '.partitions == 1 and .tenants.acme.max_running == 3 and .tenants.acme.weight == 2
           and .types.echo.max_running == 4' "GET /v1/limits"
for f in tq:acme=50 tr:acme=3 tp:acme=default tw:acme=2 yr:echo=4 tenant_caps=1 weights=1; do
    assert_eq "$(ht_redis HGET 'ht:{default}:limits' "${f%%=*}")" "${f#*=}" "partition field ${f%%=*}"
done
put_tenant acme '{"max_running": 5}'
assert_status 200 "a PUT replaces"
assert_eq "$(ht_redis HMGET 'ht:{default}:limits' tq:acme tw:acme tr:acme | xargs)" 5 "only max_running left"
ht_http DELETE /v1/limits/tenants/acme "" "${ops[@]}"
assert_status 204 "DELETE of acme's limits"
ht_http DELETE /v1/limits/types/echo "" "${ops[@]}"
assert_status 204 "DELETE of echo's cap"
ht_http GET /v1/limits "" "${ops[@]}"
assert_jq '.tenants == {} and .types == {}' "nothing left"
assert_eq "$(ht_redis HMGET 'ht:{default}:limits' tr:acme yr:echo tenant_caps weights | xargs)" "0 0" \
    "the partition's limits are gone (its counts at 0)"

# ---- SIGHUP reloads the operator keys -----------------------------------------
NEW_OPS=ops2-key-0123456789abcdef0123
printf 'ops2:%s\n' "$NEW_OPS" >"$HT_TMP/operators"
kill -HUP "${HT_PIDS[api]}"
wait_until 10 "the operator keys are reloaded" grep -q '"operator keys reloaded"' "${HT_LOGS[api]}"
ht_http GET /v1/limits "" "${ops[@]}"
assert_problem 401 "the removed operator key"
ht_http GET /v1/limits "" -H "Authorization: Bearer $NEW_OPS"
assert_status 200 "the new operator key"

# ---- a key in both files: refused at start --------------------------------------
ht_stop api
printf 'ops:%s\n' "$ACME_KEY" >"$HT_TMP/operators-dup"
"$HT_API_BIN" --listen 127.0.0.1:0 --redis-url "$HANGTIGHT_REDIS_URL" --api-keys-file "$HT_TMP/keys" \
    --operator-keys-file "$HT_TMP/operators-dup" >"$HT_TMP/dup.log" 2>&1 && fail "the api started with a key in both files"
assert_match "$(cat "$HT_TMP/dup.log")" 'a key has one role' "why it refused"

# ---- API keys, no operator keys: nobody is an operator ----------------------------
ht_start_api --api-keys-file "$HT_TMP/keys"
ht_http POST /v1/queues/default/pause "" "${acme[@]}"
assert_problem 403 "pause with a tenant key and no operator keys"
ht_http GET /metrics "" "${acme[@]}"
assert_problem 403 "/metrics with a tenant key and no operator keys"
ht_http GET /v1/queues "" "${acme[@]}"
assert_json '.queues[0].paused' false "nothing was paused"
