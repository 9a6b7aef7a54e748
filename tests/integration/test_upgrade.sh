#!/usr/bin/env bash
# Upgrades from every shipped schema: the keyspace a release of schema N
# left behind (tests/fixtures/upgrade/schema-N.redis with its library, made
# once by generate.py there) is loaded into an empty Redis, and then:
#   - the api refuses it (older than it needs), and says to migrate;
#   - `hangtight migrate` runs the data steps above N, in their order around
#     the library load, loads the library once, records the version; a
#     second run changes nothing;
#   - no data of an older layout is left (event log streams, queue-wide
#     indexes and totals, the histograms' count field);
#   - before any worker runs, every job of the fixture reads with the status
#     it had, per tenant; each tenant's listing (all, and by status), its
#     queue counts and the dead-letter gauge show exactly its jobs;
#   - with a worker: queued and due jobs run to the end, running ones (their
#     lease long gone) are reaped and run again (or end canceled when a
#     cancel was asked), dead ones are retried by hand and succeed, a far
#     scheduled one is canceled, pending webhooks are delivered with their
#     stored webhook-id, an idempotent submit replays, and the wait
#     histogram counts exactly the first starts (none for a job that had
#     started before the upgrade);
#   - a job's event log from before the upgrade goes at its first change
#     after it, which nobody watches (schema 14 logs only watched jobs):
#     nothing of it is left, and an SSE stream resumed from it starts with
#     the current document instead of a silent gap.
# With HT_TEST_CLUSTER=1 (integration.cluster.upgrade) the same runs on a
# 3-master cluster, the api and worker with 6 partitions: the data steps
# run on every master, and the unpartitioned jobs still run (the replay of
# an Idempotency-Key from N=1 is left out there: it needs the same N).
# test_upgrade.sh [SCHEMA...] checks only those fixtures.
# shellcheck disable=SC2016 # the jq programs' $variables are jq's
source "$(dirname "$0")/lib.sh"

FIXTURES=$HT_SOURCE_DIR/tests/fixtures/upgrade
SCHEMAS=("$@")
((${#SCHEMAS[@]})) || SCHEMAS=(1 2 3 4 5 6 7 8)

# Tenants of the fixtures and their keys.
KEYS=$HT_TMP/keys
declare -A KEY=([default]=default-key-0123456789abcdef [acme]=acme-key-0123456789abcdef
    [globex]=globex-key-0123456789abcdef)
for t in "${!KEY[@]}"; do echo "$t:${KEY[$t]}"; done >"$KEYS"

# The webhook receiver: every callback path of every fixture answers 200.
REQS=$HT_TMP/requests.jsonl
: >"$REQS"
for n in "${SCHEMAS[@]}"; do
    jq -r --arg n "$n" '.jobs[] | select(.webhook) | .label |
        "/schema-\($n)/\(.)"' "$FIXTURES/schema-$n.json"
done | jq -R -s 'split("\n") | map(select(. != "")) | map({(.): ["200"]}) | add // {}' \
    >"$HT_TMP/script.json"
ht_spawn receiver python3 "$HT_CLIENTS_DIR/receiver.py" "$HT_TMP/port" "$REQS" \
    "$HT_TMP/script.json"
wait_until 10 "the receiver listens" test -s "$HT_TMP/port"
HOOK=127.0.0.1:$(cat "$HT_TMP/port")
export HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1 HANGTIGHT_WEBHOOK_RETRY_BASE_MS=200
export HANGTIGHT_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw

ht_start_redis
need=$(sed -n 's/^local SCHEMA = \([0-9]*\)$/\1/p' "$HT_SOURCE_DIR/shared/library.lua")
[[ -n "$need" ]] || fail "no 'local SCHEMA = N' line in shared/library.lua"

# What migrate says it did on a keyspace at version $1: the data steps
# above it marked before-library, the library, those marked after.
expected_migrate() {
    local from=$1 when f n done=() after=()
    for f in "$HT_SOURCE_DIR"/migrations/[0-9]*.lua; do
        n=$(basename "$f")
        ((10#${n%%_*} > from)) || continue
        when=$(sed -n 's/^-- runs: \(before\|after\)-library$/\1/p' "$f")
        if [[ "$when" == before ]]; then done+=("$n"); else after+=("$n"); fi
    done
    if ((${#HT_CLUSTER_PORTS[@]})); then
        done+=("library loaded on $(ht_cluster_masters | wc -l) of $(ht_cluster_masters | wc -l) masters")
    else
        done+=("library loaded")
    fi
    done+=("${after[@]}")
    local IFS=,
    local text=${done[*]}
    if ((from == need)); then
        echo "keyspace at version $need (${text//,/, })"
    else
        echo "keyspace at version $need (from $from: ${text//,/, })"
    fi
}

# Empties Redis and loads fixture $1: its release's library on every
# master, then its keys (webhook targets pointed at the receiver).
load_fixture() {
    local n=$1 lib out port
    lib=$(jq -r .library "$FIXTURES/schema-$n.json")
    ht_redis_each --masters FLUSHALL >/dev/null
    ht_redis_each --masters FUNCTION FLUSH >/dev/null
    for port in $(masters); do
        redis-cli -p "$port" -x FUNCTION LOAD REPLACE <"$FIXTURES/$lib" >/dev/null
    done
    out=$(grep -v '^#' "$FIXTURES/schema-$n.redis" | sed "s/@HOOK@/$HOOK/g" | ht_redis 2>&1)
    ! grep -E '^(ERR|WRONGTYPE|MOVED|CROSSSLOT)' <<<"$out" || fail "loading schema-$n.redis: $out"
    assert_eq "$(ht_redis HGET ht:schema version)" "$n" "the fixture's recorded version"
}

# The ports of the masters (the one node's).
masters() {
    if ((${#HT_CLUSTER_PORTS[@]})); then ht_cluster_masters; else echo "$HT_REDIS_PORT"; fi
}

# Every key of the cluster's masters (or the one node) matching $1.
scan_keys() { ht_redis_each --masters --scan --pattern "$1" "${@:2}"; }
# "<id> <status> <qz>" of every member of every tenant's status:queued.
queued_index_entries() {
    local key id base
    for key in $(scan_keys 'ht:{*}:t:*:status:queued'); do
        base=${key%%\}:*}}:
        for id in $(ht_redis ZRANGE "$key" 0 -1); do
            echo "$id $(ht_redis HGET "${base}job:$id" status) $(ht_redis HGET "${base}job:$id" qz)"
        done
    done
}

# ht_as TENANT METHOD PATH [BODY [CURL ARGS...]]: ht_http with the tenant's key.
ht_as() {
    local t=$1
    shift
    local method=$1 path=$2 body=${3-}
    shift $(($# < 3 ? $# : 3))
    ht_http "$method" "$path" "$body" -H "Authorization: Bearer ${KEY[$t]}" "$@"
}

# GETs PATHs as tenant $1 in one curl; prints the answers as one JSON array.
get_all() {
    local t=$1 urls=() p
    shift
    for p in "$@"; do urls+=("$HT_URL$p"); done
    curl -s --max-time 30 -H "Authorization: Bearer ${KEY[$t]}" "${urls[@]}" | jq -s -c .
}

# Every job document of the fixture, as its tenant reads it: one object
# keyed by id (a missing or unreadable job is absent).
DOCS=$HT_TMP/docs.json
read_jobs() {
    local t
    for t in $(jq -r '[.jobs[].tenant] | unique[]' "$MANIFEST"); do
        mapfile -t paths < <(jq -r --arg t "$t" '.jobs[] | select(.tenant == $t) |
            "/v1/jobs/\(.id)"' "$MANIFEST")
        get_all "$t" "${paths[@]}"
    done | jq -s -c 'add | map(select(.id) | {(.id): .}) | add' >"$DOCS"
}

# Runs jq program $1 with $m (the manifest) and $d (the documents); fails
# with what it printed unless it printed nothing.  $2 names the check.
expect_none() {
    local out
    out=$(jq -r -n --slurpfile m "$MANIFEST" --slurpfile d "$DOCS" "(\$m[0]) as \$m | (\$d[0]) as \$d | $1") ||
        fail "$2: jq failed"
    [[ -z "$out" ]] || fail "$2: $out"
}

# 0 when every job has reached its expected status.
all_ended() {
    read_jobs
    [[ "$(jq -r -n --slurpfile m "$MANIFEST" --slurpfile d "$DOCS" \
        '$m[0].jobs[] | select($d[0][.id].status != .expect) | .label' | head -n 1)" == "" ]]
}

# 0 when every pending webhook of the fixture is delivered.
all_delivered() {
    read_jobs
    [[ "$(jq -r -n --slurpfile m "$MANIFEST" --slurpfile d "$DOCS" \
        '$m[0].jobs[] | select(.webhook and $d[0][.id].callback.state != "delivered") |
         .label' | head -n 1)" == "" ]]
}

# A sample of the api's /metrics (0 when absent), e.g. hangtight_jobs_dead.
metric() {
    curl -s --max-time 10 -H "Authorization: Bearer ${KEY[default]}" "$HT_URL/metrics" |
        awk -v m="$1" '$1 == m { v = $2 } END { print v + 0 }'
}

# A digest of the whole keyspace and of the libraries loaded.
keyspace_digest() {
    local key port
    for key in $(scan_keys '*' | sort); do
        printf '%s %s\n' "$key" "$(ht_redis DUMP "$key" | sha256sum)"
    done
    for port in $(masters); do
        redis-cli -p "$port" FUNCTION LIST WITHCODE | sha256sum
    done
}

# refused_while WHO RECORD: with RECORD (@AT@: now) in ht:workers, as a
# process of the fixture's schema writes it, migrate refuses, names WHO,
# says what to do, and changes nothing.
refused_while() {
    local who=$1 record=${2//@AT@/$(date +%s%3N)} digest out rc
    ht_redis HSET ht:workers "$(jq -r .id <<<"$record")" "$record" >/dev/null
    digest=$(keyspace_digest)
    set +e
    out=$(ht_migrate 2>&1)
    rc=$?
    set -e
    assert_eq "$rc" 1 "migrate exit status while $who runs"
    assert_match "$out" "refused: the keyspace is at version $n and 1 process of that age seems to run \($who wrote its record [0-9]+ s ago" \
        "migrate names $who"
    assert_match "$out" 'upgrade through a release of schema 17 or 18 first' "migrate says what to do"
    assert_match "$out" '--allow-old-processes migrates anyway' "migrate names its override"
    [[ "$(keyspace_digest)" == "$digest" ]] || fail "a refused migrate changed the keyspace"
    ht_redis HDEL ht:workers "$(jq -r .id <<<"$record")" >/dev/null
}

check_fixture() {
    local n=$1 j id t
    MANIFEST=$FIXTURES/schema-$n.json
    log "---- schema $n: $(jq '.jobs | length' "$MANIFEST") jobs"
    load_fixture "$n"

    # Refused until migrated (the library of schema 8 is the same keyspace).
    if ((n < need)); then
        ht_spawn "api-early-$n" "$HT_API_BIN" --listen "127.0.0.1:$(ht_free_port)"
        ht_wait_exit "api-early-$n" 40
        assert_eq "$HT_EXIT" 1 "api exit status on a version-$n keyspace"
        grep -q "keyspace version $n is older than the $need this binary needs: run \`hangtight migrate\`" \
            "${HT_LOGS[api-early-$n]}" || fail "no clear refusal: $(cat "${HT_LOGS[api-early-$n]}")"
    fi
    if ((n == 1)); then
        ht_spawn worker-early "$HT_WORKER_BIN"
        ht_wait_exit worker-early 40
        assert_eq "$HT_EXIT" 1 "worker exit status on a version-1 keyspace"
        grep -q 'keyspace version 1 is older.*hangtight migrate' "${HT_LOGS[worker-early]}" ||
            fail "no clear refusal: $(cat "${HT_LOGS[worker-early]}")"
    fi

    # The refused processes recorded their partition count on the way: the
    # keyspace is made as the release left it again.
    grep -q '^SADD ht:partitions:{default} ' "$FIXTURES/schema-$n.redis" ||
        ht_redis DEL 'ht:partitions:{default}' >/dev/null

    # Schema 19 stores jobs without the id field that processes of schema
    # 16 and older require: migrate refuses while their records say they
    # run, and changes nothing; a stale record does not count.
    if ((n == 8)); then
        refused_while "worker w-old" '{"id": "w-old", "at": @AT@, "concurrency": 4, "handlers": {}}'
        refused_while "an api serving remote worker http:old" \
            '{"id": "http:old", "kind": "http", "name": "old", "types": ["echo"], "at": @AT@}'
        ht_redis HSET ht:workers w-old "{\"id\": \"w-old\", \"at\": $(($(date +%s%3N) - 120000))}" \
            >/dev/null
    fi
    # --allow-old-processes migrates anyway, and says so.
    if ((n == 7)); then
        ht_redis HSET ht:workers w-old "{\"id\": \"w-old\", \"at\": $(date +%s%3N)}" >/dev/null
        local said
        said=$("$HT_CLI_BIN" migrate --redis-url "$HANGTIGHT_REDIS_URL" --allow-old-processes \
            2>"$HT_TMP/migrate.err")
        assert_eq "$said" "$(expected_migrate "$n")" "migrate --allow-old-processes from schema $n"
        assert_match "$(cat "$HT_TMP/migrate.err")" \
            'process of schema 16 or older seems to run \(worker w-old .*\): migrating anyway' \
            "migrate --allow-old-processes warns"
        ht_redis HDEL ht:workers w-old >/dev/null
    fi

    # Migrate, twice.
    ((n == 7)) || assert_eq "$(ht_migrate)" "$(expected_migrate "$n")" "migrate from schema $n"
    assert_eq "$(ht_migrate)" "keyspace at version $need (up to date)" "second migrate"
    assert_eq "$(ht_redis HGET ht:schema version)" "$need" "recorded version"
    local code port
    for port in $(masters); do
        code=$(redis-cli -p "$port" --raw FUNCTION LIST LIBRARYNAME hangtight WITHCODE |
            sed -n '/^library_code$/,$p' | tail -n +2)
        [[ "$code" == "$(cat "$HT_SOURCE_DIR/shared/library.lua")" ]] ||
            fail "master :$port does not hold shared/library.lua"
    done

    # Nothing of an older layout is left.
    assert_eq "$(scan_keys 'ht:{*}:job:*:log' | head -n 3)" "" "event log streams left"
    assert_eq "$(scan_keys 'ht:{*' | grep -E '^ht:\{[^}]*\}:(jobs|expiry|stats|status:[a-z]+)$' |
        head -n 3)" "" "queue-wide indexes or totals left"
    assert_eq "$(scan_keys 'ht:{*}:t:*:jobs' | head -n 3)" "" "all-jobs indexes left"
    # The jobs queued before are in status:queued, marked so that their
    # claim takes them out of it.
    assert_eq "$(queued_index_entries | awk '$2 != "queued" || $3 != 1' | head -n 3)" "" \
        "status:queued entries that are not marked queued jobs"
    # Processes of any partition count serve the unpartitioned queue's jobs.
    assert_eq "$(ht_redis SISMEMBER 'ht:partitions:{default}' 1)" 1 "partition count 1 recorded"
    local key
    for key in $(scan_keys 'ht:{*}:hist:*'); do
        assert_eq "$(ht_redis HEXISTS "$key" count)" 0 "field count of $key"
    done

    ht_start_api --api-keys-file "$KEYS" --metrics-public
    # Every job reads as it was stored.
    read_jobs
    expect_none '$m.jobs[] | $d[.id] as $doc |
        if $doc == null then "\(.label) (\(.id)) does not read"
        elif $doc.status != .status then "\(.label) is \($doc.status), not \(.status)"
        elif $doc.type != "echo" or $doc.metadata != {} then "\(.label) reads as \($doc)"
        else empty end' "jobs as stored"
    # Each tenant's listing (all, by status) and counts hold its jobs only.
    local tenant
    for tenant in $(jq -r '[.jobs[].tenant] | unique[]' "$MANIFEST"); do
        get_all "$tenant" "/v1/jobs?limit=100" \
            /v1/jobs?limit=100\&status={scheduled,queued,running,succeeded,failed,canceled} \
            /v1/queues >"$HT_TMP/lists.json"
        jq -r -n --slurpfile m "$MANIFEST" --slurpfile l "$HT_TMP/lists.json" --arg t "$tenant" '
            ($m[0].jobs | map(select(.tenant == $t))) as $mine |
            def ids(s): [$mine[] | select(s) | .id] | sort;
            def got(i): [$l[0][i].jobs[].id] | sort;
            ["scheduled", "queued", "running", "succeeded", "failed", "canceled"] as $ss |
            (if got(0) != ids(true) then "listing: \(got(0)) not \(ids(true))" else empty end),
            ($l[0][0:7][] | select(.next_cursor != null) | "a listing pages"),
            (range(6) as $i | $ss[$i] as $s |
             if got($i + 1) != ids(.status == $s) then "\($s) listing: \(got($i + 1))"
             else empty end),
            ($ss[] as $s | select($s != "queued") |
             ($l[0][7].queues[0][$s]) as $c | ids(.status == $s) as $want |
             if $c != ($want | length) then "\($s) count \($c), not \($want | length)"
             else empty end)' >"$HT_TMP/lists.out"
        [[ ! -s "$HT_TMP/lists.out" ]] || fail "tenant $tenant: $(cat "$HT_TMP/lists.out")"
    done
    assert_eq "$(metric hangtight_jobs_dead)" \
        "$(jq '[.jobs[] | select(.status == "failed")] | length' "$MANIFEST")" "dead letters"
    assert_eq "$(metric hangtight_jobs_scheduled)" \
        "$(jq '[.jobs[] | select(.status == "scheduled")] | length' "$MANIFEST")" "scheduled"
    local waits
    waits=$(metric hangtight_job_wait_seconds_count)

    # Run it all: the worker, and by hand a cancel, the retries, a replay.
    ht_start_worker "w$n"
    while read -r j; do
        id=$(jq -r .id <<<"$j") t=$(jq -r .tenant <<<"$j")
        if [[ "$(jq -r '.cancel // false' <<<"$j")" == true ]]; then
            ht_as "$t" DELETE "/v1/jobs/$id"
            assert_status 200 "cancel of $id"
            assert_json .status canceled
        fi
        if [[ "$(jq -r '.retry // false' <<<"$j")" == true ]]; then
            ht_as "$t" POST "/v1/jobs/$id/retry"
            assert_status 202 "retry of $id"
        fi
        # (An Idempotency-Key picks its partition among the api's own N: a
        # replay meets a record of N=1 only when the api runs with N=1.)
        if [[ "$(jq -r '.idem // empty' <<<"$j")" != "" && "${HANGTIGHT_PARTITIONS:-1}" == 1 ]]; then
            ht_as "$t" POST /v1/jobs "$(jq -r .idem.body <<<"$j")" \
                -H "Idempotency-Key: $(jq -r .idem.key <<<"$j")"
            assert_match "$HTTP_STATUS" '^20[02]$' "idempotent replay status"
            assert_json .id "$id" "the replayed job"
            assert_eq "$(ht_header idempotent-replayed)" true "idempotent-replayed"
        fi
    done < <(jq -c '.jobs[] | select(.cancel or .retry or .idem)' "$MANIFEST")
    wait_until 60 "every job of schema $n ends as expected" all_ended
    wait_until 30 "every webhook of schema $n is delivered" all_delivered
    expect_none '$m.jobs[] | $d[.id] as $doc |
        (select(.attempt and $doc.attempt != .attempt) |
         "\(.label): attempt \($doc.attempt), not \(.attempt)"),
        (select(.expect == "succeeded" and $doc.result != (.result // .payload)) |
         "\(.label): result \($doc.result)")' "outcomes"
    # Pending deliveries went out with their stored webhook-id, the one
    # delivered before the upgrade did not go again.
    jq -r -n --slurpfile m "$MANIFEST" --arg n "$n" '
        [inputs] as $reqs | $m[0].jobs[] | select(.webhook) |
        "/schema-\($n)/\(.label)" as $p | [$reqs[] | select(.path == $p)] as $got |
        if .webhook == "delivered" and ($got | length) > 0 then "\(.label) delivered again"
        elif .webhook == "pending" and ($got | map(.headers["webhook-id"]) | unique) != [.cb_id]
        then "\(.label): webhook-ids \($got | map(.headers["webhook-id"]))"
        else empty end' "$REQS" >"$HT_TMP/hooks.out"
    [[ ! -s "$HT_TMP/hooks.out" ]] || fail "webhooks: $(cat "$HT_TMP/hooks.out")"

    # The log written before the upgrade (schema 2 on) went with the job's
    # first change after it, which nobody watched; a stream resumed from it
    # gets the current document.
    if ((n >= 2)); then
        id=$(jq -r '.jobs[] | select(.label == "running") | .id' "$MANIFEST")
        assert_eq "$(ht_redis EXISTS "$(ht_job_key "$id"):ev")" 0 "the old event log after a change"
        local sse
        sse=$(curl -sN --max-time 20 -H "Authorization: Bearer ${KEY[default]}" \
            -H 'Last-Event-ID: 2-0' "$HT_URL/v1/jobs/$id/events")
        grep -m 1 '^event:' <<<"$sse" | grep -qx 'event: status' ||
            fail "the resumed stream does not start with the document: $sse"
        grep '^data:' <<<"$sse" | head -n 1 | grep -q '"status":"succeeded"' ||
            fail "the resumed stream's document is not the finished job: $sse"
    fi

    # Counters: the first starts (the worker sends its counts within about
    # a second), and nothing left running or dead.
    local first
    first=$(jq '[.jobs[] | select(.first_start)] | length' "$MANIFEST")
    waits_are() { (($(metric hangtight_job_wait_seconds_count) - waits == first)); }
    wait_until 10 "the first starts are counted" waits_are
    assert_eq "$(($(metric hangtight_job_wait_seconds_count) - waits))" "$first" \
        "first starts observed"
    assert_eq "$(metric hangtight_jobs_running)" 0 "running at the end"
    assert_eq "$(metric hangtight_jobs_dead)" 0 "dead letters at the end"
    assert_eq "$(metric hangtight_jobs_scheduled)" 0 "scheduled at the end"
    assert_eq "$(queued_index_entries | head -n 3)" "" "status:queued entries at the end"

    ht_stop "w$n"
    assert_eq "$HT_EXIT" 0 "worker exit status"
    ht_stop api
    assert_eq "$HT_EXIT" 0 "api exit status"
}

for n in "${SCHEMAS[@]}"; do
    [[ -f "$FIXTURES/schema-$n.redis" ]] || fail "no fixture for schema $n"
    check_fixture "$n"
done
