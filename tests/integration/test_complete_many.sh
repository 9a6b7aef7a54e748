#!/usr/bin/env bash
# ht_complete_many (docs/keyspace.md): the outcomes of several attempts and
# several claims in one call, driven with redis-cli against a real Redis
# the CLI migrated, on jobs the real api took.  Each outcome is settled as
# ht_complete settles it: a stale token is refused for its job alone while
# the others of the batch are stored, a canceled job ends canceled, a
# retryable failure goes back to its queue with its error.  The claims of
# one call take turns across tenants as that many ht_claim calls do (a mix
# of tenants, a weight, types and priorities, claimed in calls of 3, comes
# out in the order single ht_claim calls take the same mix), stop
# at a type's running cap (an outcome of the same call that frees room is
# settled first), and stop early when the queue is empty.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys a b
OPS_KEY=ops-key-0123456789abcdef0123
printf 'ops:%s\n' "$OPS_KEY" >"$HT_TMP/operators"
ops=(-H "Authorization: Bearer $OPS_KEY")
ht_start_stack --workers 0 --api-args --api-keys-file "$KEYS" \
    --operator-keys-file "$HT_TMP/operators"
# A worker registers the built-in types, then goes: the jobs wait for the
# calls below.
ht_start_worker w0 --concurrency 1
ht_stop w0

B='ht:{default}:'
TYPES="echo"
# many K [ID TOKEN OUTCOME BODY RETRYABLE DELAY_MS OUTPUT]...: one
# ht_complete_many of worker wt (lease 10 s, grace 30 s, the types in
# $TYPES), its
# answer as JSON in MANY: [[status, run, ...], [[field, value, ...], ...]].
many() {
    MANY=$(ht_redis --json FCALL ht_complete_many 3 "${B}active" "${B}fence" "${B}signal" \
        "$B" wt "${B}events" 10000 30000 "$TYPES" "$@")
    jq -e . <<<"$MANY" >/dev/null || fail "ht_complete_many answered: $MANY"
}
claimed_count() { jq '.[1] | length' <<<"$MANY"; }
# The field NAME of the Nth claimed job (0-based): {id, token, attempt,
# type, payload, count_wait, then name, value pairs}.
claimed() { jq -r --argjson n "$1" --arg f "$2" \
    '.[1][$n] as $j | {id: 0, token: 1, attempt: 2, type: 3, payload: 4, count_wait: 5}[$f] as $i
     | if $i then $j[$i] else [range(6; $j | length; 2) | select($j[.] == $f) | $j[. + 1]][0] end
     // ""' <<<"$MANY"; }
status_of() { jq -r --argjson n "$1" '.[0][2 * $n] // "nil"' <<<"$MANY"; }
run_of() { jq -r --argjson n "$1" '.[0][2 * $n + 1] // "nil"' <<<"$MANY"; }
job_as() { # ID KEY: the job's document as its tenant sees it, in HTTP_BODY
    ht_http GET "/v1/jobs/$1" "" -H "Authorization: Bearer $2"
    assert_status 200 "GET job $1"
}
submit_as() { ht_submit '{"type": "echo", "payload": {}}' -H "Authorization: Bearer $1"; }

# ---- fairness: 4 claims in one call alternate tenants, FIFO in each -----
a_ids=() b_ids=()
for i in 1 2 3; do submit_as "$A_KEY" && a_ids+=("$HT_JOB"); done
for i in 1 2 3; do submit_as "$B_KEY" && b_ids+=("$HT_JOB"); done
many 4
assert_eq "$(claimed_count)" 4 "claims of k=4 with 6 queued"
seq_ids="$(claimed 0 id) $(claimed 1 id) $(claimed 2 id) $(claimed 3 id)"
assert_eq "$seq_ids" "${a_ids[0]} ${b_ids[0]} ${a_ids[1]} ${b_ids[1]}" \
    "tenants take turns within one call, each tenant's oldest first"
declare -A token
for n in 0 1 2 3; do
    id=$(claimed "$n" id)
    token[$id]=$(claimed "$n" token)
    # The claim answers what a worker runs the job with: no status (it is
    # running), no worker, times or version; the first wait is observed.
    for f in status worker created_at started_at deadline_at version; do
        assert_eq "$(claimed "$n" "$f")" "" "claimed job $id answered without $f"
    done
    assert_eq "$(claimed "$n" type)" echo "claimed job $id answered its type"
    assert_eq "$(claimed "$n" attempt)" 1 "claimed job $id answered its attempt"
    assert_match "$(claimed "$n" count_wait)" '^[0-9+Inf]+ [0-9]+$' \
        "claimed job $id answered its wait observation"
    assert_eq "$(claimed "$n" payload)" '{}' "claimed job $id answered its payload"
    assert_eq "$(ht_job_hget "$id" status)" running "job $id running"
    assert_eq "$(ht_job_hget "$id" worker)" wt "job $id held by the caller"
    [[ -n "$(ht_redis ZSCORE "${B}active" "$id")" ]] || fail "job $id has no lease"
done
assert_eq "$(claimed 0 token) $(claimed 1 token) $(claimed 2 token) $(claimed 3 token)" \
    "1 2 3 4" "the claims' fencing tokens, in claim order"
assert_eq "$(ht_redis GET "${B}fence")" 4 "the fencing counter past the call's tokens"
assert_eq "$(ht_redis HGET "${B}running" y:echo)" 4 "echo's running count"
assert_eq "$(ht_redis HGET "${B}depth" default)" 2 "queued"

# ---- one batch: succeeded, stale, retry, canceled ------------------------
a1=${a_ids[0]} b1=${b_ids[0]} a2=${a_ids[1]} b2=${b_ids[1]}
ht_http DELETE "/v1/jobs/$b2" "" -H "Authorization: Bearer $B_KEY"
assert_status 202 "cancel of running job b2"
many 0 \
    "$a1" "${token[$a1]}" succeeded '{"ok": 1}' 0 0 '' \
    "$b1" 999999 succeeded '{"stale": 1}' 0 0 '' \
    "$a2" "${token[$a2]}" failed '{"code": "boom"}' 1 0 '' \
    "$b2" "${token[$b2]}" canceled '' 0 0 ''
assert_eq "$(claimed_count)" 0 "k=0 claims nothing"
assert_eq "$(status_of 0)" succeeded "a1's outcome stored"
[[ "$(run_of 0)" =~ ^[^\ ]+\ [0-9]+$ ]] || fail "a1's run observation: $(run_of 0)"
assert_eq "$(status_of 1)" nil "b1's stale token refused"
assert_eq "$(run_of 1)" nil "a stale outcome observes nothing"
assert_eq "$(status_of 2)" queued "a2's retryable failure goes back to its queue"
assert_eq "$(status_of 3)" canceled "b2 ends canceled"
job_as "$a1" "$A_KEY"
assert_json .status succeeded "a1"
assert_json .result.ok 1 "a1's result"
job_as "$b1" "$B_KEY"
assert_json .status running "b1 still held by its attempt"
assert_eq "$(ht_job_hget "$b1" token)" "${token[$b1]}" "b1's token unchanged"
job_as "$a2" "$A_KEY"
assert_json .status queued "a2 queued again"
assert_json .attempt 1 "a2's first attempt counted"
assert_json .error.code boom "a2 keeps its error"
job_as "$b2" "$B_KEY"
assert_json .status canceled "b2"
for id in "$a1" "$a2" "$b2"; do
    assert_eq "$(ht_redis ZSCORE "${B}active" "$id")" "" "job $id's lease dropped"
done
# The same outcome again (a reply the caller lost) is answered again, once.
many 0 "$a1" "${token[$a1]}" succeeded '{"ok": 1}' 0 0 ''
assert_eq "$(status_of 0)" succeeded "a1's outcome answered again"
many 0 "$b1" "${token[$b1]}" succeeded '{"ok": 2}' 0 0 ''
assert_eq "$(status_of 0)" succeeded "b1's holder's outcome stored"

# ---- a type cap: claims stop at it; an outcome of the call frees room ----
# Queued: a3, b3, a2 (its retry).  Nothing of echo runs now.
ht_http PUT /v1/limits/types/echo '{"max_running": 2}' "${ops[@]}"
assert_status 200 "echo's cap"
many 5
assert_eq "$(claimed_count)" 2 "k=5 under a cap of 2"
h1=$(claimed 0 id) t1=$(claimed 0 token) h2=$(claimed 1 id) t2=$(claimed 1 token)
many 5
assert_eq "$(claimed_count)" 0 "at the cap: nothing claimed"
many 5 "$h1" "$t1" succeeded '{}' 0 0 ''
assert_eq "$(status_of 0)" succeeded "h1 done"
assert_eq "$(claimed_count)" 1 "h1's outcome made room for one claim in the same call"
h3=$(claimed 0 id) t3=$(claimed 0 token)
assert_eq "$(ht_redis HGET "${B}running" y:echo)" 2 "echo's running count"

# ---- an empty queue: fewer than k ---------------------------------------
ht_http DELETE /v1/limits/types/echo "" "${ops[@]}"
assert_status 204 "echo's cap lifted"
submit_as "$A_KEY" && c1=$HT_JOB
submit_as "$B_KEY" && c2=$HT_JOB
many 8 "$h2" "$t2" succeeded '{}' 0 0 '' "$h3" "$t3" succeeded '{}' 0 0 ''
assert_eq "$(status_of 0) $(status_of 1)" "succeeded succeeded" "h2 and h3 done"
assert_eq "$(claimed_count)" 2 "k=8 with 2 queued"
assert_eq "$(claimed 0 id) $(claimed 1 id)" "$c1 $c2" "the last two, one per tenant"
c1t=$(claimed 0 token)
assert_eq "$(ht_redis HGET "${B}running" y:echo)" 2 "echo's running count"
assert_eq "$(ht_redis HGET "${B}depth" default)" 0 "nothing queued"

# ---- the same claims as single ht_claim calls: priorities, types, weights
# A mix of two tenants (a of weight 2), two types and two priorities is
# claimed to the end in calls of 3 claims, then submitted again and
# claimed by single ht_claim calls: the same (tenant, type, priority) in
# the same order.  c1 and c2 (above) stay held.
ht_http PUT /v1/limits/tenants/a '{"weight": 2}' "${ops[@]}"
assert_status 200 "a's weight"
submit_mix() {
    local t
    for t in echo sleep echo echo sleep; do
        ht_submit "{\"type\": \"$t\", \"payload\": {}}" "${a[@]}"
        ht_submit "{\"type\": \"$t\", \"payload\": {}}" "${b[@]}"
    done
    ht_submit '{"type": "sleep", "priority": "high", "payload": {}}' "${b[@]}"
    ht_submit '{"type": "echo", "priority": "high", "payload": {}}' "${a[@]}"
}
# "tenant/type/priority" of each job of a claim reply (flat pairs) on stdin;
# claim_key_many: of a job claimed by ht_complete_many (see claimed).
claim_key='[range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add
    | "\(.tenant)/\(.type)/\(.priority // "default")"'
claim_key_many='.[3] as $type | [range(6; length; 2) as $i | {(.[$i]): .[$i + 1]}] | (add // {})
    | "\(.tenant)/\($type)/\(.priority // "default")"'
TYPES="echo sleep"
submit_mix
batched=() held=()
while :; do
    many 3
    n=$(claimed_count)
    ((n > 0)) || break
    mapfile -t got < <(jq -r ".[1][] | $claim_key_many" <<<"$MANY")
    batched+=("${got[@]}")
    for ((i = 0; i < n; i++)); do held+=("$(claimed "$i" id) $(claimed "$i" token)"); done
done
assert_eq "${#batched[@]}" 12 "the mix claimed in calls of 3"
submit_mix
single=()
while :; do
    one=$(ht_redis --json FCALL ht_claim 2 "${B}active" "${B}fence" "$B" ws "${B}events" \
        10000 30000 "echo sleep" 1)
    [[ "$one" == null ]] && break
    single+=("$(jq -r "$claim_key" <<<"$one")")
    held+=("$(jq -r '.[1]' <<<"$one") $(jq -r '[range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add | .token' <<<"$one")")
done
assert_eq "${#single[@]}" 12 "the mix claimed by single calls"
assert_eq "${batched[*]}" "${single[*]}" "claims in calls of 3 against single claims"
assert_eq "${batched[0]} ${batched[1]}" "a/echo/high b/sleep/high" "high first, types in turn"
# Done with them (k = 0: settles only); the weight goes.
args=()
for h in "${held[@]}"; do args+=("${h% *}" "${h#* }" succeeded '{}' 0 0 ''); done
many 0 "${args[@]}"
assert_eq "$(jq '.[0] as $s | [range(0; $s | length; 2) | $s[.] | select(. == "succeeded")] | length' <<<"$MANY")" \
    24 "the mix's outcomes"
TYPES="echo"
ht_http DELETE /v1/limits/tenants/a "" "${ops[@]}"
assert_status 204 "a's weight removed"
assert_eq "$(ht_redis HGET "${B}running" y:echo) $(ht_redis HGET "${B}running" y:sleep)" \
    "2 0" "running counts: c1 and c2 only"

# ---- a paused queue claims nothing; malformed calls are refused ---------
ht_http POST /v1/queues/default/pause "" "${ops[@]}"
assert_status 200 "pause"
submit_as "$A_KEY"
many 3 "$c1" "$c1t" succeeded '{}' 0 0 ''
assert_eq "$(status_of 0)" succeeded "an outcome is stored while paused"
assert_eq "$(claimed_count)" 0 "paused: nothing claimed"
err=$(ht_redis FCALL ht_complete_many 3 "${B}active" "${B}fence" "${B}signal" \
    "$B" wt "${B}events" 10000 30000 echo -1 2>&1)
[[ "$err" == *"k must be"* ]] || fail "k=-1 answered: $err"
err=$(ht_redis FCALL ht_complete_many 3 "${B}active" "${B}fence" "${B}signal" \
    "$B" wt "${B}events" 10000 30000 echo 1 "$c2" 2>&1)
[[ "$err" == *"7 per outcome"* ]] || fail "a cut outcome answered: $err"
job_as "$c2" "$B_KEY"
assert_json .status running "c2 untouched by the refused call"

# ---- a watched job's success is logged with its attempt ------------------
# (a succeeded outcome reads fewer fields; the log entry still needs the
# attempt: "<version> <kind> <status> <attempt> ...")
ht_http POST /v1/queues/default/resume "" "${ops[@]}"
assert_status 200 "resume"
submit_as "$A_KEY"
w=$HT_JOB
ht_redis FCALL ht_watch 1 "$(ht_job_key "$w")" 60000 '' status >/dev/null
outcomes=()
for round in 1 2 3 4; do
    many 16 "${outcomes[@]}"
    outcomes=()
    for ((i = 0; i < $(claimed_count); i++)); do
        outcomes+=("$(claimed "$i" id)" "$(claimed "$i" token)" succeeded '{}' 0 0 '')
    done
    ((${#outcomes[@]} > 0)) || break
done
assert_eq "$(ht_job_hget "$w" status)" succeeded "the watched job succeeded"
last=$(ht_redis --raw LRANGE "$(ht_job_key "$w"):ev" -1 -1)
assert_eq "$(awk '{ print $3, $4 }' <<<"$last")" "succeeded 1" \
    "its log's last entry: succeeded, attempt 1 ($last)"

# ---- a worker reads the claims of the library before this layout --------
# Schema 18 as first released answered ht_complete_many's claims as
# ht_claim's pairs ("id" first, status included): under the same schema
# number a worker meets both while an upgrade loads the library.  That
# library is this one with the positional answer turned off.
sed 's/^  if c\.many then$/  if false then/' "$HT_SOURCE_DIR/shared/library.lua" \
    >"$HT_TMP/pairs.lua"
grep -q '^  if false then$' "$HT_TMP/pairs.lua" || fail "no pair-layout library made"
ht_redis -x FUNCTION LOAD REPLACE <"$HT_TMP/pairs.lua" >/dev/null
ids=()
for i in 1 2 3 4 5 6; do submit_as "$A_KEY" && ids+=("$HT_JOB"); done
ht_start_worker w1 --concurrency 4
job_done() { [[ "$(ht_job_hget "$1" status)" == succeeded ]]; }
for id in "${ids[@]}"; do
    wait_until 60 "job $id succeeded with the pair-layout library" job_done "$id"
    assert_eq "$(ht_job_hget "$id" attempt)" 1 "job $id ran once"
done
ht_stop w1
[[ "$(ht_redis FUNCTION LIST WITHCODE)" == *"if false then"* ]] ||
    fail "the pair-layout library was replaced while the worker ran"
