#!/usr/bin/env bash
# Upgrade from schema 18 to 19: expiry buckets (docs/keyspace.md).  The
# library of schema 18 (tests/fixtures/upgrade/library-18.lua, main's
# shared/library.lua at that schema) finishes jobs of three tenants, which
# files each in its tenant's sorted set t:<tenant>:expiry; a fourth
# tenant's set gets more entries than data step 0019 moves in one call.
# Then, as `hangtight migrate` does it:
#   - the library of 19 is loaded, and before the data step runs its
#     ht_trim drains the old sets' due entries (the jobs expired since);
#   - the data step moves every entry left into the partition's expiry
#     buckets (an id, or "<id> <tenant>"), in the bucket of its expiry
#     time, over several calls, and drops the old sets; run again, it
#     changes nothing;
#   - migrate records 19 and the binaries of 19 start on the keyspace.
source "$(dirname "$0")/lib.sh"

FIXTURES=$HT_SOURCE_DIR/tests/fixtures/upgrade
STEP=$HT_SOURCE_DIR/migrations/0019_expiry_buckets.lua
B='ht:{default}:'

ht_start_redis
need=$(sed -n 's/^local SCHEMA = \([0-9]*\)$/\1/p' "$HT_SOURCE_DIR/shared/library.lua")
assert_eq "$need" 19 "the library's schema"
ht_redis -x FUNCTION LOAD REPLACE <"$FIXTURES/library-18.lua" >/dev/null
ht_redis HSET ht:schema version 18 >/dev/null

# finish TENANT TTL_S OUTCOME: submits a job, claims it and stores OUTCOME,
# through the loaded library's calls as a worker of schema 18 makes them.
# Prints the job's id.
finish() {
    local tenant=$1 ttl=$2 outcome=$3 id token status
    id=$(cat /proc/sys/kernel/random/uuid)
    ht_redis FCALL ht_submit 3 "${B}job:$id" "${B}wait:default" "${B}signal" "$id" "${B}events" \
        0 "" "" type echo payload '{}' tenant "$tenant" ttl_s "$ttl" max_attempts 1 >/dev/null
    token=$(ht_redis FCALL ht_claim 2 "${B}active" "${B}fence" "$B" w1 "${B}events" 10000 30000 \
        echo | awk 'p { print; exit } $0 == "token" { p = 1 }')
    [[ -n "$token" ]] || fail "no claim of job $id"
    status=$(ht_redis FCALL ht_complete 4 "${B}job:$id" "${B}active" "${B}wait:default" \
        "${B}signal" "$id" "$token" "$outcome" '{}' '{"message": "no"}' 0 "${B}events" 0)
    assert_eq "$status" "$outcome" "outcome of job $id"
    echo "$id"
}

short=() kept=()
for t in default default acme; do short+=("$t:$(finish "$t" 2 succeeded)"); done
for t in default default acme acme; do kept+=("$t:$(finish "$t" 86400 succeeded)"); done
kept+=("default:$(finish default 86400 failed)")
# globex: 6,000 entries of jobs expiring a minute to two from now (the
# step moves 5,000 a call; their jobs are not written: the step reads
# only the set).
now=$(ht_redis TIME | { read -r s && read -r us && echo $((s * 1000 + us / 1000)); })
for ((i = 0; i < 6000; i++)); do
    printf 'ZADD %st:globex:expiry %d g-%d\n' "$B" $((now + 60000 + i * 10)) "$i"
done | ht_redis >/dev/null
ht_redis SADD "${B}tenants" globex >/dev/null
assert_eq "$(ht_redis ZCARD "${B}t:default:expiry") $(ht_redis ZCARD "${B}t:acme:expiry")" \
    "5 3" "entries of the sorted sets of schema 18"
assert_eq "$(ht_redis ZCARD "${B}t:globex:expiry")" 6000 "globex's entries"

# ---- the library of 19 before the data step: ht_trim drains the old sets ----
ht_redis -x FUNCTION LOAD REPLACE <"$HT_SOURCE_DIR/shared/library.lua" >/dev/null
short_gone() {
    local e
    for e in "${short[@]}"; do
        [[ "$(ht_redis EXISTS "${B}job:${e#*:}")" == 0 ]] || return 1
    done
}
wait_until 10 "the ttl_s 2 jobs expired" short_gone
# Their set entries are due a moment later, by the library's clock.
sleep 0.1
dropped=$(ht_redis FCALL ht_trim 1 "${B}tenants" "$B" 500)
assert_eq "$dropped" 3 "jobs ht_trim dropped from the sets of schema 18"
for e in "${short[@]}"; do
    assert_eq "$(ht_redis ZSCORE "${B}t:${e%%:*}:status:succeeded" "${e#*:}")" "" \
        "an expired job of ${e%%:*} in status:succeeded after the trim"
done
assert_eq "$(ht_redis ZCARD "${B}t:default:expiry") $(ht_redis ZCARD "${B}t:acme:expiry")" \
    "3 2" "entries left in the sorted sets of schema 18"
assert_eq "$(ht_redis EXISTS "${B}exps")" 0 "buckets before the data step"

# ---- migrate: the data step moves the rest ---------------------------------
ht_redis CONFIG RESETSTAT >/dev/null
assert_eq "$(ht_migrate)" "keyspace at version $need (from 18: 0019_expiry_buckets.lua)" \
    "migrate from schema 18"
calls=$(ht_redis INFO commandstats | sed -n 's/^cmdstat_eval:calls=\([0-9]*\),.*/\1/p')
((calls >= 2)) || fail "the data step ran in $calls calls (6,008 entries, 5,000 a call)"
assert_eq "$(ht_redis --scan --pattern 'ht:{*}:t:*:expiry' | wc -l)" 0 "sets of schema 18 left"

# Every entry is in exactly one bucket, the one of its expiry time.
declare -A bucket_of=()
total=0
while read -r n && read -r end; do
    assert_eq "$end" "$((n * 10000))" "end of bucket $n"
    while read -r e; do
        [[ -z "${bucket_of[$e]:-}" ]] || fail "entry '$e' in buckets ${bucket_of[$e]} and $n"
        bucket_of[$e]=$n
        total=$((total + 1))
    done < <(ht_redis LRANGE "${B}exp:$n" 0 -1)
done < <(ht_redis ZRANGE "${B}exps" 0 -1 WITHSCORES)
assert_eq "$total" 6005 "entries in the buckets"
for e in "${kept[@]}"; do
    tenant=${e%%:*} id=${e#*:}
    entry=$id
    [[ "$tenant" == default ]] || entry="$id $tenant"
    n=${bucket_of[$entry]:-}
    [[ -n "$n" ]] || fail "job $id of $tenant is in no bucket"
    at=$(ht_redis PEXPIRETIME "${B}job:$id")
    ((n * 10000 >= at && n * 10000 < at + 10000)) ||
        fail "job $id expires at $at, in bucket $n (ends $((n * 10000)))"
done
for i in 0 2999 5999; do
    n=${bucket_of["g-$i globex"]:-}
    assert_eq "$n" "$(((now + 60000 + i * 10 + 9999) / 10000))" "bucket of globex's entry $i"
done

# Run again, the step changes nothing.
assert_eq "$(ht_redis EVAL "$(cat "$STEP")" 0 0)" 0 "the data step run again"
sum=0
for n in $(ht_redis ZRANGE "${B}exps" 0 -1); do sum=$((sum + $(ht_redis LLEN "${B}exp:$n"))); done
assert_eq "$sum" 6005 "entries in the buckets after the step ran again"
assert_eq "$(ht_migrate)" "keyspace at version $need (up to date)" "second migrate"

# ---- the binaries of 19 on the migrated keyspace ---------------------------
ht_start_api
ht_http GET /readyz
assert_status 200 "readyz after migrate"
ht_http GET "/v1/jobs/${kept[0]#*:}"
assert_status 200 "a job finished under schema 18"
assert_json .status succeeded "the job finished under schema 18"
