#!/usr/bin/env bash
# Runs every libFuzzer harness for a while (./test --long calls this).
#
#   fuzz/run.sh [SECONDS] [NAME...]   default 60 s each, every harness
#
# Builds build-libfuzzer/ with clang (-fsanitize=fuzzer,address,undefined,
# the whole tree instrumented), then runs fuzz_<name> with fuzz/<name>.dict
# over a scratch copy of fuzz/corpus/<name>/ (the repository corpus is only
# read; merge new inputs by hand, see the README).  Prints executions, new
# inputs and coverage per harness; exits 1 when any harness crashed, leaked,
# timed out or broke an invariant, leaving the input that did it in
# build-libfuzzer/fuzz-artifacts/ (add it to the corpus once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
secs=${1:-60}
shift || true
names=("$@")
((${#names[@]})) || names=(job_request exec_output http)
build=$ROOT/build-libfuzzer
out=$build/fuzz-artifacts
mkdir -p "$out"

CC=clang cmake -S "$ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DHT_SANITIZE=ON -DHT_FUZZ=ON \
    -DHT_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${names[@]/#/fuzz_}" >/dev/null

# Leaks count; a slow input (-timeout) and an RSS blow-up count too.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
printf '%-12s %10s %8s %6s %6s %s\n' harness executions exec/s new cov result
for name in "${names[@]}"; do
    work=$(mktemp -d "${TMPDIR:-/tmp}/ht-fuzz-$name.XXXXXX")
    log=$out/$name.log
    rc=0
    "$build/fuzz/fuzz_$name" -dict="$ROOT/fuzz/$name.dict" -max_total_time="$secs" \
        -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$name-" \
        "$work" "$ROOT/fuzz/corpus/$name" >"$log" 2>&1 || rc=$?
    stat() { awk -v k="stat::$1:" '$1 == k { print $2 }' "$log"; }
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    result=ok
    if ((rc != 0)); then
        result="CRASH (rc $rc): $(grep -m1 -E '^==[0-9]+==ERROR|runtime error|ABORTING|deadly signal|timeout' "$log" || true); log $log"
        status=1
    fi
    printf '%-12s %10s %8s %6s %6s %s\n' "$name" "$(stat number_of_executed_units)" \
        "$(stat average_exec_per_sec)" "$(stat new_units_added)" "${cov:-?}" "$result"
    rm -rf "$work"
done
exit "$status"
