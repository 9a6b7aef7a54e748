#!/usr/bin/env bash
# The blob store's s3: backend (shared/blob_s3.c) against a real server of
# the S3 REST protocol: s3rver 3.7 (npm) on a loopback port, driven through
# ht-blob-tool (tests/blob/blob_tool.c).  Every request of hangtight passes
# through tests/blob/sigv4_check.py, which recomputes its AWS Signature V4
# independently of libcurl (s3rver checks none) and refuses a wrong one.
# What hangtight wrote is read back with the AWS SDK for JavaScript
# (@aws-sdk/client-s3) as a second, independent client, straight from
# s3rver.  Covers: one-PUT blobs, multipart (8 parts of 5 MiB, digest
# unknown: staging object + copy; digest announced: straight to the key;
# from a file), ranges, HEAD metadata, fetch, list, delete, abort and
# digest mismatch and size cap leaving no object, an object written by
# another client, and the service stopped (stall timeout) or killed
# (refused) giving HT_EUNAVAIL quickly.
#
# s3rver, the SDK and their dependencies: ht_start_s3 (lib.sh).
source "$(dirname "$0")/lib.sh"

TOOL=$HT_BUILD_DIR/ht-blob-tool
[[ -x "$TOOL" ]] || fail "$TOOL is missing: build first"
ht_start_s3
export HANGTIGHT_S3_PART_MB=5
export HANGTIGHT_BLOB_TMPDIR=$HT_TMP
PREFIX=ht/

# blob ARGS... [< FILE]: runs the tool; sets OUT, ERR and RC.  A sanitizer
# report fails the test whatever the tool's status.
blob() {
    RC=0
    "$TOOL" "$@" >"$HT_TMP/out" 2>"$HT_TMP/err" || RC=$?
    OUT=$(head -c 65536 "$HT_TMP/out" | tr -d '\000')
    ERR=$(cat "$HT_TMP/err")
    if grep -qE 'Sanitizer|runtime error:' "$HT_TMP/err"; then
        fail "sanitizer report from ht-blob-tool $*: $ERR"
    fi
}
expect_ok() { ((RC == 0)) || fail "$1: ht-blob-tool failed ($RC): $ERR"; }
# expect_err CODE WHAT: the last call failed with HT_E* CODE.
expect_err() {
    ((RC == 1)) || fail "$2: expected $1 (status 1), got status $RC: $OUT $ERR"
    [[ "$ERR" == *"error=$1 "* ]] || fail "$2: expected $1, got: $ERR"
}
sdk() { NODE_NO_WARNINGS=1 node "$NPM_DIR/sdk.mjs" "http://127.0.0.1:$S3_PORT" "$BUCKET" "$@"; }
sha() { sha256sum "$1" | cut -c1-64; }
sdk_keys() { sdk list "$PREFIX" | jq -r '.keys[]'; }

head -c 1048576 /dev/urandom >"$HT_TMP/small"
head -c 41943040 /dev/urandom >"$HT_TMP/big" # 40 MiB: 8 parts of 5 MiB
SMALL_SHA=$(sha "$HT_TMP/small")
BIG_SHA=$(sha "$HT_TMP/big")

# ---- one PUT ------------------------------------------------------------------
blob --chunk 65536 --ctype text/plain put acme/job1/input <"$HT_TMP/small"
expect_ok "small put"
assert_eq "$(jq -r .sha256 <<<"$OUT")" "$SMALL_SHA" "small put: sha256"
assert_eq "$(jq -r .bytes <<<"$OUT")" 1048576 "small put: bytes"
blob stat acme/job1/input
expect_ok "small stat"
assert_eq "$(jq -r '[.bytes, .sha256, .content_type, .etag] | join(" ")' <<<"$OUT")" \
    "1048576 $SMALL_SHA text/plain \"$SMALL_SHA\"" "small stat"
head_json=$(sdk head "${PREFIX}acme/job1/input") || fail "sdk head"
assert_eq "$(jq -r '[.bytes, .content_type, .sha256_meta] | join(" ")' <<<"$head_json")" \
    "1048576 text/plain $SMALL_SHA" "SDK HEAD of the small blob (x-amz-meta-sha256, Content-Type)"
assert_eq "$(sdk get "${PREFIX}acme/job1/input" | jq -r .sha256)" "$SMALL_SHA" "SDK GET of the small blob"
grep -q "^OK PUT /$BUCKET/${PREFIX}acme/job1/input\$" "${HT_LOGS[sigv4]}" ||
    fail "the small blob did not go as one PUT"

# ---- multipart, digest unknown: staging object, then a copy with the metadata ----
blob --chunk 1048576 put acme/job1/output <"$HT_TMP/big"
expect_ok "multipart put"
assert_eq "$(jq -r .sha256 <<<"$OUT")" "$BIG_SHA" "multipart put: sha256"
parts=$(grep -cE "^OK PUT /$BUCKET/${PREFIX}acme/job1/output\\.tmp-[0-9a-f]{16}\\?partNumber=[0-9]+&uploadId=" \
    "${HT_LOGS[sigv4]}" || true)
assert_eq "$parts" 8 "parts uploaded for a 40 MiB blob with 5 MiB parts"
assert_eq "$(sdk get "${PREFIX}acme/job1/output" | jq -r '"\(.bytes) \(.sha256)"')" "41943040 $BIG_SHA" \
    "SDK GET of the multipart blob"
assert_eq "$(sdk head "${PREFIX}acme/job1/output" | jq -r .sha256_meta)" "$BIG_SHA" \
    "x-amz-meta-sha256 of the multipart blob"
sdk_keys | grep -q '\.tmp-' && fail "a staging object was left: $(sdk_keys)"

# ---- multipart, digest announced: straight to the final key ---------------------
blob --chunk 1048576 --sha256 "$BIG_SHA" --expect-bytes 41943040 put acme/job2/input <"$HT_TMP/big"
expect_ok "multipart put with an announced digest"
grep -q "^OK POST /$BUCKET/${PREFIX}acme/job2/input?uploads=\$" "${HT_LOGS[sigv4]}" ||
    fail "an announced digest should start the upload on the final key"
assert_eq "$(sdk get "${PREFIX}acme/job2/input" | jq -r .sha256)" "$BIG_SHA" "SDK GET of job2/input"

# ---- multipart from a file ---------------------------------------------------------
blob put-file acme/job2/output "$HT_TMP/big"
expect_ok "put-file"
assert_eq "$(sdk head "${PREFIX}acme/job2/output" | jq -r '"\(.bytes) \(.sha256_meta)"')" \
    "41943040 $BIG_SHA" "SDK HEAD of the put-file blob"
assert_eq "$(sdk get "${PREFIX}acme/job2/output" | jq -r .sha256)" "$BIG_SHA" "SDK GET of the put-file blob"
[[ -f "$HT_TMP/big" ]] || fail "put-file without --move took the source"

# ---- ranges ------------------------------------------------------------------------
check_range() { # OFF LEN: the tool's bytes are the file's
    blob get acme/job1/output "$1" "$2"
    expect_ok "get $1 $2"
    cmp -s "$HT_TMP/out" <(tail -c +$(($1 + 1)) "$HT_TMP/big" | head -c "$2") ||
        fail "bytes $1+$2 differ from the file"
}
check_range 0 1
check_range 5242870 20 # across the first part boundary
check_range 41943000 40
blob get acme/job1/output 41943000 1000 # clipped at the end
expect_ok "get past the end"
assert_eq "$(stat -c %s "$HT_TMP/out")" 40 "bytes of a range running past the end"
blob get acme/job1/output 41943040 10
expect_ok "get at the end"
assert_eq "$(stat -c %s "$HT_TMP/out")" 0 "bytes of a range starting at the end"
blob pread acme/job1/output 1000000 4096
expect_ok "pread"
cmp -s "$HT_TMP/out" <(tail -c +1000001 "$HT_TMP/big" | head -c 4096) || fail "pread bytes differ"
blob get acme/job1/output
expect_ok "whole get"
cmp -s "$HT_TMP/out" "$HT_TMP/big" || fail "whole get differs"

# ---- fetch: a local copy for a handler, checked ------------------------------------
blob fetch acme/job1/output
expect_ok "fetch"
[[ "$OUT" == "$HT_TMP"/* ]] || fail "fetch did not use HANGTIGHT_BLOB_TMPDIR: $OUT"
cmp -s "$OUT" "$HT_TMP/big" || fail "fetched copy differs"
rm -f "$OUT"
blob path acme/job1/output
expect_err HT_EINVAL "path on an s3 store"

# ---- an object written by another client -------------------------------------------
printf 'written by the SDK\n' >"$HT_TMP/foreign"
sdk put "${PREFIX}acme/job3/input" "$HT_TMP/foreign" text/csv >/dev/null || fail "sdk put"
blob stat acme/job3/input
expect_ok "stat of a foreign object"
assert_eq "$(jq -r '"\(.bytes) \(.content_type) [\(.sha256)]"' <<<"$OUT")" "19 text/csv []" \
    "stat of an object without x-amz-meta-sha256"
assert_match "$(jq -r .etag <<<"$OUT")" '^"[0-9a-f]{32}"$' "a foreign object's ETag is its own"
blob fetch acme/job3/input
expect_ok "fetch of a foreign object (size checked, no digest)"
cmp -s "$OUT" "$HT_TMP/foreign" || fail "fetched foreign copy differs"
rm -f "$OUT"

# ---- list and delete ---------------------------------------------------------------
blob list
expect_ok "list"
assert_eq "$(awk '{print $1, $2, $4}' <<<"$OUT" | sort | tr '\n' ,)" \
    "acme/job1/input 1048576 0,acme/job1/output 41943040 0,acme/job2/input 41943040 0,acme/job2/output 41943040 0,acme/job3/input 19 0," \
    "list of every blob"
now=$(date +%s)
while read -r _ _ mtime _; do
    ((mtime > now - 600 && mtime <= now + 5)) || fail "list mtime $mtime is not about now ($now)"
done <<<"$OUT"
blob put other/job9/input <"$HT_TMP/foreign"
expect_ok "put for tenant other"
blob list other
expect_ok "list other"
assert_eq "$OUT" "$(printf 'other/job9/input 19 %s 0' "$(awk '{print $3}' <<<"$OUT")")" "list of one tenant"
blob del acme/job1/input
expect_ok "delete"
blob stat acme/job1/input
expect_err HT_ENOTFOUND "stat after delete"
sdk head "${PREFIX}acme/job1/input" >/dev/null 2>&1 && fail "the SDK still sees a deleted blob"
blob del acme/job1/input
expect_ok "delete of a missing blob"
blob get acme/nope/input 0 10
expect_err HT_ENOTFOUND "get of a missing blob"

# ---- nothing left behind -----------------------------------------------------------
before=$(sdk_keys)
head -c 12582912 /dev/urandom >"$HT_TMP/twelve" # 2 parts sent, then closed without commit
blob --chunk 1048576 put-abort acme/job4/output <"$HT_TMP/twelve"
expect_ok "put-abort"
grep -qE "^OK PUT /$BUCKET/${PREFIX}acme/job4/output\\.tmp-[0-9a-f]{16}\\?partNumber=2&" "${HT_LOGS[sigv4]}" ||
    fail "the aborted writer should have sent two parts"
grep -qE "^OK DELETE /$BUCKET/${PREFIX}acme/job4/output\\.tmp-[0-9a-f]{16}\\?uploadId=" "${HT_LOGS[sigv4]}" ||
    fail "the aborted writer did not abort its multipart upload"
blob --chunk 1048576 --sha256 "$SMALL_SHA" put acme/job5/output <"$HT_TMP/twelve"
expect_err HT_EDIGEST "digest mismatch"
blob --sha256 "$BIG_SHA" put acme/job5/input <"$HT_TMP/small"
expect_err HT_EDIGEST "digest mismatch of a one-PUT blob"
blob --max 1000 put acme/job6/input <"$HT_TMP/small"
expect_err HT_ETOOBIG "over --max"
blob --max 1000 --expect-bytes 1048576 put acme/job6/input </dev/null
expect_err HT_ETOOBIG "announced size over --max"
blob --expect-bytes 5 put acme/job6/output <"$HT_TMP/foreign"
expect_err HT_EINVAL "announced size differs"
assert_eq "$(sdk_keys)" "$before" "objects after abort, digest mismatch, size cap"
blob stat ../etc/passwd
expect_err HT_EINVAL "a key that climbs"
blob stat 'acme/job1/input/..'
expect_err HT_EINVAL "a key with 4 parts"

# ---- the signatures: all checked, and a wrong one refused ----------------------------
ok=$(grep -c '^OK ' "${HT_LOGS[sigv4]}" || true)
((ok > 50)) || fail "only $ok requests passed the signature check"
grep -q '^FAIL ' "${HT_LOGS[sigv4]}" && fail "requests failed the signature check: $(grep '^FAIL ' "${HT_LOGS[sigv4]}" | head -5)"
AWS_SECRET_ACCESS_KEY=wrong blob stat acme/job2/input
expect_err EACCES "a wrong secret"
grep -q '^FAIL HEAD' "${HT_LOGS[sigv4]}" || fail "the signature check did not see the wrong secret"
HANGTIGHT_S3_ENDPOINT=http://127.0.0.1:$S3_PORT AWS_ACCESS_KEY_ID=NOBODY blob stat acme/job2/input
expect_err EACCES "an access key s3rver does not know"
log "$ok requests passed the SigV4 check"

# ---- the service stopped, then killed ------------------------------------------------
# Straight to s3rver: a stopped process still has its socket accept
# connections (the kernel's backlog) but answers nothing.
export HANGTIGHT_S3_ENDPOINT=http://127.0.0.1:$S3_PORT
kill -STOP "${HT_PIDS[s3rver]}"
t0=$(ht_ms)
HANGTIGHT_S3_STALL_TIMEOUT_S=2 blob stat acme/job2/input
t1=$(ht_ms)
kill -CONT "${HT_PIDS[s3rver]}"
expect_err HT_EUNAVAIL "stat with the service stopped"
(((t1 - t0) < 30000)) || fail "a stalled service took $((t1 - t0)) ms to report (stall timeout 2 s)"
log "stopped service: HT_EUNAVAIL after $((t1 - t0)) ms"
blob stat acme/job2/input
expect_ok "stat once the service runs again"
ht_stop s3rver KILL
t0=$(ht_ms)
blob --chunk 1048576 put acme/job7/input <"$HT_TMP/small"
t1=$(ht_ms)
expect_err HT_EUNAVAIL "put with the service killed"
(((t1 - t0) < 10000)) || fail "a refused connection took $((t1 - t0)) ms to report"
log "killed service: HT_EUNAVAIL after $((t1 - t0)) ms"
blob list
expect_err HT_EUNAVAIL "list with the service killed"
