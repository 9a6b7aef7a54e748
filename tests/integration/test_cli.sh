#!/usr/bin/env bash
# The `hangtight` command against the stack: submit, status, wait (exit 0 on
# success, 1 on failure, 2 on timeout), problems on stderr, usage; wait
# follows the event stream (resumed after the api restarts, polling when a
# server has none); submit --wait uses sync mode (102s, then 200 or 202).
source "$(dirname "$0")/lib.sh"

ht_start_redis
ht_migrate
export HANGTIGHT_HEARTBEAT_MS=300
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

# ---- wait follows the event stream ------------------------------------------
id=$(cli submit sleep '{"ms": 1500, "steps": 3}' | jq -r .id)
set +e
cli wait "$id" --verbose >"$HT_TMP/sse.out" 2>"$HT_TMP/sse.err"
rc=$?
set -e
assert_eq "$rc" 0 "wait (stream) exit status"
assert_eq "$(jq -r .status "$HT_TMP/sse.out")" succeeded "wait (stream) document"
grep -q "^> GET .*/v1/jobs/$id/events" "$HT_TMP/sse.err" || fail "wait did not open the stream: $(cat "$HT_TMP/sse.err")"
grep -q '^event progress id [0-9]*-[0-9]*' "$HT_TMP/sse.err" || fail "no progress event: $(cat "$HT_TMP/sse.err")"
if grep -q 'polling instead' "$HT_TMP/sse.err"; then fail "wait polled: $(cat "$HT_TMP/sse.err")"; fi

# An unknown job: the problem, exit 1.
set +e
err=$(cli wait 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b --timeout 10 2>&1 >/dev/null)
rc=$?
set -e
assert_eq "$rc" 1 "wait for an unknown job"
assert_match "$err" 'HTTP 404' "wait problem message"

# The api goes away mid-stream and comes back on the same address: wait
# resumes with Last-Event-ID and still ends with the finished document.
id=$(cli submit sleep '{"ms": 5000, "steps": 10}' | jq -r .id)
"$HT_CLI_BIN" wait "$id" --verbose --timeout 60 >"$HT_TMP/resume.out" 2>"$HT_TMP/resume.err" &
wait_pid=$!
resumable() { grep -q '^event progress id' "$HT_TMP/resume.err"; }
wait_until 15 "wait sees progress" resumable
ht_stop api
assert_eq "$HT_EXIT" 0 "api exit status on SIGTERM"
sleep 1
ht_spawn api env HANGTIGHT_LISTEN="$(ht_hostport)" "$HT_API_BIN" --threads 2
wait_until 30 "the api is back" ht_api_ready
set +e
wait "$wait_pid"
rc=$?
set -e
assert_eq "$rc" 0 "wait across an api restart"
assert_eq "$(jq -r .status "$HT_TMP/resume.out")" succeeded "document after the restart"
grep -q '^> GET .*/events Last-Event-ID: [0-9]*-[0-9]*' "$HT_TMP/resume.err" ||
    fail "wait did not resume with Last-Event-ID: $(cat "$HT_TMP/resume.err")"

# A server without the stream (an older api): wait polls instead.
old_port=$(ht_free_port)
ht_spawn old_api python3 "$HT_CLIENTS_DIR/old_api.py" "$old_port"
old_up() { curl -s -o /dev/null "http://127.0.0.1:$old_port/v1/jobs/x"; }
wait_until 10 "the stand-in old api listens" old_up
set +e
cli --url "http://127.0.0.1:$old_port" wait 5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11 --verbose \
    >"$HT_TMP/old.out" 2>"$HT_TMP/old.err"
rc=$?
set -e
assert_eq "$rc" 0 "wait against a server without /events"
grep -q 'polling instead' "$HT_TMP/old.err" || fail "no fallback to polling: $(cat "$HT_TMP/old.err")"
assert_eq "$(jq -r .result.old "$HT_TMP/old.out")" true "document from polling"
ht_stop old_api

# On a terminal: a redrawn progress bar.
id=$(cli submit sleep '{"ms": 1200, "steps": 4}' | jq -r .id)
script -qec "$HT_CLI_BIN wait $id" /dev/null >"$HT_TMP/tty.out" </dev/null
grep -q $'\r\033\\[K[a-z]* *\\[#' "$HT_TMP/tty.out" || fail "no progress bar on a terminal: $(cat -v "$HT_TMP/tty.out")"
grep -q '"status": "succeeded"' "$HT_TMP/tty.out" || fail "no final document on a terminal"

# ---- submit --wait: sync mode -------------------------------------------------
# The job finishes within N: 102s while held, then the 200 and its document.
set +e
cli submit sleep '{"ms": 1500, "steps": 3}' --wait --verbose >"$HT_TMP/sync.out" 2>"$HT_TMP/sync.err"
rc=$?
set -e
assert_eq "$rc" 0 "submit --wait exit status"
assert_eq "$(jq -r .status "$HT_TMP/sync.out")" succeeded "submit --wait document"
assert_eq "$(jq -r .result.slept_ms "$HT_TMP/sync.out")" 1500 "submit --wait result"
grep -q '^< HTTP/1.1 102 Processing' "$HT_TMP/sync.err" || fail "no 102 seen: $(cat "$HT_TMP/sync.err")"
grep -q '^< HTTP/1.1 200' "$HT_TMP/sync.err" || fail "no 200: $(cat "$HT_TMP/sync.err")"
if grep -q '/events' "$HT_TMP/sync.err"; then fail "a sync answer needs no stream: $(cat "$HT_TMP/sync.err")"; fi
# N runs out: the 202, then the stream to the end, with progress lines.
set +e
cli submit sleep '{"ms": 3000, "steps": 3}' --wait=1 --verbose >"$HT_TMP/sync2.out" 2>"$HT_TMP/sync2.err"
rc=$?
set -e
assert_eq "$rc" 0 "submit --wait=1 exit status"
assert_eq "$(jq -r .status "$HT_TMP/sync2.out")" succeeded "submit --wait=1 document"
grep -q '^< HTTP/1.1 202' "$HT_TMP/sync2.err" || fail "no 202: $(cat "$HT_TMP/sync2.err")"
grep -q '^> GET .*/events' "$HT_TMP/sync2.err" || fail "no stream after the 202: $(cat "$HT_TMP/sync2.err")"
grep -q '^running' "$HT_TMP/sync2.err" || fail "no progress lines: $(cat "$HT_TMP/sync2.err")"
# A failing job: exit 1 with its document.
set +e
out=$(cli submit fail '{"message": "sync failure"}' --max-attempts 1 --wait 2>/dev/null)
rc=$?
set -e
assert_eq "$rc" 1 "submit --wait of a failing job"
assert_eq "$(jq -r .status <<<"$out")" failed "failed job document (sync)"
# --timeout: gives up with exit 2, after telling the job's id.
set +e
cli submit sleep '{"ms": 10000, "steps": 2}' --wait=30 --timeout 1 >/dev/null 2>"$HT_TMP/sto.err"
rc=$?
set -e
assert_eq "$rc" 2 "submit --wait --timeout"
grep -q 'gave up' "$HT_TMP/sto.err" || fail "timeout message: $(cat "$HT_TMP/sto.err")"
grep -Eq '[0-9a-f]{8}-[0-9a-f]{4}-' "$HT_TMP/sto.err" || fail "the message names no job: $(cat "$HT_TMP/sto.err")"
# Without --wait, submit is as before: the 202 document at once.
out=$(cli submit echo '{"a": 1}')
assert_eq "$(jq -r .status <<<"$out")" queued "submit without --wait"
