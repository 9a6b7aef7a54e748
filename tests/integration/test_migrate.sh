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

# Migrate, twice: the version is the highest numbered file in migrations/.
latest=$(find "$HT_SOURCE_DIR/migrations" -name '[0-9]*.lua' -printf '%f\n' | sort | tail -n 1)
latest=$((10#${latest%%_*}))
count=$(find "$HT_SOURCE_DIR/migrations" -name '[0-9]*.lua' | wc -l)
out=$(ht_migrate)
assert_match "$out" "^keyspace at version $latest \\(applied $count migrations\\)\$" "first migrate"
assert_eq "$(ht_redis HGET ht:schema version)" "$latest" "recorded version"
out=$(ht_migrate)
assert_match "$out" "^keyspace at version $latest \\(applied 0 migrations\\)\$" "second migrate"
ht_redis FUNCTION LIST LIBRARYNAME hangtight | grep -q ht_submit || fail "library not loaded"

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
