#!/usr/bin/env bash
# The CLI's job files (docs/cli.md): `hangtight submit TYPE --file PATH`
# (options and payload in the query string, the file streamed; --wait in
# sync mode) and `hangtight download ID [-o PATH] [--input]` (to a file
# renamed into place once whole and checked, or to stdout), with the
# server's refusals as exit status 1 and usage mistakes as 2.
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_BLOB_STORE=dir:$HT_TMP/blobs
ht_start_stack --workers 1
head -c 3000000 /dev/urandom >"$HT_TMP/a.bin"
A_SHA=$(sha256sum "$HT_TMP/a.bin" | cut -c1-64)
cli() { "$HT_CLI_BIN" "$@"; }
# cli_status CMD...: runs the CLI, sets RC (set -e would stop at a failure).
cli_status() {
    RC=0
    "$HT_CLI_BIN" "$@" >"$HT_TMP/out" 2>"$HT_TMP/err" || RC=$?
}

cli submit echo '{"n": 1}' --file "$HT_TMP/a.bin" --content-type text/plain --priority high \
    --max-attempts 2 --ttl-s 600 >"$HT_TMP/doc.json"
assert_eq "$(jq -r '[.input.bytes, .input.sha256, .input.content_type, .priority, .max_attempts, .ttl_s] | join(" ")' "$HT_TMP/doc.json")" \
    "3000000 $A_SHA text/plain high 2 600" "submit --file: the job with its input and options"
ID=$(jq -r .id "$HT_TMP/doc.json")
assert_eq "$(ht_job_hget "$ID" payload)" '{"n":1}' "the payload went along"

cli download "$ID" --input -o "$HT_TMP/back.bin"
cmp -s "$HT_TMP/a.bin" "$HT_TMP/back.bin" || fail "download --input -o: not the same bytes"
[[ -e "$HT_TMP/back.bin.part" ]] && fail "the .part file is left"
assert_eq "$(cli download "$ID" --input | sha256sum | cut -c1-64)" "$A_SHA" "download to stdout"

cli_status download "$ID" -o "$HT_TMP/none"
assert_eq "$RC" 1 "no output file: refused by the server"
assert_match "$(cat "$HT_TMP/err")" 'no output file' "says why"
[[ -e "$HT_TMP/none" || -e "$HT_TMP/none.part" ]] && fail "a refused download left a file"

cli submit echo --file "$HT_TMP/a.bin" --wait=20 >"$HT_TMP/sync.json"
assert_eq "$(jq -r '[.status, .input.bytes] | join(" ")' "$HT_TMP/sync.json")" "succeeded 3000000" \
    "submit --file --wait: the finished job"

cli_status submit no.such.type --file "$HT_TMP/a.bin"
assert_eq "$RC" 1 "unknown type: refused"
assert_match "$(cat "$HT_TMP/err")" 'unknown_type' "the 422 is shown"
cli_status submit echo --file "$HT_TMP/nothing-here"
assert_eq "$RC" 2 "a missing file is a usage error"
cli_status submit echo 'not json' --file "$HT_TMP/a.bin"
assert_eq "$RC" 2 "a payload that is not JSON is a usage error"
cli_status download
assert_eq "$RC" 2 "download without an id"

ht_http GET /v1/queues
assert_json '.queues[0].totals.submitted' 2 "only the two good submits made jobs"
