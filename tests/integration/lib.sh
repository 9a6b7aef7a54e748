# shellcheck shell=bash
# Shared helpers of the integration tests (sourced by every test_*.sh).
#
# Each test gets its own temp dir, its own redis-server and the real
# binaries from $HT_BUILD_DIR, on loopback ports no other test can take
# from it.  On exit every process started here is stopped (SIGTERM first,
# so LeakSanitizer can report), the logs are scanned for sanitizer reports,
# and when the test failed the logs are printed.
#
#   source "$(dirname "$0")/lib.sh"
#   ht_start_stack --workers 2
#   ht_submit '{"type": "echo", "payload": {}}'
#   wait_until 15 "the job succeeds" ht_job_is "$HT_JOB" succeeded
#
# Starting things (each waits until what it started answers):
#   ht_start_stack [--workers N] [--redis-args A...] [--api-args A...]
#                  [--worker-args A...]
#       the usual stack: Redis, the keyspace migrated, the api and N
#       workers w1..wN (default 1; 0 for none), the api and the workers
#       started side by side.  Each --*-args list runs to the next of these
#       four options and goes to ht_start_redis, ht_start_api or every
#       ht_start_worker.  HANGTIGHT_* settings exported before apply to all.
#   ht_start_redis [--aof] [--fsync MODE] [--password PW] [--db N]
#   ht_migrate
#   ht_start_api [--name NAME] [--port PORT] [ARGS...]
#       hangtight-api as NAME (default api) on a port the kernel picks (port
#       0, read back from its "listening" log line), or on PORT (to come
#       back on the address it had).  Sets HT_API_URLS[NAME]; for "api" also
#       HT_URL and HANGTIGHT_URL.  ht_api_url NAME prints the URL.
#   ht_start_worker NAME [ARGS...]
#   ht_spawn NAME CMD...      any process, logged to $HT_TMP/NAME.log and
#                             stopped at the end (it must exit 0 on SIGTERM)
#   ht_stop NAME [SIGNAL], ht_wait_exit NAME, ht_alive NAME, ht_stop_redis
#   ht_closed_port            sets HT_CLOSED_PORT to a loopback port held
#                             closed for the whole test: connecting is
#                             refused, nobody else can bind it
#   ht_npm_ci DIR MARK...     tests/DIR's npm packages into NPM_DIR (cached)
#   ht_start_s3               s3rver behind a signature check, the s3:
#                             blob store pointed at it (S3_PORT, SIGV4_PORT)
#   ht_free_port              a port free right now; racy (another test may
#                             take it before it is bound): only for a server
#                             whose start retries, as ht_start_redis does
# Talking to the api:
#   ht_tenant_keys TENANT...  a keys file $KEYS, a key and a header array
#                             for each tenant
#   ht_http METHOD PATH [BODY [CURL-ARGS...]]   sets HTTP_STATUS, HTTP_BODY;
#       ht_header NAME, ht_json EXPR read the answer; ht_submit BODY sets
#       HT_JOB; ht_job_is ID STATUS, ht_job_field ID EXPR
#   ht_redis ARGS... (redis-cli on the test's Redis), ht_job_key ID
# Waiting and asserting:
#   wait_until SECONDS WHAT CMD...   polls CMD every 0.1 s; never sleep and
#       hope: a negative check ("X did not happen") waits for a later event
#       that proves X had its chance (a later job's webhook, a log line)
#   ht_log_has NAME REGEX, ht_log_count NAME REGEX   a process's log lines
#   assert_eq / assert_ne / assert_match / assert_status / assert_json /
#   assert_jq / assert_problem, fail MESSAGE
# Skipping (never a pass; ctest shows it as skipped and ./test fails on
# it when CI=true):
#   ht_skip REASON            ends the test now, skipped
#   ht_skip_part WHAT REASON  the rest runs; a test that passes then ends
#                             skipped instead of passed
#
# Tests run several at once (./test: ctest -j6), beside other engineers'
# builds, on 2 cores: a time bound must hold on a loaded machine.  A test
# that keeps a core busy is named in HT_HEAVY_TESTS (tests/CMakeLists.txt),
# so it takes two ctest slots.
#
# HT_TEST_CLUSTER=1 in the environment runs the same test against a real
# Redis Cluster (issue 10): ht_start_redis then starts 3 masters + 3
# replicas (ht_start_cluster), points HANGTIGHT_REDIS_URL at them
# (redis+cluster://...) with HANGTIGHT_PARTITIONS=6, and ht_redis follows
# redirects.  A test that reads Redis directly must not spell keys: it uses
# ht_job_key / ht_job_tag_key / ht_job_hget for a job's keys and ht_sum_keys /
# ht_redis_each for the queue-wide ones, so it passes on both layouts.
set -euo pipefail

HT_SOURCE_DIR=${HT_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
HT_BUILD_DIR=${HT_BUILD_DIR:-$HT_SOURCE_DIR/build-asan}
HT_API_BIN=$HT_BUILD_DIR/hangtight-api
HT_WORKER_BIN=$HT_BUILD_DIR/hangtight-worker
HT_CLI_BIN=$HT_BUILD_DIR/hangtight

# Sanitizers: stop at the first report, with a stack, leaks included.  The
# reports land in the process logs, which ht__cleanup scans.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_stacktrace=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
if [[ -z "${LSAN_OPTIONS:-}" && -f "$HT_SOURCE_DIR/tests/lsan.supp" ]]; then
    export LSAN_OPTIONS=suppressions=$HT_SOURCE_DIR/tests/lsan.supp:print_suppressions=0
fi

HT_TEST_NAME=$(basename "$0" .sh)
HT_TEST_CLUSTER=${HT_TEST_CLUSTER:-0}
[[ "$HT_TEST_CLUSTER" == 1 ]] && HT_TEST_NAME=cluster.$HT_TEST_NAME
HT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ht-$HT_TEST_NAME.XXXXXX")
declare -A HT_PIDS=()  # name -> pid of every process started here
declare -A HT_LOGS=()  # name -> its log file
declare -A HT_API_URLS=() # api name -> its http://127.0.0.1:PORT (ht_start_api)
HT_REDIS_PORT=
HT_CLUSTER_PORTS=()   # ports of the cluster's nodes (ht_start_cluster), node i is redis-n<i+1>
HT_URL=
HT_JOB=
HT_EXIT=
HTTP_STATUS=
HTTP_BODY=

# Hermetic: no HANGTIGHT_* setting of the caller's shell leaks into the
# processes under test (a test sets what it needs after sourcing this).
while read -r var; do unset "$var"; done < <(compgen -e | grep '^HANGTIGHT_' || true)
export HANGTIGHT_REDIS_URL=

# Never let a proxy from the environment get between curl and the api.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

# log, fail, wait_until
source "$HT_SOURCE_DIR/tests/integration/base.sh"

# Makes `node` on PATH a Node >= 20, which playwright-core and @redocly/cli
# need: Debian 12's own nodejs is 18.  When the system's is older, the
# official binary is fetched once from the npm registry (package
# node-linux-<arch>) into the build dir and put first on PATH.  Returns 1
# when that is not possible (an unknown CPU, npm failing).
ht_node20() {
    local major arch dir
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    ((major >= 20)) && return 0
    case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) return 1 ;;
    esac
    dir=$HT_BUILD_DIR/npm/node22
    mkdir -p "$dir"
    # One test fetches it while the others started beside it wait.
    (
        flock 9
        [[ -x "$dir/node_modules/node-linux-$arch/bin/node" ]] && exit 0
        log "node $(node --version 2>/dev/null || echo '(none)') is older than 20: fetching node-linux-$arch@22.12.0 from npm"
        npm install --no-audit --no-fund --loglevel=error --prefix "$dir" \
            "node-linux-$arch@22.12.0" >"$HT_TMP/node22.log" 2>&1
    ) 9>"$dir.lock" || return 1
    export PATH=$dir/node_modules/node-linux-$arch/bin:$PATH
}

# ---- skipping ----------------------------------------------------------

# The exit status of a skipped test, ctest's SKIP_RETURN_CODE for every
# integration test (tests/CMakeLists.txt).  Only ht_skip and ht_skip_part
# end a test with it: any other exit with this status counts as a failure.
HT_SKIP_CODE=77
HT__SKIPPING=0
HT_SKIPPED=() # "WHAT: REASON" of each part skipped (ht_skip_part)

# ht_skip REASON: the test cannot run here (a tool is missing); ends it now.
ht_skip() {
    printf '\nSKIP (%s): %s\n' "$HT_TEST_NAME" "$*" >&2
    HT__SKIPPING=1
    exit "$HT_SKIP_CODE"
}

# ht_skip_part WHAT REASON: one part of the test cannot run here; the rest
# does, and the test then ends skipped (not passed) unless it failed.
ht_skip_part() {
    log "SKIP $1: $2"
    HT_SKIPPED+=("$1: $2")
}

# ---- processes ---------------------------------------------------------

# Debian's python3 for the helpers below: a pyenv shim first on PATH costs
# ~2 s a start on a loaded machine, and they need nothing but the stdlib.
HT_PY=python3
[[ -x /usr/bin/python3 ]] && HT_PY=/usr/bin/python3
# The tests' own `python3 client.py` calls too (the clients race the jobs
# they watch, and Debian's python3 is the one scripts/deps.sh gives modules
# to, python3-requests): a link first on PATH, so processes started with
# ht_spawn are python itself and handle their own signals.
if [[ $HT_PY == /usr/bin/python3 ]]; then
    mkdir -p "$HT_TMP/bin"
    ln -sf /usr/bin/python3 "$HT_TMP/bin/python3"
    export PATH=$HT_TMP/bin:$PATH
fi

# A TCP port that nothing listens on right now (the kernel picks it).  Racy:
# the socket is closed before the caller binds the port, and another test
# may take it in between.  Only for a server whose start retries on
# EADDRINUSE (ht__start_redis_server); the api listens on port 0 instead.
ht_free_port() {
    "$HT_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ht_closed_port: sets HT_CLOSED_PORT to a loopback port that stays closed
# for the rest of the test: a process (closed-port-N) holds it bound without
# listening, so a connection is refused and no other socket can bind it (the
# holder does not set SO_REUSEADDR).  For "nothing answers there" checks.
# Not in $(...): the holder must be a child of the test's shell.
HT_CLOSED_PORT=
ht_closed_port() {
    local name=closed-port-$((${#HT_PIDS[@]} + 1)) file
    file=$HT_TMP/$name.port
    ht_spawn "$name" "$HT_PY" -c '
import os, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
s = socket.socket()
s.bind(("127.0.0.1", 0))
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    signal.pause()' "$file"
    wait_until 10 "$name holds a port" test -s "$file"
    HT_CLOSED_PORT=$(<"$file")
}

# Runs "$@" in the background as NAME, output to $HT_TMP/NAME.log.
ht_spawn() {
    local name=$1
    shift
    HT_LOGS[$name]=$HT_TMP/$name.log
    "$@" >>"${HT_LOGS[$name]}" 2>&1 &
    HT_PIDS[$name]=$!
}

ht_alive() { kill -0 "${HT_PIDS[$1]}" 2>/dev/null; }

# The size of NAME's log now, and its text from such an offset on: what a
# process started again under the same name wrote since.
ht__log_size() { stat -c %s "$HT_TMP/$1.log" 2>/dev/null || echo 0; }
ht__log_since() { tail -c "+$(($2 + 1))" "$HT_TMP/$1.log" 2>/dev/null; }

# ht_log_has NAME ERE: 0 when a line of NAME's log matches (grep -E).
ht_log_has() { grep -qE -- "$2" "${HT_LOGS[$1]}" 2>/dev/null; }

# ht_log_count NAME ERE: the number of lines of NAME's log that match.
ht_log_count() { grep -cE -- "$2" "${HT_LOGS[$1]}" 2>/dev/null || true; }

# Waits for NAME to exit (it must have been signalled already, or be about
# to exit) and sets HT_EXIT to its exit status.  Not for $(...): only this
# shell can wait for its children.
ht_wait_exit() {
    local name=$1 timeout=${2:-30} pid=${HT_PIDS[$1]}
    local deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "$name (pid $pid) did not exit within ${timeout}s"
        sleep 0.1
    done
    HT_EXIT=0
    wait "$pid" 2>/dev/null || HT_EXIT=$?
    unset "HT_PIDS[$name]"
}

# Sends SIGNAL (default TERM) to NAME and waits for it; sets HT_EXIT.
ht_stop() {
    local name=$1 sig=${2:-TERM} timeout=${3:-30}
    kill "-$sig" "${HT_PIDS[$name]}" 2>/dev/null || true
    ht_wait_exit "$name" "$timeout"
}

# redis-server on a free port, in $HT_TMP/redis.  With --aof it keeps an
# append-only file there so functions and data survive a restart; --fsync
# MODE sets its appendfsync (default everysec; "always" for fault tests);
# --debug-command allows DEBUG (a test that makes Redis sleep).
# Called again after ht_stop_redis it restarts on the same port and dir.
# With HT_TEST_CLUSTER=1 it starts a cluster instead (ht_start_cluster, same
# options) and sets HANGTIGHT_PARTITIONS=6.
ht_start_redis() {
    if [[ "$HT_TEST_CLUSTER" == 1 ]]; then
        ht_start_cluster "$@"
        export HANGTIGHT_PARTITIONS=6
        return
    fi
    local persist=no password='' db=0 fsync=everysec debug=no
    while (($#)); do
        case "$1" in
        --aof) persist=yes ;;
        --password) password=$2 && shift ;; # requirepass; the URL carries it
        --db) db=$2 && shift ;;             # the database the URL names
        --fsync) fsync=$2 && shift ;;       # appendfsync: always, everysec, no
        --debug-command) debug=yes ;;
        *) fail "ht_start_redis: unknown option $1" ;;
        esac
        shift
    done
    mkdir -p "$HT_TMP/redis"
    # redis-cli reads the password from the environment (no warning on stderr).
    if [[ -n "$password" ]]; then export REDISCLI_AUTH=$password; else unset REDISCLI_AUTH; fi
    local args=(--bind 127.0.0.1 --dir "$HT_TMP/redis" --save '' --appendonly "$persist"
        --appendfsync "$fsync" --daemonize no --protected-mode yes --enable-debug-command "$debug"
        ${password:+--requirepass "$password"})
    if [[ -n "$HT_REDIS_PORT" ]]; then # a restart: the address the clients know
        ht__start_redis_server redis "$HT_REDIS_PORT" - "${args[@]}"
    else
        ht__start_redis_server redis "$(ht_free_port)" ht_free_port "${args[@]}"
    fi
    HT_REDIS_PORT=$HT__PORT
    export HANGTIGHT_REDIS_URL=redis://${password:+:$password@}127.0.0.1:$HT_REDIS_PORT/$db
}

# ht__start_redis_server NAME PORT PICK ARGS...: redis-server as NAME on
# PORT with ARGS, waiting until that very process answers there (by INFO's
# process_id: another test's server that took the port answers PING too).
# redis-server cannot listen on port 0, so a port comes from ht_free_port
# and may be taken by someone else before the server binds it; the server
# then exits with "Address already in use", and the start is tried again on
# a port printed by the command PICK (up to 5 tries).  PICK "-": PORT or
# fail (a restart on the address the clients know).  Sets HT__PORT.
HT__PORT=
ht__start_redis_server() {
    local name=$1 port=$2 pick=$3 try from pid deadline
    shift 3
    for try in 1 2 3 4 5; do
        ((try == 1)) || port=$($pick)
        from=$(ht__log_size "$name")
        ht_spawn "$name" redis-server --port "$port" "$@"
        pid=${HT_PIDS[$name]}
        deadline=$((SECONDS + 20))
        until [[ "$(redis-cli -p "$port" INFO server 2>/dev/null | sed -n 's/^process_id:\([0-9]*\).*/\1/p')" == "$pid" ]]; do
            if ! ht_alive "$name"; then
                ht_wait_exit "$name" 5
                if [[ "$pick" != - ]] && ht__log_since "$name" "$from" | grep -q 'Address already in use'; then
                    log "$name: port $port was taken before redis-server bound it; trying another"
                    continue 2
                fi
                fail "$name exited with status $HT_EXIT: $(ht__log_since "$name" "$from" | tail -n 20)"
            fi
            ((SECONDS < deadline)) || fail "timed out after 20s waiting until $name answers on port $port"
            sleep 0.05
        done
        HT__PORT=$port
        return 0
    done
    fail "$name: $try ports in a row were taken before redis-server bound them"
}

# redis-cli against the test's Redis (on a cluster: any live node, following
# MOVED redirects, so a keyed command reaches its slot's master).
ht_redis() {
    if ((${#HT_CLUSTER_PORTS[@]})); then
        redis-cli -c -p "$(ht_cluster_any_port)" "$@"
    else
        redis-cli -p "$HT_REDIS_PORT" -n "${HANGTIGHT_REDIS_URL##*/}" "$@"
    fi
}

# Runs redis-cli "$@" on every live node (a cluster's masters only with
# --masters), one output after the other: for what each node keeps to
# itself (PUBSUB CHANNELS, KEYS, INFO).  On one node: that node.
ht_redis_each() {
    local only_masters=0 port
    [[ "${1:-}" == --masters ]] && only_masters=1 && shift
    if ((${#HT_CLUSTER_PORTS[@]} == 0)); then
        ht_redis "$@"
        return
    fi
    local ports
    if ((only_masters)); then ports=$(ht_cluster_masters); else ports=$(ht_cluster_live_ports); fi
    for port in $ports; do
        redis-cli -p "$port" "$@"
    done
}

# Stops Redis at once, without saving (the AOF, if on, is already written).
# On a cluster: every node still running.
ht_stop_redis() {
    local i
    if ((${#HT_CLUSTER_PORTS[@]})); then
        for i in "${!HT_CLUSTER_PORTS[@]}"; do
            [[ -n "${HT_PIDS[redis-n$((i + 1))]:-}" ]] || continue
            redis-cli -p "${HT_CLUSTER_PORTS[i]}" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
        done
        for i in "${!HT_CLUSTER_PORTS[@]}"; do
            [[ -n "${HT_PIDS[redis-n$((i + 1))]:-}" ]] && ht_wait_exit "redis-n$((i + 1))" 20
        done
        return 0
    fi
    ht_redis SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    ht_wait_exit redis 20
}

# ---- Redis Cluster (issue 10) -------------------------------------------

# N TCP ports (default 1) that are free together with port + 10000, the
# cluster bus port Redis derives (so at most 55535), in one python call.
ht_free_cluster_ports() {
    "$HT_PY" - "${1:-1}" <<'PY'
import random, socket, sys
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
out = []
while len(out) < int(sys.argv[1]):
    p = random.randrange(20000, 55535)
    if p not in out and p + 10000 not in out and free(p) and free(p + 10000):
        out.append(p)
print(" ".join(map(str, out)))
PY
}

# ht_start_cluster [--aof] [--fsync MODE] [--password PW] [--masters M]
#                  [--node-timeout MS] [--no-wait-replicas]
# A Redis Cluster of M masters (default 3), each with one replica, as
# redis-n1..redis-n<2M> (logs in $HT_TMP/redis-n<i>.log, data in
# $HT_TMP/redis-n<i>/): `redis-cli --cluster create --cluster-replicas 1`,
# then waits until every node says cluster_state:ok and every replica's
# link to its master is up.  Sets HT_CLUSTER_PORTS, HT_REDIS_PORT (node 1)
# and HANGTIGHT_REDIS_URL=redis+cluster://127.0.0.1:<p1>,...
#
# cluster-node-timeout is 5000 ms by default: on a loaded 2-core machine a
# node can miss pings for more than 1.5 s, and a failover nobody asked for
# (CLUSTERDOWN while it runs) fails a test about something else.  The
# failover tests ask for 1500 (--node-timeout): a master they kill is voted
# failed ~1.5-3 s later; shorter flaps (a node stalled by a neighbour for a
# second would be failed over).
# Replicas always may fail over (cluster-replica-validity-factor 0: the
# test decides what it kills, not how stale the replica's link looks).
# Called again after ht_stop_redis it restarts the same nodes, which find
# each other from their nodes.conf.
ht_start_cluster() {
    local persist=no password='' fsync=everysec masters=3 timeout=5000 wait_replicas=1
    while (($#)); do
        case "$1" in
        --aof) persist=yes ;;
        --password) password=$2 && shift ;;
        --db) [[ "$2" == 0 ]] || fail "ht_start_cluster: a cluster has only database 0" && shift ;;
        --fsync) fsync=$2 && shift ;;
        --masters) masters=$2 && shift ;;
        --node-timeout) timeout=$2 && shift ;;
        --no-wait-replicas) wait_replicas=0 ;;
        *) fail "ht_start_cluster: unknown option $1" ;;
        esac
        shift
    done
    local n=$((masters * 2)) i restart=0 seeds=() t0 pick=ht_free_cluster_ports
    t0=$(ht_ms)
    if ((${#HT_CLUSTER_PORTS[@]} == n)) && [[ -f "$HT_TMP/redis-n1/nodes.conf" ]]; then
        restart=1 # the ports the nodes.conf files name
        pick=-
    else
        read -r -a HT_CLUSTER_PORTS <<<"$(ht_free_cluster_ports "$n")"
    fi
    if [[ -n "$password" ]]; then export REDISCLI_AUTH=$password; else unset REDISCLI_AUTH; fi
    # No diskless-sync delay: a replica attaches at once (the default waits
    # 5 s for more replicas to share one transfer).
    HT_CLUSTER_NODE_ARGS=(--bind 127.0.0.1 --save '' --appendonly "$persist"
        --appendfsync "$fsync" --daemonize no --protected-mode yes
        --cluster-enabled yes --cluster-config-file nodes.conf
        --cluster-node-timeout "$timeout" --cluster-replica-validity-factor 0
        --repl-diskless-sync yes --repl-diskless-sync-delay 0
        ${password:+--requirepass "$password" --masterauth "$password"})
    for i in "${!HT_CLUSTER_PORTS[@]}"; do
        mkdir -p "$HT_TMP/redis-n$((i + 1))"
        # A port (or its bus port) taken meanwhile: another pair
        # (ht__start_redis_server).
        ht__start_redis_server "redis-n$((i + 1))" "${HT_CLUSTER_PORTS[i]}" "$pick" \
            --dir "$HT_TMP/redis-n$((i + 1))" "${HT_CLUSTER_NODE_ARGS[@]}"
        HT_CLUSTER_PORTS[i]=$HT__PORT
        seeds+=("127.0.0.1:$HT__PORT")
    done
    HT_REDIS_PORT=${HT_CLUSTER_PORTS[0]}
    if ((!restart)); then
        ht__cluster_create "${seeds[@]}"
    fi
    wait_until 30 "every cluster node says cluster_state:ok" ht_cluster_ok
    if ((wait_replicas)); then
        wait_until 30 "$masters replicas are attached" ht_cluster_replicas_up "$masters"
        # Replication links up is not enough: a node learns who replicates
        # whom by gossip, and a test that reads CLUSTER NODES right away
        # (a replica of a master) could find none yet.
        wait_until 30 "every node sees $masters replicas" ht_cluster_views_settled "$n" "$masters"
    fi
    local IFS=,
    export HANGTIGHT_REDIS_URL="redis+cluster://${password:+:$password@}${seeds[*]}"
    log "cluster of $n nodes up in $(($(ht_ms) - t0)) ms: ${HT_CLUSTER_PORTS[*]}"
}

# `redis-cli --cluster create` for SEEDS, bounded: it waits (up to 300 s)
# until every node has learned every other by CLUSTER MEET gossip, and a
# lost MEET was seen to make it wait the whole time.  After 20 s without
# success the nodes are reset (CLUSTER RESET HARD: no slots, new ids) and
# the cluster is built again, up to three times.
ht__cluster_create() {
    local try port
    for try in 1 2 3; do
        if timeout 20 redis-cli --cluster create "$@" --cluster-replicas 1 --cluster-yes \
            >"$HT_TMP/cluster-create.log" 2>&1; then
            return 0
        fi
        log "redis-cli --cluster create failed (try $try): $(tail -n 3 "$HT_TMP/cluster-create.log" | tr '\n' ' ')"
        for port in "${HT_CLUSTER_PORTS[@]}"; do
            redis-cli -p "$port" FLUSHALL >/dev/null 2>&1 || true
            redis-cli -p "$port" CLUSTER RESET HARD >/dev/null 2>&1 ||
                fail "CLUSTER RESET HARD on :$port failed"
        done
    done
    fail "redis-cli --cluster create: $(tail -n 20 "$HT_TMP/cluster-create.log")"
}

# 0 when every live node's CLUSTER NODES lists N nodes, none failing or
# handshaking, and at least R replicas that name their master.
ht_cluster_views_settled() {
    local port
    for port in $(ht_cluster_live_ports); do
        redis-cli -p "$port" CLUSTER NODES 2>/dev/null | awk -v n="$1" -v r="$2" '
            { total++ }
            $3 ~ /fail|handshake|noaddr/ { bad = 1 }
            $3 ~ /slave/ && $4 != "-" { replicas++ }
            END { exit !(total == n && !bad && replicas >= r) }' || return 1
    done
}

# The ports of the cluster's nodes whose process is still running.
ht_cluster_live_ports() {
    local i
    for i in "${!HT_CLUSTER_PORTS[@]}"; do
        [[ -n "${HT_PIDS[redis-n$((i + 1))]:-}" ]] && ht_alive "redis-n$((i + 1))" &&
            echo "${HT_CLUSTER_PORTS[i]}"
    done
    return 0
}

# One live node's port (the first).
ht_cluster_any_port() {
    local p
    p=$(ht_cluster_live_ports | head -n 1)
    [[ -n "$p" ]] || fail "no cluster node is running"
    echo "$p"
}

# The node name (redis-n<i>) of a cluster port.
ht_cluster_node_name() {
    local i
    for i in "${!HT_CLUSTER_PORTS[@]}"; do
        [[ "${HT_CLUSTER_PORTS[i]}" == "$1" ]] && echo "redis-n$((i + 1))" && return 0
    done
    fail "port $1 is not a node of this cluster"
}

# 0 when every live node says cluster_state:ok.
ht_cluster_ok() {
    local port
    for port in $(ht_cluster_live_ports); do
        redis-cli -p "$port" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' || return 1
    done
}

# 0 when at least N live replicas have their link to the master up.
ht_cluster_replicas_up() {
    local port up=0
    for port in $(ht_cluster_live_ports); do
        redis-cli -p "$port" INFO replication 2>/dev/null | grep -q '^master_link_status:up' &&
            up=$((up + 1))
    done
    ((up >= $1))
}

# CLUSTER NODES as one live node sees it.
ht_cluster_nodes() { redis-cli -p "$(ht_cluster_any_port)" CLUSTER NODES; }

# The ports of the masters serving slots (not failed), as the cluster sees it.
ht_cluster_masters() {
    ht_cluster_nodes | awk '$3 ~ /master/ && $3 !~ /fail/ && NF > 8 {
        split($2, a, "[:@]"); print a[2] }'
}

# The slot of KEY (CLUSTER KEYSLOT; the same CRC16 on one node's layout).
ht_key_slot() { redis-cli -p "$(ht_cluster_any_port)" CLUSTER KEYSLOT "$1"; }

# The port of the master that serves SLOT (empty when none does).
ht_slot_master() {
    ht_cluster_nodes | awk -v slot="$1" '$3 ~ /master/ && $3 !~ /fail/ {
        for (i = 9; i <= NF; i++) {
            if ($i ~ /^\[/) continue                 # a slot being migrated
            n = split($i, r, "-"); lo = r[1]; hi = (n > 1 ? r[2] : r[1])
            if (slot + 0 >= lo + 0 && slot + 0 <= hi + 0) { split($2, a, "[:@]"); print a[2]; exit }
        } }'
}

# ht_kill_slot_master SLOT [SIGNAL]: kills (default -9) the master serving
# SLOT and waits for its process to end (ht_kill_node).  The replica takes
# over after cluster-node-timeout; wait with ht_wait_slot_served.
ht_kill_slot_master() {
    local port
    port=$(ht_slot_master "$1")
    [[ -n "$port" ]] || fail "no master serves slot $1"
    ht_kill_node "$port" "${2:-KILL}"
}

# ht_kill_node PORT [SIGNAL]: kills (default -9) the cluster node on PORT
# and waits for its process to end.  Sets HT_KILLED_NODE (its name) and
# HT_KILLED_PORT.
HT_KILLED_NODE=
HT_KILLED_PORT=
ht_kill_node() {
    local sig=${2:-KILL}
    HT_KILLED_PORT=$1
    HT_KILLED_NODE=$(ht_cluster_node_name "$1")
    log "killing $HT_KILLED_NODE (port $HT_KILLED_PORT) with SIG$sig"
    ht_stop "$HT_KILLED_NODE" "$sig" 10
}

# ht_restart_node NAME PORT: starts the stopped cluster node NAME again on
# PORT with the settings it had; it finds the cluster from its nodes.conf
# (a master failed over meanwhile comes back as a replica of its successor).
HT_CLUSTER_NODE_ARGS=()
ht_restart_node() {
    ht__start_redis_server "$1" "$2" - --dir "$HT_TMP/$1" "${HT_CLUSTER_NODE_ARGS[@]}"
}

# ht_wait_slot_served SLOT [TIMEOUT]: waits until a live master other
# than HT_KILLED_PORT serves SLOT and the cluster is ok again.
ht_slot_served_elsewhere() {
    local m
    m=$(ht_slot_master "$1")
    [[ -n "$m" && "$m" != "$HT_KILLED_PORT" ]] && ht_cluster_ok
}
ht_wait_slot_served() {
    wait_until "${2:-30}" "slot $1 is served by a new master" ht_slot_served_elsewhere "$1"
}

ht_migrate() { "$HT_CLI_BIN" migrate --redis-url "$HANGTIGHT_REDIS_URL"; }

# ht_start_api [--name NAME] [--port PORT] [ARGS...]: hangtight-api as NAME
# (default api) with two threads; ARGS are passed on.  It listens on a port
# the kernel picks (127.0.0.1:0), read back from its "listening" log line,
# so no other test can take the port first; --port PORT listens there
# instead (the api coming back on the address its clients know).  Waits
# until /readyz says ready.  Sets HT_API_URLS[NAME], and for NAME "api"
# HT_URL and HANGTIGHT_URL.
ht_start_api() {
    ht__spawn_api "$@"
    wait_until 30 "$HT__API is ready" ht_api_ready "$HT__API"
}

# ht_start_api without the wait for /readyz (ht_start_stack waits for all
# it started together).  Sets HT__API to the name.
HT__API=
ht__spawn_api() {
    local name=api port=0 from
    while (($#)); do
        case "$1" in
        --name) name=$2 && shift 2 ;;
        --port) port=$2 && shift 2 ;;
        *) break ;;
        esac
    done
    from=$(ht__log_size "$name")
    ht_spawn "$name" env HANGTIGHT_LISTEN="127.0.0.1:$port" "$HT_API_BIN" --threads 2 "$@"
    wait_until 30 "$name listens" ht__api_listening "$name" "$from"
    HT_API_URLS[$name]=http://$HT__ADDR
    if [[ "$name" == api ]]; then
        HT_URL=${HT_API_URLS[api]}
        export HANGTIGHT_URL=$HT_URL
    fi
    HT__API=$name
}

# 0 once api NAME logged its "listening" line after log offset FROM; sets
# HT__ADDR to the address in it.
HT__ADDR=
ht__api_listening() {
    ht_alive "$1" || fail "$1 exited: $(ht__log_since "$1" "$2" | tail -n 20)"
    HT__ADDR=$(ht__log_since "$1" "$2" |
        sed -nE 's/.*"msg":"listening".*"addr":"([^"]+)".*/\1/p' | head -n 1)
    [[ -n "$HT__ADDR" ]]
}

# The URL of api NAME (default api).
ht_api_url() { printf '%s\n' "${HT_API_URLS[${1:-api}]}"; }

# 0 when api NAME (default api) answers /readyz with 200.
ht_api_ready() {
    local name=${1:-api}
    ht_alive "$name" || fail "$name exited: $(tail -n 20 "${HT_LOGS[$name]}")"
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${HT_API_URLS[$name]}/readyz")" == 200 ]]
}

# hangtight-worker NAME with extra arguments; waits for its "worker ready"
# log line (of this start: a worker started again under the same name
# waits for its own).
ht_start_worker() {
    local name=$1 from
    shift
    from=$(ht__log_size "$name")
    ht_spawn "$name" "$HT_WORKER_BIN" "$@"
    wait_until 30 "$name is ready" ht_worker_ready "$name" "$from"
}

# ht_worker_ready NAME [FROM]: 0 once worker NAME logged "worker ready"
# (after log offset FROM).
ht_worker_ready() {
    ht_alive "$1" || fail "$1 exited: $(tail -n 20 "${HT_LOGS[$1]}")"
    # grep reads to the end (no -q): under pipefail, a grep that quit early
    # would fail the pipeline when tail, writing a long log, got SIGPIPE.
    ht__log_since "$1" "${2:-0}" | grep 'worker ready' >/dev/null
}

# ht_start_stack [--workers N] [--redis-args A...] [--api-args A...]
#                [--worker-args A...]
# Redis (ht_start_redis with the --redis-args), the keyspace migrated, the
# api (ht_start_api with the --api-args) and N workers w1..wN (default 1;
# each ht_start_worker with the --worker-args).  An --*-args list runs to
# the next of these four options.  The api and the workers start side by
# side (a worker needs only Redis); then it waits until all are ready.
ht_start_stack() {
    local workers=1 group='' redis_args=() api_args=() worker_args=() i
    while (($#)); do
        case "$1" in
        --workers) workers=$2 && shift ;;
        --redis-args | --api-args | --worker-args) group=$1 ;;
        *)
            case "$group" in
            --redis-args) redis_args+=("$1") ;;
            --api-args) api_args+=("$1") ;;
            --worker-args) worker_args+=("$1") ;;
            *) fail "ht_start_stack: unknown option $1" ;;
            esac
            ;;
        esac
        shift
    done
    ht_start_redis "${redis_args[@]}"
    ht_migrate
    for ((i = 1; i <= workers; i++)); do
        ht_spawn "w$i" "$HT_WORKER_BIN" "${worker_args[@]}"
    done
    ht__spawn_api "${api_args[@]}"
    wait_until 30 "the api is ready" ht_api_ready api
    for ((i = 1; i <= workers; i++)); do
        wait_until 30 "w$i is ready" ht_worker_ready "w$i"
    done
}

# ---- npm packages of the tests -----------------------------------------

# ht_npm_ci DIR MARK...: the packages of tests/DIR/package-lock.json,
# installed with npm ci into NPM_DIR=$HT_BUILD_DIR/npm/DIR (cached: again
# only when the lock file changed or a MARK, a path under node_modules, is
# missing), with a Node >= 20 on PATH (ht_node20).
ht_npm_ci() {
    local dir=$1 lock rc
    ht_node20 || fail "needs Node >= 20 (Debian 12 has 18) and could not fetch it from npm: $(tail -n 5 "$HT_TMP/node22.log" 2>/dev/null)"
    NPM_DIR=$HT_BUILD_DIR/npm/$dir
    mkdir -p "$NPM_DIR"
    # Tests run in parallel share NPM_DIR: one installs while the others
    # wait (npm ci first deletes node_modules, under a running s3rver).
    exec {lock}>"$NPM_DIR.lock"
    flock "$lock"
    ht__npm_ci_locked "$@"
    rc=$?
    exec {lock}>&-
    return $rc
}
ht__npm_ci_locked() {
    local dir=$1 mark fresh=1
    shift
    cmp -s "$HT_SOURCE_DIR/tests/$dir/package-lock.json" "$NPM_DIR/package-lock.json" || fresh=0
    for mark in "$@"; do
        [[ -e "$NPM_DIR/node_modules/$mark" ]] || fresh=0
    done
    ((fresh)) && return
    log "installing $* into $NPM_DIR (npm ci)"
    cp "$HT_SOURCE_DIR/tests/$dir/package.json" "$HT_SOURCE_DIR/tests/$dir/package-lock.json" "$NPM_DIR/"
    (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error --cache "$HT_BUILD_DIR/npm/cache") \
        >"$HT_TMP/npm.log" 2>&1 || fail "npm ci of $* failed: $(tail -n 20 "$HT_TMP/npm.log")"
}

# ---- s3rver (the s3: blob store) ----------------------------------------

# ht_start_s3: s3rver 3.7 (npm) on a loopback port with bucket $BUCKET
# (hangtight), behind tests/blob/sigv4_check.py, which recomputes every
# request's AWS Signature V4 independently of libcurl (s3rver checks none)
# and refuses a wrong one.  s3rver, the AWS SDK for JavaScript and their
# dependencies are installed with npm ci from tests/blob/package-lock.json
# into $NPM_DIR (ht_npm_ci); tests/blob/sdk.mjs runs from
# there.  Sets S3_PORT (s3rver itself), SIGV4_PORT (the proxy), the AWS
# keys, HANGTIGHT_BLOB_STORE=s3://$BUCKET/ht and HANGTIGHT_S3_ENDPOINT (the
# proxy).  Processes: s3rver, sigv4.
ht_start_s3() {
    ht_npm_ci blob s3rver @aws-sdk/client-s3
    # Node resolves packages next to the script, so the scripts run from there.
    cp "$HT_SOURCE_DIR/tests/blob/s3rver.cjs" "$HT_SOURCE_DIR/tests/blob/sdk.mjs" "$NPM_DIR/"
    BUCKET=hangtight
    ht_spawn s3rver node "$NPM_DIR/s3rver.cjs" "$HT_TMP/s3data" "$HT_TMP/s3.port" "$BUCKET"
    S3_PORT=$(ht__port_file "$HT_TMP/s3.port" s3rver)
    export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
    ht_spawn sigv4 "$HT_PY" "$HT_SOURCE_DIR/tests/blob/sigv4_check.py" "$S3_PORT" "$HT_TMP/sigv4.port" \
        "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" us-east-1
    SIGV4_PORT=$(ht__port_file "$HT_TMP/sigv4.port" sigv4)
    log "s3rver on $S3_PORT, signature check in front of it on $SIGV4_PORT"
    export HANGTIGHT_BLOB_STORE=s3://$BUCKET/ht
    export HANGTIGHT_S3_ENDPOINT=http://127.0.0.1:$SIGV4_PORT
}

# Waits (up to 30 s) for FILE to hold a port, written by process NAME.
ht__port_file() {
    local file=$1 name=$2 deadline=$((SECONDS + 30))
    while [[ ! -s "$file" ]]; do
        ht_alive "$name" || fail "$name exited: $(tail -n 20 "${HT_LOGS[$name]}")"
        ((SECONDS < deadline)) || fail "$name did not listen within 30 s"
        sleep 0.05
    done
    cat "$file"
}

# ht_gate_handlers TYPE=FILE...: HANGTIGHT_HANDLERS naming exec handlers of
# those types that run until the test creates FILE (tests/faults/gate.sh);
# with a FILE nobody creates, until the job is canceled.
ht_gate_handlers() {
    local arg sep=''
    {
        printf '{"handlers": {'
        for arg in "$@"; do
            printf '%s"%s": {"command": ["/bin/bash", "%s", "%s"]}' "$sep" "${arg%%=*}" \
                "$HT_SOURCE_DIR/tests/faults/gate.sh" "${arg#*=}"
            sep=', '
        done
        printf '}}\n'
    } >"$HT_TMP/handlers.json"
    export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
}

# ---- HTTP --------------------------------------------------------------

# ht_http_retrying METHOD PATH [BODY...]: ht_http, again every 100 ms while
# it answers 503 (what a client does while the api's connections to Redis
# come back), for up to $RECOVER_MS ms (10 s unless the test sets it).
ht_http_retrying() {
    local deadline=$(($(ht_ms) + ${RECOVER_MS:-10000}))
    while :; do
        ht_http "$@"
        [[ "$HTTP_STATUS" == 503 && $(ht_ms) -lt $deadline ]] || break
        sleep 0.1
    done
}

# ht_submit_retrying BODY: submits as ht_http_retrying, asserts a 202 and
# sets HT_JOB.
ht_submit_retrying() {
    ht_http_retrying POST /v1/jobs "$1"
    assert_status 202 "submit $1"
    HT_JOB=$(ht_json .id)
}

# ht_tenant_keys TENANT...: an api keys file $KEYS (for --api-keys-file)
# with one key a tenant, TENANT-key-0123456789abcdef; sets ${TENANT^^}_KEY
# to it and the array TENANT to curl's header with it, for ht_http.
ht_tenant_keys() {
    KEYS=$HT_TMP/keys
    : >"$KEYS"
    local t key
    for t in "$@"; do
        key=$t-key-0123456789abcdef
        printf '%s:%s\n' "$t" "$key" >>"$KEYS"
        printf -v "${t^^}_KEY" '%s' "$key"
        declare -ga "$t"
        local -n hdr=$t
        hdr=(-H "Authorization: Bearer $key")
        unset -n hdr
    done
}

# ht_http METHOD PATH [BODY [CURL-ARGS...]]: one request to the api.  Sets
# HTTP_STATUS and HTTP_BODY; headers are read with ht_header.  A BODY is
# sent as application/json unless CURL-ARGS set another Content-Type.
ht_http() {
    local method=$1 path=$2 body=${3-}
    shift $(($# < 3 ? $# : 3))
    local args=(-s -X "$method" -o "$HT_TMP/http.body" -D "$HT_TMP/http.headers"
        -w '%{http_code}' --max-time 30)
    if [[ -n "$body" ]]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    # curl writes no file for an empty body: never read the last answer's.
    rm -f "$HT_TMP/http.body" "$HT_TMP/http.headers"
    HTTP_STATUS=$(curl "${args[@]}" "$@" "$HT_URL$path") || HTTP_STATUS=000
    HTTP_BODY=$(cat "$HT_TMP/http.body" 2>/dev/null || true)
}

# The value of header NAME in the last answer (empty when absent).
ht_header() {
    local name=${1,,}
    tr -d '\r' <"$HT_TMP/http.headers" | awk -v n="$name" '
        /^HTTP\// { v = "" }                       # a later status line starts over
        { i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) {
              v = substr($0, i + 1); sub(/^[ \t]+/, "", v) } }
        END { print v }'
}

# jq EXPR over the last body (raw output).
ht_json() { jq -r "$1" <<<"$HTTP_BODY"; }

# Submits a job: ht_submit BODY [CURL ARGS...]; asserts 202 and sets HT_JOB to the id
# (HTTP_BODY keeps the answer).
ht_submit() {
    ht_http POST /v1/jobs "$1" "${@:2}"
    [[ "$HTTP_STATUS" == 202 ]] || fail "submit $1: expected 202, got $HTTP_STATUS: $HTTP_BODY"
    HT_JOB=$(ht_json .id)
}

# ht_job_field ID JQ-EXPR: GETs the job and prints EXPR of its document.
ht_job_field() {
    ht_http GET "/v1/jobs/$1"
    [[ "$HTTP_STATUS" == 200 ]] || fail "GET job $1: $HTTP_STATUS $HTTP_BODY"
    ht_json "$2"
}

# 0 when job ID's status is STATUS (for wait_until).  Runs in this shell, so
# HTTP_BODY holds the document afterwards.
ht_job_is() {
    ht_http GET "/v1/jobs/$1"
    [[ "$HTTP_STATUS" == 200 ]] || fail "GET job $1: $HTTP_STATUS $HTTP_BODY"
    [[ "$(ht_json .status)" == "$2" ]]
}

# The Redis key of job ID's hash.  A v4 id (version nibble at offset 14)
# lives in partition 0 of 1: ht:{default}:job:ID, no need to start the CLI
# (~0.5 s under ASan), which tight polls cannot afford.  A v8 id names its
# partition: `hangtight job-key ID`, remembered in $HT_TMP/job-keys/ so a
# poll loop starts the CLI once per id (ht:{default}:job:ID when the CLI
# has no job-key).
ht_job_key() {
    local key f=$HT_TMP/job-keys/$1
    if [[ ${1:14:1} == 4 ]]; then
        printf 'ht:{default}:job:%s\n' "$1"
    elif [[ -f "$f" ]] && read -r key <"$f"; then
        printf '%s\n' "$key"
    else
        key=$("$HT_CLI_BIN" job-key "$1" 2>/dev/null) || key="ht:{default}:job:$1"
        mkdir -p "$HT_TMP/job-keys" && printf '%s\n' "$key" >"$f"
        printf '%s\n' "$key"
    fi
}

# ht_job_tag_key ID SUFFIX: the key SUFFIX (e.g. "scheduled", "job:ID:log",
# "wait:default") under the hash tag of job ID's partition: the prefix of
# its job key ("ht:{default}:" on one node).
ht_job_tag_key() {
    local key
    key=$(ht_job_key "$1")
    printf '%s%s\n' "${key%%job:*}" "$2"
}

# The Redis hash field of a job, e.g. the worker that holds it.
ht_job_hget() { ht_redis HGET "$(ht_job_key "$1")" "$2"; }

# ht_keys SUFFIX: every key ht:{<any tag>}:SUFFIX on every master (SUFFIX
# taken literally: "stats" does not match ht:{default}:t:x:stats).
ht_keys() {
    ht_redis_each --masters --raw KEYS "ht:{*}:$1" |
        awk -v suf="$1" '{ i = index($0, "}:"); if (i && substr($0, i + 2) == suf) print }'
}

# ht_sum_keys CMD SUFFIX: CMD (ZCARD, LLEN, SCARD, HGET-free counters...)
# of every key ht:{<tag>}:SUFFIX, summed over the partitions and masters
# (0 when there is none): a queue-wide count on any layout.
ht_sum_keys() {
    local cmd=$1 suffix=$2 key sum=0 v
    shift 2
    while read -r key; do
        [[ -n "$key" ]] || continue
        v=$(ht_redis --raw "$cmd" "$key" "$@")
        sum=$((sum + ${v:-0}))
    done < <(ht_keys "$suffix")
    echo "$sum"
}

# ---- raw clients and process figures (sync mode, SSE, long polls) ------

# Client scripts of the tests (raw sockets, Node, Python's http.client).
HT_CLIENTS_DIR=$HT_SOURCE_DIR/tests/integration/clients

# "127.0.0.1:PORT" of the api (after ht_start_api).
ht_hostport() { printf '%s\n' "${HT_URL#http://}"; }

# ht_raw SPEC-JSON: runs clients/rawhttp.py (see there) on one connection
# to the api and sets RAW to its JSON answer; fails the test when the
# connection ended early, unless RAW_MAY_FAIL=1.
RAW=
ht_raw() {
    local rc=0
    RAW=$(python3 "$HT_CLIENTS_DIR/rawhttp.py" "$(ht_hostport)" - <<<"$1" 2>"$HT_TMP/raw.err") ||
        rc=$?
    if ((rc != 0)) && [[ "${RAW_MAY_FAIL:-0}" != 1 ]]; then
        fail "raw client: $(cat "$HT_TMP/raw.err"); got so far: $RAW"
    fi
    return 0
}

# jq EXPR over RAW (raw output).
ht_raw_json() { jq -r "$1" <<<"$RAW"; }

# Resident memory of process NAME in KiB, and its number of open files.
ht_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/${HT_PIDS[$1]}/status"; }
ht_fd_count() { find "/proc/${HT_PIDS[$1]}/fd" -mindepth 1 -maxdepth 1 | wc -l; }

# Milliseconds since the epoch (for elapsed-time assertions).
ht_ms() { date +%s%3N; }

# ---- assertions --------------------------------------------------------

assert_eq() {
    local actual=$1 expected=$2 what=${3:-value}
    [[ "$actual" == "$expected" ]] || fail "$what: expected '$expected', got '$actual'"
}

assert_ne() {
    local actual=$1 unexpected=$2 what=${3:-value}
    [[ "$actual" != "$unexpected" ]] || fail "$what: did not expect '$unexpected'"
}

assert_match() {
    local actual=$1 regex=$2 what=${3:-value}
    [[ "$actual" =~ $regex ]] || fail "$what: '$actual' does not match /$regex/"
}

assert_status() {
    [[ "$HTTP_STATUS" == "$1" ]] ||
        fail "${2:-HTTP status}: expected $1, got $HTTP_STATUS; body: $HTTP_BODY"
}

# assert_json JQ-EXPR EXPECTED [WHAT]: EXPR of the last body, raw.
assert_json() {
    local got
    got=$(jq -r "$1" <<<"$HTTP_BODY" 2>&1) || fail "body is not JSON ($1): $HTTP_BODY"
    [[ "$got" == "$2" ]] || fail "${3:-$1}: expected '$2', got '$got'; body: $HTTP_BODY"
}

# assert_jq JQ-PREDICATE [WHAT]: the predicate holds for the last body.
assert_jq() {
    jq -e "$1" <<<"$HTTP_BODY" >/dev/null 2>&1 || fail "${2:-$1} does not hold; body: $HTTP_BODY"
}

# The last answer is an RFC 9457 problem with STATUS.
assert_problem() {
    local status=$1 what=${2:-problem}
    assert_status "$status" "$what"
    assert_match "$(ht_header Content-Type)" '^application/problem\+json' "$what: Content-Type"
    assert_jq '(.type | type == "string" and length > 0) and (.title | type == "string")' \
        "$what: problem has type and title"
    assert_json .status "$status" "$what: problem status"
}

# ---- cleanup -----------------------------------------------------------

# Sanitizer reports in any log make the test fail even when its assertions
# passed: a use-after-free that did not crash this time will another time.
ht__sanitizer_reports() {
    local found=0 name
    for name in "${!HT_LOGS[@]}"; do
        if grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' \
            "${HT_LOGS[$name]}" 2>/dev/null; then
            echo "sanitizer report in $name.log" >&2
            found=1
        fi
        # A Redis that crashed (every node of a cluster is scanned).
        if [[ "$name" == redis* ]] && grep -q 'REDIS BUG REPORT' "${HT_LOGS[$name]}" 2>/dev/null; then
            echo "redis crash report in $name.log" >&2
            found=1
        fi
    done
    return $((found == 0 ? 1 : 0))
}

ht__term() {
    kill -TERM "$1" 2>/dev/null
    kill -CONT "$1" 2>/dev/null
}

ht__cleanup() {
    local rc=$? name pid status lines skipped=0
    set +e
    if ((rc == HT_SKIP_CODE)); then
        # Only ht_skip skips: a command that happened to exit 77 failed.
        if ((HT__SKIPPING)); then skipped=1 && rc=0; else rc=1; fi
    fi
    # hangtight processes first (they may be draining), then Redis.  A
    # process a test froze (SIGSTOP) is thawed to take its SIGTERM.
    for name in "${!HT_PIDS[@]}"; do
        [[ "$name" == redis* ]] || ht__term "${HT_PIDS[$name]}"
    done
    for name in "${!HT_PIDS[@]}"; do
        [[ "$name" == redis* ]] && continue
        pid=${HT_PIDS[$name]}
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -KILL "$pid" 2>/dev/null; then
            echo "FAIL ($HT_TEST_NAME): $name did not stop within 10s of SIGTERM" >&2
            rc=1
        fi
        wait "$pid" 2>/dev/null
        status=$?
        # A clean stop is part of the contract (and LeakSanitizer only
        # reports from a normal exit).
        if ((status != 0)); then
            echo "FAIL ($HT_TEST_NAME): $name exited with status $status on SIGTERM" >&2
            rc=1
        fi
    done
    # Redis last: the one node, or every node of a cluster.
    for name in "${!HT_PIDS[@]}"; do
        [[ "$name" == redis* ]] && ht__term "${HT_PIDS[$name]}"
    done
    for name in "${!HT_PIDS[@]}"; do
        [[ "$name" == redis* ]] && wait "${HT_PIDS[$name]}" 2>/dev/null
    done
    if ht__sanitizer_reports; then
        echo "FAIL ($HT_TEST_NAME): sanitizer report (see the logs below)" >&2
        rc=1
    fi
    if ((rc != 0)); then
        for name in "${!HT_LOGS[@]}"; do
            # A cluster's six Redis logs get fewer lines each.
            lines=150
            [[ "$name" == redis-n* ]] && lines=30
            printf '\n===== %s (last %s lines of %s)\n' "$name" "$lines" "${HT_LOGS[$name]}" >&2
            tail -n "$lines" "${HT_LOGS[$name]}" >&2
        done
        echo "test files kept in $HT_TMP" >&2
        exit "$rc"
    fi
    rm -rf "$HT_TMP"
    if ((skipped)); then
        exit "$HT_SKIP_CODE" # ht_skip said why
    elif ((${#HT_SKIPPED[@]})); then
        local IFS=';'
        printf '\nSKIP (%s): the rest passed, but not all of it ran: %s\n' "$HT_TEST_NAME" \
            "${HT_SKIPPED[*]}" >&2
        exit "$HT_SKIP_CODE"
    fi
    echo "PASS ($HT_TEST_NAME)" >&2
    exit 0
}
trap ht__cleanup EXIT
trap 'exit 130' INT TERM

for bin in "$HT_API_BIN" "$HT_WORKER_BIN" "$HT_CLI_BIN"; do
    [[ -x "$bin" ]] || fail "$bin is missing: build first (HT_BUILD_DIR=$HT_BUILD_DIR)"
done
