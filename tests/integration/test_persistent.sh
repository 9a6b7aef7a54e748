#!/usr/bin/env bash
# Persistent handlers against the real worker: a Python handler that
# speaks the line protocol and misbehaves on request (tests/faults/
# persistent.py), a program that never reads its stdin and one that exits
# at start.  Results with the stored payload bytes, a crash mid-job
# (retried on a new process), garbage and an oversize line on stdout, a
# job never read and one never answered (timeouts), a cancel, max_jobs
# recycling, rate-bounded stderr in the log, a crash-looping program
# backing off (one log line per state change), and that a stuck process
# never blocks the other slots.
source "$(dirname "$0")/lib.sh"

FAULTS=$HT_SOURCE_DIR/tests/faults
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {
  "t.proto":     {"command": ["python3", "$FAULTS/persistent.py"], "mode": "persistent",
                  "processes": 2, "max_line_bytes": 65536},
  "t.recycle":   {"command": ["python3", "$FAULTS/persistent.py"], "mode": "persistent",
                  "processes": 1, "max_jobs": 2},
  "t.single":    {"command": ["python3", "$FAULTS/persistent.py"], "mode": "persistent",
                  "processes": 1},
  "t.deaf":      {"command": ["python3", "-c", "import time; time.sleep(3600)"],
                  "mode": "persistent", "processes": 1},
  "t.crashloop": {"command": ["python3", "-c", "import sys; sys.exit('boom: cannot load the model')"],
                  "mode": "persistent", "processes": 1}
}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
export HANGTIGHT_RETRY_BASE_MS=100

ht_start_redis
ht_migrate
ht_start_api
ht_start_worker w1 --concurrency 4 --log-level debug
W1_LOG=${HT_LOGS[w1]}

# done_job BODY STATUS: submits BODY, waits until the job is STATUS; the
# document is in HTTP_BODY afterwards.
done_job() {
    ht_submit "$1"
    wait_until 30 "job $HT_JOB ($1) is $2" ht_job_is "$HT_JOB" "$2"
}
gone() { ! kill -0 "$1" 2>/dev/null; }

# ---- results carry the stored payload bytes, untouched --------------------
done_job '{"type": "t.proto", "payload": {"z": 1.5, "a": ["é", null], "n": 12345678901234}}' succeeded
id=$HT_JOB
stored=$(ht_job_hget "$id" payload)
line=$(ht_json .result.line)
assert_eq "${line##*\"payload\":}" "$stored}" "the job line ends with the stored payload bytes"
assert_jq '.result.payload == {"z": 1.5, "a": ["é", null], "n": 12345678901234}' "the payload"
assert_json .attempt 1
jq -e --arg id "$id" '.id == $id and .type == "t.proto" and .attempt == 1
    and (.deadline_ms | type == "number" and . > now * 1000)' <<<"$line" >/dev/null ||
    fail "job line fields: $line"
pid_a=$(ht_json .result.pid)

# ---- a crash mid-job fails that attempt; the retry runs on a new process --
done_job '{"type": "t.proto", "payload": {"do": "crash"}, "max_attempts": 2}' succeeded
assert_json .attempt 2 "retried after the crash"
crash_log=$(grep -F "\"$HT_JOB\"" "$W1_LOG" | grep -F '"attempt failed"')
assert_match "$crash_log" 'handler_exited' "the first attempt's error code"
assert_match "$crash_log" 'exited with status 3 while running the job: about to crash on purpose' \
    "the error says how it died, with its last stderr words"
crashed=$(sed -n 's/.*handler process (pid \([0-9]*\)).*/\1/p' <<<"$crash_log" | head -n 1)
[[ -n "$crashed" ]] || fail "no pid in: $crash_log"
assert_ne "$(ht_json .result.pid)" "$crashed" "the retry ran on another process"
wait_until 10 "the crashed process $crashed is reaped" gone "$crashed"
grep -F '"handler process exited"' "$W1_LOG" | grep -cF "\"pid\":$crashed" >/dev/null ||
    fail "no log line for the crash of $crashed"

# ---- garbage on stdout: protocol error, the process is replaced ----------
done_job '{"type": "t.proto", "payload": {"do": "garbage"}, "max_attempts": 1}' failed
assert_json .error.code protocol_error
assert_jq '.error.message | contains("not an answer") and contains("just a stray print")' \
    "the error quotes the line"
grep -F '"handler protocol error: process stopped"' "$W1_LOG" | grep -cF "$HT_JOB" >/dev/null ||
    fail "no log line for the protocol error"

# ---- a line over max_line_bytes: output_too_large, not retried -----------
done_job '{"type": "t.proto", "payload": {"do": "huge", "bytes": 100000}, "max_attempts": 3}' failed
assert_json .error.code output_too_large
assert_json .attempt 1 "not retried"
assert_jq '.error.message | contains("65536 bytes")' "the limit is named"

# ---- more than the answer: the job stands; the process is replaced before
# it gets another job (the next one runs elsewhere) --------------------------
done_job '{"type": "t.proto", "payload": {"do": "extra"}}' succeeded
extra_pid=$(ht_json .result.pid)
done_job '{"type": "t.proto", "payload": {"after": "extra"}}' succeeded
assert_ne "$(ht_json .result.pid)" "$extra_pid" "the next job's process"
wait_until 10 "the process that said too much ($extra_pid) is gone" gone "$extra_pid"
grep -E '"handler wrote (more than its answer|to stdout between jobs)' "$W1_LOG" |
    grep -cF "\"pid\":$extra_pid" >/dev/null || fail "no log line for the extra output of $extra_pid"

# ---- stderr goes to the log, tagged and rate-bounded ----------------------
done_job '{"type": "t.proto", "payload": {"do": "stderr", "n": 1000}}' succeeded
talker=$(ht_json .result.pid)
logged() { grep -F '"handler stderr"' "$W1_LOG" | grep -F '"type":"t.proto"' | grep -cF "\"pid\":$talker"; }
any_logged() { (($(logged) > 0)); }
wait_until 10 "stderr lines of $talker in the log" any_logged
grep -F '"handler stderr"' "$W1_LOG" | grep -F "\"pid\":$talker" | grep -cF '"line":"log line 0"' >/dev/null ||
    fail "the first stderr line is not logged as written"
wait_until 10 "the dropped lines are counted" \
    grep -qF '"handler stderr lines dropped (rate limit)"' "$W1_LOG"
n=$(logged)
((n >= 100 && n < 1000)) || fail "$n of 1000 stderr lines logged: not bounded by the rate"

# ---- max_jobs recycles a process between jobs ----------------------------
pids=()
for _ in 1 2 3 4 5; do
    done_job '{"type": "t.recycle"}' succeeded
    pids+=("$(ht_json .result.pid)")
done
log "t.recycle pids: ${pids[*]}"
assert_eq "${pids[1]}" "${pids[0]}" "jobs 1 and 2 on one process"
assert_ne "${pids[2]}" "${pids[1]}" "job 3 on a new process"
assert_eq "${pids[3]}" "${pids[2]}" "jobs 3 and 4 on one process"
assert_ne "${pids[4]}" "${pids[3]}" "job 5 on a new process"
wait_until 10 "the recycled processes are gone" eval "gone ${pids[0]} && gone ${pids[2]}"
grep -qF '"handler process served max_jobs: replaced"' "$W1_LOG" || fail "no max_jobs log line"

# ---- fewer processes than slots: a job waits for the process -------------
# The first holds the one process until the test opens its gate, once the
# impatient job gave up.
SINGLE_GATE=$HT_TMP/single.gate
ht_submit "{\"type\": \"t.single\", \"payload\": {\"do\": \"gate\", \"file\": \"$SINGLE_GATE\"}}"
first=$HT_JOB
wait_until 15 "the first t.single job runs" ht_job_is "$first" running
ht_submit '{"type": "t.single", "payload": {"after": "the first"}}'
second=$HT_JOB
ht_submit '{"type": "t.single", "timeout_s": 1, "max_attempts": 1}'
impatient=$HT_JOB
wait_until 15 "the impatient job gives up waiting" ht_job_is "$impatient" failed
assert_json .error.code timeout
assert_jq '.error.message | contains("no process of the t.single handler was free")' \
    "the timeout says it waited for a process"
impatient_done=$(ht_json .finished_at)
touch "$SINGLE_GATE"
wait_until 20 "the waiting job runs after the first" ht_job_is "$second" succeeded
second_pid=$(ht_json .result.pid)
second_served=$(ht_json .result.served)
ht_job_is "$first" succeeded || fail "the first job: $HTTP_BODY"
assert_eq "$(ht_json .result.pid)" "$second_pid" "both ran on the one process"
# In the process's own order (the two outcomes may reach Redis in either).
((second_served > $(ht_json .result.served))) || fail "the waiting job ran on the process first"
# The impatient job gave up while the first held the one process (RFC 3339
# times of one clock compare as strings).
[[ "$impatient_done" < "$(ht_json .finished_at)" ]] ||
    fail "the impatient job ended at $impatient_done, not before the first ($(ht_json .finished_at))"

# ---- a handler that never answers: timeout; the other slots carry on -----
# Its timeout is long enough for the jobs beside it on a loaded machine:
# they are shown to carry on by finishing before it ends.
ht_submit '{"type": "t.proto", "payload": {"do": "sleep", "s": 60}, "timeout_s": 10, "max_attempts": 1}'
stuck=$HT_JOB
running_pid() {
    ht_http GET "/v1/jobs/$1"
    ht_json .progress.message | sed -n 's/^pid \([0-9]*\) .*/\1/p'
}
wait_until 15 "the sleeping job reports progress" eval '[[ -n "$(running_pid "$stuck")" ]]'
sleeper=$(running_pid "$stuck")
t0=$SECONDS
done_job '{"type": "echo", "payload": {"meanwhile": 1}}' succeeded
done_job '{"type": "t.proto", "payload": {"meanwhile": 2}}' succeeded
meanwhile_done=$(ht_json .finished_at)
((SECONDS - t0 < 3)) || log "note: jobs beside the stuck one took $((SECONDS - t0)) s"
wait_until 30 "the never-answering job times out" ht_job_is "$stuck" failed
# Both finished while the stuck one ran (RFC 3339 times of one clock
# compare as strings; the t.proto job finished last of the two).
[[ "$meanwhile_done" < "$(ht_json .finished_at)" ]] ||
    fail "the jobs beside the stuck one finished at $meanwhile_done, not before it ($(ht_json .finished_at))"
assert_json .error.code timeout
assert_jq '.error.message | contains("did not answer within the attempt'"'"'s timeout_s")' \
    "the timeout says what the handler did not do"
wait_until 15 "the stuck process $sleeper is stopped" gone "$sleeper"

# ---- a handler that never reads its stdin: timeout, never a blocked slot --
big=$(head -c 300000 /dev/zero | tr '\0' 'x')
printf '{"type": "t.deaf", "payload": {"blob": "%s"}, "timeout_s": 3, "max_attempts": 1}' "$big" \
    >"$HT_TMP/deaf.json"
ht_submit "@$HT_TMP/deaf.json"
deaf=$HT_JOB
wait_until 15 "the deaf job runs" ht_job_is "$deaf" running
done_job '{"type": "t.proto", "payload": {"beside": "the deaf one"}}' succeeded
wait_until 20 "the deaf job times out" ht_job_is "$deaf" failed
assert_json .error.code timeout
assert_jq '.error.message | test("did not read its job \\([0-9]+ of [0-9]+ bytes left unread\\)")' \
    "the timeout says the job line was not read"
wait_until 15 "a new deaf process started" eval \
    "[[ \$(grep -F '\"handler process started\"' '$W1_LOG' | grep -cF '\"type\":\"t.deaf\"') -ge 2 ]]"

# ---- cancel of a running job stops its process ----------------------------
ht_submit '{"type": "t.proto", "payload": {"do": "sleep", "s": 60}}'
victim=$HT_JOB
wait_until 15 "the job to cancel reports progress" eval '[[ -n "$(running_pid "$victim")" ]]'
victim_pid=$(running_pid "$victim")
ht_http DELETE "/v1/jobs/$victim"
assert_status 202 "cancel of a running job"
wait_until 15 "the job ends canceled" ht_job_is "$victim" canceled
wait_until 15 "its process $victim_pid is stopped" gone "$victim_pid"
done_job '{"type": "t.proto", "payload": {"after": "cancel"}}' succeeded

# ---- a program that keeps failing at start backs off ----------------------
wait_until 20 "the crash loop is noticed" \
    grep -qF '"handler processes keep failing at start: restarting with backoff"' "$W1_LOG"
sleep 4 # let it try a few more times: the count below must not run away
tries=$(grep -F '"handler process failed at start"' "$W1_LOG" | grep -cF '"type":"t.crashloop"')
delays=$(grep -F '"handler process failed at start"' "$W1_LOG" | grep -F '"type":"t.crashloop"' |
    sed -n 's/.*"next_start_in_ms":"\([0-9]*\)".*/\1/p' | tr '\n' ' ')
log "crash loop: $tries failed starts, next start delays (ms): $delays"
((tries >= 3 && tries <= 12)) || fail "$tries failed starts: not backing off ($delays)"
read -r -a d <<<"$delays"
for ((i = 1; i < ${#d[@]}; i++)); do
    ((d[i] > d[i - 1] || d[i] == 30000)) || fail "the backoff does not grow: $delays"
done
states=$(grep -cF '"handler processes keep failing at start: restarting with backoff"' "$W1_LOG")
assert_eq "$states" 1 "one log line for the state change, not one per try"
grep -F 'keep failing at start: restarting' "$W1_LOG" | grep -cF 'boom: cannot load the model' >/dev/null ||
    fail "the state line does not say why"
# /metrics shows the processes (the workers publish every 5 s).
metrics_show_it() {
    ht_http GET /metrics
    python3 "$HT_CLIENTS_DIR/promtext.py" --tsv <"$HT_TMP/http.body" >"$HT_TMP/metrics.tsv" ||
        fail "the metrics page is not valid exposition text"
    grep -qP '^hangtight_handler_failing\{type="t.crashloop",worker="[^"]+"\}\t1$' "$HT_TMP/metrics.tsv"
}
wait_until 20 "/metrics shows the crash loop" metrics_show_it
grep -qP '^hangtight_workers\t1$' "$HT_TMP/metrics.tsv" || fail "hangtight_workers: $(cat "$HT_TMP/metrics.tsv")"
# The record names the worker's keyspace schema (what a later migrate's guard reads).
schema=$(grep -oP '^local SCHEMA = \K[0-9]+' "$HT_SOURCE_DIR/shared/library.lua")
rec=$(ht_redis --raw HVALS ht:workers)
jq -e --argjson s "$schema" '.schema == $s and .concurrency > 0' <<<"$rec" >/dev/null ||
    fail "the worker's record does not name schema $schema: $rec"
grep -qP '^hangtight_handler_processes\{type="t.proto",worker="[^"]+"\}\t2$' "$HT_TMP/metrics.tsv" ||
    fail "t.proto's 2 processes are not on /metrics: $(grep handler "$HT_TMP/metrics.tsv")"
restarts=$(grep -P '^hangtight_handler_restarts_total\{type="t.proto",' "$HT_TMP/metrics.tsv" | cut -f 2)
((restarts >= 5)) || fail "t.proto restarts on /metrics: '$restarts' (crash, garbage, oversize, extra, timeout...)"
grep -qP '^hangtight_handler_failing\{type="t.proto",worker="[^"]+"\}\t0$' "$HT_TMP/metrics.tsv" ||
    fail "t.proto is not failing"

# The dashboard's reading of the same page (its own function, run by Node).
rows=$(node --input-type=module -e '
    const base = process.argv[1];
    const src = await (await fetch(base + "/dashboard/app.js")).text();
    const fns = ["metricSamples", "handlerRows"].map((n) => {
        const m = src.match(new RegExp("function " + n + "[\\s\\S]*?\\n}\\n"));
        if (!m) throw new Error("no " + n + " in app.js");
        return m[0];
    });
    const handlerRows = new Function(fns.join("\n") + "; return handlerRows;")();
    console.log(JSON.stringify(handlerRows(await (await fetch(base + "/metrics")).text())));
' "$HT_URL") || fail "the dashboard's handler rows: $rows"
jq -e 'any(.[]; .type == "t.proto" and .processes == 2 and .restarts_total >= 5 and .failing == 0)
    and any(.[]; .type == "t.crashloop" and .failing == 1)' <<<"$rows" >/dev/null ||
    fail "the dashboard reads the handler processes wrong: $rows"

done_job '{"type": "t.crashloop", "max_attempts": 1}' failed
assert_jq '.error.code == "handler_unavailable" or .error.code == "handler_exited"' "the code"
assert_jq '.error.message | contains("boom: cannot load the model")' "the error says why"

# ---- drain on SIGTERM: the running job finishes, then the processes go ----
ht_submit '{"type": "t.proto", "payload": {"do": "sleep", "s": 2}}'
last=$HT_JOB
wait_until 15 "the last job reports progress" eval '[[ -n "$(running_pid "$last")" ]]'
last_pid=$(running_pid "$last")
ht_stop w1 TERM 40
assert_eq "$HT_EXIT" 0 "the worker drained and exited 0"
assert_eq "$(ht_redis HLEN ht:workers)" 0 "the stopped worker took its record away"
ht_job_is "$last" succeeded || fail "the job running at SIGTERM did not finish: $HTTP_BODY"
for p in "$pid_a" "$last_pid" "${pids[4]}"; do
    gone "$p" || fail "handler process $p outlived the worker"
done
