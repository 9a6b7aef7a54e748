#!/usr/bin/env bash
# The api on a real Redis Cluster (issue 10): 3 masters + 3 replicas of
# redis-server --cluster-enabled, a redis+cluster:// URL whose first seed is
# NOT the master of {default}.  Submits, polls and a sync `Prefer: wait`
# (the job finished by hand through the cluster, its event heard on the
# api's subscriber node); the slot of {default} migrated to another master
# by hand (ASK followed while it moves, MOVED after, no 5xx once moved);
# kill -9 of the master then holding {default}: 503 problem+json while the
# cluster fails over, 202s again once its replica is promoted (the outage
# is measured and bounded).
source "$(dirname "$0")/lib.sh"

NODE_TIMEOUT_MS=1500 # cluster-node-timeout: how soon a dead master is failed over
Q='{default}'
LIB=$HT_SOURCE_DIR/migrations/0007_lean.lua

# ---- the cluster (to be replaced by lib.sh's ht_start_cluster) ----------
# Six free ports p whose cluster bus port p + 10000 is free too (so p <= 55535).
mapfile -t PORTS < <(python3 -c '
import random, socket
found = []
while len(found) < 6:
    p = random.randint(20000, 55535)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
    except OSError:
        continue
    if p not in found and all(abs(p - f) != 10000 for f in found):
        found.append(p)
print("\n".join(map(str, found)))')
for p in "${PORTS[@]}"; do
    mkdir -p "$HT_TMP/n$p"
    ht_spawn "node$p" redis-server --port "$p" --bind 127.0.0.1 --dir "$HT_TMP/n$p" \
        --save '' --appendonly no --daemonize no --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout "$NODE_TIMEOUT_MS"
done
rc() { redis-cli -p "$@"; }
for p in "${PORTS[@]}"; do wait_until 20 "node $p answers" test "$(rc "$p" PING 2>/dev/null)" = PONG; done
redis-cli --cluster create "${PORTS[@]/#/127.0.0.1:}" --cluster-replicas 1 --cluster-yes \
    >"$HT_TMP/create.log" 2>&1 || fail "cluster create: $(cat "$HT_TMP/create.log")"
cluster_ok() {
    local p
    for p in "${PORTS[@]}"; do
        rc "$p" CLUSTER INFO | grep -q '^cluster_state:ok' || return 1
    done
}
wait_until 30 "every node says cluster_state:ok" cluster_ok

# The port of the master serving slot $1, as node $2 sees it.
owner_of() {
    rc "$2" CLUSTER NODES | awk -v s="$1" '$3 ~ /master/ && $3 !~ /fail/ {
        for (i = 9; i <= NF; i++) {
            if ($i ~ /^\[/) continue
            n = split($i, r, "-"); lo = r[1]; hi = (n == 2 ? r[2] : r[1])
            if (s + 0 >= lo + 0 && s + 0 <= hi + 0) { split($2, a, "[:@]"); print a[2]; exit }
        } }'
}
masters() { rc "$1" CLUSTER NODES | awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "[:@]"); print a[2] }'; }
SLOT=$(rc "${PORTS[0]}" CLUSTER KEYSLOT "$Q")
A=$(owner_of "$SLOT" "${PORTS[0]}")
mapfile -t MASTERS < <(masters "${PORTS[0]}")
assert_eq "${#MASTERS[@]}" 3 "masters"
B=
for p in "${MASTERS[@]}"; do [[ "$p" == "$A" ]] || B=${B:-$p}; done
log "slot $SLOT of $Q on master $A; it will move to $B"

# The keyspace library on every master, schema 7 (what `hangtight migrate`
# does on a single node).
for p in "${MASTERS[@]}"; do rc "$p" FUNCTION LOAD REPLACE "$(cat "$LIB")" >/dev/null; done
redis-cli -c -p "$A" HSET ht:schema version 7 >/dev/null

# Seeds: every node, B first (the api's subscriber node: killed below), the
# master of {default} last.
seeds=127.0.0.1:$B,
for p in "${PORTS[@]}"; do [[ "$p" == "$A" || "$p" == "$B" ]] || seeds+=127.0.0.1:$p,; done
export HANGTIGHT_REDIS_URL=redis+cluster://${seeds}127.0.0.1:$A
ht_start_api

# ---- submit, poll; the keys are on the master of {default} --------------
ht_submit '{"type": "echo", "payload": {"n": 1}}'
id1=$HT_JOB
ht_http GET "/v1/jobs/$id1"
assert_status 200 "GET on a cluster"
assert_json .status queued
assert_eq "$(rc "$A" EXISTS "ht:$Q:job:$id1")" 1 "job key on master $A"
for p in "${MASTERS[@]}"; do
    [[ "$p" == "$A" ]] || assert_eq "$(rc "$p" DBSIZE)" 0 "keys on master $p (not the slot's owner)"
done

# ---- sync wait, the job finished by hand --------------------------------
# A hand worker: claims the oldest queued job of {default} and completes it
# (FINISHED: its id, FINISHED_PAYLOAD: its payload).
hand_finish() {
    local claimed jid token
    claimed=$(redis-cli -c -p "$A" FCALL ht_claim 5 "ht:$Q:wait:high" "ht:$Q:wait:default" \
        "ht:$Q:wait:low" "ht:$Q:active" "ht:$Q:fence" "ht:$Q:job:" hand "ht:$Q:events")
    [[ -n "$claimed" ]] || return 1
    jid=$(awk 'p == "id" { print; exit } { p = $0 }' <<<"$claimed")
    token=$(awk 'p == "token" { print; exit } { p = $0 }' <<<"$claimed")
    FINISHED_PAYLOAD=$(awk 'p == "payload" { print; exit } { p = $0 }' <<<"$claimed")
    redis-cli -c -p "$A" FCALL ht_complete 4 "ht:$Q:job:$jid" "ht:$Q:active" \
        "ht:$Q:wait:default" "ht:$Q:signal" "$jid" "$token" succeeded '{"by": "hand"}' 0 \
        "ht:$Q:events" 0 >/dev/null
    FINISHED=$jid
}
hand_finish && assert_eq "$FINISHED" "$id1" "the hand worker's first job"
curl -s --max-time 30 -o "$HT_TMP/sync.body" -w '%{http_code}' -X POST "$HT_URL/v1/jobs" \
    -H 'Content-Type: application/json' -H 'Prefer: wait=20' \
    --data-binary '{"type": "echo", "payload": {"n": 2}}' >"$HT_TMP/sync.code" &
sync_pid=$!
wait_until 10 "the held job is queued" hand_finish
wait "$sync_pid" || fail "sync request failed"
assert_eq "$(cat "$HT_TMP/sync.code")" 200 "sync answer"
assert_eq "$(jq -r '.status + " " + .result.by' "$HT_TMP/sync.body")" "succeeded hand" \
    "sync answer document"
assert_eq "$(jq -r .id "$HT_TMP/sync.body")" "$FINISHED" "the sync job is the one finished"

# ---- the slot moves from A to B -----------------------------------------
idA=$(rc "$A" CLUSTER MYID)
idB=$(rc "$B" CLUSTER MYID)
rc "$B" CLUSTER SETSLOT "$SLOT" IMPORTING "$idA" >/dev/null
rc "$A" CLUSTER SETSLOT "$SLOT" MIGRATING "$idB" >/dev/null
migrate_keys() {
    local keys
    mapfile -t keys < <(rc "$A" CLUSTER GETKEYSINSLOT "$SLOT" 1000 | grep "$@")
    ((${#keys[@]} == 0)) || rc "$A" MIGRATE 127.0.0.1 "$B" "" 0 5000 KEYS "${keys[@]}" >/dev/null
}
# Mid-migration, job 1's keys moved first: A answers ASK for it, the api
# follows (ASKING on B).
migrate_keys -F "$id1"
assert_eq "$(rc "$A" CLUSTER GETKEYSINSLOT "$SLOT" 1000 | grep -c "$id1")" 0 "job 1's keys left on A"
ht_http GET "/v1/jobs/$id1"
assert_status 200 "GET through an ASK redirect"
assert_json .status succeeded
migrate_keys -v '^$'
for p in "${MASTERS[@]}"; do rc "$p" CLUSTER SETSLOT "$SLOT" NODE "$idB" >/dev/null; done
assert_eq "$(owner_of "$SLOT" "$A")" "$B" "the slot's owner after the move"
# The api still routes to A: MOVED, followed, and the map refreshed.
fivexx=0
for i in $(seq 10); do
    ht_http POST /v1/jobs "{\"type\": \"echo\", \"payload\": {\"i\": $i}}"
    [[ "$HTTP_STATUS" == 5* ]] && fivexx=$((fivexx + 1))
    [[ "$HTTP_STATUS" == 202 ]] || log "submit after the move: $HTTP_STATUS $HTTP_BODY"
    last=$(ht_json .id)
done
assert_eq "$fivexx" 0 "5xx answers after the move"
assert_eq "$(rc "$B" EXISTS "ht:$Q:job:$last")" 1 "a new job on B"
assert_eq "$(rc "$A" CLUSTER COUNTKEYSINSLOT "$SLOT")" 0 "keys of the slot left on A"
ht_http GET "/v1/jobs/$id1"
assert_status 200 "GET after the move"

# ---- kill -9 of B: 503 while the cluster fails over, then 202 -----------
# A sync request held across the kill: its watch is on B, the api's
# subscriber node; pub/sub moves to another node and subscribes again.
queued=$(rc "$B" LLEN "ht:$Q:wait:default")
curl -s --max-time 40 -o "$HT_TMP/held.body" -w '%{http_code}' -X POST "$HT_URL/v1/jobs" \
    -H 'Content-Type: application/json' -H 'Prefer: wait=35' \
    --data-binary '{"type": "echo", "payload": {"held": "over the failover"}}' >"$HT_TMP/held.code" &
held_pid=$!
wait_until 10 "the held job is queued on B" test "$(rc "$B" LLEN "ht:$Q:wait:default")" -gt "$queued"
rc "$B" WAIT 1 2000 >/dev/null # the replica has every write
ht_stop "node$B" KILL
t0=$(ht_ms)
n503=0
saw_problem=0
outage=
while (($(ht_ms) - t0 < 30000)); do
    ht_http POST /v1/jobs '{"type": "echo", "payload": {"during": "failover"}}' --max-time 5
    log "during failover: $HTTP_STATUS at $(($(ht_ms) - t0)) ms"
    case "$HTTP_STATUS" in
    202)
        ((n503 > 0)) && { outage=$(($(ht_ms) - t0)); break; }
        ;;
    503)
        n503=$((n503 + 1))
        if ((!saw_problem)); then
            assert_problem 503 "an answer while the master is down"
            saw_problem=1
        fi
        ;;
    *) fail "answer during the failover: $HTTP_STATUS $HTTP_BODY" ;;
    esac
    sleep 0.1
done
((n503 > 0)) || fail "no 503 while the master of {default} was down"
[[ -n "$outage" ]] || fail "still no 202 30 s after killing the master"
promoted() { B2=$(owner_of "$SLOT" "$A") && [[ -n "$B2" && "$B2" != "$B" ]]; }
wait_until 10 "node $A sees the slot's new master" promoted
log "failover: $n503 answers 503, 202 again after $outage ms (cluster-node-timeout $NODE_TIMEOUT_MS ms); promoted $B2"
assert_eq "$(rc "$B2" EXISTS "ht:$Q:job:$last")" 1 "the job acknowledged before the kill, on the promoted replica"
ht_http GET "/v1/jobs/$id1"
assert_status 200 "GET after the failover"
held_finished() { hand_finish && [[ "$FINISHED_PAYLOAD" == *held* ]]; }
wait_until 20 "the hand worker reaches the held job" held_finished
wait "$held_pid" || fail "held request failed"
assert_eq "$(cat "$HT_TMP/held.code")" 200 "answer to the request held over the failover"
assert_eq "$(jq -r '.status + " " + .result.by' "$HT_TMP/held.body")" "succeeded hand" \
    "held answer document"

# Stop the api before the cluster (the EXIT trap stops the nodes).
ht_stop api
assert_eq "$HT_EXIT" 0 "api exit status"
