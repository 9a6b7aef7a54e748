#!/usr/bin/env bash
# echo returns its payload exactly: nesting, unicode, escapes, numbers.
source "$(dirname "$0")/lib.sh"

ht_start_stack

payload='{"name": "Zoë 🚀 日本語", "nested": {"list": [1, 2.5, -3, true, false, null,
  {"deep": ["a\"quote", "back\\slash", "tab\there", "nl\nhere"]}], "empty": {}, "none": []},
  "big": 9007199254740991, "esc": "\u00e9\u001fx"}'
body=$(jq -cn --argjson p "$payload" '{type: "echo", payload: $p, metadata: {"k": "v ü"}}')
ht_submit "$body"
id=$HT_JOB
assert_json .metadata.k "v ü" "metadata returned as given"
wait_until 15 "the echo job succeeds" ht_job_is "$id" succeeded
assert_eq "$(jq -S .result <<<"$HTTP_BODY")" "$(jq -S . <<<"$payload")" "echo result"

# A payload that is not an object is echoed too.
ht_submit '{"type": "echo", "payload": ["a", 1, {"b": null}]}'
id=$HT_JOB
wait_until 15 "the array echo job succeeds" ht_job_is "$id" succeeded
assert_eq "$(jq -c .result <<<"$HTTP_BODY")" '["a",1,{"b":null}]' "array echo result"

# No payload at all: the default {} comes back.
ht_submit '{"type": "echo"}'
id=$HT_JOB
wait_until 15 "the empty echo job succeeds" ht_job_is "$id" succeeded
assert_eq "$(jq -c .result <<<"$HTTP_BODY")" '{}' "default payload echo"
