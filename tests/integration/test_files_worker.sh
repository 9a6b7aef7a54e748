#!/usr/bin/env bash
# Files in and out of jobs, the worker side (DESIGN.md "Files",
# docs/files.md), on the dir: blob store with the real api, worker,
# redis-server and curl: the built-in gzip (a file sent with curl -T and
# Prefer: wait, 102s then 201 Created with the output's Location, whose
# download gunzips to the same SHA-256; progress by bytes) and checksum
# (the SHA-256 sha256sum gives); an exec handler using HT_INPUT_PATH and
# HT_OUTPUT_PATH with its own content type; a persistent Python handler
# writing its output from the job line's paths; a retried attempt that
# wrote a partial output before failing (only the retry's output is kept,
# attempt 1's file is gone); outputs of failed and canceled jobs neither
# kept nor left on disk; checksum and gzip of a job without an input fail
# at once with a clear error; a gzip canceled mid-file stops and ends
# canceled, its partial output removed.
source "$(dirname "$0")/lib.sh"

BLOBS=$HT_TMP/blobs
cat >"$HT_TMP/upper.sh" <<'SH'
#!/bin/sh
# Upper-cases the input into the output, with its own content type.
tr a-z A-Z <"$HT_INPUT_PATH" >"$HT_OUTPUT_PATH" || exit 1
echo '{"output_content_type": "text/plain; charset=us-ascii"}'
echo "{\"input\": \"$HT_INPUT_PATH\", \"output\": \"$HT_OUTPUT_PATH\"}"
SH
cat >"$HT_TMP/flaky.sh" <<'SH'
#!/bin/sh
# Attempt 1 writes half an output and fails (retryable); attempt 2 writes
# the whole one.
echo "$HT_OUTPUT_PATH" >>"$0.paths"
if [ "$HANGTIGHT_ATTEMPT" = 1 ]; then
    printf 'partial output of attempt 1' >"$HT_OUTPUT_PATH"
    echo '{"error": "went wrong half-way", "retry": true}'
    exit 1
fi
printf 'the whole output of attempt %s' "$HANGTIGHT_ATTEMPT" >"$HT_OUTPUT_PATH"
echo '{"done": true}'
SH
cat >"$HT_TMP/failout.sh" <<'SH'
#!/bin/sh
# Writes an output, then fails for good.
echo "$HT_OUTPUT_PATH" >>"$0.paths"
printf 'never to be kept' >"$HT_OUTPUT_PATH"
echo '{"error": "bad input", "retry": false}'
SH
cat >"$HT_TMP/slowout.sh" <<'SH'
#!/bin/sh
# Writes its output slowly, until stopped.
echo "$HT_OUTPUT_PATH" >>"$0.paths"
i=0
while [ $i -lt 600 ]; do
    printf 'line %s\n' $i >>"$HT_OUTPUT_PATH"
    echo "{\"progress\": $((i / 6))}"
    i=$((i + 1))
    sleep 0.1
done
SH
cat >"$HT_TMP/reverse.py" <<'PY'
# A persistent handler: writes the input's bytes reversed, in 64 KiB pieces,
# to output_path, reporting progress by bytes.
import json, os, sys
for line in sys.stdin:
    job = json.loads(line)
    size = os.path.getsize(job["input_path"])
    done = 0
    with open(job["input_path"], "rb") as src, open(job["output_path"], "wb") as dst:
        pos = size
        while pos > 0:
            n = min(65536, pos)
            pos -= n
            src.seek(pos)
            dst.write(src.read(n)[::-1])
            done += n
            print(json.dumps({"id": job["id"], "progress": done * 100 / size}), flush=True)
    print(json.dumps({"id": job["id"], "result": {"bytes": size},
                      "output_content_type": "application/x-reversed"}), flush=True)
PY
chmod +x "$HT_TMP"/*.sh
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {
  "t.upper":   {"command": ["$HT_TMP/upper.sh"]},
  "t.flaky":   {"command": ["$HT_TMP/flaky.sh"]},
  "t.failout": {"command": ["$HT_TMP/failout.sh"]},
  "t.slowout": {"command": ["$HT_TMP/slowout.sh"]},
  "t.reverse": {"command": ["python3", "$HT_TMP/reverse.py"], "mode": "persistent", "processes": 1}
}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
export HANGTIGHT_BLOB_STORE=dir:$BLOBS
export HANGTIGHT_RETRY_BASE_MS=100
export HANGTIGHT_RETRY_MAX_MS=200
ht_start_stack --worker-args --concurrency 2

sha() { sha256sum "$1" | cut -c1-64; }
# Committed blobs of job $1 (names), and what is in the store's tmp/.
blobs_of() { (cd "$BLOBS/blobs/default/$1" 2>/dev/null && ls | grep -v '\.meta$' | sort | tr '\n' ' '); }
tmp_files() { find "$BLOBS/tmp" -type f | wc -l; }
# up TYPE FILE [CURL ARGS...]: a file submit.
up() {
    local type=$1 f=$2
    shift 2
    ht_http POST "/v1/jobs?type=$type" "" -T "$f" "$@"
}
finished() { ht_job_is "$1" "$2"; }

# ---- gzip: 102s, then 201 Created with the output's Location --------------
head -c $((24 << 20)) /dev/urandom >"$HT_TMP/big.bin"
head -c $((8 << 20)) /dev/zero >>"$HT_TMP/big.bin" # a compressible tail
BIG_SHA=$(sha "$HT_TMP/big.bin")
curl -s -v -X POST -T "$HT_TMP/big.bin" -H 'Prefer: wait=120' -o "$HT_TMP/gz.json" \
    "$HT_URL/v1/jobs?type=gzip" 2>"$HT_TMP/gz.v"
grep -q '^< HTTP/1.1 201 Created' "$HT_TMP/gz.v" || fail "gzip sync submit: $(grep '^< HTTP' "$HT_TMP/gz.v") $(cat "$HT_TMP/gz.json")"
G=$(jq -r .id "$HT_TMP/gz.json")
loc=$(tr -d '\r' <"$HT_TMP/gz.v" | awk -F': ' 'tolower($1) == "< location" { print $2 }')
assert_eq "$loc" "/v1/jobs/$G/output" "Location of the gzip output"
jq -e '.status == "succeeded" and .output.content_type == "application/gzip"
    and .result.bytes_in == 33554432 and .result.bytes_out == .output.bytes
    and .progress.percent == 100 and (.progress.message | startswith("compressed 32.0 of 32.0 MiB"))' \
    "$HT_TMP/gz.json" >/dev/null || fail "gzip job document: $(cat "$HT_TMP/gz.json")"
curl -sf -o "$HT_TMP/big.gz" "$HT_URL$loc" || fail "download of the gzip output"
assert_eq "$(sha "$HT_TMP/big.gz")" "$(jq -r .output.sha256 "$HT_TMP/gz.json")" "output sha256 as documented"
assert_eq "$(gunzip -c "$HT_TMP/big.gz" | sha256sum | cut -c1-64)" "$BIG_SHA" "gunzipped output has the input's SHA-256"
assert_eq "$(blobs_of "$G")" "input output-1 " "the gzip job's blobs"
assert_eq "$(tmp_files)" 0 "nothing left in the store's tmp/"
# The output's bytes by range, as any download.
assert_eq "$(curl -s -r 0-1 "$HT_URL$loc" | od -An -tx1 | tr -d ' ')" 1f8b "the gzip magic by range"

# gzip with a level: the payload as a query parameter.
up 'gzip&payload=%7B%22level%22%3A1%7D' "$HT_TMP/big.bin" -H 'Prefer: wait=120'
assert_status 201 "gzip level 1"
assert_eq "$(curl -s "$HT_URL/v1/jobs/$(ht_json .id)/output" | gunzip -c | sha256sum | cut -c1-64)" \
    "$BIG_SHA" "level 1 output gunzips to the input"
up 'gzip&payload=%7B%22level%22%3A12%7D' "$HT_TMP/big.bin" -H 'Prefer: wait=60'
assert_status 200 "a gzip that fails answers 200"
assert_json .status failed
assert_json .error.code invalid_payload "level 12"
assert_jq '.output == null' "no output from a refused level"

# ---- checksum ---------------------------------------------------------------
up checksum "$HT_TMP/big.bin" -H 'Prefer: wait=120'
assert_status 200 "checksum: no output file, 200"
assert_json .result.sha256 "$BIG_SHA" "checksum = sha256sum"
assert_json .result.bytes 33554432 "checksum bytes"
assert_jq '.output == null' "checksum leaves no output"
printf '' >"$HT_TMP/empty"
up checksum "$HT_TMP/empty" -H 'Prefer: wait=60'
assert_json .result.sha256 "$(sha "$HT_TMP/empty")" "checksum of an empty file"
assert_json .result.bytes 0 "checksum of an empty file: bytes"

# ---- no input: a permanent, clear failure -----------------------------------
for t in checksum gzip; do
    ht_http POST '/v1/jobs' "{\"type\": \"$t\", \"max_attempts\": 3}" -H 'Prefer: wait=60'
    assert_json .status failed "$t without input"
    assert_json .error.code no_input "$t without input: code"
    assert_match "$(ht_json .error.message)" "needs an input file" "$t without input: message"
    assert_json .attempt 1 "$t without input is not retried"
done

# ---- exec handler: HT_INPUT_PATH and HT_OUTPUT_PATH -------------------------
printf 'hello, files\n' >"$HT_TMP/small.txt"
up t.upper "$HT_TMP/small.txt" -H 'Prefer: wait=60' -H 'Content-Type: text/plain'
assert_status 201 "exec handler with an output"
U=$(ht_json .id)
assert_json .result.input "$BLOBS/blobs/default/$U/input" "HT_INPUT_PATH is the blob's own file"
assert_match "$(ht_json .result.output)" "^$BLOBS/tmp/[0-9a-f]{32}\\.out\$" "HT_OUTPUT_PATH in the store's tmp/"
assert_json .output.content_type 'text/plain; charset=us-ascii' "the content type the handler set"
assert_eq "$(curl -s "$HT_URL/v1/jobs/$U/output")" "HELLO, FILES" "the exec output"
assert_eq "$(curl -s "$HT_URL/v1/jobs/$U/input")" "hello, files" "the input is unchanged"
assert_eq "$(tmp_files)" 0 "the exec output was moved, not copied"

# ---- persistent handler: input_path and output_path in the job line --------
head -c 300000 /dev/urandom >"$HT_TMP/rev.bin"
up t.reverse "$HT_TMP/rev.bin" -H 'Prefer: wait=60'
assert_status 201 "persistent handler with an output"
R=$(ht_json .id)
assert_json .result.bytes 300000
assert_json .output.content_type application/x-reversed "the content type from the result line"
assert_json .progress.percent 100 "progress by bytes"
python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.stdout.buffer.write(d[::-1])' \
    "$HT_TMP/rev.bin" >"$HT_TMP/rev.want"
curl -s -o "$HT_TMP/rev.got" "$HT_URL/v1/jobs/$R/output"
assert_eq "$(sha "$HT_TMP/rev.got")" "$(sha "$HT_TMP/rev.want")" "the persistent handler's output"

# A JSON job gets no HT_INPUT_PATH: this handler, which needs one, fails
# (and is retried, as any exec handler's failure).
ht_http POST '/v1/jobs' '{"type": "t.upper"}' -H 'Prefer: wait=60'
assert_json .status failed "t.upper without an input"
assert_json .attempt 3 "a handler's own failure is retried"

# ---- a retried attempt starts clean -----------------------------------------
up 't.flaky&max_attempts=3' "$HT_TMP/small.txt"
F=$(ht_json .id)
wait_until 30 "the flaky job succeeds" finished "$F" succeeded
assert_json .attempt 2
assert_eq "$(curl -s "$HT_URL/v1/jobs/$F/output")" "the whole output of attempt 2" "only the retry's output"
assert_json .output.bytes 29
assert_eq "$(ht_job_hget "$F" output | cut -d' ' -f3)" output-2 "the output blob is named by its attempt"
assert_eq "$(blobs_of "$F")" "input output-2 " "no blob of attempt 1"
first=$(head -1 "$HT_TMP/flaky.sh.paths")
[[ -n "$first" && ! -e "$first" ]] || fail "attempt 1's output file $first is still there"
assert_ne "$first" "$(sed -n 2p "$HT_TMP/flaky.sh.paths")" "each attempt has an output path of its own"
assert_eq "$(tmp_files)" 0 "nothing left in tmp/ after the retry"

# ---- failed and canceled: nothing kept, nothing left ------------------------
up t.failout "$HT_TMP/small.txt" -H 'Prefer: wait=60'
assert_status 200 "a failed job: 200, not 201"
X=$(ht_json .id)
assert_json .status failed
assert_jq '.output == null' "no output of a failed job"
assert_eq "$(blobs_of "$X")" "input " "no output blob of a failed job"
p=$(cat "$HT_TMP/failout.sh.paths")
[[ -n "$p" && ! -e "$p" ]] || fail "the failed job's output file $p is still there"

up t.slowout "$HT_TMP/small.txt"
C=$(ht_json .id)
has_output_file() { [[ -s "$HT_TMP/slowout.sh.paths" && -s "$(cat "$HT_TMP/slowout.sh.paths")" ]]; }
wait_until 30 "the slow handler writes its output" has_output_file
ht_http DELETE "/v1/jobs/$C"
assert_status 202 "cancel of the running job"
wait_until 30 "the job is canceled" finished "$C" canceled
assert_jq '.output == null' "no output of a canceled job"
assert_eq "$(blobs_of "$C")" "input " "no output blob of a canceled job"
p=$(cat "$HT_TMP/slowout.sh.paths")
gone_file() { [[ ! -e "$1" ]]; }
wait_until 10 "the canceled job's output file is removed" gone_file "$p"
assert_eq "$(tmp_files)" 0 "nothing left in tmp/"

# ---- a built-in stops when asked: a canceled gzip ends canceled ------------
# Had it not stopped, it would finish and end succeeded (a handler that
# returns OK despite a cancel keeps its work).
head -c $((64 << 20)) /dev/urandom >"$HT_TMP/huge.bin"
up 'gzip&payload=%7B%22level%22%3A9%7D' "$HT_TMP/huge.bin"
Z=$(ht_json .id)
compressing() {
    ht_http GET "/v1/jobs/$Z"
    [[ "$(ht_json .status)" == running && "$(ht_json '.progress.percent // 0')" -ge 1 ]]
}
wait_until 60 "the gzip job reports progress" compressing
assert_match "$(ht_json .progress.message)" "^compressed [0-9.]+ of 64.0 MiB$" "progress message by bytes"
ht_http DELETE "/v1/jobs/$Z"
assert_status 202 "cancel of the running gzip"
wait_until 30 "the gzip job is canceled" finished "$Z" canceled
assert_jq '.output == null' "no output of the canceled gzip"
assert_eq "$(blobs_of "$Z")" "input " "no output blob of the canceled gzip"
assert_eq "$(tmp_files)" 0 "the canceled gzip's partial output is gone"
