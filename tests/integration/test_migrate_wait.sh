#!/usr/bin/env bash
# `hangtight migrate` waits for a Redis that is not ready yet (a compose
# stack starts it beside Redis, and podman-compose does not wait for
# depends_on conditions): nothing listening yet, a Redis loading its data
# (LOADING), a Redis that does not answer (SIGSTOP), each logged in one line
# naming what it waits for; and a name that never resolves ends the wait
# within its bound, the URL's password never printed.
source "$(dirname "$0")/lib.sh"

# Redis is stopped in part 3: continue it whatever happens, so the cleanup
# can stop it.
trap 'rc=$?; set +e; [[ -n "${HT_PIDS[redis]:-}" ]] && kill -CONT "${HT_PIDS[redis]}" 2>/dev/null; (exit $rc); ht__cleanup' EXIT

# The "waiting" lines of migrate NAME's log.
waits() { grep -c "hangtight migrate: waiting up to" "${HT_LOGS[$1]}" || true; }
waited() { [[ "$(waits "$1")" -ge 1 ]]; }

# 0 when the migrate spawned as NAME ran to success: exit 0, the keyspace
# reported, exactly one waiting line (mentioning WHAT).
assert_migrated() {
    local name=$1 what=$2
    ht_wait_exit "$name" 60
    assert_eq "$HT_EXIT" 0 "$name's exit status ($(tail -n 5 "${HT_LOGS[$name]}"))"
    grep -q '^keyspace at version' "${HT_LOGS[$name]}" || fail "$name did not report the keyspace"
    assert_eq "$(waits "$name")" 1 "waiting lines of $name"
    grep "waiting up to" "${HT_LOGS[$name]}" | grep -q -- "$what" ||
        fail "$name's waiting line does not say '$what': $(grep 'waiting up to' "${HT_LOGS[$name]}")"
}

# ---- 1. nothing listens yet --------------------------------------------

HT_REDIS_PORT=$(ht_free_port)
url=redis://127.0.0.1:$HT_REDIS_PORT/0
ht_spawn m1 "$HT_CLI_BIN" migrate --redis-url "$url" --wait-s 60
wait_until 30 "migrate logs that it waits for Redis" waited m1
ht_alive m1 || fail "migrate gave up at once: $(cat "${HT_LOGS[m1]}")"
grep -q "for Redis at 127.0.0.1:$HT_REDIS_PORT" "${HT_LOGS[m1]}" ||
    fail "the waiting line does not name the address: $(cat "${HT_LOGS[m1]}")"
ht_start_redis
assert_migrated m1 "refused"
version=$(ht_redis HGET ht:schema version)
[[ "$version" =~ ^[0-9]+$ && "$version" -ge 1 ]] || fail "no keyspace version after migrate: '$version'"

# ---- 2. Redis loading its data (LOADING) --------------------------------

# 2000 keys, loaded at 2 ms each, with events served every KB: LOADING
# answers for about 4 s.
for i in $(seq 2000); do printf 'SET load:%d x\n' "$i"; done | ht_redis --pipe >/dev/null
ht_redis SAVE >/dev/null
ht_stop_redis
ht_spawn redis redis-server --port "$HT_REDIS_PORT" --bind 127.0.0.1 --dir "$HT_TMP/redis" \
    --save '' --appendonly no --daemonize no --key-load-delay 2000 \
    --loading-process-events-interval-bytes 1024
loading() { [[ "$(redis-cli -p "$HT_REDIS_PORT" GET load:1 2>&1)" == LOADING* ]]; }
wait_until 20 "redis answers LOADING" loading
ht_spawn m2 "$HT_CLI_BIN" migrate --redis-url "$url" --wait-s 60
assert_migrated m2 "LOADING"
assert_eq "$(ht_redis GET load:2000)" x "a key of the loaded data"

# ---- 3. Redis that does not answer (SIGSTOP) ----------------------------

kill -STOP "${HT_PIDS[redis]}"
ht_spawn m3 "$HT_CLI_BIN" migrate --redis-url "$url" --wait-s 60
wait_until 30 "migrate logs that it waits for the stopped Redis" waited m3
kill -CONT "${HT_PIDS[redis]}"
assert_migrated m3 "no reply within"

# ---- 4. a name that never resolves: the wait ends -----------------------

t0=$(ht_ms)
ht_spawn m4 "$HT_CLI_BIN" migrate --redis-url "redis://:s3cret-pw@ht-no-such-host.invalid:6379/0" \
    --wait-s 2
ht_wait_exit m4 60
elapsed=$(($(ht_ms) - t0))
assert_eq "$HT_EXIT" 1 "exit status of a migrate that found no Redis"
assert_eq "$(waits m4)" 1 "waiting lines of the migrate that found no Redis"
grep -q "cannot reach Redis at ht-no-such-host.invalid:6379 (waited up to 2 s)" "${HT_LOGS[m4]}" ||
    fail "no final error naming the host: $(cat "${HT_LOGS[m4]}")"
if grep -q s3cret-pw "${HT_LOGS[m4]}"; then
    fail "the password of the URL was printed: $(cat "${HT_LOGS[m4]}")"
fi
# --wait-s 2 plus one try (a lookup, a connect timeout): well under 30 s
# even on a loaded machine with a slow resolver.
((elapsed < 30000)) || fail "a 2 s wait took $elapsed ms"
log "a 2 s wait for an unresolvable name ended after $elapsed ms"
