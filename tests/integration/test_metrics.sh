#!/usr/bin/env bash
# GET /metrics: the page is valid Prometheus text (clients/promtext.py, a
# strict checker) and its figures are exact.  Job counters come from Redis
# (counted by the function library, or by the worker that did the work and
# sent within a second: docs/operations.md), so they are asserted to the
# unit once that second has passed: submitted, started, succeeded, failed,
# retried, canceled by type; queue gauges; histogram counts; webhook
# outcomes.  The
# api's own figures: held sync requests and 102s while a sync submit is
# held, SSE streams while one is open, responses by class, Redis errors and
# hangtight_redis_up 0 once Redis is gone (the page is still served).
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_RETRY_BASE_MS=1 # retries at once: no waiting on backoff
export HANGTIGHT_WEBHOOK_RETRY_BASE_MS=100
export HANGTIGHT_WEBHOOK_ALLOW_PRIVATE=1 # the receiver is on loopback

REQS=$HT_TMP/requests.jsonl
SCRIPT=$HT_TMP/script.json
echo '{"/flaky": ["503", "200"], "/gone": ["410"]}' >"$SCRIPT"
: >"$REQS"
ht_spawn receiver python3 "$HT_CLIENTS_DIR/receiver.py" "$HT_TMP/port" "$REQS" "$SCRIPT"
# Jobs of type "gate" run until the test creates $GATE (tests/faults/gate.sh).
GATE=$HT_TMP/gate
ht_gate_handlers gate="$GATE"
ht_start_stack --worker-args --concurrency 4
wait_until 10 "the receiver listens" test -s "$HT_TMP/port"
RECV=http://127.0.0.1:$(cat "$HT_TMP/port")

# Scrapes into MV (sample key -> value), through the strict checker.  Keys
# are "name{label=\"value\",...}" with labels sorted, as promtext.py writes.
declare -A MV=()
scrape() {
    ht_http GET /metrics
    assert_status 200 "GET /metrics"
    assert_eq "$(ht_header Content-Type)" "text/plain; version=0.0.4; charset=utf-8" \
        "metrics Content-Type"
    local tsv k v
    tsv=$(python3 "$HT_CLIENTS_DIR/promtext.py" --tsv <"$HT_TMP/http.body") ||
        fail "the metrics page is not valid exposition text: $(head -c 3000 "$HT_TMP/http.body")"
    MV=()
    while IFS=$'\t' read -r k v; do MV[$k]=$v; done <<<"$tsv"
}
# metric KEY: the value of sample KEY in the last scrape, "absent" if none.
metric() { printf '%s\n' "${MV[$1]-absent}"; }
assert_metric() {
    [[ "${MV[$1]-absent}" == "$2" ]] ||
        fail "metric $1: expected $2, got ${MV[$1]-absent}; page: $(cat "$HT_TMP/http.body")"
}
# For polling: sample KEY of a fresh page without the checker (the keys
# polled have at most one label, so the line starts with the key as is).
peek() { curl -s --max-time 5 "$HT_URL/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { print v }'; }
metric_is() { [[ "$(peek "$1")" == "$2" ]]; }
metric_ge() { local v; v=$(peek "$1"); [[ -n "$v" ]] && ((v >= $2)); }

# ---- an empty keyspace: every family there, zeros ------------------------
scrape
assert_metric hangtight_redis_up 1
assert_metric 'hangtight_queue_depth{priority="default"}' 0
assert_metric hangtight_jobs_dead 0
assert_metric 'hangtight_job_wait_seconds_bucket{le="+Inf"}' 0
assert_metric hangtight_job_run_seconds_count 0
assert_metric 'hangtight_webhook_deliveries_total{outcome="delivered"}' 0
assert_metric 'hangtight_api_held_requests{kind="sync"}' 0
assert_metric 'hangtight_jobs_submitted_total{type="echo"}' absent
grep -q '^# TYPE hangtight_jobs_canceled_total counter$' "$HT_TMP/http.body" ||
    fail "no TYPE line for a family without samples yet"

# ---- jobs of every outcome ------------------------------------------------
# The webhook jobs first: their deliveries (one retry) take the longest.
ht_submit "{\"type\": \"echo\", \"callback_url\": \"$RECV/flaky\"}"
hooked=$HT_JOB
ht_submit "{\"type\": \"fail\", \"payload\": {\"retry\": false}, \"callback_url\": \"$RECV/gone\"}"
hooked_fail=$HT_JOB
ids=()
for i in 1 2 3; do
    ht_submit "{\"type\": \"echo\", \"payload\": {\"i\": $i}}"
    ids+=("$HT_JOB")
done
ht_submit '{"type": "fail", "payload": {"retry": false}}'
permanent=$HT_JOB
ht_submit '{"type": "fail", "max_attempts": 2}'
flaky=$HT_JOB
ht_submit '{"type": "sleep", "payload": {"ms": 10}, "delay_s": 600}'
delayed=$HT_JOB
# Every job but the delayed one ends: 4 echo succeed, 3 fail (one after
# its retry).
wait_until 20 "4 jobs succeed" metric_is 'hangtight_jobs_succeeded_total{type="echo"}' 4
wait_until 20 "3 jobs fail" metric_is 'hangtight_jobs_failed_total{type="fail"}' 3
scrape
assert_metric hangtight_jobs_scheduled 1 # the delayed one
ht_http DELETE "/v1/jobs/$delayed"
assert_status 200 "cancel the delayed job"
ht_http POST "/v1/jobs/$permanent/retry"
assert_status 202 "retry the dead job"
wait_until 20 "the retried job fails again" metric_is 'hangtight_jobs_failed_total{type="fail"}' 4
wait_until 20 "the flaky webhook is delivered" \
    metric_is 'hangtight_webhook_deliveries_total{outcome="delivered"}' 1
wait_until 20 "the 410 webhook fails" \
    metric_is 'hangtight_webhook_deliveries_total{outcome="failed"}' 1
ht_job_is "$permanent" failed || fail "the job retried by hand did not end failed"
ht_job_is "$flaky" failed || fail "the flaky job did not end failed"
ht_job_is "$hooked" succeeded || fail "the job with a webhook did not succeed"

# Exactly (see shared/library.lua for what counts when):
#   echo:  4 submitted, 4 started, 4 succeeded
#   fail:  3 submitted; started: permanent 1 + retried by hand 1, flaky 2,
#          hooked_fail 1 = 5; failed: permanent twice, flaky, hooked_fail = 4;
#          retried: flaky's automatic retry + the hand retry = 2
#   sleep: 1 submitted, 1 canceled, never started
# Gauges: nothing waits or runs; dead = failed jobs kept (3 jobs).
# Histograms: a first start per job life (8 jobs started + 1 hand retry),
# a run time per completed attempt (4 echo + 5 fail); local jobs start fast
# and run fast: all within the 1 s buckets.
# Webhooks: /flaky 503 then 200, /gone 410 (stops at once).
EXACT=(
    'hangtight_jobs_submitted_total{type="echo"}' 4
    'hangtight_jobs_submitted_total{type="fail"}' 3
    'hangtight_jobs_submitted_total{type="sleep"}' 1
    'hangtight_jobs_started_total{type="echo"}' 4
    'hangtight_jobs_started_total{type="fail"}' 5
    'hangtight_jobs_started_total{type="sleep"}' absent
    'hangtight_jobs_succeeded_total{type="echo"}' 4
    'hangtight_jobs_failed_total{type="fail"}' 4
    'hangtight_jobs_retried_total{type="fail"}' 2
    'hangtight_jobs_canceled_total{type="sleep"}' 1
    'hangtight_jobs_failed_total{type="echo"}' absent
    'hangtight_queue_depth{priority="high"}' 0
    'hangtight_queue_depth{priority="default"}' 0
    'hangtight_queue_depth{priority="low"}' 0
    hangtight_jobs_scheduled 0
    hangtight_jobs_running 0
    hangtight_jobs_dead 3
    'hangtight_job_wait_seconds_bucket{le="+Inf"}' 8
    hangtight_job_wait_seconds_count 8
    hangtight_job_run_seconds_count 9
    'hangtight_job_wait_seconds_bucket{le="1"}' 8
    'hangtight_job_run_seconds_bucket{le="1"}' 9
    'hangtight_webhook_deliveries_total{outcome="delivered"}' 1
    'hangtight_webhook_deliveries_total{outcome="retried"}' 1
    'hangtight_webhook_deliveries_total{outcome="failed"}' 1
)
# 0 when a fresh scrape shows every figure of EXACT.
all_exact() {
    scrape
    local i
    for ((i = 0; i < ${#EXACT[@]}; i += 2)); do
        [[ "$(metric "${EXACT[i]}")" == "${EXACT[i + 1]}" ]] || return 1
    done
}
# The worker's last counters arrive within about a second.
wait_until 10 "every job figure is exact" all_exact
for ((i = 0; i < ${#EXACT[@]}; i += 2)); do
    assert_metric "${EXACT[i]}" "${EXACT[i + 1]}"
done
# The same totals whichever api thread answers (they live in Redis).
for _ in 1 2; do
    scrape
    assert_metric 'hangtight_jobs_started_total{type="fail"}' 5
done

# ---- held sync requests and 102s -----------------------------------------
# A gate job: held until the test saw it held and a 102 sent.
t0=$(ht_ms)
curl -s -o "$HT_TMP/sync.body" -w '%{http_code}' --max-time 60 \
    -H 'Content-Type: application/json' -H 'Prefer: wait=50, heartbeat=1' \
    --data-binary '{"type": "gate"}' \
    "$HT_URL/v1/jobs" >"$HT_TMP/sync.status" &
sync_pid=$!
wait_until 10 "the sync submit is held" metric_is 'hangtight_api_held_requests{kind="sync"}' 1
wait_until 10 "a 102 was sent" metric_ge hangtight_api_processing_sent_total 1
touch "$GATE"
wait "$sync_pid"
held_s=$((($(ht_ms) - t0) / 1000))
assert_eq "$(cat "$HT_TMP/sync.status")" 200 "the sync answer"
scrape
assert_metric 'hangtight_api_held_requests{kind="sync"}' 0
# One 102 a second (heartbeat=1) while it was held, no more.
sent=$(metric hangtight_api_processing_sent_total)
((sent >= 1 && sent <= held_s + 1)) || fail "102s sent: $sent, expected 1 to $((held_s + 1)) in ${held_s} s held"

# ---- SSE streams -------------------------------------------------------
ht_submit '{"type": "sleep", "delay_s": 600}'
curl -s -N --max-time 30 "$HT_URL/v1/jobs/$HT_JOB/events" >/dev/null &
sse_pid=$!
wait_until 10 "the event stream is counted" metric_is hangtight_api_sse_streams 1
kill "$sse_pid"
wait "$sse_pid" 2>/dev/null || true
# On HTTP/1 the api notices a vanished SSE client at its next heartbeat.
ht_http DELETE "/v1/jobs/$HT_JOB" # ends the stream from our side too
wait_until 15 "the event stream is gone" metric_is hangtight_api_sse_streams 0

# ---- responses by class: exactly the 4xx we asked for --------------------
scrape
before=$(metric 'hangtight_api_http_responses_total{class="4xx"}')
for _ in 1 2 3; do ht_http GET /v1/jobs/00000000-0000-4000-8000-000000000000; done
assert_status 404
ht_http PATCH /metrics
assert_status 405
wait_until 5 "4 more 4xx" metric_is 'hangtight_api_http_responses_total{class="4xx"}' $((before + 4))
scrape
assert_metric 'hangtight_api_http_responses_total{class="4xx"}' $((before + 4))
assert_metric 'hangtight_api_http_responses_total{class="5xx"}' 0
assert_metric 'hangtight_api_redis_errors_total{kind="unavailable"}' 0
(($(metric 'hangtight_api_http_responses_total{class="2xx"}') > 20)) || fail "too few 2xx counted"

# ---- Redis gone: the page is still served, with the api's own figures ----
ht_stop_redis
ht_http GET /v1/jobs/00000000-0000-4000-8000-000000000000
assert_status 503 "a request while Redis is down"
scrape
assert_metric hangtight_redis_up 0
assert_metric 'hangtight_jobs_submitted_total{type="echo"}' absent
errors=$(metric 'hangtight_api_redis_errors_total{kind="unavailable"}')
((errors >= 2)) || fail "Redis errors while it is down: $errors (the 503 and the scrape)"
(($(metric 'hangtight_api_http_responses_total{class="5xx"}') >= 1)) || fail "the 503 is not counted"
log "metrics exact: jobs, histograms, webhooks, held, 102s, SSE, classes, Redis errors"
