#!/usr/bin/env bash
# The library's straight paths (start_straight, settle_success) against its
# general ones (start, settle): the claim of a queued job and the succeeded
# outcome of a job that nobody watches take the straight path; a job
# carrying a lapsed `watch` mark takes the general one, which drops the
# mark.  Two identical jobs, one of each, are claimed and settled by the
# same calls (ht_complete_many, then ht_complete, as the worker sends them):
# their hashes field by field (times, tokens and ids aside, every field in
# the same order), their index entries, leases and TTLs, the replies and
# the counts must be the same.  Driven with redis-cli against a real Redis
# the CLI migrated, on jobs the real api took.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys a
ht_start_stack --workers 0 --api-args --api-keys-file "$KEYS"
# A worker registers the built-in types, then goes: the jobs wait for the
# calls below.
ht_start_worker w0 --concurrency 1
ht_stop w0

B='ht:{default}:'
TB="${B}t:a:"
# many K [ID TOKEN OUTCOME BODY RETRYABLE DELAY_MS OUTPUT]...: one
# ht_complete_many of worker wt (lease 10 s, grace 30 s, type echo), its
# answer as JSON in MANY.
many() {
    MANY=$(ht_redis --json FCALL ht_complete_many 3 "${B}active" "${B}fence" "${B}signal" \
        "$B" wt "${B}events" 10000 30000 echo "$@")
    jq -e . <<<"$MANY" >/dev/null || fail "ht_complete_many answered: $MANY"
}

# The job's hash as "field=value" lines in the hash's order, without the
# fields that differ between two jobs by nature: id, times, token, the
# idempotency key's name.
hash_of() {
    ht_redis --raw HGETALL "$(ht_job_key "$1")" | paste -d '=' - - |
        grep -Ev '^(id|token|created_at|started_at|deadline_at|finished_at|idem_key)='
}
# A hash field as a number (0 when absent).
num() { local v; v=$(ht_job_hget "$1" "$2"); echo "${v:-0}"; }
zscore() { ht_redis ZSCORE "$1" "$2"; }
counts() { echo "running=$(ht_redis HGET "${B}running" y:echo) depth=$(ht_redis HGET "${B}depth" high)"; }

# Marks the job watched for 1 ms (ht_watch, as a request would) and waits
# until Redis' clock is past the mark: a lapsed mark.
lapse() {
    local key
    key=$(ht_job_key "$1")
    ht_redis FCALL ht_watch 1 "$key" 1 '' status >/dev/null
    local mark
    mark=$(ht_redis HGET "$key" watch)
    [[ -n "$mark" ]] || fail "job $1 has no watch mark"
    past() { local t; mapfile -t t < <(ht_redis TIME); ((t[0] * 1000 + t[1] / 1000 > mark)); }
    wait_until 10 "job $1's watch mark lapsed" past
}

# Checks one pair: FAST (straight paths) and GEN (general paths) after
# the same step: hashes, watch marks and logs.
same_hash() {
    local fast=$1 gen=$2 what=$3 hf hg
    hf=$(hash_of "$fast") hg=$(hash_of "$gen")
    [[ -n "$hf" ]] || fail "$what: job $fast has no hash"
    assert_eq "$hg" "$hf" "$what: the general path's hash (left) against the straight one's"
    for id in "$fast" "$gen"; do
        assert_eq "$(ht_job_hget "$id" watch)" "" "$what: job $id has no watch mark"
        assert_eq "$(ht_redis EXISTS "$(ht_job_key "$id"):ev")" 0 "$what: job $id has no log"
    done
}

# The job's entries in the expiry index, whatever its layout (keys of the
# partition whose name has "exp"): "key <score - finished_at>" for a
# sorted set of ids scored by the expiry time, "list <key without its last
# part>" for lists of ids (or of "<id> <tenant>").
expiry_of() {
    local id=$1 fin k s
    fin=$(num "$id" finished_at)
    for k in $(ht_redis --scan --pattern "${B}*exp*"); do
        case $(ht_redis TYPE "$k") in
        zset) s=$(zscore "$k" "$id") && [[ -n "$s" ]] && echo "$k $((s - fin))" ;;
        list)
            [[ -n "$(ht_redis LPOS "$k" "$id")$(ht_redis LPOS "$k" "$id a")" ]] &&
                echo "list ${k%:*}"
            ;;
        esac
    done
    return 0
}

# A claimed job's reply (ht_complete_many's: {id, token, attempt, type,
# payload, count_wait, pairs}) without id, token and the wait's ms.
claim_shape() {
    jq -c --argjson n "$1" '.[1][$n] | [.[2], .[3], .[4], (.[5] | split(" ") | .[0] | length > 0)]
        + .[6:]' <<<"$MANY"
}

# submit_pair [IDEM]: sets FAST and GEN, two jobs of tenant a, identical
# but for their ids (and, with IDEM, their Idempotency-Keys: an idem_key
# value is long enough that Redis keeps the hash as a hashtable, whose
# field order is its own; without, the hash is a listpack, in the order
# the fields were written).
submit_pair() {
    local body='{"type": "echo", "priority": "high", "max_attempts": 5, "timeout_s": 60,
        "payload": {"n": 1}, "metadata": {"m": "x"}}' fi=() gi=()
    [[ -n "${1:-}" ]] && fi=(-H "Idempotency-Key: fast-$1") gi=(-H "Idempotency-Key: gen-$1")
    ht_submit "$body" "${a[@]}" "${fi[@]}" && FAST=$HT_JOB
    ht_submit "$body" "${a[@]}" "${gi[@]}" && GEN=$HT_JOB
}

check_claimed() { # FAST GEN WHAT: after both claims
    local fast=$1 gen=$2 what=$3 id
    same_hash "$fast" "$gen" "$what"
    assert_eq "$(ht_job_hget "$fast" status)" running "$what: job $fast running"
    assert_eq "$(ht_job_hget "$fast" worker)" wt "$what: job $fast held by the caller"
    for id in "$fast" "$gen"; do
        assert_eq "$(zscore "${TB}status:running" "$id")" "$(num "$id" created_at)" \
            "$what: job $id in status:running at its created_at"
        assert_eq "$(($(zscore "${B}active" "$id") - $(num "$id" started_at)))" 10000 \
            "$what: job $id's lease is the caller's 10 s"
        assert_eq "$(($(num "$id" deadline_at) - $(num "$id" started_at)))" 90000 \
            "$what: job $id's deadline is its timeout and the grace"
    done
    assert_eq "$(ht_redis GET "${B}fence")" "$(num "$gen" token)" "$what: the last token is the fence's"
    assert_eq "$(($(num "$gen" token) - $(num "$fast" token)))" 1 "$what: consecutive tokens"
}

check_settled() { # FAST GEN WHAT: after both outcomes
    local fast=$1 gen=$2 what=$3 id key idem exp
    same_hash "$fast" "$gen" "$what"
    assert_eq "$(expiry_of "$gen")" "$(expiry_of "$fast")" "$what: the jobs' expiry entries"
    assert_eq "$(ht_job_hget "$fast" status)" succeeded "$what: job $fast succeeded"
    assert_eq "$(ht_job_hget "$fast" result)" '{"ok": 1}' "$what: job $fast's result"
    for id in "$fast" "$gen"; do
        key=$(ht_job_key "$id")
        assert_eq "$(zscore "${B}active" "$id")" "" "$what: job $id's lease dropped"
        assert_eq "$(zscore "${TB}status:running" "$id")" "" "$what: job $id out of status:running"
        assert_eq "$(zscore "${TB}status:succeeded" "$id")" "$(num "$id" created_at)" \
            "$what: job $id in status:succeeded at its created_at"
        exp=$(expiry_of "$id")
        [[ -n "$exp" ]] || fail "$what: job $id is in no expiry index"
        [[ "$exp" != "${TB}expiry "* ]] || assert_eq "$exp" "${TB}expiry 86400000" \
            "$what: job $id's expiry entry a day after its end"
        assert_match "$(ht_redis TTL "$key")" '^86[34][0-9][0-9]$' "$what: job $id expires in a day"
        idem=$(ht_job_hget "$id" idem_key)
        [[ -z "$idem" ]] || assert_match "$(ht_redis TTL "$idem")" '^86[34][0-9][0-9]$' \
            "$what: job $id's idempotency key expires with it"
    done
}

# ---- ht_complete_many: claims, then outcomes, one job a call -------------
submit_pair
f1=$FAST g1=$GEN
assert_eq "$(ht_redis OBJECT ENCODING "$(ht_job_key "$f1")")" listpack "job $f1's encoding"
lapse "$g1"
before=$(ht_redis HGET "${B}running" y:echo)
before=${before:-0}
many 1
assert_eq "$(jq -r '.[1][0][0]' <<<"$MANY")" "$f1" "the first claim takes the older job"
f_reply=$(claim_shape 0)
f_token=$(jq -r '.[1][0][1]' <<<"$MANY")
assert_eq "$(counts)" "running=$((before + 1)) depth=1" "counts after the straight claim"
many 1
assert_eq "$(jq -r '.[1][0][0]' <<<"$MANY")" "$g1" "the second claim takes the other"
g_reply=$(claim_shape 0)
g_token=$(jq -r '.[1][0][1]' <<<"$MANY")
assert_eq "$(counts)" "running=$((before + 2)) depth=0" "counts after the general claim"
assert_eq "$g_reply" "$f_reply" "the general claim's reply (left) against the straight one's"
assert_eq "$(jq -c '.[0:4]' <<<"$f_reply")" '["1","echo","{\"n\":1}",true]' \
    "the claim answers attempt, type, payload and the first wait"
check_claimed "$f1" "$g1" "claimed by ht_complete_many"
assert_eq "$f_token $g_token" "$(num "$f1" token) $(num "$g1" token)" "the tokens answered"

lapse "$g1"
many 0 "$f1" "$f_token" succeeded '{"ok": 1}' 0 0 ''
f_st=$(jq -c '.[0] | [.[0], (.[1] | split(" ") | length)]' <<<"$MANY")
assert_eq "$(counts)" "running=$((before + 1)) depth=0" "counts after the straight outcome"
many 0 "$g1" "$g_token" succeeded '{"ok": 1}' 0 0 ''
g_st=$(jq -c '.[0] | [.[0], (.[1] | split(" ") | length)]' <<<"$MANY")
assert_eq "$(counts)" "running=$before depth=0" "counts after the general outcome"
assert_eq "$f_st" '["succeeded",2]' "the straight outcome's answer: its status and run"
assert_eq "$g_st" "$f_st" "the general outcome's answer against the straight one's"
check_settled "$f1" "$g1" "settled by ht_complete_many"

# ---- ht_complete with its claim (the caller counts) ------------------------
# Each call settles one job and claims the next, as a worker's slot does.
complete() { # ID TOKEN: its succeeded outcome, then a claim; the answer in ONE
    ONE=$(ht_redis --json FCALL ht_complete 5 "$(ht_job_key "$1")" "${B}active" \
        "${B}wait:high" "${B}signal" "${B}fence" "$1" "$2" succeeded '{"ok": 1}' 0 \
        "${B}events" 0 "$B" wt 10000 30000 echo '' 1)
    jq -e . <<<"$ONE" >/dev/null || fail "ht_complete answered: $ONE"
}
# The claim as pairs (ht_claim's layout) without id, token, started_at,
# deadline_at, created_at, run_at and the wait's ms.
pairs_shape() {
    jq -c '.[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add
        | del(.id, .token, .started_at, .deadline_at, .created_at, .run_at)
        | .count_wait |= (split(" ") | .[0] | length > 0)' <<<"$ONE"
}
# Something to settle first: a job of no pair, claimed before the pair is
# submitted.
ht_submit '{"type": "echo", "priority": "high", "payload": {}}' "${a[@]}" && x=$HT_JOB
many 1
x_token=$(jq -r '.[1][0][1]' <<<"$MANY")
assert_eq "$(jq -r '.[1][0][0]' <<<"$MANY")" "$x" "the lone job claimed"
submit_pair 2
f2=$FAST g2=$GEN
[[ -n "$(ht_job_hget "$f2" idem_key)" ]] || fail "job $f2 has no idempotency key"
lapse "$g2"
complete "$x" "$x_token"
assert_eq "$(jq -r '.[0]' <<<"$ONE")" succeeded "x's outcome"
f_reply=$(pairs_shape)
f_token=$(jq -r '.[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add | .token' <<<"$ONE")
assert_eq "$(jq -r '.[1][1]' <<<"$ONE")" "$f2" "ht_complete claims the older job"
complete "$f2" "$f_token" # the straight outcome, and the general claim of g2
f_st=$(jq -c '[.[0], (.[2] | split(" ") | length)]' <<<"$ONE")
g_reply=$(pairs_shape)
g_token=$(jq -r '.[1] | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add | .token' <<<"$ONE")
assert_eq "$(jq -r '.[1][1]' <<<"$ONE")" "$g2" "ht_complete claims the other"
assert_eq "$g_reply" "$f_reply" "ht_complete: the general claim's reply (left) against the straight one's"
assert_eq "$(jq -r '.status, .worker, .version' <<<"$f_reply" | tr '\n' ' ')" "running wt 2 " \
    "ht_complete's claim answers status, worker and version"
lapse "$g2"
complete "$g2" "$g_token"
g_st=$(jq -c '[.[0], (.[2] | split(" ") | length)]' <<<"$ONE")
assert_eq "$(jq -r '.[1]' <<<"$ONE")" null "nothing left to claim"
assert_eq "$f_st" '["succeeded",2]' "ht_complete: the straight outcome's answer"
assert_eq "$g_st" "$f_st" "ht_complete: the general outcome's answer against the straight one's"
check_settled "$f2" "$g2" "settled by ht_complete"
assert_eq "$(counts)" "running=$before depth=0" "counts after ht_complete"
