#!/usr/bin/env bash
# Idempotency-Key: the same key with the same body answers as the first
# request did (same job, Idempotent-Replayed: true); another body is a 422;
# concurrent identical requests make one job; malformed keys are a 400.
source "$(dirname "$0")/lib.sh"

ht_start_stack --workers 0
# The jobs in Redis: their hashes (not their event logs), on every master.
job_count() { ht_redis_each --masters --raw KEYS 'ht:{*}:job:*' | grep -c -E ':job:[^:]+$' || true; }

body='{"type": "echo", "payload": {"n": 1}}'

# First request: an ordinary 202, not a replay.
ht_http POST /v1/jobs "$body" -H 'Idempotency-Key: order-42'
assert_status 202 "first submit"
first=$(ht_json .id)
assert_eq "$(ht_header Idempotent-Replayed)" "" "first answer is not a replay"
assert_eq "$(ht_job_hget "$first" idem_key | cut -d: -f1-4)" \
    "$(ht_job_tag_key "$first" idem:default)" "idem_key field of the job"

# Same key, same body (quoted form of the same key): the same job.
ht_http POST /v1/jobs "$body" -H 'Idempotency-Key: "order-42"'
assert_status 202 "replay"
assert_json .id "$first" "replayed job id"
assert_eq "$(ht_header Idempotent-Replayed)" "true" "Idempotent-Replayed"
assert_eq "$(ht_header Location)" "/v1/jobs/$first" "replay Location"
assert_eq "$(ht_header Operation-Location)" "/v1/jobs/$first" "replay Operation-Location"
assert_match "$(ht_header Retry-After)" '^[0-9]+$' "replay Retry-After"
assert_json .status queued "replayed document (no worker yet)"
assert_eq "$(job_count)" 1 "jobs in the index after a replay"

# Same key, another body: 422 with a stable code, nothing stored.
ht_http POST /v1/jobs '{"type": "echo", "payload": {"n": 2}}' -H 'Idempotency-Key: order-42'
assert_problem 422 "same key, other body"
assert_json '.errors[0].code' idempotency_key_reused
assert_eq "$(job_count)" 1 "jobs after a mismatch"

# Another key: another job.
ht_http POST /v1/jobs "$body" -H 'Idempotency-Key: order-43'
assert_status 202 "other key"
assert_ne "$(ht_json .id)" "$first" "a new key makes a new job"

# Malformed keys: 400 problem, nothing stored.
long=$(printf 'k%.0s' $(seq 256))
# (curl sends "Name;" as a header with an empty value.)
ht_http POST /v1/jobs "$body" -H 'Idempotency-Key;'
assert_problem 400 "empty Idempotency-Key"
for bad in '""' "$long" '"unterminated' 'two words' 'caf'$'\xc3\xa9'; do
    ht_http POST /v1/jobs "$body" -H "Idempotency-Key: $bad"
    assert_problem 400 "Idempotency-Key '$bad'"
done
ht_http POST /v1/jobs "$body" -H 'Idempotency-Key: a' -H 'Idempotency-Key: b'
assert_problem 400 "two Idempotency-Key headers"
ok255=$(printf 'k%.0s' $(seq 255))
ht_http POST /v1/jobs "$body" -H "Idempotency-Key: $ok255"
assert_status 202 "a 255-character key"
assert_eq "$(job_count)" 3 "jobs after the malformed keys"

# Five concurrent identical requests: one job, four replays.  (Wait for
# the curls only: a bare `wait` would wait for Redis and the api too.)
pids=()
for i in 1 2 3 4 5; do
    curl -s -o "$HT_TMP/c$i.body" -D "$HT_TMP/c$i.headers" -X POST \
        -H 'Content-Type: application/json' -H 'Idempotency-Key: burst-1' \
        --data-binary '{"type": "echo", "payload": {"burst": true}}' "$HT_URL/v1/jobs" &
    pids+=($!)
done
wait "${pids[@]}"
ids=$(for i in 1 2 3 4 5; do jq -r .id "$HT_TMP/c$i.body"; done | sort -u)
assert_eq "$(wc -l <<<"$ids")" 1 "distinct job ids among 5 concurrent submits"
replays=$(cat "$HT_TMP"/c?.headers | grep -ci '^idempotent-replayed: true' || true)
assert_eq "$replays" 4 "replays among 5 concurrent submits"
assert_eq "$(job_count)" 4 "jobs in Redis after the burst"

# The replay reflects the job as it is now: run it, then replay.
ht_start_worker w1
wait_until 15 "the first job succeeds" ht_job_is "$first" succeeded
ht_http POST /v1/jobs "$body" -H 'Idempotency-Key: order-42'
assert_status 202 "replay of a finished job"
assert_json .id "$first"
assert_json .status succeeded "replayed document is current"
assert_eq "$(ht_header Idempotent-Replayed)" "true"
# The key now expires with the job.
key=$(ht_job_hget "$first" idem_key)
ttl=$(ht_redis TTL "$key")
((ttl > 0 && ttl <= 86400)) || fail "idempotency key TTL after the job finished: $ttl"

# With Prefer: wait, a replay of a finished job is its final 200.
ht_http POST /v1/jobs "$body" -H 'Idempotency-Key: order-42' -H 'Prefer: wait=5'
assert_status 200 "held replay of a finished job"
assert_json .id "$first"
assert_eq "$(ht_header Idempotent-Replayed)" "true"
