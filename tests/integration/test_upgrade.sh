#!/usr/bin/env bash
# A keyspace made by an older release keeps working after `hangtight
# migrate`: a job queued and a job finished under migration 0001 are still
# there, the queued one runs to the end on the new binaries, and the
# binaries refused the old keyspace until it was migrated.
source "$(dirname "$0")/lib.sh"

ht_start_redis
# What release 1 left behind: its library, its version, one queued job and
# one finished job (written with its own functions).
ht_redis -x FUNCTION LOAD REPLACE <"$HT_SOURCE_DIR/migrations/0001_core.lua" >/dev/null
ht_redis HSET ht:schema version 1 >/dev/null
old_queued=00000000-0000-4000-8000-000000000001
old_done=00000000-0000-4000-8000-000000000002
for id in "$old_queued" "$old_done"; do
    ht_redis FCALL ht_submit 3 "ht:{default}:job:$id" 'ht:{default}:wait:default' \
        'ht:{default}:signal' "$id" 'ht:{default}:events' type echo queue default \
        tenant default priority default payload '{"from": "release 1"}' max_attempts 3 \
        timeout_s 60 ttl_s 3600 >/dev/null
done
# Finish the second one the 0001 way: claim it (it is the oldest), complete it.
ht_redis FCALL ht_claim 5 'ht:{default}:wait:high' 'ht:{default}:wait:default' \
    'ht:{default}:wait:low' 'ht:{default}:active' 'ht:{default}:fence' \
    'ht:{default}:job:' old-worker 'ht:{default}:events' >/dev/null
claimed=$(ht_redis HGET "ht:{default}:job:$old_queued" status)
[[ "$claimed" == running ]] && { tmp=$old_queued; old_queued=$old_done; old_done=$tmp; }
token=$(ht_redis HGET "ht:{default}:job:$old_done" token)
ht_redis FCALL ht_complete 4 "ht:{default}:job:$old_done" 'ht:{default}:active' \
    'ht:{default}:wait:default' 'ht:{default}:signal' "$old_done" "$token" succeeded \
    '{"done": "by release 1"}' 1 'ht:{default}:events' >/dev/null
assert_eq "$(ht_redis HGET "ht:{default}:job:$old_done" status)" succeeded "finished under 0001"

# The new api refuses the old keyspace and says what to do.
ht_spawn api-early "$HT_API_BIN" --listen "127.0.0.1:$(ht_free_port)"
ht_wait_exit api-early 40
assert_eq "$HT_EXIT" 1 "api exit status on a version-1 keyspace"
grep -q 'older than' "${HT_LOGS[api-early]}" || fail "no clear refusal: $(cat "${HT_LOGS[api-early]}")"

out=$(ht_migrate)
assert_match "$out" '^keyspace at version [0-9]+ \(applied [0-9]+ migrations\)$' "migrate"
ht_start_api
ht_start_worker w1

# The job queued by release 1 runs to the end on the new binaries.
wait_until 20 "the old queued job succeeds" ht_job_is "$old_queued" succeeded
assert_eq "$(jq -c .result <<<"$HTTP_BODY")" '{"from":"release 1"}' "its result"
# The one finished under 0001 is still readable, as it was.
ht_http GET "/v1/jobs/$old_done"
assert_status 200 "the old finished job"
assert_json .status succeeded
assert_eq "$(jq -c .result <<<"$HTTP_BODY")" '{"done":"by release 1"}' "its stored result"
# New jobs work alongside.
ht_submit '{"type": "echo", "payload": {"from": "now"}}'
wait_until 20 "a new job succeeds" ht_job_is "$HT_JOB" succeeded
