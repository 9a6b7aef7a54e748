#!/usr/bin/env bash
# Files in and out of jobs on the s3: blob store, the worker side, against
# s3rver 3.7 (npm) behind the signature-checking proxy of ht_start_s3
# (tests/integration/lib.sh): gzip streams the input object and uploads
# its output in parts as it goes (no local copy), checksum streams the
# input; an exec handler gets a fetched copy of the input in
# HANGTIGHT_BLOB_TMPDIR and writes its output there, and both copies are
# gone after the attempt; a failed attempt leaves no object.  What the
# worker stored is read back with the AWS SDK for JavaScript.
source "$(dirname "$0")/lib.sh"

ht_start_s3
export HANGTIGHT_S3_PART_MB=5
export HANGTIGHT_S3_CONNECT_TIMEOUT_MS=500

cat >"$HT_TMP/upper.sh" <<'SH'
#!/bin/sh
tr a-z A-Z <"$HT_INPUT_PATH" >"$HT_OUTPUT_PATH" || exit 1
echo "{\"input\": \"$HT_INPUT_PATH\", \"output\": \"$HT_OUTPUT_PATH\"}"
[ "$(cat "$HT_INPUT_PATH")" = fail ] && echo '{"error": "asked to fail", "retry": false}'
exit 0
SH
chmod +x "$HT_TMP/upper.sh"
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"t.upper": {"command": ["$HT_TMP/upper.sh"]}}}
JSON
mkdir -p "$HT_TMP/wtmp"
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
export HANGTIGHT_BLOB_STORE=s3://$BUCKET/ht
export HANGTIGHT_S3_ENDPOINT=http://127.0.0.1:$SIGV4_PORT
export HANGTIGHT_S3_PART_MB=5
export HANGTIGHT_BLOB_TMPDIR=$HT_TMP/wtmp
export HANGTIGHT_UPLOAD_SPOOL_DIR=$HT_TMP/spool
ht_start_stack

sdk() { NODE_NO_WARNINGS=1 node "$NPM_DIR/sdk.mjs" "http://127.0.0.1:$S3_PORT" "$BUCKET" "$@"; }
sdk_keys() { sdk list "ht/default/$1/" | jq -r '.keys[]' | sed 's|.*/||' | sort | tr '\n' ' '; }
sha() { sha256sum "$1" | cut -c1-64; }
wtmp_files() { find "$HT_TMP/wtmp" -type f | wc -l; }

# ---- gzip: the output uploaded in parts as it is made -----------------------
head -c $((8 << 20)) /dev/urandom >"$HT_TMP/big"
head -c $((8 << 20)) /dev/zero >>"$HT_TMP/big"
BIG_SHA=$(sha "$HT_TMP/big")
ht_http POST '/v1/jobs?type=gzip' "" -T "$HT_TMP/big" -H 'Prefer: wait=120'
assert_status 201 "gzip on s3"
G=$(ht_json .id)
assert_eq "$(ht_header Location)" "/v1/jobs/$G/output" "Location"
OUT_SHA=$(ht_json .output.sha256)
grep -q "^OK POST /$BUCKET/ht/default/$G/output-1?uploadId=" "${HT_LOGS[sigv4]}" ||
    grep -q "^OK PUT /$BUCKET/ht/default/$G/output-1" "${HT_LOGS[sigv4]}" ||
    fail "the output did not reach the bucket as output-1: $(grep "$G" "${HT_LOGS[sigv4]}")"
assert_eq "$(sdk get "ht/default/$G/output-1" | jq -r .sha256)" "$OUT_SHA" "SDK: the output object's bytes"
assert_eq "$(sdk head "ht/default/$G/output-1" | jq -r '"\(.content_type) \(.sha256_meta)"')" \
    "application/gzip $OUT_SHA" "SDK: the output object's content type and SHA-256"
assert_eq "$(curl -s "$HT_URL/v1/jobs/$G/output" | gunzip -c | sha256sum | cut -c1-64)" "$BIG_SHA" \
    "the output gunzips to the input"
assert_eq "$(wtmp_files)" 0 "gzip made no local copy"

# ---- checksum streams the input object --------------------------------------
ht_http POST '/v1/jobs?type=checksum' "" -T "$HT_TMP/big" -H 'Prefer: wait=120'
assert_status 200 "checksum on s3"
assert_json .result.sha256 "$BIG_SHA" "checksum = sha256sum"
assert_json .result.bytes $((16 << 20))

# ---- exec: a fetched input copy, a local output, both gone afterwards -------
printf 'hello, s3' >"$HT_TMP/small"
ht_http POST '/v1/jobs?type=t.upper' "" -T "$HT_TMP/small" -H 'Prefer: wait=60'
assert_status 201 "exec on s3"
U=$(ht_json .id)
assert_match "$(ht_json .result.input)" "^$HT_TMP/wtmp/" "HT_INPUT_PATH: a copy in HANGTIGHT_BLOB_TMPDIR"
assert_match "$(ht_json .result.output)" "^$HT_TMP/wtmp/" "HT_OUTPUT_PATH in HANGTIGHT_BLOB_TMPDIR"
assert_eq "$(curl -s "$HT_URL/v1/jobs/$U/output")" "HELLO, S3" "the exec output"
assert_eq "$(sdk_keys "$U")" "input output-1 " "the exec job's objects"
assert_eq "$(wtmp_files)" 0 "the input copy and the output file are removed"

printf 'fail' >"$HT_TMP/failing"
ht_http POST '/v1/jobs?type=t.upper' "" -T "$HT_TMP/failing" -H 'Prefer: wait=60'
assert_status 200 "a failed exec job on s3"
F=$(ht_json .id)
assert_json .status failed
assert_eq "$(sdk_keys "$F")" "input " "no output object of a failed job"
assert_eq "$(wtmp_files)" 0 "nothing left locally by the failed job"
