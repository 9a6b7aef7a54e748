# shellcheck shell=bash
# What every shell test uses, the integration tests (through lib.sh) and
# tests/container/test_compose.sh alike: log, fail, wait_until.  The
# sourcing script sets HT_TEST_NAME first, and HT_POLL_S (seconds between
# tries of wait_until, default 0.1) when it wants another pace.

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "$HT_TEST_NAME" "$*" >&2; }

fail() {
    printf '\nFAIL (%s): %s\n' "$HT_TEST_NAME" "$*" >&2
    exit 1
}

# wait_until SECONDS DESCRIPTION COMMAND...: retries COMMAND every
# HT_POLL_S seconds until it succeeds, or fails the test after SECONDS.
wait_until() {
    local timeout=$1 what=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting until $what"
        sleep "${HT_POLL_S:-0.1}"
    done
}
