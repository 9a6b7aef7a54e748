#!/usr/bin/env bash
# The blocking cluster client (shared/rconn.c under shared/store.c) against
# a real Redis Cluster: 3 masters + 3 replicas of redis-server.
#   - `hangtight migrate` loads the function library on every master (and so
#     on every replica) and records the schema; seeds are tried in order (the
#     first one is dead); a second run is a no-op.
#   - the CLI follows an ASK while the slot of ht:schema is being migrated.
#   - a master without the library: the worker refuses to start; migrate
#     loads it there.
#   - a worker given one seed (a master that does NOT hold {default})
#     registers its types and claims and completes jobs living elsewhere.
#   - the slot of {default} moved to another master (SETSLOT + MIGRATE): the
#     worker follows the MOVED (no MOVED error ever surfaces) and carries on.
#   - cancel requests over pub/sub reach the worker (PUBLISH on another node).
#   - kill -9 of the master holding {default} (and the cancel listener): its
#     replica takes over, jobs submitted after the failover complete, the
#     listener moves to another node.
# Jobs are submitted with `redis-cli -c FCALL ht_submit` as the api does.
source "$(dirname "$0")/lib.sh"

# ---- cluster helpers beyond lib.sh's ----------------------------------
node_id() { redis-cli -p "$1" CLUSTER MYID; }
# The port of a replica of the master on port PORT.
replica_of() {
    ht_cluster_nodes | awk -v m="$(node_id "$1")" \
        '$3 ~ /slave/ && $4 == m { split($2, a, "[:@,]"); print a[2] }' | head -n 1
}
# 0 when every live node says SLOT is served by the master on PORT.
slot_moved_everywhere() {
    local node
    for node in $(ht_cluster_live_ports); do
        redis-cli -p "$node" CLUSTER NODES | awk -v s="$1" -v p="$2" '
            $3 ~ /master/ { split($2, a, "[:@,]"); if (a[2] == p) for (i = 9; i <= NF; i++) {
                n = split($i, r, "-"); hi = n == 2 ? r[2] : r[1]
                if ($i !~ /^\[/ && s + 0 >= r[1] + 0 && s + 0 <= hi + 0) found = 1 } }
            END { exit !found }' || return 1
    done
}

# Moves SLOT from the master on port FROM to the one on port TO, keys and
# all, the way redis-cli --cluster reshard does for one slot.
move_slot() {
    local slot=$1 from=$2 to=$3 keys port
    redis-cli -p "$to" CLUSTER SETSLOT "$slot" IMPORTING "$(node_id "$from")" >/dev/null
    redis-cli -p "$from" CLUSTER SETSLOT "$slot" MIGRATING "$(node_id "$to")" >/dev/null
    while keys=$(redis-cli -p "$from" CLUSTER GETKEYSINSLOT "$slot" 100) && [[ -n "$keys" ]]; do
        # shellcheck disable=SC2086 # one key per word
        redis-cli -p "$from" MIGRATE 127.0.0.1 "$to" "" 0 5000 KEYS $keys >/dev/null
    done
    for port in "$to" "$from" $(ht_cluster_live_ports); do
        redis-cli -p "$port" CLUSTER SETSLOT "$slot" NODE "$(node_id "$to")" >/dev/null 2>&1 || true
    done
}

# ---- jobs, as the api submits them --------------------------------------
CLI= # the node redis-cli starts from (a master never killed here)
rc() { redis-cli -c -p "$CLI" "$@"; }
submit() { # submit ID TYPE PAYLOAD
    rc FCALL ht_submit 3 "ht:{default}:job:$1" "ht:{default}:wait:default" "ht:{default}:signal" \
        "$1" "ht:{default}:events" 0 "" "" type "$2" queue default tenant default priority default \
        payload "$3" max_attempts 1 timeout_s 60 ttl_s 3600 failed_ttl_s 3600
}
submit_echo() { submit "$1" echo "{\"n\": $2}"; } # submit_echo ID N
new_id() { cat /proc/sys/kernel/random/uuid; } # a v4 UUID, as the api makes
status_of() { rc HGET "ht:{default}:job:$1" status; }
JOBS=()
SUBMIT_OUT=
submit_one() { # one echo job, its id appended to JOBS; 1 when refused
    local id
    id=$(new_id)
    SUBMIT_OUT=$(submit_echo "$id" "${#JOBS[@]}" 2>&1)
    [[ "$SUBMIT_OUT" == *"$id"* ]] || return 1
    JOBS+=("$id")
}
submit_batch() { # submit_batch N: N echo jobs
    local i
    for ((i = 0; i < $1; i++)); do submit_one || fail "submit: $SUBMIT_OUT"; done
}
# A running sleep job is stopped by a cancel PUBLISHed on node PORT (any
# node: a cluster broadcasts PUBLISH), as ht_cancel publishes it.
cancel_over_pubsub() {
    local port=$1 id
    id=$(new_id)
    submit "$id" sleep '{"ms": 30000}' >/dev/null
    wait_until 10 "sleep job $id runs" eval "[[ \$(status_of $id) == running ]]"
    redis-cli -p "$port" PUBLISH "ht:{default}:cancel" "$id $(rc HGET "ht:{default}:job:$id" token)" >/dev/null
    wait_until 10 "the worker hears the cancel of $id" \
        grep -q "cancel requested: stopping the handler.*$id" "${HT_LOGS[w1]}"
    wait_until 10 "sleep job $id stops" eval "[[ \$(status_of $id) != running ]]"
}
all_succeeded() {
    local id
    for id in "${JOBS[@]}"; do [[ "$(status_of "$id")" == succeeded ]] || return 1; done
}

# ---- the cluster --------------------------------------------------------
started=$SECONDS
ht_start_cluster --node-timeout 1500
SLOT=$(ht_key_slot '{default}')
# Three masters: OWNER holds {default}, SEED is the first live seed (it gets
# {default} later, then is killed), CLI is never touched.
OWNER=$(ht_slot_master "$SLOT")
mapfile -t others < <(ht_cluster_masters | grep -vx "$OWNER")
SEED=${others[0]:-} CLI=${others[1]:-}
[[ -n "$OWNER" && -n "$SEED" && -n "$CLI" ]] || fail "masters: '$OWNER' '$SEED' '$CLI'"
# Seeds: a dead port (refused), SEED, and a replica for when SEED is gone.
DEAD=$(ht_free_port)
BACKUP=$(replica_of "$CLI")
[[ -n "$BACKUP" ]] || fail "no replica of :$CLI in CLUSTER NODES: $(ht_cluster_nodes)"
export HANGTIGHT_REDIS_URL="redis+cluster://127.0.0.1:$DEAD,127.0.0.1:$SEED,127.0.0.1:$BACKUP"
log "{default} is slot $SLOT on :$OWNER; seeds $HANGTIGHT_REDIS_URL"

# ---- migrate ------------------------------------------------------------
out=$(ht_migrate) || fail "migrate: $out"
need=$(sed -n 's/^local SCHEMA = \([0-9]*\)$/\1/p' "$HT_SOURCE_DIR/shared/library.lua")
assert_match "$out" "^keyspace at version $need \\(from 0: .*library loaded on 3 of 3 masters.*\\)\$" \
    "first migrate"
for port in "${HT_CLUSTER_PORTS[@]}"; do
    wait_until 10 "the library reaches node $port" \
        eval "redis-cli -p $port FUNCTION LIST LIBRARYNAME hangtight | grep -qx hangtight"
done
assert_eq "$(rc HGET ht:schema version)" "$need" "recorded schema version"
assert_eq "$(ht_migrate)" "keyspace at version $need (up to date)" "second migrate"

# ASK: ht:schema's slot half-way to another master, its key already there.
sslot=$(ht_key_slot ht:schema)
sfrom=$(ht_slot_master "$sslot")
sto=$(ht_cluster_masters | grep -vx "$sfrom" | head -n 1)
redis-cli -p "$sto" CLUSTER SETSLOT "$sslot" IMPORTING "$(node_id "$sfrom")" >/dev/null
redis-cli -p "$sfrom" CLUSTER SETSLOT "$sslot" MIGRATING "$(node_id "$sto")" >/dev/null
redis-cli -p "$sfrom" MIGRATE 127.0.0.1 "$sto" ht:schema 0 5000 >/dev/null
assert_match "$(redis-cli -p "$sfrom" HGET ht:schema version 2>&1)" '^ASK ' "the old owner answers ASK"
assert_eq "$(ht_migrate)" "keyspace at version $need (up to date)" "migrate through an ASK"
for port in "$sto" "$sfrom" $(ht_cluster_live_ports); do
    redis-cli -p "$port" CLUSTER SETSLOT "$sslot" NODE "$(node_id "$sto")" >/dev/null 2>&1 || true
done

# A master without the library (as one added to the cluster after the
# migration would be): a worker refuses to start, naming it; migrate loads
# it there.
redis-cli -p "$SEED" FUNCTION DELETE hangtight >/dev/null
ht_spawn w0 "$HT_WORKER_BIN"
ht_wait_exit w0 30
assert_ne "$HT_EXIT" 0 "exit status of a worker facing a master without the library"
grep -q "no hangtight function library.*on master 127.0.0.1:$SEED" "${HT_LOGS[w0]}" ||
    fail "the worker did not name the master without the library: $(tail -n 3 "${HT_LOGS[w0]}")"
assert_eq "$(ht_migrate)" "keyspace at version $need (library loaded on 1 of 3 masters)" \
    "repairing migrate"
redis-cli -p "$SEED" FUNCTION LIST LIBRARYNAME hangtight | grep -qx hangtight ||
    fail "migrate did not load the library on the master that lacked it"

# ---- a worker given one seed that does not hold the queue ---------------
ht_start_worker w1 --concurrency 2
# shellcheck disable=SC2016 # expanded by eval, at each try
wait_until 10 "the worker registers its types" eval '[[ -n "$(rc HGET ht:types echo)" ]]'
submit_batch 5
wait_until 20 "5 jobs on :$OWNER succeed" all_succeeded
assert_eq "$(redis-cli -p "$OWNER" EXISTS "ht:{default}:job:${JOBS[0]}")" 1 "job hash on :$OWNER"
assert_match "$(redis-cli -p "$SEED" EXISTS "ht:{default}:job:${JOBS[0]}" 2>&1)" '^MOVED ' \
    "the seed does not serve the jobs' slot"

# ---- MOVED: {default} moves to SEED's master -----------------------------
move_slot "$SLOT" "$OWNER" "$SEED"
wait_until 10 "every node sees slot $SLOT on :$SEED" slot_moved_everywhere "$SLOT" "$SEED"
OWNER=$SEED
submit_batch 5
wait_until 20 "jobs after the slot moved succeed" all_succeeded
assert_eq "$(redis-cli -p "$OWNER" EXISTS "ht:{default}:job:${JOBS[9]}")" 1 "job hash on the new owner"
if grep -q MOVED "${HT_LOGS[w1]}"; then fail "a MOVED reached the worker's log"; fi

# Cancel over pub/sub: the listener is on the first seed that answers.
assert_eq "$(redis-cli -p "$SEED" PUBSUB NUMSUB "ht:{default}:cancel" | tail -n 1)" 1 \
    "cancel listeners on :$SEED"
cancel_over_pubsub "$BACKUP"

# ---- failover: kill -9 the master of {default} (and of the listener) -----
replica=$(replica_of "$OWNER")
[[ -n "$replica" ]] || fail "no replica of :$OWNER"
wait_until 20 "the replica :$replica is in sync" \
    eval "redis-cli -p $replica INFO replication | grep -q master_link_status:up"
killed_at=$(ht_ms)
ht_kill_slot_master "$SLOT"
wait_until 30 "the replica :$replica is promoted" \
    eval "[[ \$(redis-cli -p $replica ROLE | head -n 1) == master ]]"
promoted_at=$(ht_ms)
# The seed may still point at the dead master for a moment: retry the submit.
wait_until 20 "a submit is accepted after the failover" submit_one
submit_batch 4
wait_until 30 "jobs after the failover succeed" all_succeeded
done_at=$(ht_ms)
# The worker's own outage: from the kill to its last "redis available again".
back=$(grep 'redis available again' "${HT_LOGS[w1]}" | tail -n 1 | jq -r .ts)
back_ms=$([[ -n "$back" ]] && date -d "$back" +%s%3N || echo "$killed_at")
log "failover: replica promoted $((promoted_at - killed_at)) ms after kill -9; worker claiming" \
    "again after $((back_ms - killed_at)) ms; jobs submitted after it done $((done_at - killed_at)) ms after"
assert_eq "$(redis-cli -p "$replica" EXISTS "ht:{default}:job:${JOBS[-1]}")" 1 "job hash on the promoted replica"
ht_alive w1 || fail "the worker died"
# The cancel listener moved to a node that answers.
wait_until 20 "the cancel listener is back" grep -q "listening for cancel requests again" "${HT_LOGS[w1]}"
cancel_over_pubsub "$CLI"

ht_stop w1
assert_eq "$HT_EXIT" 0 "worker exit status"
log "done in $((SECONDS - started)) s"
