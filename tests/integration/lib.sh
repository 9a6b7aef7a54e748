# shellcheck shell=bash
# Shared helpers of the integration tests (sourced by every test_*.sh).
#
# Each test gets its own temp dir, free loopback ports, its own
# redis-server and the real binaries from $HT_BUILD_DIR.  On exit every
# process started here is stopped (SIGTERM first, so LeakSanitizer can
# report), the logs are scanned for sanitizer reports, and when the test
# failed the logs are printed.
#
#   source "$(dirname "$0")/lib.sh"
#   ht_start_redis; ht_migrate; ht_start_api; ht_start_worker w1
#   ht_http POST /v1/jobs '{"type":"echo"}'; assert_status 202
#   assert_json '.status' queued
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
HT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ht-$HT_TEST_NAME.XXXXXX")
declare -A HT_PIDS=()  # name -> pid of every process started here
declare -A HT_LOGS=()  # name -> its log file
HT_REDIS_PORT=
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

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "$HT_TEST_NAME" "$*" >&2; }

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
    if [[ ! -x "$dir/node_modules/node-linux-$arch/bin/node" ]]; then
        log "node $(node --version 2>/dev/null || echo '(none)') is older than 20: fetching node-linux-$arch@22.12.0 from npm"
        mkdir -p "$dir"
        npm install --no-audit --no-fund --loglevel=error --prefix "$dir" \
            "node-linux-$arch@22.12.0" >"$HT_TMP/node22.log" 2>&1 || return 1
    fi
    export PATH=$dir/node_modules/node-linux-$arch/bin:$PATH
}

fail() {
    printf '\nFAIL (%s): %s\n' "$HT_TEST_NAME" "$*" >&2
    exit 1
}

# ---- processes ---------------------------------------------------------

# A TCP port that nothing listens on right now (the kernel picks it).
ht_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
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
# MODE sets its appendfsync (default everysec; "always" for fault tests).
# Called again after ht_stop_redis it restarts on the same port and dir.
ht_start_redis() {
    local persist=no password='' db=0 fsync=everysec
    while (($#)); do
        case "$1" in
        --aof) persist=yes ;;
        --password) password=$2 && shift ;; # requirepass; the URL carries it
        --db) db=$2 && shift ;;             # the database the URL names
        --fsync) fsync=$2 && shift ;;       # appendfsync: always, everysec, no
        *) fail "ht_start_redis: unknown option $1" ;;
        esac
        shift
    done
    HT_REDIS_PORT=${HT_REDIS_PORT:-$(ht_free_port)}
    mkdir -p "$HT_TMP/redis"
    ht_spawn redis redis-server --port "$HT_REDIS_PORT" --bind 127.0.0.1 \
        --dir "$HT_TMP/redis" --save '' --appendonly "$persist" --appendfsync "$fsync" \
        --daemonize no --protected-mode yes ${password:+--requirepass "$password"}
    # redis-cli reads the password from the environment (no warning on stderr).
    if [[ -n "$password" ]]; then export REDISCLI_AUTH=$password; else unset REDISCLI_AUTH; fi
    export HANGTIGHT_REDIS_URL=redis://${password:+:$password@}127.0.0.1:$HT_REDIS_PORT/$db
    wait_until 20 "redis answers PING" ht_redis_ping
}

ht_redis_ping() { [[ "$(redis-cli -p "$HT_REDIS_PORT" PING 2>/dev/null)" == PONG ]]; }

# redis-cli against the test's Redis.
ht_redis() { redis-cli -p "$HT_REDIS_PORT" -n "${HANGTIGHT_REDIS_URL##*/}" "$@"; }

# Stops Redis at once, without saving (the AOF, if on, is already written).
ht_stop_redis() {
    ht_redis SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    ht_wait_exit redis 20
}

ht_migrate() { "$HT_CLI_BIN" migrate --redis-url "$HANGTIGHT_REDIS_URL"; }

# hangtight-api on a free port with two threads; extra arguments are passed
# on.  Waits until /readyz says ready.  Sets HT_URL.
ht_start_api() {
    local port
    port=$(ht_free_port)
    HT_URL=http://127.0.0.1:$port
    export HANGTIGHT_URL=$HT_URL
    ht_spawn api env HANGTIGHT_LISTEN="127.0.0.1:$port" "$HT_API_BIN" --threads 2 "$@"
    wait_until 30 "the api is ready" ht_api_ready
}

ht_api_ready() {
    ht_alive api || fail "the api exited: $(tail -n 20 "${HT_LOGS[api]}")"
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$HT_URL/readyz")" == 200 ]]
}

# hangtight-worker NAME with extra arguments; waits for its "worker ready"
# log line.
ht_start_worker() {
    local name=$1
    shift
    ht_spawn "$name" "$HT_WORKER_BIN" "$@"
    wait_until 30 "$name is ready" ht_worker_ready "$name"
}

ht_worker_ready() {
    ht_alive "$1" || fail "$1 exited: $(tail -n 20 "${HT_LOGS[$1]}")"
    grep -q 'worker ready' "${HT_LOGS[$1]}"
}

# ---- waiting -----------------------------------------------------------

# wait_until SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.1 s.
wait_until() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting until $what"
        sleep 0.1
    done
}

# ---- HTTP --------------------------------------------------------------

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

# The Redis hash field of a job, e.g. the worker that holds it.
ht_job_hget() { ht_redis HGET "ht:{default}:job:$1" "$2"; }

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
    done
    return $((found == 0 ? 1 : 0))
}

ht__cleanup() {
    local rc=$? name pid status
    set +e
    # hangtight processes first (they may be draining), then Redis.
    for name in "${!HT_PIDS[@]}"; do
        [[ "$name" == redis ]] || kill -TERM "${HT_PIDS[$name]}" 2>/dev/null
    done
    for name in "${!HT_PIDS[@]}"; do
        [[ "$name" == redis ]] && continue
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
    if [[ -n "${HT_PIDS[redis]:-}" ]]; then
        kill -TERM "${HT_PIDS[redis]}" 2>/dev/null
        wait "${HT_PIDS[redis]}" 2>/dev/null
    fi
    if ht__sanitizer_reports; then
        echo "FAIL ($HT_TEST_NAME): sanitizer report (see the logs below)" >&2
        rc=1
    fi
    if ((rc != 0)); then
        for name in "${!HT_LOGS[@]}"; do
            printf '\n===== %s (last 150 lines of %s)\n' "$name" "${HT_LOGS[$name]}" >&2
            tail -n 150 "${HT_LOGS[$name]}" >&2
        done
        echo "test files kept in $HT_TMP" >&2
    else
        rm -rf "$HT_TMP"
        echo "PASS ($HT_TEST_NAME)" >&2
    fi
    exit "$rc"
}
trap ht__cleanup EXIT
trap 'exit 130' INT TERM

for bin in "$HT_API_BIN" "$HT_WORKER_BIN" "$HT_CLI_BIN"; do
    [[ -x "$bin" ]] || fail "$bin is missing: build first (HT_BUILD_DIR=$HT_BUILD_DIR)"
done
