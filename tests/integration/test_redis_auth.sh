#!/usr/bin/env bash
# A Redis that wants a password, and a database other than 0: the CLI's,
# the worker's and the api's connections (commands and pub/sub) all log in
# and select as the URL says, and a wrong password is refused clearly.
source "$(dirname "$0")/lib.sh"

ht_start_redis --password 's3cret pass' --db 3
# The URL carries the password percent-encoded.
export HANGTIGHT_REDIS_URL="redis://:s3cret%20pass@127.0.0.1:$HT_REDIS_PORT/3"
ht_migrate
assert_match "$(redis-cli -p "$HT_REDIS_PORT" -n 3 HGET ht:schema version)" '^[1-9][0-9]*$' \
    "schema written to db 3"
assert_eq "$(redis-cli -p "$HT_REDIS_PORT" -n 0 EXISTS ht:schema)" 0 "nothing written to db 0"
ht_start_api
ht_start_worker w1

# Sync mode exercises the api's pub/sub connection too.
ht_http POST /v1/jobs '{"type": "sleep", "payload": {"ms": 600, "steps": 3}}' -H 'Prefer: wait=20'
assert_status 200 "sync submit through an authenticated Redis"
assert_json .status succeeded

# A wrong password: the CLI says Redis refused it and exits non-zero.
if out=$("$HT_CLI_BIN" migrate --redis-url "redis://:wrong@127.0.0.1:$HT_REDIS_PORT/3" --wait-s 1 2>&1); then
    fail "migrate with a wrong password succeeded: $out"
fi
assert_match "$out" "AUTH|WRONGPASS|invalid" "the refusal names the login"
