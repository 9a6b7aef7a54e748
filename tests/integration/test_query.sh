#!/usr/bin/env bash
# Query strings: every endpoint that reads one (the listing, ?wait= on
# submit and poll, ?last_event_id= on the event stream) decodes it with the
# one parser (shared/query.h): %XX escapes in names and values, and a
# malformed escape is a 400 problem naming the parameter, never a guess.
source "$(dirname "$0")/lib.sh"

ht_start_redis
ht_migrate
ht_start_api
ht_start_worker w1

# ---- malformed escapes: 400 problem+json on every endpoint that reads them
ht_submit '{"type": "echo", "payload": {"n": 1}}'
id=$HT_JOB
wait_until 15 "the echo job succeeds" ht_job_is "$id" succeeded

for q in 'wait=5%' 'wait=%G1' 'x=%4' 'wait=%00' 'a=1&b=%zz'; do
    ht_http POST "/v1/jobs?$q" '{"type": "echo"}'
    assert_problem 400 "POST /v1/jobs?$q"
    assert_match "$(ht_json .detail)" "malformed" "POST /v1/jobs?$q: detail"
    ht_http GET "/v1/jobs/$id?$q"
    assert_problem 400 "GET /v1/jobs/{id}?$q"
    ht_http GET "/v1/jobs/$id/events?$q"
    assert_problem 400 "GET /v1/jobs/{id}/events?$q"
    ht_http GET "/v1/jobs?$q"
    assert_problem 400 "GET /v1/jobs?$q"
done
ht_http GET "/v1/jobs/$id?wait=5%"
assert_match "$(ht_json .detail)" "'wait=5%'" "the detail names the parameter as sent"
# Nothing was submitted by the refused requests.
ht_http GET '/v1/jobs?limit=100'
assert_json '.jobs | length' 1 "jobs after the refused submits"

# ---- escapes decode, in names and values alike ---------------------------
# ?wait= spelled with escapes holds the request until the job is done.
ht_http POST '/v1/jobs?wa%69t=%31%30' '{"type": "echo", "payload": {"n": 2}}'
assert_status 200 "a held submit with ?wa%69t=%31%30"
assert_json .status succeeded
assert_eq "$(ht_header Preference-Applied)" "wait=10" "Preference-Applied"
# A valid escape in a parameter the poll does not read is no error.
ht_http GET "/v1/jobs/$id?x=%41"
assert_status 200 "a poll with ?x=%41"
assert_json .id "$id"
# The listing's filters decode the same way: '+' is a space, %2B a plus.
ht_http GET '/v1/jobs?st%61tus=succ%65eded&type=%65cho'
assert_status 200 "an escaped listing filter"
assert_json '.jobs | length' 2 "succeeded echo jobs"
ht_http GET '/v1/jobs?type=echo+'
assert_problem 400 "type 'echo ' ('+' is a space)"
assert_match "$(ht_json .detail)" '^type must match' "type 'echo ': detail"

# ---- ?last_event_id= decodes too ------------------------------------------
sse() {
    python3 "$HT_CLIENTS_DIR/sse.py" "$HT_URL$1" --timeout 10
}
events() { jq -s '[.[] | select(.event != null)] | length' "$1"; }
sse "/v1/jobs/$id/events" >"$HT_TMP/all.jsonl"
assert_eq "$(events "$HT_TMP/all.jsonl")" 1 "no id: one status event with the document"
newest=$(jq -rs '[.[] | select(.event != null)][0].id' "$HT_TMP/all.jsonl")
assert_match "$newest" '^[0-9]+-0$' "the event id"
# Resuming from the newest entry of a finished job: nothing more to send.
sse "/v1/jobs/$id/events?last_event_id=${newest%-0}%2D0" >"$HT_TMP/resumed.jsonl"
assert_eq "$(events "$HT_TMP/resumed.jsonl")" 0 "resumed from an escaped event id"
assert_eq "$(jq -rs '.[-1].end' "$HT_TMP/resumed.jsonl")" eof "the stream ended"
# Not an event id: ignored, the stream starts from the current state.
sse "/v1/jobs/$id/events?last_event_id=nope" >"$HT_TMP/ignored.jsonl"
assert_eq "$(events "$HT_TMP/ignored.jsonl")" 1 "an id that is not one is ignored"
