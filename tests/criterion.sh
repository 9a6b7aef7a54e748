#!/usr/bin/env bash
# Runs one Criterion test binary for ctest (tests/CMakeLists.txt) and gives
# its skips the skip exit status, 77 (ctest's SKIP_RETURN_CODE, the one the
# integration tests use: tests/integration/lib.sh): a binary whose tests
# passed but some called cr_skip_test() is skipped, not passed.  A failure
# stays a failure.
#   criterion.sh BINARY ARGS...
set -uo pipefail
out=$("$@" --verbose 2>&1)
rc=$?
printf '%s\n' "$out"
if ((rc == 77)); then
    exit 1 # only a skip may end with the skip status
elif ((rc == 0)) && grep -q '^\[SKIP\] ' <<<"$out"; then
    echo "SKIP: $(grep -c '^\[SKIP\] ' <<<"$out") of the tests were skipped" >&2
    exit 77
fi
exit "$rc"
