#!/usr/bin/env bash
# The keyspace version gate: api and worker refuse an unmigrated Redis with a
# clear message and status 1; migrate is idempotent; then all is ready.
source "$(dirname "$0")/lib.sh"

ht_start_redis

# hangtight-api on an empty Redis.
port=$(ht_free_port)
ht_spawn api-early env HANGTIGHT_LISTEN="127.0.0.1:$port" "$HT_API_BIN" --threads 2
ht_wait_exit api-early 40
assert_eq "$HT_EXIT" 1 "api exit status on an unmigrated keyspace"
grep -q 'hangtight migrate' "${HT_LOGS[api-early]}" ||
    fail "the api does not say to run hangtight migrate: $(cat "${HT_LOGS[api-early]}")"

ht_spawn worker-early "$HT_WORKER_BIN"
ht_wait_exit worker-early 40
assert_eq "$HT_EXIT" 1 "worker exit status on an unmigrated keyspace"
grep -q 'hangtight migrate' "${HT_LOGS[worker-early]}" ||
    fail "the worker does not say to run hangtight migrate: $(cat "${HT_LOGS[worker-early]}")"

# Migrate, twice: the version is the library's SCHEMA; the first run runs
# every data step (those marked before-library before the library load),
# the second changes nothing.
need=$(sed -n 's/^local SCHEMA = \([0-9]*\)$/\1/p' "$HT_SOURCE_DIR/shared/library.lua")
[[ -n "$need" ]] || fail "no 'local SCHEMA = N' line in shared/library.lua"
before=() after=()
for f in "$HT_SOURCE_DIR"/migrations/*.lua; do
    case "$(grep -x -- '-- runs: .*' "$f")" in
    "-- runs: before-library") before+=("$(basename "$f")") ;;
    "-- runs: after-library") after+=("$(basename "$f")") ;;
    *) fail "$f does not say where it runs" ;;
    esac
done
done_text=$(IFS=,; echo "${before[*]:+${before[*]},}library loaded${after[*]:+,${after[*]}}")
out=$(ht_migrate)
assert_eq "$out" "keyspace at version $need (from 0: ${done_text//,/, })" "first migrate"
assert_eq "$(ht_redis HGET ht:schema version)" "$need" "recorded version"
ht_redis CONFIG RESETSTAT >/dev/null
assert_eq "$(ht_migrate)" "keyspace at version $need (up to date)" "second migrate"
# A second run only reads: the version and the library's text.
assert_eq "$(ht_redis INFO commandstats | grep -oE '^cmdstat_[a-z|]+' | sort | tr '\n' ' ')" \
    "cmdstat_config|resetstat cmdstat_function|list cmdstat_hget " "commands of a second migrate"
ht_redis FUNCTION LIST LIBRARYNAME hangtight | grep -q ht_submit || fail "library not loaded"

# A library of the same schema but another text (a fix of shared/library.lua
# that left the keyspace as it was) is replaced; so is a missing one.
{ cat "$HT_SOURCE_DIR/shared/library.lua"; echo "-- an older text"; } |
    ht_redis -x FUNCTION LOAD REPLACE >/dev/null
assert_eq "$(ht_migrate)" "keyspace at version $need (library loaded)" "migrate over another text"
ht_redis FUNCTION LIST LIBRARYNAME hangtight WITHCODE | grep -q -- '-- an older text' &&
    fail "the other text is still loaded"
ht_redis FUNCTION DELETE hangtight >/dev/null
assert_eq "$(ht_migrate)" "keyspace at version $need (library loaded)" "migrate without a library"

# A keyspace newer than these binaries is left alone, and said so.
ht_redis HSET ht:schema version $((need + 1)) >/dev/null
set +e
out=$(ht_migrate 2>&1)
rc=$?
set -e
assert_eq "$rc" 1 "migrate exit status on a newer keyspace"
assert_match "$out" "keyspace version $((need + 1)) is newer than the $need of this hangtight" \
    "migrate message on a newer keyspace"
ht_redis HSET ht:schema version "$need" >/dev/null

ht_start_api
ht_http GET /readyz
assert_status 200 "readyz after migrate"
ht_start_worker w1
ht_submit '{"type": "echo", "payload": [1]}'
id=$HT_JOB
wait_until 15 "a job succeeds after migrate" ht_job_is "$id" succeeded

# migrate against nothing fails clearly and quickly.
set +e
out=$("$HT_CLI_BIN" migrate --redis-url "redis://127.0.0.1:$(ht_free_port)/0" --wait-s 1 2>&1)
rc=$?
set -e
assert_eq "$rc" 1 "migrate exit status without Redis"
assert_match "$out" 'cannot reach Redis' "migrate message without Redis"
