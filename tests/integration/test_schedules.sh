#!/usr/bin/env bash
# Recurring schedules (docs/schedules.md) through the real api and workers:
# create, read, list (paged), pause and resume, delete; another tenant's
# schedule answers as a missing one (404); every refused field is named
# (422); the quota (409); the jobs a schedule makes carry schedule_id and
# run_at (the run they are for); the library's compare-and-set and a
# refused run; the catch-up rule after every worker was down for more than
# HT_SCHEDULE_LATE_MS (catch_up one: one job for the missed runs; none: no
# job), then runs on schedule, and a short stall that loses no run.
# Schedules tick every second (HANGTIGHT_SCHEDULE_SECONDS, the test mode).
source "$(dirname "$0")/lib.sh"

ht_tenant_keys acme globex
RUNS=$HT_SOURCE_DIR/tests/integration/clients/schedule_runs.py
LATE_MS=10000 # HT_SCHEDULE_LATE_MS (shared/schedule.h)

export HANGTIGHT_SCHEDULE_SECONDS=1
# No worker yet: the catch-up schedules below start with every worker down.
ht_start_stack --workers 0 --api-args --api-keys-file "$KEYS"

# sched_create BODY [CURL-ARGS...]: asserts 201 and sets SCHED to the id.
sched_create() {
    ht_http POST /v1/schedules "$1" "${@:2}"
    assert_status 201 "create $1"
    SCHED=$(ht_json .id)
    assert_eq "$(ht_header Location)" "/v1/schedules/$SCHED" "Location of $SCHED"
}

# runs ID [--every-ms MS]: the schedule's jobs as schedule_runs.py prints them.
runs() { python3 "$RUNS" "$HT_URL" "$1" --key "$ACME_KEY" "${@:2}"; }
runs_count() { runs "$1" | jq .count; }
sched_field() {
    ht_http GET "/v1/schedules/$1" "" "${acme[@]}"
    assert_status 200 "GET schedule $1"
    ht_json "$2"
}
ms_of() { date -d "$1" +%s%3N; }
at_least() { (($(runs_count "$1") >= $2)); }
now_past() { (($(ht_ms) >= $1)); }

# ---- every worker down: two schedules start missing their runs --------------

sched_create '{"every_s": 1, "name": "catch up one", "job": {"type": "echo", "payload": {"s": 1}}}' \
    "${acme[@]}"
ONE=$SCHED
assert_json .catch_up one "the default catch-up rule"
assert_json .every_s 1
assert_json .timezone null "an interval has no zone"
assert_json .paused false
assert_json .runs 0
assert_json .job.payload.s 1 "the template as given"
ONE_FIRST=$(ms_of "$(ht_json .next_run_at)")
sched_create '{"every_s": 1, "catch_up": "none", "job": {"type": "echo"}}' "${acme[@]}"
NONE=$SCHED
NONE_FIRST=$(ms_of "$(ht_json .next_run_at)")

# ---- what a create refuses (while the runs go by unserved) ------------------

refused() { # refused BODY STATUS POINTER [CODE]
    ht_http POST /v1/schedules "$1" "${acme[@]}"
    assert_problem "$2" "create $1"
    [[ -z "${3-}" ]] || assert_jq "any(.errors[]; .pointer == \"$3\"${4:+ and .code == \"$4\"})" \
        "create $1 names $3 ${4:-}"
}
refused '{"cron": "61 * * * *", "job": {"type": "echo"}}' 422 /cron invalid_format
assert_jq 'any(.errors[]; .detail | test("minute: 61 is out of range 0-59"))' "the cron's reason"
refused '{"cron": "0 0 30 2 *", "job": {"type": "echo"}}' 422 /cron invalid_format
refused '{"cron": "* * * * *", "timezone": "Europe/Pari", "job": {"type": "echo"}}' 422 \
    /timezone invalid_value
assert_jq 'any(.errors[]; .detail | test("unknown time zone .Europe/Pari."))' "the zone named"
refused '{"every_s": 0, "job": {"type": "echo"}}' 422 /every_s out_of_range
refused '{"every_s": 31622401, "job": {"type": "echo"}}' 422 /every_s out_of_range
refused '{"every_s": "60", "job": {"type": "echo"}}' 422 /every_s invalid_type
refused '{"every_s": 60, "cron": "* * * * *", "job": {"type": "echo"}}' 422 /every_s conflict
refused '{"job": {"type": "echo"}}' 422 /cron required
refused '{"every_s": 60, "timezone": "UTC", "job": {"type": "echo"}}' 422 /timezone conflict
refused '{"every_s": 60}' 422 /job required
refused '{"every_s": 60, "job": {"type": "Not A Type"}}' 422 /job/type invalid_format
refused '{"every_s": 60, "job": {"type": "nobody.serves.this"}}' 422 /job/type unknown_type
refused '{"every_s": 60, "job": {"type": "echo", "max_attempts": 99}}' 422 /job/max_attempts
refused '{"every_s": 60, "job": {"type": "echo", "delay_s": 5}}' 422 /job/delay_s
refused '{"every_s": 60, "catch_up": "all", "job": {"type": "echo"}}' 422 /catch_up
refused '{"every_s": 60, "job": {"type": "echo"}, "extra": 1}' 422 /extra unknown_field
refused '{"every_s": 60, "cron": "61 * * * *", "timezone": "X/Y", "job": {}}' 422
assert_jq '[.errors[].pointer] | contains(["/cron", "/timezone", "/every_s", "/job/type"])' \
    "every problem of one body listed"
refused '{"every_s": ' 400
ht_http POST /v1/schedules '' "${acme[@]}" -H 'Content-Type: text/plain' \
    --data-binary '{"every_s": 60, "job": {"type": "echo"}}'
assert_problem 415 "not JSON"
ht_http POST /v1/schedules '{"every_s": 60, "job": {"type": "echo"}}'
assert_problem 401 "no key"
for path in /v1/schedules/not-an-id /v1/schedules/00000000-0000-4000-8000-000000000000; do
    for how in "GET $path" "DELETE $path" "POST $path/pause" "POST $path/resume"; do
        ht_http ${how% *} "${how#* }" "" "${acme[@]}"
        assert_problem 404 "$how"
        assert_json .type urn:hangtight:problem:schedule-not-found "$how: type"
    done
done
ht_http PUT /v1/schedules "" "${acme[@]}"
assert_problem 405 "PUT /v1/schedules"
for q in 'limit=0' 'limit=101' 'limit=x' 'cursor=zzz' 'cursor=12:not-an-id' 'sort=desc'; do
    ht_http GET "/v1/schedules?$q" "" "${acme[@]}"
    assert_problem 400 "GET /v1/schedules?$q"
done

# ---- a cron schedule in a zone, read and listed ------------------------------

sched_create '{"name": "new year", "cron": "0 0 1 1 *", "timezone": "Europe/Paris",
               "job": {"type": "echo", "priority": "high", "metadata": {"k": "v"}}}' "${acme[@]}"
YEARLY=$SCHED
assert_json .cron "0 0 1 1 *"
assert_json .timezone Europe/Paris "the zone id as given"
assert_json .every_s null
assert_json .name "new year"
assert_match "$(ht_json .next_run_at)" '^[0-9]{4}-12-31T23:00:00\.000Z$' \
    "midnight of January 1st in Paris is 23:00 UTC"
assert_json .job.priority high
assert_json .links.pause "/v1/schedules/$YEARLY/pause"
ht_http GET "/v1/schedules/$YEARLY" "" "${acme[@]}"
assert_status 200
assert_json .id "$YEARLY"
for _ in 1 2; do
    sched_create '{"cron": "0 0 1 1 *", "job": {"type": "echo"}}' "${acme[@]}"
done
assert_json .timezone UTC "no zone given: UTC"
# Five of acme's, none of globex's; pages of 2 see each once, oldest first.
seen=() cursor='' pages=0
while :; do
    ht_http GET "/v1/schedules?limit=2${cursor:+&cursor=$cursor}" "" "${acme[@]}"
    assert_status 200 "list page $pages"
    mapfile -t -O "${#seen[@]}" seen < <(ht_json '.schedules[].id')
    assert_jq '[.schedules[].created_at] == ([.schedules[].created_at] | sort)' "oldest first"
    cursor=$(ht_json '.next_cursor // empty')
    pages=$((pages + 1))
    [[ -n "$cursor" ]] || break
    assert_json .links.next "/v1/schedules?limit=2&cursor=$cursor" "links.next"
done
assert_eq "${#seen[@]}" 5 "schedules listed"
assert_eq "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" 5 "each once"
assert_eq "${seen[0]}" "$ONE" "the oldest first"
ht_http GET /v1/schedules "" "${globex[@]}"
assert_json '.schedules | length' 0 "globex sees none of acme's"
for how in "GET /v1/schedules/$YEARLY" "DELETE /v1/schedules/$YEARLY" \
    "POST /v1/schedules/$YEARLY/pause" "POST /v1/schedules/$YEARLY/resume"; do
    ht_http ${how% *} "${how#* }" "" "${globex[@]}"
    assert_problem 404 "globex: $how"
done
assert_eq "$(sched_field "$YEARLY" .paused)" false "globex's pause did nothing"

# ---- the quota -----------------------------------------------------------------

INDEX='ht:{default}:t:globex:scheds'
ht_redis EVAL "for i = 1, 1000 do redis.call('ZADD', KEYS[1], i, 'x' .. i) end" 1 "$INDEX" \
    >/dev/null
ht_http POST /v1/schedules '{"every_s": 60, "job": {"type": "echo"}}' "${globex[@]}"
assert_problem 409 "the 1001st schedule of a tenant"
assert_match "$(ht_json .detail)" '1000 schedules' "the quota named"
ht_redis DEL "$INDEX" >/dev/null
sched_create '{"every_s": 3600, "job": {"type": "echo"}}' "${globex[@]}"
GLOBEX_SCHED=$SCHED

# ---- the library: compare-and-set, a refused run ------------------------------

# The yearly schedule will not run during the test: its run is fired here
# by hand, as a worker would.
SKEY="ht:{default}:sched:$YEARLY"
due=$(ht_redis HGET "$SKEY" next_run_at)
newid() { cat /proc/sys/kernel/random/uuid; }
fire() { # fire EXPECTED-DUE TICK NEXT JOB-ID
    ht_redis FCALL ht_sched_fire 4 "$SKEY" 'ht:{default}:sched:due' "ht:{default}:job:$4" \
        'ht:{default}:signal' "$YEARLY" "$1" "$2" "$3" "$4" 'ht:{default}:events' '' | paste -sd' '
}
J1=$(newid)
assert_eq "$(fire "$due" 1700000000000 $((due + 1000)) "$J1")" "1 $J1 " "the first fire wins"
assert_eq "$(fire "$due" 1700000000000 $((due + 2000)) "$(newid)")" 0 \
    "the same run fired again: the compare-and-set refuses it"
assert_eq "$(ht_redis ZSCORE 'ht:{default}:sched:due' "$YEARLY")" $((due + 1000)) \
    "the next run stored with the winner's"
ht_http GET "/v1/jobs/$J1" "" "${acme[@]}"
assert_status 200 "the job the run made is acme's"
assert_json .schedule_id "$YEARLY"
assert_json .run_at 2023-11-14T22:13:20.000Z "run_at: the run it was made for"
assert_json .priority high "the template's fields"
assert_json .metadata.k v
assert_json .type echo
out=$(fire $((due + 1000)) 1700000001000 $((due + 3000)) "$J1")
assert_match "$out" '^1  EXISTS' "a run whose submit is refused (a job id taken) makes no job"
ht_http GET "/v1/schedules/$YEARLY" "" "${acme[@]}"
assert_json .runs 1 "runs counts jobs made"
assert_json .last_job_id "$J1"
assert_json .last_error.code exists "the refusal recorded"
assert_json .last_error.run_at 2023-11-14T22:13:21.000Z
assert_match "$(ht_json .next_run_at)" '^20' "and the schedule goes on"
assert_eq "$(ht_redis HGET "$SKEY" next_run_at)" $((due + 3000)) "the refused run's next stored"

# ---- the workers come back after more than the late limit ---------------------

wait_until 30 "the first runs are more than ${LATE_MS} ms past" now_past \
    $((ONE_FIRST + LATE_MS + 1500))
START_MS=$(ht_ms)
ht_start_worker w1
wait_until 20 "catch up one made 3 jobs" at_least "$ONE" 3
wait_until 20 "catch up none made 3 jobs" at_least "$NONE" 3
one=$(runs "$ONE" --every-ms 1000)
log "catch up one: $(jq -c '{count, first, last, gaps, duplicates}' <<<"$one")"
first=$(jq .first <<<"$one")
((first > ONE_FIRST + LATE_MS)) ||
    fail "catch up one: the first job is for run $first, a missed run (the first was $ONE_FIRST)"
((first >= START_MS - 1000)) ||
    fail "catch up one: the job is for run $first, not the latest before the worker came ($START_MS)"
assert_eq "$(jq -c '[.gaps, .duplicates]' <<<"$one")" '[[],[]]' \
    "catch up one: after the one job, every run once"
none=$(runs "$NONE" --every-ms 1000)
log "catch up none: $(jq -c '{count, first, last, gaps, duplicates}' <<<"$none")"
((NONE_FIRST < START_MS - LATE_MS)) || fail "catch up none: its first run was not missed"
(($(jq .first <<<"$none") > START_MS)) ||
    fail "catch up none: a job for a run missed while no worker ran: $none"
assert_eq "$(jq -c '[.gaps, .duplicates]' <<<"$none")" '[[],[]]' "catch up none: then every run"

# ---- a stall shorter than the late limit loses no run ------------------------

ht_stop w1
STOP_MS=$(ht_ms)
wait_until 10 "runs went by unserved" now_past $((STOP_MS + 2000))
ht_start_worker w1
past() { (($(runs "$ONE" | jq .last) >= STOP_MS + 4000)); }
wait_until 20 "runs after the stall" past
one=$(runs "$ONE" --every-ms 1000)
assert_eq "$(jq -c '[.gaps, .duplicates]' <<<"$one")" '[[],[]]' \
    "a run found late (within the limit) still gets its own job: $(jq -c .gaps <<<"$one")"
ht_http GET "/v1/schedules/$ONE" "" "${acme[@]}"
LAST_ID=$(ht_json .last_job_id) LAST_RUN=$(ht_json .last_run_at)
ht_http GET "/v1/jobs/$LAST_ID" "" "${acme[@]}"
assert_json .schedule_id "$ONE" "the last job is the schedule's"
assert_json .run_at "$LAST_RUN" "the last job's run is last_run_at"

# ---- pause and resume ------------------------------------------------------------

ht_http POST "/v1/schedules/$ONE/pause" "" "${acme[@]}"
assert_status 200 "pause"
assert_json .paused true
assert_json .next_run_at null "paused: no next run"
assert_json .links.resume "/v1/schedules/$ONE/resume"
PAUSED_MS=$(ht_ms)
paused_runs=$(runs_count "$ONE")
assert_eq "$(sched_field "$ONE" .runs)" "$paused_runs" "runs = the jobs made"
n=$(runs_count "$NONE")
wait_until 20 "the other schedule ran twice meanwhile" at_least "$NONE" $((n + 2))
assert_eq "$(runs_count "$ONE")" "$paused_runs" "no job while paused"
ht_http POST "/v1/schedules/$ONE/pause" "" "${acme[@]}"
assert_status 200 "pausing a paused schedule"
ht_http POST "/v1/schedules/$ONE/resume" "" "${acme[@]}"
assert_status 200 "resume"
assert_json .paused false
RESUMED_MS=$(ht_ms)
next=$(ms_of "$(ht_json .next_run_at)")
((next > RESUMED_MS - 1000 && next <= RESUMED_MS + 1000)) ||
    fail "resumed: the next run ($next) is not the first after now ($RESUMED_MS)"
wait_until 20 "runs again after resume" at_least "$ONE" $((paused_runs + 2))
one=$(runs "$ONE")
skipped=$(jq --argjson p "$PAUSED_MS" --argjson r "$RESUMED_MS" \
    '[.runs[] | select(. > $p + 1000 and . < $r - 1000)] | length' <<<"$one")
assert_eq "$skipped" 0 "the runs of the pause are not made up"

# ---- delete ----------------------------------------------------------------------

NONE_LAST=$(sched_field "$NONE" .last_job_id)
ht_http DELETE "/v1/schedules/$NONE" "" "${acme[@]}"
assert_status 204 "delete"
[[ -z "$HTTP_BODY" ]] || fail "204 with a body: $HTTP_BODY"
DELETED_MS=$(ht_ms)
ht_http GET "/v1/schedules/$NONE" "" "${acme[@]}"
assert_problem 404 "a deleted schedule"
ht_http DELETE "/v1/schedules/$NONE" "" "${acme[@]}"
assert_problem 404 "deleted twice"
ht_http GET "/v1/jobs/$NONE_LAST" "" "${acme[@]}"
assert_status 200 "the jobs it made stay"
assert_json .schedule_id "$NONE"
n=$(runs_count "$ONE")
wait_until 20 "the other schedule ran twice since" at_least "$ONE" $((n + 2))
(($(runs "$NONE" | jq .last) < DELETED_MS)) || fail "a job made after the delete"
ht_http GET /v1/schedules "" "${acme[@]}"
assert_jq "[.schedules[].id] | index(\"$NONE\") == null" "gone from the listing"
ht_http DELETE "/v1/schedules/$GLOBEX_SCHED" "" "${globex[@]}"
assert_status 204 "globex deletes its own"

# ---- the CLI -------------------------------------------------------------------

cli() { HANGTIGHT_URL=$HT_URL HANGTIGHT_API_KEY=$ACME_KEY "$HT_CLI_BIN" schedule "$@"; }
out=$(cli create --cron '0 12 * * MON-FRI' --timezone America/New_York --name weekdays \
    --priority low --catch-up none echo '{"from": "cli"}') || fail "schedule create: $out"
CLI_SCHED=$(jq -r .id <<<"$out")
assert_eq "$(jq -c '[.cron, .timezone, .name, .catch_up, .job.priority, .job.payload.from]' \
    <<<"$out")" '["0 12 * * MON-FRI","America/New_York","weekdays","none","low","cli"]' \
    "schedule create: the document"
out=$(cli get "$CLI_SCHED") || fail "schedule get"
assert_eq "$(jq -r .id <<<"$out")" "$CLI_SCHED" "schedule get"
table=$(cli list --limit 2 --all) || fail "schedule list"
assert_match "$table" $'^ID +NAME +WHEN' "schedule list: the header"
assert_match "$table" "$CLI_SCHED +weekdays +0 12 \\* \\* MON-FRI \\(America/New_York\\)" \
    "schedule list: a row"
assert_match "$table" "$ONE +catch up one +every 1 s" "schedule list --all: the other pages"
assert_eq "$(cli list --json | jq '.schedules | length')" 5 "schedule list --json"
assert_eq "$(cli pause "$CLI_SCHED" | jq .paused)" true "schedule pause"
assert_match "$(cli list)" "$CLI_SCHED .* \\(paused\\) .* yes" "paused in the table"
assert_eq "$(cli resume "$CLI_SCHED" | jq .paused)" false "schedule resume"
cli delete "$CLI_SCHED" || fail "schedule delete"
set +e
err=$(cli get "$CLI_SCHED" 2>&1 >/dev/null)
rc=$?
cli create --every-s 5 2>/dev/null
rc_usage=$?
err_cron=$(cli create --cron '61 * * * *' echo 2>&1 >/dev/null)
rc_cron=$?
set -e
assert_eq "$rc" 1 "schedule get of a deleted schedule: refused by the server"
assert_match "$err" 'No such schedule' "the problem on stderr"
assert_eq "$rc_usage" 2 "schedule create without TYPE: usage"
assert_eq "$rc_cron" 1 "a bad cron: refused"
assert_match "$err_cron" '/cron.*minute: 61' "the field and its reason"
log "ok"
