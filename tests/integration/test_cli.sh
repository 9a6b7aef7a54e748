#!/usr/bin/env bash
# The `hangtight` command against the stack: submit, status, wait (exit 0 on
# success, 1 on failure, 2 on timeout), problems on stderr, usage; wait
# follows the event stream (resumed after the api restarts, polling when a
# server has none); submit --wait uses sync mode (102s, then 200 or 202).
# The lifecycle commands: submit --delay-s/--run-at/--idempotency-key,
# cancel, retry, list (table, --json, --all across pages, filters), stats.
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_HEARTBEAT_MS=300
ht_start_stack --worker-args --concurrency 2
cli() { "$HT_CLI_BIN" "$@"; }
# usage_errors "ARGS"...: each `cli ARGS` (split on spaces) exits 2.
usage_errors() {
    local args rc
    for args in "$@"; do
        rc=0
        # shellcheck disable=SC2086 # word splitting wanted
        cli $args >/dev/null 2>&1 || rc=$?
        assert_eq "$rc" 2 "exit status of 'hangtight $args'"
    done
}
# cli_refuses RC REGEX WHAT ARGS...: `cli ARGS` exits RC, REGEX in its stderr.
cli_refuses() {
    local want=$1 re=$2 what=$3 rc=0 err
    shift 3
    err=$(cli "$@" 2>&1 >/dev/null) || rc=$?
    assert_eq "$rc" "$want" "$what"
    assert_match "$err" "$re" "$what: message"
}

# submit prints the job document; status reads it back.
out=$(cli submit sleep '{"ms": 4000, "steps": 4}' --max-attempts 2 --ttl-s 600)
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
cli_refuses 1 'HTTP 422' "submit of an unknown type" submit no.such.type '{}'
cli_refuses 1 '/max_attempts' "submit with a bad field" submit echo '{"x": 1}' --max-attempts 99
cli_refuses 1 'HTTP 404' "status of an unknown job" status 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b

# Usage errors and network trouble exit 2; --help exits 0.
usage_errors "" "frobnicate" "submit" "submit echo not-json" "status" "wait" \
    "wait x --timeout nope" "submit echo {} --bogus"
ht_closed_port
set +e
cli --url "http://127.0.0.1:$HT_CLOSED_PORT" status "$id" >/dev/null 2>&1
rc=$?
set -e
assert_eq "$rc" 2 "status against nothing"
for cmd in "" migrate submit status wait; do
    # shellcheck disable=SC2086
    cli $cmd --help | grep -q usage || fail "hangtight $cmd --help prints no usage"
done
cli submit --help | grep -q -- '--max-attempts' || fail "submit --help lists --max-attempts"

# ---- wait follows the event stream ------------------------------------------
id=$(cli submit sleep '{"ms": 3000, "steps": 3}' | jq -r .id)
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
cli_refuses 1 'HTTP 404' "wait for an unknown job" wait 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b --timeout 10

# The api goes away mid-stream and comes back on the same address: wait
# resumes with Last-Event-ID and still ends with the finished document.
id=$(cli submit sleep '{"ms": 5000, "steps": 10}' | jq -r .id)
"$HT_CLI_BIN" wait "$id" --verbose --timeout 60 >"$HT_TMP/resume.out" 2>"$HT_TMP/resume.err" &
wait_pid=$!
resumable() { grep -q '^event progress id' "$HT_TMP/resume.err"; }
wait_until 15 "wait sees progress" resumable
ht_stop api
assert_eq "$HT_EXIT" 0 "api exit status on SIGTERM"
# Back only once wait saw the stream end and a reconnect fail.
gone() { (($(grep -c '^stream ended' "$HT_TMP/resume.err") >= 2)); }
wait_until 15 "wait finds the api gone" gone
ht_start_api --port "${HT_URL##*:}"
set +e
wait "$wait_pid"
rc=$?
set -e
assert_eq "$rc" 0 "wait across an api restart"
assert_eq "$(jq -r .status "$HT_TMP/resume.out")" succeeded "document after the restart"
grep -q '^> GET .*/events Last-Event-ID: [0-9]*-[0-9]*' "$HT_TMP/resume.err" ||
    fail "wait did not resume with Last-Event-ID: $(cat "$HT_TMP/resume.err")"

# A server without the stream (an older api): wait polls instead.
ht_spawn old_api python3 "$HT_CLIENTS_DIR/old_api.py" "$HT_TMP/old_api.port"
wait_until 10 "the stand-in old api listens" test -s "$HT_TMP/old_api.port"
old_port=$(<"$HT_TMP/old_api.port")
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

# ---- the lifecycle commands ---------------------------------------------------
# submit --delay-s: scheduled, then run; --run-at likewise.
out=$(cli submit echo '{"later": 1}' --delay-s 1)
assert_eq "$(jq -r .status <<<"$out")" scheduled "submit --delay-s"
delayed=$(jq -r .id <<<"$out")
# Whole seconds: +3 s leaves at least 2 s for the CLI to start and submit.
run_at=$(date -u -d '+3 seconds' +%Y-%m-%dT%H:%M:%SZ)
out=$(cli submit echo '{"later": 2}' --run-at "$run_at")
assert_eq "$(jq -r .status <<<"$out")" scheduled "submit --run-at $run_at"
for id in "$delayed" "$(jq -r .id <<<"$out")"; do
    set +e
    out=$(cli wait "$id" --timeout 20 2>/dev/null)
    rc=$?
    set -e
    assert_eq "$rc" 0 "wait for a delayed job"
    assert_eq "$(jq -r .status <<<"$out")" succeeded "delayed job's final status"
done

# submit --idempotency-key: the same key and body give the same job, another
# body is refused.
key="cli-$RANDOM-$RANDOM"
first=$(cli submit echo '{"n": 1}' --idempotency-key "$key" | jq -r .id)
again=$(cli submit echo '{"n": 1}' --idempotency-key "$key" | jq -r .id)
assert_match "$first" '^[0-9a-f-]{36}$' "idempotent submit id"
assert_eq "$again" "$first" "the same Idempotency-Key and body"
cli_refuses 1 'HTTP 422' "the same Idempotency-Key with another body" submit echo '{"n": 2}' --idempotency-key "$key"

# cancel: a scheduled job is canceled at once (exit 0, its document); again,
# or an unknown id, is refused (exit 1, the problem on stderr).
id=$(cli submit echo '{}' --delay-s 600 | jq -r .id)
out=$(cli cancel "$id")
assert_eq "$(jq -r .status <<<"$out")" canceled "cancel of a scheduled job"
assert_eq "$(jq -r .id <<<"$out")" "$id" "cancel prints the job"
cli_refuses 1 'HTTP 409' "cancel of a canceled job" cancel "$id"
cli_refuses 1 'HTTP 404' "cancel of an unknown job" cancel 1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b
canceled=$id

# cancel of a running job: 202 with the document; the job ends canceled and
# wait exits 1.
id=$(cli submit sleep '{"ms": 20000, "steps": 20}' | jq -r .id)
wait_until 15 "the long job runs" ht_job_is "$id" running
out=$(cli cancel "$id")
assert_eq "$(jq -r .id <<<"$out")" "$id" "cancel of a running job prints it"
set +e
out=$(cli wait "$id" --timeout 15 2>/dev/null)
rc=$?
set -e
assert_eq "$rc" 1 "wait for a canceled job"
assert_eq "$(jq -r .status <<<"$out")" canceled "running job after cancel"

# retry: a failed job is queued again with fresh attempts and runs again; a
# succeeded job cannot be retried.
failed=$(cli submit fail '{"message": "retry me"}' --max-attempts 1 | jq -r .id)
set +e
cli wait "$failed" --timeout 20 >/dev/null 2>&1
set -e
before=$(cli status "$failed")
assert_eq "$(jq -r .status <<<"$before")" failed "job before retry"
out=$(cli retry "$failed")
assert_eq "$(jq -r .id <<<"$out")" "$failed" "retry prints the job"
# The document is the job just after the retry; a worker may already have
# taken it (and this job fails again at once).
assert_match "$(jq -r .status <<<"$out")" '^(queued|running|failed)$' "retry of a failed job"
retried_ran() {
    local doc
    doc=$(cli status "$failed")
    [[ "$(jq -r '.status + " " + (.attempt | tostring)' <<<"$doc")" == "failed 1" &&
        "$(jq -r .finished_at <<<"$doc")" > "$(jq -r .finished_at <<<"$before")" ]]
}
wait_until 20 "the retried job ran again and failed again" retried_ran
out=$(cli retry "$canceled")
assert_match "$(jq -r .status <<<"$out")" '^(queued|running|succeeded)$' "retry of a canceled job"
wait_until 20 "the retried canceled job succeeded" ht_job_is "$canceled" succeeded
cli_refuses 1 'HTTP 409' "retry of a succeeded job" retry "$first"

# list: a table, newest first; --status and --type filter; --limit pages and
# says how to go on; --all follows the cursor; --json gives the documents.
out=$(cli list --status failed)
head -n 1 <<<"$out" | grep -q '^ID  *TYPE  *STATUS  *ATTEMPT  *CREATED$' || fail "list header: $out"
grep -q "^$failed  *fail  *failed  *1/1 " <<<"$out" || fail "list --status failed misses $failed: $out"
if tail -n +2 <<<"$out" | grep -vq ' failed '; then fail "list --status failed shows others: $out"; fi
total=$(ht_redis_each --masters --raw KEYS 'ht:{*}:job:*' | grep -c -E ':job:[^:]+$' || true)
((total > 14)) || fail "expected more than 14 jobs (3 pages of 7) by now, Redis has $total"
cli list --limit 3 >"$HT_TMP/page.out" 2>"$HT_TMP/page.err"
assert_eq "$(wc -l <"$HT_TMP/page.out")" 4 "list --limit 3: header and 3 rows"
grep -q -- "--cursor" "$HT_TMP/page.err" || fail "list --limit 3 gives no cursor: $(cat "$HT_TMP/page.err")"
cli list --limit 7 --all >"$HT_TMP/all.out"
assert_eq "$(($(wc -l <"$HT_TMP/all.out") - 1))" "$total" "list --all rows"
assert_eq "$(tail -n +2 "$HT_TMP/all.out" | awk '{ print $1 }' | sort -u | wc -l)" "$total" \
    "list --all: no job twice"
cli list --limit 7 --all --json >"$HT_TMP/all.json"
assert_eq "$(jq '.jobs | length' "$HT_TMP/all.json")" "$total" "list --all --json jobs"
assert_eq "$(jq -r .next_cursor "$HT_TMP/all.json")" null "list --all --json next_cursor"
assert_eq "$(jq '[.jobs[].created_at] == ([.jobs[].created_at] | sort | reverse)' "$HT_TMP/all.json")" \
    true "list is newest first"
assert_eq "$(jq -r .jobs[0].id "$HT_TMP/all.json")" "$(awk 'NR == 2 { print $1 }' "$HT_TMP/all.out")" \
    "table and --json agree"
out=$(cli list --type fail --all --json)
assert_eq "$(jq '[.jobs[].type] | unique' -c <<<"$out")" '["fail"]' "list --type fail"
out=$(cli list --json --limit 2)
assert_eq "$(jq '.jobs | length' <<<"$out")" 2 "list --json --limit 2"
assert_eq "$(jq -r '.next_cursor | type' <<<"$out")" string "list --json keeps the cursor"
cli_refuses 1 'HTTP 4' "list with an unknown status" list --status bogus

# stats: a table of the queue, or its JSON.
out=$(cli stats)
head -n 1 <<<"$out" | grep -q '^QUEUE  *high  *default  *low  *scheduled  *running  *failed' ||
    fail "stats header: $out"
grep -q '^default  *[0-9]' <<<"$out" || fail "stats has no row for the default queue: $out"
out=$(cli stats --json)
assert_eq "$(jq -r '.queues[0].name' <<<"$out")" default "stats --json queue"
assert_eq "$(jq -r '.queues[0].failed' <<<"$out")" "$(ht_redis ZCARD 'ht:{default}:t:default:status:failed')" \
    "stats --json failed count"

# Usage errors of the new commands exit 2; each has --help.
usage_errors "cancel" "cancel a b" "retry" "list extra" "list --limit 0" "list --limit 101" \
    "stats extra" "submit echo {} --delay-s x"
for cmd in cancel retry list stats; do
    cli $cmd --help | grep -q usage || fail "hangtight $cmd --help prints no usage"
done
cli submit --help | grep -q -- '--idempotency-key' || fail "submit --help lists --idempotency-key"
