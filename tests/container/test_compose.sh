#!/usr/bin/env bash
# container.compose: the Dockerfile and docker-compose.yml run for real, under
# podman and podman-compose (docs/containers.md).
#
#  1. Prepares what podman needs, each only when missing: containers.conf
#     (runc, ulimits the machine allows; an existing file is never
#     changed), the base image debian:12-slim (debootstrap from Debian's
#     archive, imported), a redis:7 stand-in (redis7.Dockerfile).
#  2. Builds the image from this checkout (podman's layer cache makes a
#     rebuild after a test or docs change take seconds).
#  3. Brings the stack up under a project name of its own, with the api
#     published on a free host port (HANGTIGHT_PORT), and checks the closed
#     default: the api generated a key and logged it once, a request
#     without it gets 401, a job submitted with it succeeds, and a file job
#     (gzip) goes through the blobs volume that api and workers share.
#  4. Scales the workers to 3 (HANGTIGHT_WORKERS: podman-compose 1.0.3 has
#     no working --scale) and checks that 12 long jobs run at once, which 3
#     workers of 4 slots can do only together, each holding some.
#  5. Restarts the redis container 3 times, then empties it: the workers
#     say what is missing, the migrate container run again brings them back.
#  6. Stops the workers gracefully: a job that ends within the drain
#     succeeds, a longer one is handed back by a second SIGTERM (queued,
#     its attempt not counted); then `down -v`.
#  Whatever happens, the project's containers, volumes and network are
#  removed at exit, and the test fails if any is left.
#
# Skipped (exit 77) when podman or podman-compose is not installed, or
# cannot run a container here; under CI=true either is a failure.  Runs on
# its own, or by ctest as container.compose (label "container").
set -euo pipefail

HT_SOURCE_DIR=${HT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
HERE=$HT_SOURCE_DIR/tests/container
HT_TEST_NAME=container.compose
HT_POLL_S=0.5
SKIP_CODE=77
BASE_IMAGE=docker.io/library/debian:12-slim
REDIS_IMAGE=docker.io/library/redis:7
# One image tag per checkout: two worktrees tested at once do not build
# over each other's image, and a checkout's next run reuses its layers.
IMAGE=localhost/hangtight-test:$(printf '%s' "$HT_SOURCE_DIR" | sha256sum | cut -c1-12)
PROJECT=httest$$$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ht-container.XXXXXX")
PORT=
KEY=
WORKERS=1
T0=$SECONDS

# log, fail, wait_until (every 0.5 s)
source "$HT_SOURCE_DIR/tests/integration/base.sh"

# Not runnable here: skipped, except under CI, where it must run.
skip() {
    [[ "${CI:-}" != true ]] || fail "$* (CI=true: the container test must run)"
    printf '\nSKIP (%s): %s\n' "$HT_TEST_NAME" "$*" >&2
    exit "$SKIP_CODE"
}

# podman-compose on this checkout's compose file, as project $PROJECT.
compose() {
    HANGTIGHT_PORT=$PORT HANGTIGHT_IMAGE=$IMAGE HANGTIGHT_WORKERS=$WORKERS \
        podman-compose -p "$PROJECT" -f "$HT_SOURCE_DIR/docker-compose.yml" "$@" \
        >>"$TMP/compose.log" 2>&1
}

# Volumes the project's containers mount (named or anonymous), noted while
# they exist so that none is left behind after they are gone.
VOLUMES=$TMP/volumes
note_volumes() {
    local c
    for c in $(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT"); do
        podman inspect -f '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}}{{"\n"}}{{end}}{{end}}' "$c"
    done >>"$VOLUMES" 2>/dev/null
}

# The project's containers (every state), volumes and networks.
leftovers() {
    local v
    podman ps -a --format '{{.Names}}' --filter "label=io.podman.compose.project=$PROJECT"
    podman volume ls --format '{{.Name}}' | grep "^${PROJECT}_" || true
    sort -u "$VOLUMES" 2>/dev/null | while read -r v; do
        [[ -z "$v" ]] || ! podman volume exists "$v" || echo "$v"
    done
    podman network ls --format '{{.Name}}' | grep "^${PROJECT}_" || true
}

cleanup() {
    local rc=$? name
    set +e
    if [[ -n "$PORT" ]]; then
        if ((rc != 0)); then
            for name in $(podman ps -a --format '{{.Names}}' \
                --filter "label=io.podman.compose.project=$PROJECT"); do
                printf '\n===== podman logs %s (last 40 lines)\n' "$name" >&2
                podman logs --tail 40 "$name" >&2 2>&1
            done
        fi
        note_volumes
        compose down -v -t 5
        # What `down` left (a failed start, a container it did not know).
        for name in $(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT"); do
            podman rm -f -v -t 0 "$name" >/dev/null 2>&1
        done
        for name in $(podman volume ls --format '{{.Name}}' | grep "^${PROJECT}_") \
            $(sort -u "$VOLUMES" 2>/dev/null); do
            podman volume rm -f "$name" >/dev/null 2>&1
        done
        for name in $(podman network ls --format '{{.Name}}' | grep "^${PROJECT}_"); do
            podman network rm -f "$name" >/dev/null 2>&1
        done
        if [[ -n "$(leftovers)" ]]; then
            printf 'FAIL (%s): left behind: %s\n' "$HT_TEST_NAME" "$(leftovers | tr '\n' ' ')" >&2
            ((rc == 0 || rc == SKIP_CODE)) && rc=1
        fi
    fi
    if ((rc != 0 && rc != SKIP_CODE)); then
        if [[ -s "$TMP/compose.log" ]]; then
            printf '\n===== podman-compose output (last 60 lines)\n' >&2
            tail -n 60 "$TMP/compose.log" >&2
        fi
        echo "test files kept in $TMP" >&2
    else
        rm -rf "$TMP"
        ((rc == 0)) && echo "PASS ($HT_TEST_NAME) in $((SECONDS - T0)) s" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. what podman needs ------------------------------------------------

for tool in podman podman-compose curl jq; do
    command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/deps.sh --test installs it)"
done

# The recipe of docs/containers.md: runc (crun refuses a machine with hybrid
# cgroups) and ulimits within the machine's hard limits.  Written only when
# there is no containers.conf at all; an existing one is left as it is.
if ((EUID == 0)); then
    conf=/etc/containers/containers.conf
else
    conf=${XDG_CONFIG_HOME:-$HOME/.config}/containers/containers.conf
fi
if [[ ! -e "$conf" ]]; then
    log "writing $conf (runtime runc, nofile and nproc ulimits 1024)"
    mkdir -p "$(dirname "$conf")"
    printf '%s\n' '[containers]' 'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]' \
        '[engine]' 'runtime = "runc"' >"$conf"
elif ! grep -q '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"runc"' "$conf"; then
    log "$conf exists and does not choose runc: left as it is (docs/containers.md has the recipe)"
fi

podman info >"$TMP/podman-info.log" 2>&1 ||
    skip "podman does not work here: $(tail -n 3 "$TMP/podman-info.log" | tr '\n' ' ')"

# Preparing images is serialised across concurrent runs of this test.
exec 9>"${TMPDIR:-/tmp}/hangtight-container-images.lock"
flock 9

if ! podman image exists "$BASE_IMAGE"; then
    command -v debootstrap >/dev/null ||
        skip "no $BASE_IMAGE image and no debootstrap to make one (scripts/deps.sh --test installs it)"
    log "making $BASE_IMAGE with debootstrap (about a minute)"
    t=$SECONDS
    rootfs=$TMP/rootfs
    debootstrap --variant=minbase bookworm "$rootfs" "${HT_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
        >"$TMP/debootstrap.log" 2>&1 || fail "debootstrap: $(tail -n 5 "$TMP/debootstrap.log")"
    tar -C "$rootfs" -c . | podman import - "$BASE_IMAGE" >>"$TMP/debootstrap.log" 2>&1 ||
        fail "podman import: $(tail -n 5 "$TMP/debootstrap.log")"
    rm -rf "$rootfs"
    log "$BASE_IMAGE made in $((SECONDS - t)) s"
fi

# A container that runs at all: what "podman works" means here.
podman run --rm --network none "$BASE_IMAGE" true >"$TMP/podman-run.log" 2>&1 ||
    skip "podman cannot run a container here: $(tail -n 3 "$TMP/podman-run.log" | tr '\n' ' ')"

if ! podman image exists "$REDIS_IMAGE"; then
    log "building the $REDIS_IMAGE stand-in (redis7.Dockerfile)"
    t=$SECONDS
    nice podman build --network host --pull=never -t "$REDIS_IMAGE" -f "$HERE/redis7.Dockerfile" \
        "$HERE" >"$TMP/build-redis.log" 2>&1 ||
        fail "building the redis:7 stand-in: $(tail -n 10 "$TMP/build-redis.log")"
    log "$REDIS_IMAGE built in $((SECONDS - t)) s"
fi

# ---- 2. the image ------------------------------------------------------

# nice: the compile inside the build shares the machine with other tests.
log "building $IMAGE from $HT_SOURCE_DIR"
t=$SECONDS
nice podman build --network host --pull=never -t "$IMAGE" -f "$HT_SOURCE_DIR/Dockerfile" \
    "$HT_SOURCE_DIR" >"$TMP/build.log" 2>&1 || fail "podman build: $(tail -n 20 "$TMP/build.log")"
log "image built in $((SECONDS - t)) s"
flock -u 9

# ---- 3. the stack, closed by default -----------------------------------

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "compose up: project $PROJECT, api on host port $PORT"
t=$SECONDS
compose up -d --no-build || fail "podman-compose up failed"

API=http://127.0.0.1:$PORT
ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$API/readyz")" == 200 ]]; }
wait_until 120 "the api answers /readyz with 200 on port $PORT" ready
log "stack ready in $((SECONDS - t)) s (restarts: api $(podman inspect -f '{{.RestartCount}}' "${PROJECT}_api_1"), worker $(podman inspect -f '{{.RestartCount}}' "${PROJECT}_worker_1"))"

# migrate ran once, waited for Redis if it had to, and succeeded.
migrate_state=$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "${PROJECT}_migrate_1")
assert_eq() { [[ "$1" == "$2" ]] || fail "$3: expected '$2', got '$1'"; }
assert_eq "$migrate_state" "exited 0" "the migrate container"

# The generated key, from the one log line that shows it.
api_key() {
    KEY=$(podman logs "${PROJECT}_api_1" 2>&1 |
        jq -Rr 'fromjson? | select(.msg | startswith("generated an API key")) | .key' | head -n 1)
    [[ -n "$KEY" ]]
}
wait_until 30 "the api logs its generated key" api_key
assert_eq "$(podman logs "${PROJECT}_api_1" 2>&1 | grep -c 'generated an API key')" 1 \
    "lines of the api's log that show the key"

# http AUTH METHOD PATH [BODY]: one request; AUTH is the bearer key to
# send ("" for none).  Sets STATUS and BODY.
STATUS=
BODY=
http() {
    local auth=$1 method=$2 path=$3 body=${4-}
    local args=(-s -X "$method" -o "$TMP/body" -w '%{http_code}' --max-time 30)
    [[ -z "$auth" ]] || args+=(-H "Authorization: Bearer $auth")
    [[ -z "$body" ]] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
    rm -f "$TMP/body"
    STATUS=$(curl "${args[@]}" "$API$path") || STATUS=000
    BODY=$(cat "$TMP/body" 2>/dev/null || true)
}

http "" POST /v1/jobs '{"type": "echo", "payload": {"n": 0}}'
assert_eq "$STATUS" 401 "a submit without a key"
assert_eq "$(jq -r .status <<<"$BODY")" 401 "the 401's problem status"
http hk_not_a_key POST /v1/jobs '{"type": "echo", "payload": {"n": 0}}'
assert_eq "$STATUS" 401 "a submit with a wrong key"

# submit BODY: submits with the key; sets JOB.
JOB=
submit() {
    http "$KEY" POST /v1/jobs "$1"
    assert_eq "$STATUS" 202 "submit $1 (body $BODY)"
    JOB=$(jq -r .id <<<"$BODY")
}
# submit_retrying BODY: submit, again while the api answers 503 (what a
# client does after Redis came back: each api thread reconnects on its own),
# for up to 30 s.
submit_retrying() {
    local deadline=$((SECONDS + 30))
    while :; do
        http "$KEY" POST /v1/jobs "$1"
        [[ "$STATUS" == 503 && $SECONDS -lt $deadline ]] || break
        sleep 0.2
    done
    assert_eq "$STATUS" 202 "submit $1 (body $BODY)"
    JOB=$(jq -r .id <<<"$BODY")
}
# is ID STATUS: 0 when job ID has STATUS; BODY keeps its document.
is() {
    http "$KEY" GET "/v1/jobs/$1"
    [[ "$STATUS" == 503 ]] && return 1 # not yet: see submit_retrying
    [[ "$STATUS" == 200 ]] || fail "GET job $1: $STATUS $BODY"
    [[ "$(jq -r .status <<<"$BODY")" == "$2" ]]
}

submit '{"type": "echo", "payload": {"hello": "containers"}}'
wait_until 60 "the echo job succeeds" is "$JOB" succeeded
assert_eq "$(jq -c .result <<<"$BODY")" '{"hello":"containers"}' "the echo job's result"

# A file job through the shared blobs volume: the api stores the upload,
# the worker's built-in gzip reads it and leaves its output there, the api
# serves it (102s, then 201 Created with the output's Location).
head -c $((4 << 20)) /dev/urandom >"$TMP/file.bin"
code=$(curl -s -o "$TMP/gz.json" -D "$TMP/gz.h" -w '%{http_code}' --max-time 120 -X POST \
    -T "$TMP/file.bin" -H "Authorization: Bearer $KEY" -H 'Prefer: wait=60' "$API/v1/jobs?type=gzip")
assert_eq "$code" 201 "a gzip file job through the stack ($(cat "$TMP/gz.json"))"
loc=$(tr -d '\r' <"$TMP/gz.h" | awk -F': ' 'tolower($1) == "location" { print $2 }')
assert_eq "$(curl -s -H "Authorization: Bearer $KEY" "$API$loc" | gunzip -c | sha256sum | cut -c1-64)" \
    "$(sha256sum "$TMP/file.bin" | cut -c1-64)" "the gzip output gunzips to the uploaded file"

# ---- 4. three workers ----------------------------------------------------

WORKERS=3
log "scaling the workers to 3"
compose up -d --no-build || fail "podman-compose up (3 workers) failed"
worker_ready() { podman logs "$1" 2>&1 | grep -q '"msg":"worker ready"'; }
for i in 1 2 3; do
    wait_until 60 "worker $i logs that it is ready" worker_ready "${PROJECT}_worker_$i"
done

# Each worker runs 4 jobs at once (HANGTIGHT_CONCURRENCY's default), so 12
# jobs running together need all three.
jobs=()
for i in $(seq 12); do
    submit "{\"type\": \"sleep\", \"payload\": {\"ms\": 8000}}"
    jobs+=("$JOB")
done
all_running() {
    http "$KEY" GET '/v1/jobs?status=running&limit=100'
    [[ "$STATUS" == 200 ]] || fail "GET /v1/jobs?status=running: $STATUS $BODY"
    [[ "$(jq '.jobs | length' <<<"$BODY")" == 12 ]]
}
wait_until 30 "the 12 sleep jobs run at once" all_running
holders=$(for id in "${jobs[@]}"; do
    podman exec "${PROJECT}_redis_1" redis-cli --raw HGET "ht:{default}:job:$id" worker
done | sort | uniq -c)
log "jobs per worker: $(tr -s ' \n' ' ' <<<"$holders")"
assert_eq "$(wc -l <<<"$holders")" 3 "workers holding the 12 jobs"
for id in "${jobs[@]}"; do
    wait_until 60 "sleep job $id succeeds" is "$id" succeeded
done

# ---- 5. Redis restarted, then emptied, under the workers ----------------

log "restarting the redis container 3 times"
for i in 1 2 3; do
    podman restart -t 5 "${PROJECT}_redis_1" >>"$TMP/compose.log" 2>&1
done
submit_retrying '{"type": "echo", "payload": {"after": "restarts"}}'
wait_until 60 "a job after the restarts succeeds" is "$JOB" succeeded
# An emptied Redis (a data volume replaced): every worker says what is
# missing and what to run; running the migrate container again brings the
# stack back.
podman exec "${PROJECT}_redis_1" redis-cli FLUSHALL >/dev/null
podman exec "${PROJECT}_redis_1" redis-cli FUNCTION FLUSH >/dev/null
says_migrate() {
    podman logs --since 5m "$1" 2>&1 | grep -q 'no hangtight function library.*hangtight migrate'
}
for i in 1 2 3; do
    wait_until 60 "worker $i logs that redis has no function library" says_migrate \
        "${PROJECT}_worker_$i"
done
podman start "${PROJECT}_migrate_1" >>"$TMP/compose.log" 2>&1
migrated() {
    [[ "$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "${PROJECT}_migrate_1")" == "exited 0" ]]
}
wait_until 60 "the migrate container ran again" migrated
submit_retrying '{"type": "echo", "payload": {"after": "emptied"}}'
wait_until 60 "a job after the migrate succeeds" is "$JOB" succeeded
log "redis restarted 3 times, then emptied and migrated: jobs run"

# ---- 6. graceful stop ----------------------------------------------------

submit '{"type": "sleep", "payload": {"ms": 4000}}'
short=$JOB
submit '{"type": "sleep", "payload": {"ms": 600000}}'
long=$JOB
wait_until 30 "the short job runs" is "$short" running
wait_until 30 "the long job runs" is "$long" running
holder=$(podman exec "${PROJECT}_redis_1" redis-cli --raw HGET "ht:{default}:job:$long" worker)
log "long job $long held by worker $holder"
log "stopping the workers (SIGTERM: drain)"
# podman stop marks each as stopped by the user (no restart); its 60 s
# leave the drain time to run.
for i in 1 2 3; do
    podman stop -t 60 "${PROJECT}_worker_$i" >>"$TMP/compose.log" 2>&1 &
done
draining() { podman logs "$1" 2>&1 | grep -q '"msg":"draining'; }
for i in 1 2 3; do
    wait_until 30 "worker $i drains" draining "${PROJECT}_worker_$i"
done
wait_until 30 "the short job finishes during the drain" is "$short" succeeded
# The second SIGTERM hands the long job back at once.
for i in 1 2 3; do
    hostname=$(podman inspect -f '{{.Config.Hostname}}' "${PROJECT}_worker_$i")
    if [[ "$holder" == "$hostname:"* ]]; then
        podman kill -s TERM "${PROJECT}_worker_$i" >/dev/null
    fi
done
wait
for i in 1 2 3; do
    assert_eq "$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' "${PROJECT}_worker_$i")" \
        "exited 0" "worker $i after its drain"
done
is "$long" queued || fail "the long job after its worker's drain: $BODY"
assert_eq "$(jq -r .attempt <<<"$BODY")" 0 "the long job's attempts after the hand-back"
handed_back=0
for i in 1 2 3; do
    if podman logs "${PROJECT}_worker_$i" 2>&1 | grep "\"msg\":\"job handed back\"" |
        grep -q "\"job_id\":\"$long\""; then
        handed_back=1
    fi
done
((handed_back)) || fail "no worker logged handing the long job back"

log "compose down -v"
note_volumes
compose down -v -t 15 || fail "podman-compose down failed"
# podman-compose 1.0.3 leaves the project's network behind.
podman network rm "${PROJECT}_default" >/dev/null 2>&1 || true
[[ -z "$(leftovers)" ]] || fail "left behind after down -v: $(leftovers | tr '\n' ' ')"
