#!/usr/bin/env bash
# Logs: every line on stderr of the api and the worker is one JSON object
# (ts, level, proc, msg); request ids are taken from X-Request-Id when sane,
# made otherwise, and sent back on every answer, errors included; lines
# written while a request is handled (also from its Redis callbacks) carry
# its request_id, and job ids go as job_id; with --access-log one "access"
# line per finished request, and none without the flag.
source "$(dirname "$0")/lib.sh"

ht_start_stack --api-args --access-log --log-level debug

MADE='^[0-9a-f]{8}-[0-9]+-[0-9]+$' # "<process prefix>-<thread>-<counter>"

# The api's log lines with request_id $1 (compact JSON, one a line).
# (fromjson?: the api may be writing the last line right now).
lines_of() { jq -R -c --arg r "$1" 'fromjson? | select(.request_id == $r)' "${HT_LOGS[api]}"; }
# The access line of request $1.
access_of() { lines_of "$1" | jq -c 'select(.msg == "access")'; }
has_access() { [[ -n "$(access_of "$1")" ]]; }

# ---- a sane X-Request-Id is taken and echoed; its lines carry it -------
ht_http POST /v1/jobs '{"type": "echo", "payload": {"n": 1}}' -H 'X-Request-Id: client.req:42/a+b=@-Z'
assert_status 202
job=$(ht_json .id)
rid='client.req:42/a+b=@-Z'
assert_eq "$(ht_header X-Request-Id)" "$rid" "echoed X-Request-Id"
wait_until 5 "the access line of $rid" has_access "$rid"
a=$(access_of "$rid")
assert_eq "$(jq -r '[.level, .proc, .method, .path, .status] | join(" ")' <<<"$a")" \
    "info api POST /v1/jobs 202" "access line"
jq -e '(.bytes | type == "number" and . > 0) and (.duration_ms | type == "number" and . >= 0)
       and (.ts | test("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z$"))' <<<"$a" >/dev/null ||
    fail "access line fields: $a"
# "job submitted" is logged from the Redis callback of the submit: it still
# carries the request's id, and the job id as job_id.
lines_of "$rid" | jq -s -e --arg j "$job" 'any(.msg == "job submitted" and .job_id == $j)' \
    >/dev/null || fail "no 'job submitted' line with request_id and job_id: $(lines_of "$rid")"
wait_until 10 "the job succeeds" ht_job_is "$job" succeeded
grep -q "\"job_id\":\"$job\"" "${HT_LOGS[w1]}" || fail "the worker's lines lack job_id $job"

# ---- no id, or an insane one: a fresh one is made ------------------------
ids=()
for hdr in '' 'X-Request-Id: has space' "X-Request-Id: $(printf 'x%.0s' {1..129})" \
    'X-Request-Id: quote"d'; do
    if [[ -n "$hdr" ]]; then ht_http GET "/v1/jobs/$job" '' -H "$hdr"; else ht_http GET "/v1/jobs/$job"; fi
    assert_status 200
    id=$(ht_header X-Request-Id)
    assert_match "$id" "$MADE" "made request id (sent: '${hdr:0:30}')"
    ids+=("$id")
done
assert_eq "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" 4 "made ids are distinct"
wait_until 5 "the access line of ${ids[0]}" has_access "${ids[0]}"
assert_eq "$(access_of "${ids[0]}" | jq -r '.method + " " + .path + " " + (.status|tostring)')" \
    "GET /v1/jobs/$job 200" "access line of a GET"
# Exactly 128 characters is still taken.
long=$(printf 'y%.0s' {1..128})
ht_http GET /healthz '' -H "X-Request-Id: $long"
assert_eq "$(ht_header X-Request-Id)" "$long" "a 128-character id is kept"

# ---- errors carry it too -------------------------------------------------
ht_http GET /v1/jobs/00000000-0000-4000-8000-000000000000 '' -H 'X-Request-Id: err-404'
assert_problem 404
assert_eq "$(ht_header X-Request-Id)" err-404 "X-Request-Id on a 404"
ht_http PUT /v1/jobs '{}' -H 'X-Request-Id: err-405'
assert_problem 405
assert_eq "$(ht_header X-Request-Id)" err-405 "X-Request-Id on a 405"
ht_http POST /v1/jobs '{"type": ' -H 'X-Request-Id: err-400'
assert_problem 400
assert_eq "$(ht_header X-Request-Id)" err-400 "X-Request-Id on a 400"
ht_http GET '/nope?q=%ff' '' -H 'X-Request-Id: err-path'
assert_problem 404
wait_until 5 "the access line of err-path" has_access err-path
assert_eq "$(access_of err-path | jq -r '.status, .path' | paste -sd' ')" "404 /nope?q=%ff" \
    "access line of a 404"
# A path with bytes that are not UTF-8 still makes a valid JSON line.
python3 - "$(ht_hostport)" <<'PY' || fail "raw request"
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"GET /\xff\xfex HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: raw-bytes\r\nConnection: close\r\n\r\n")
while s.recv(4096):
    pass
PY
wait_until 5 "the access line of raw-bytes" has_access raw-bytes
assert_eq "$(access_of raw-bytes | jq -r .path)" "/%FF%FEx" "non-ASCII bytes of the path"

# ---- without --access-log: no access lines -------------------------------
ht_start_api --name api2 --threads 1
hdrs=$(curl -s -D - -o /dev/null -H 'X-Request-Id: quiet-1' "$(ht_api_url api2)/v1/jobs/$job")
grep -qi '^x-request-id: quiet-1' <<<"$hdrs" || fail "the second api does not echo the id: $hdrs"
ht_stop api2
assert_eq "$HT_EXIT" 0 "the second api's exit"
! grep -q '"msg":"access"' "${HT_LOGS[api2]}" || fail "access lines without --access-log"

# ---- every line of every process is one JSON object ----------------------
check_json_lines() {
    local file=$1 bad
    bad=$(jq -R -r '. as $line | (try fromjson catch null) as $j
            | if ($j | type) == "object" and ($j | has("ts") and has("level") and has("proc")
                 and has("msg")) then empty else $line end' "$file") ||
        fail "jq failed on $file"
    [[ -z "$bad" ]] || fail "lines of $file that are not log objects: $bad"
    # fromjson? skipped nothing silently: count parsed objects as well.
    assert_eq "$(jq -R 'fromjson? | select(type == "object") | 1' "$file" | wc -l)" \
        "$(wc -l <"$file")" "JSON lines in $file"
}
ht_stop api
assert_eq "$HT_EXIT" 0 "the api's exit"
ht_stop w1
for f in "$HT_TMP/api.log" "$HT_TMP/api2.log" "$HT_TMP/w1.log"; do check_json_lines "$f"; done
log "request ids taken, made and echoed; access log on and off; every line JSON"
