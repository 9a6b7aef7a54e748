#!/usr/bin/env bash
# The live progress stream: GET /v1/jobs/{id}/events is Server-Sent Events:
# the current document first, then progress and status events with
# increasing ids, comment heartbeats while nothing happens, and the end of
# the stream after the terminal event.  Last-Event-ID resumes from the job's
# event log in Redis: nothing lost, nothing twice.  The log is kept while
# some request watches the job (a stream marks it for two heartbeats and
# renews the mark at each): a job nobody watches has none, and a change
# made while nobody watched makes a resumed stream start over from the
# current document.
source "$(dirname "$0")/lib.sh"

# The ids of job ID's event log entries, oldest first (docs/keyspace.md: a
# list of "<version> <kind> <status> <attempt> <pct> <at ms> <msg>", each
# entry's id "<version>-0").
log_ids() { ht_redis --raw LRANGE "$(ht_job_key "$1"):ev" 0 -1 | awk 'NF { print $1 "-0" }'; }

export HANGTIGHT_HEARTBEAT_MS=300
# Jobs of type "steps" change only when the test says (tests/faults/steps.sh):
# progress N once it creates DIR/N, success once it creates DIR/done.
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"steps": {"command": ["/bin/bash", "$HT_SOURCE_DIR/tests/faults/steps.sh"]}}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
ht_start_stack --workers 0

# submit_steps NAME: a "steps" job stepped through $HT_TMP/NAME; its id in
# HT_JOB, its directory in STEPS.
submit_steps() {
    STEPS=$HT_TMP/$1
    mkdir -p "$STEPS"
    ht_submit "{\"type\": \"steps\", \"payload\": {\"dir\": \"$STEPS\"}}"
}
# count_events FILE [EVENT]: the events (of that name) in an sse.py output.
count_events() { jq -s --arg e "${2-}" '[.[] | select(has("event") and ($e == "" or .event == $e))] | length' "$1"; }
has_events() { (($(count_events "$1" "${3-}") >= $2)); }

# sse ARGS...: clients/sse.py on a path of the api (JSON lines on stdout).
sse() {
    local path=$1
    shift
    python3 "$HT_CLIENTS_DIR/sse.py" "$HT_URL$path" "$@"
}

# Events of an sse.py output file (no comments, no end line), as a JSON array.
events_of() { jq -s '[.[] | select(has("comment") or has("end") | not)]' "$1"; }
end_of() { jq -s '.[] | select(has("end"))' "$1"; }

# "ms-seq" stream ids compare as pairs of numbers; prints 0 when the ids in
# the JSON array on stdin increase strictly.
ids_increasing() {
    jq -e '[.[] | split("-") | map(tonumber)] as $k
           | all(range(1; $k | length); $k[.] > $k[. - 1])' >/dev/null
}

# ---- unknown job: a 404 problem, not a stream ----------------------------
sse /v1/jobs/1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b/events --timeout 5 >"$HT_TMP/404.jsonl"
assert_eq "$(jq -r .status "$HT_TMP/404.jsonl")" 404 "events of an unknown job"
assert_match "$(jq -r .content_type "$HT_TMP/404.jsonl")" '^application/problem\+json' \
    "404 Content-Type"

# ---- a queued job (no worker yet): the document, then comment heartbeats --
ht_submit '{"type": "sleep", "payload": {"ms": 2000, "steps": 4}}'
id=$HT_JOB
sse "/v1/jobs/$id/events" --timeout 2.5 >"$HT_TMP/hb.jsonl"
end=$(end_of "$HT_TMP/hb.jsonl")
assert_eq "$(jq -r .status <<<"$end")" 200 "events status"
assert_match "$(jq -r .content_type <<<"$end")" '^text/event-stream' "events Content-Type"
assert_eq "$(jq -r .end <<<"$end")" timeout "a queued job's stream stays open"
ev=$(events_of "$HT_TMP/hb.jsonl")
assert_eq "$(jq length <<<"$ev")" 1 "events of a job that does not change"
first=$(jq -r '.[0].data' <<<"$ev")
assert_eq "$(jq -r .id <<<"$first")" "$id" "first event: the job document"
assert_eq "$(jq -r .status <<<"$first")" queued "first event: current status"
ncomments=$(jq -s '[.[] | select(has("comment"))] | length' "$HT_TMP/hb.jsonl")
((ncomments >= 3)) || fail "expected comment heartbeats every 300 ms, got $ncomments in 2.5 s"
# Spaced by about the heartbeat, not a flood.
((ncomments <= 20)) || fail "$ncomments comment heartbeats in 2.5 s"

# ---- the whole life of a job, live ---------------------------------------
ht_start_worker w1 --concurrency 2
wait_until 10 "the first job succeeds" ht_job_is "$id" succeeded
# The job makes three steps, each once the stream has shown the one before,
# then ends.
submit_steps live
id=$HT_JOB
sse "/v1/jobs/$id/events" --timeout 60 >"$HT_TMP/live.jsonl" &
sse_pid=$!
wait_until 15 "the live stream's first event" has_events "$HT_TMP/live.jsonl" 1
for n in 1 2 3; do
    touch "$STEPS/$n"
    wait_until 15 "progress $n on the live stream" has_events "$HT_TMP/live.jsonl" "$n" progress
done
touch "$STEPS/done"
wait "$sse_pid"
end=$(end_of "$HT_TMP/live.jsonl")
assert_eq "$(jq -r .end <<<"$end")" eof "the stream ends by itself after the terminal event"
assert_eq "$(jq -r '.error // ""' <<<"$end")" "" "the stream ends cleanly"
jq -e '.t < 60' <<<"$end" >/dev/null || fail "the stream took $(jq .t <<<"$end") s"
ev=$(events_of "$HT_TMP/live.jsonl")
assert_eq "$(jq -r '.[0].data | fromjson | .id' <<<"$ev")" "$id" "first event is the document"
rest=$(jq '.[1:]' <<<"$ev")
jq -e 'length >= 3' <<<"$rest" >/dev/null || fail "too few events after the first: $rest"
jq -e 'all(.[]; (.event == "progress" or .event == "status") and (.id | type == "string"))' \
    <<<"$rest" >/dev/null || fail "events after the first must be progress/status with ids: $rest"
jq '[.[].id]' <<<"$rest" | ids_increasing || fail "event ids do not increase: $rest"
jq -e 'any(.[]; .event == "progress")' <<<"$rest" >/dev/null || fail "no progress event: $rest"
jq -e '.[-1].event == "status" and (.[-1].data | fromjson | .status) == "succeeded"' \
    <<<"$rest" >/dev/null || fail "the last event is not the terminal status: $(jq -c '.[-1]' <<<"$rest")"
# Every entry of the job's event log after the first event was sent once.
mapfile -t log_ids < <(log_ids "$id")
sent=$(jq -r '.[].id' <<<"$rest")
first_sent=$(head -n 1 <<<"$sent")
expected=$(printf '%s\n' "${log_ids[@]}" | sed -n "/^$first_sent\$/,\$p")
assert_eq "$sent" "$expected" "live events vs the job's event log"

# A finished job: its document, then the stream ends at once.
sse "/v1/jobs/$id/events" --timeout 10 >"$HT_TMP/done.jsonl"
end=$(end_of "$HT_TMP/done.jsonl")
assert_eq "$(jq -r .end <<<"$end")" eof "stream of a finished job ends"
jq -e '.t < 3' <<<"$end" >/dev/null || fail "stream of a finished job lasted $(jq .t <<<"$end") s"
ev=$(events_of "$HT_TMP/done.jsonl")
assert_eq "$(jq -r '.[0].data | fromjson | .status' <<<"$ev")" succeeded "finished job's document"
# Resumed after its terminal event (what EventSource does when a stream
# ends): nothing is left to send, so it ends at once too.
terminal_id=$(jq -r '.[0].id' <<<"$ev")
assert_match "$terminal_id" '^[0-9]+-[0-9]+$' "id of a finished job's event"
sse "/v1/jobs/$id/events" --last-event-id "$terminal_id" --timeout 10 >"$HT_TMP/done2.jsonl"
end=$(end_of "$HT_TMP/done2.jsonl")
assert_eq "$(jq -r .end <<<"$end")" eof "a finished job's stream resumed after its last event ends"
jq -e '.t < 3' <<<"$end" >/dev/null || fail "resumed stream of a finished job lasted $(jq .t <<<"$end") s"
assert_eq "$(events_of "$HT_TMP/done2.jsonl" | jq '[.[] | select(.event == "progress")] | length')" 0 \
    "progress events replayed after the terminal one"

# ---- resume with Last-Event-ID -------------------------------------------
submit_steps resume
id=$HT_JOB
wait_until 15 "the resume job runs" ht_job_is "$id" running
assert_eq "$(ht_redis EXISTS "$(ht_job_key "$id"):ev")" 0 "event log of a job nobody watched"
# Read the document and two more events (steps 1 and 2), then hang up.
sse "/v1/jobs/$id/events" --max-events 3 --timeout 60 >"$HT_TMP/r1.jsonl" &
sse_pid=$!
wait_until 15 "the first read's first event" has_events "$HT_TMP/r1.jsonl" 1
touch "$STEPS/1"
wait_until 15 "progress 1 on the first read" has_events "$HT_TMP/r1.jsonl" 1 progress
touch "$STEPS/2"
wait "$sse_pid"
gone_ms=$(ht_ms)
assert_eq "$(jq -r .end "$HT_TMP/r1.jsonl" | grep -v null)" max-events "first read"
r1=$(events_of "$HT_TMP/r1.jsonl")
last_id=$(jq -r '[.[] | select(.id != null) | .id] | last' <<<"$r1")
assert_match "$last_id" '^[0-9]+-[0-9]+$' "last event id of the first read"
# Progress goes on while nobody listens: step 3, an entry in the job's
# event log (logged while the first read's mark lasts, some 5 s after it
# hung up: the step comes at once).
entries_now() { ht_redis LLEN "$(ht_job_key "$id"):ev"; }
more_entries() { (($(entries_now) >= $1 + 1)); }
before=$(entries_now)
touch "$STEPS/3"
wait_until 15 "progress 3 while nobody listens" more_entries "$before"
back_ms=$(ht_ms)
# The resumed read gets step 3 from the log, then step 4 and the end live.
sse "/v1/jobs/$id/events" --last-event-id "$last_id" --timeout 60 >"$HT_TMP/r2.jsonl" &
sse_pid=$!
wait_until 15 "the missed step on the resumed read" has_events "$HT_TMP/r2.jsonl" 1 progress
touch "$STEPS/4"
wait_until 15 "progress 4 on the resumed read" has_events "$HT_TMP/r2.jsonl" 2 progress
touch "$STEPS/done"
wait "$sse_pid"
assert_eq "$(jq -r .end "$HT_TMP/r2.jsonl" | grep -v null)" eof "the resumed stream ends"
r2=$(events_of "$HT_TMP/r2.jsonl")
# The log entries each read delivered (a resumed stream may start with the
# current document again; entries are the progress and status events).
entries() { jq -r '.[] | select(.event == "progress" or .event == "status") | .id'; }
# The first event is the document as of the first read, with the id of its
# version; the log starts with the next version (the read marked the job
# watched) and holds every change since, each delivered once.
doc_id=$(jq -r '.[0].id' <<<"$r1")
assert_match "$doc_id" '^[0-9]+-0$' "the first event's id names the document's version"
union=$( (entries <<<"$(jq '.[1:]' <<<"$r1")"; entries <<<"$r2"))
assert_eq "$(sort <<<"$union" | uniq -d)" "" "events delivered twice"
mapfile -t log_ids < <(log_ids "$id")
assert_eq "${log_ids[0]}" "$((${doc_id%-0} + 1))-0" "the log starts right after the first read"
assert_eq "$union" "$(printf '%s\n' "${log_ids[@]}")" "events of both reads vs the job's event log"
# The resumed read did carry events that happened while disconnected.
log=$(ht_redis --raw LRANGE "$(ht_job_key "$id"):ev" 0 -1)
missed=$(entries <<<"$r2" | while read -r e; do
    awk -v id="$e" -v a="$gone_ms" -v b="$back_ms" '$1 "-0" == id && $6 > a && $6 < b' <<<"$log"
done | wc -l)
((missed >= 1)) || fail "no event happened while disconnected (${gone_ms}..${back_ms}): $r2"
assert_eq "$(jq -r '[.[] | select(.event == "status")] | last | .data | fromjson | .status' <<<"$r2")" \
    succeeded "the resumed stream's last status"

# ---- resume after a change nobody watched -------------------------------
# The stream's mark lasts two heartbeats and 5 s (5.6 s here) after it
# hangs up; the first change after that is not logged and drops the log, so
# a stream resumed from before it starts with the current document (never a
# silent gap), then goes on live.
submit_steps lapse
id=$HT_JOB
wait_until 15 "the lapse job runs" ht_job_is "$id" running
sse "/v1/jobs/$id/events" --max-events 2 --timeout 60 >"$HT_TMP/l1.jsonl" &
sse_pid=$!
wait_until 15 "the lapse read's first event" has_events "$HT_TMP/l1.jsonl" 1
touch "$STEPS/1"
wait "$sse_pid"
l1=$(events_of "$HT_TMP/l1.jsonl")
last_id=$(jq -r '[.[] | select(.id != null) | .id] | last' <<<"$l1")
assert_eq "$(ht_redis EXISTS "$(ht_job_key "$id"):ev")" 1 "progress is logged while the mark lasts"
# One step a second until a step finds the mark gone and drops the log.
no_log() { [[ $(ht_redis EXISTS "$(ht_job_key "$id"):ev") == 0 ]]; }
step=2
until no_log; do
    ((step <= 40)) || fail "the event log outlived the mark by $((step - 2)) unwatched steps"
    touch "$STEPS/$step"
    step=$((step + 1))
    sleep 1
done
stored_step() { [[ $(ht_job_hget "$id" progress_pct) == "$1" ]]; }
wait_until 15 "the last unwatched step is stored" stored_step "$((step - 1))"
sse "/v1/jobs/$id/events" --last-event-id "$last_id" --timeout 60 >"$HT_TMP/l2.jsonl" &
sse_pid=$!
wait_until 15 "the resumed read's first event" has_events "$HT_TMP/l2.jsonl" 1
touch "$STEPS/done"
wait "$sse_pid"
l2=$(events_of "$HT_TMP/l2.jsonl")
assert_eq "$(jq -r '.[0].event' <<<"$l2")" status "a resume after a gap starts with a status event"
resumed_v=$(jq -r '.[0].id' <<<"$l2")
((${resumed_v%-0} > ${last_id%-0} + 1)) ||
    fail "the resumed document ($resumed_v) is not newer than the gap after $last_id"
jq -e '.[0].data | fromjson | .progress.percent != null' <<<"$l2" >/dev/null ||
    fail "the resumed document has no progress: $(jq -c '.[0]' <<<"$l2")"
assert_eq "$(jq -r '.[-1].data | fromjson | .status' <<<"$l2")" succeeded \
    "the resumed stream goes on to the end"
jq '[.[].id]' <<<"$l2" | ids_increasing || fail "event ids do not increase: $l2"

# ---- curl -N, as a user would --------------------------------------------
ht_submit '{"type": "sleep", "payload": {"ms": 1000, "steps": 2}}'
id=$HT_JOB
set +e
curl -sN --max-time 20 "$HT_URL/v1/jobs/$id/events" >"$HT_TMP/curl.sse"
rc=$?
set -e
assert_eq "$rc" 0 "curl -N exits by itself at the end of the stream"
grep -q '^event: status' "$HT_TMP/curl.sse" || fail "no status event: $(cat "$HT_TMP/curl.sse")"
grep -q '^id: ' "$HT_TMP/curl.sse" || fail "no event ids: $(cat "$HT_TMP/curl.sse")"
grep '^data: ' "$HT_TMP/curl.sse" | tail -n 1 | sed 's/^data: //' | jq -e '.status == "succeeded"' \
    >/dev/null || fail "the last data is not the succeeded job: $(cat "$HT_TMP/curl.sse")"

# Over HTTP/2 too (one URL per curl call).
ht_submit '{"type": "sleep", "payload": {"ms": 800, "steps": 2}}'
set +e
curl -sN --http2-prior-knowledge --max-time 20 "$HT_URL/v1/jobs/$HT_JOB/events" >"$HT_TMP/h2.sse"
rc=$?
set -e
assert_eq "$rc" 0 "curl --http2 exits by itself at the end of the stream"
grep '^data: ' "$HT_TMP/h2.sse" | tail -n 1 | sed 's/^data: //' | jq -e '.status == "succeeded"' \
    >/dev/null || fail "HTTP/2 stream: $(cat "$HT_TMP/h2.sse")"

# Streams that hang up early leave the api healthy and unsubscribed.
for _ in 1 2 3 4 5; do
    timeout 0.5 curl -sN "$HT_URL/v1/jobs/$id/events" >/dev/null 2>&1 || true
done
ht_submit '{"type": "sleep", "payload": {"ms": 5000, "steps": 5}}'
for _ in $(seq 10); do
    curl -sN --max-time 0.5 "$HT_URL/v1/jobs/$HT_JOB/events" >/dev/null 2>&1 || true
done
ht_http GET /healthz
assert_status 200 "healthz after early hang-ups"
# Every node: on a cluster the api may subscribe on any of them.
no_subscriptions() {
    [[ -z "$(ht_redis_each PUBSUB NUMPAT | grep -vx 0)" &&
        -z "$(ht_redis_each PUBSUB CHANNELS 'ht:*:events:*')" ]]
}
wait_until 5 "the api unsubscribes from jobs nobody watches" no_subscriptions
