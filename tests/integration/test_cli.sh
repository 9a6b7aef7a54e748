#!/usr/bin/env bash
# The `hangtight` command against the stack: submit, status, wait (exit 0 on
# success, 1 on failure, 2 on timeout), problems on stderr, usage.
source "$(dirname "$0")/lib.sh"

ht_start_redis
ht_migrate
ht_start_api
ht_start_worker w1 --concurrency 2
cli() { "$HT_CLI_BIN" "$@"; }

# submit prints the job document; status reads it back.
out=$(cli submit sleep '{"ms": 1500, "steps": 3}' --max-attempts 2 --ttl-s 600)
id=$(jq -r .id <<<"$out")
assert_match "$id" '^[0-9a-f-]{36}$' "id from submit"
assert_eq "$(jq -r .status <<<"$out")" queued "submitted status"
assert_eq "$(jq -r .max_attempts <<<"$out")" 2 "--max-attempts"
out=$(cli status "$id")
assert_eq "$(jq -r .id <<<"$out")" "$id" "status id"

# wait follows it to the end: progress lines on stderr (not a terminal),
# the final document on stdout, exit 0.
set +e
cli wait "$id" --timeout 30 >"$HT_TMP/wait.out" 2>"$HT_TMP/wait.err"
rc=$?
set -e
assert_eq "$rc" 0 "wait exit status for a succeeded job"
assert_eq "$(jq -r .status "$HT_TMP/wait.out")" succeeded "wait's final document"
grep -q '^running' "$HT_TMP/wait.err" || fail "wait showed no progress: $(cat "$HT_TMP/wait.err")"
[[ $(sort "$HT_TMP/wait.err" | uniq -d | wc -l) == 0 ]] ||
    fail "wait repeated an unchanged line: $(cat "$HT_TMP/wait.err")"

# --url before the command works too, and so does HANGTIGHT_URL (set by lib.sh).
out=$(env -u HANGTIGHT_URL "$HT_CLI_BIN" --url "$HT_URL" status "$id")
assert_eq "$(jq -r .status <<<"$out")" succeeded "status with --url"

# A failing job: wait exits 1 and still prints the document.
out=$(cli submit fail '{"message": "on purpose"}' --max-attempts 1)
id=$(jq -r .id <<<"$out")
set +e
out=$(cli wait "$id" --timeout 30 2>/dev/null)
rc=$?
set -e
assert_eq "$rc" 1 "wait exit status for a failed job"
assert_eq "$(jq -r .status <<<"$out")" failed "failed job document"
assert_match "$(jq -r .error.message <<<"$out")" 'on purpose' "failed job error"

# wait --timeout gives up with exit 2.
id=$(cli submit sleep '{"ms": 10000, "steps": 2}' | jq -r .id)
set +e
cli wait "$id" --timeout 1 >/dev/null 2>"$HT_TMP/timeout.err"
rc=$?
set -e
assert_eq "$rc" 2 "wait exit status on timeout"
grep -q 'gave up' "$HT_TMP/timeout.err" || fail "timeout message: $(cat "$HT_TMP/timeout.err")"

# Problems are explained on stderr with exit 1.
set +e
err=$(cli submit no.such.type '{}' 2>&1 >/dev/null)
rc=$?
set -e
assert_eq "$rc" 1 "submit of an unknown type"
assert_match "$err" 'HTTP 422' "submit problem message"
set +e
err=$(cli submit echo '{"x": 1}' --max-attempts 99 2>&1 >/dev/null)
rc=$?
set -e
assert_eq "$rc" 1 "submit with a bad field"
assert_match "$err" '/max_attempts' "field error names the field"
set +e
err=$(cli status 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b 2>&1 >/dev/null)
rc=$?
set -e
assert_eq "$rc" 1 "status of an unknown job"
assert_match "$err" 'HTTP 404' "status problem message"

# Usage errors and network trouble exit 2; --help exits 0.
for args in "" "frobnicate" "submit" "submit echo not-json" "status" "wait" \
    "wait x --timeout nope" "submit echo {} --bogus"; do
    set +e
    # shellcheck disable=SC2086 # word splitting wanted
    cli $args >/dev/null 2>&1
    rc=$?
    set -e
    assert_eq "$rc" 2 "exit status of 'hangtight $args'"
done
set +e
cli --url "http://127.0.0.1:$(ht_free_port)" status "$id" >/dev/null 2>&1
rc=$?
set -e
assert_eq "$rc" 2 "status against nothing"
for cmd in "" migrate submit status wait; do
    # shellcheck disable=SC2086
    cli $cmd --help | grep -q usage || fail "hangtight $cmd --help prints no usage"
done
cli submit --help | grep -q -- '--max-attempts' || fail "submit --help lists --max-attempts"
