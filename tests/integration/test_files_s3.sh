#!/usr/bin/env bash
# Files in jobs on the s3: blob store, against s3rver 3.7 (npm) behind the
# signature-checking proxy of ht_start_s3 (tests/integration/lib.sh):
# a file submit stored in one PUT and one in parts (with and without
# Content-Digest), read back whole and by ranges through the api's stream
# of ranged GETs, and with the AWS SDK for JavaScript as a second client;
# HEAD; a digest mismatch and an idempotent replay leave no object; the
# service down gives 503 with Retry-After, for an upload (nothing kept) and
# for a download.
source "$(dirname "$0")/lib.sh"

ht_start_s3
export HANGTIGHT_S3_PART_MB=5
export HANGTIGHT_S3_CONNECT_TIMEOUT_MS=500
export HANGTIGHT_BLOB_TMPDIR=$HT_TMP
export HANGTIGHT_UPLOAD_SPOOL_DIR=$HT_TMP/spool
ht_start_stack --workers 0

sdk() { NODE_NO_WARNINGS=1 node "$NPM_DIR/sdk.mjs" "http://127.0.0.1:$S3_PORT" "$BUCKET" "$@"; }
sdk_keys() { sdk list ht/ | jq -r '.keys[]' | sort; }
sha() { sha256sum "$1" | cut -c1-64; }
head -c 300000 /dev/urandom >"$HT_TMP/small"
head -c $((12 << 20)) /dev/urandom >"$HT_TMP/big" # 3 parts of 5 MiB
SMALL_SHA=$(sha "$HT_TMP/small")
BIG_SHA=$(sha "$HT_TMP/big")

# ---- in and out ------------------------------------------------------------

ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/small" -H 'Content-Type: image/png'
assert_status 202 "small file submit"
S=$(ht_json .id)
assert_json .input.sha256 "$SMALL_SHA" "small: sha256"
grep -q "^OK PUT /$BUCKET/ht/default/$S/input\$" "${HT_LOGS[sigv4]}" || fail "the small file did not go as one PUT"
assert_eq "$(sdk head "ht/default/$S/input" | jq -r '[.bytes, .content_type, .sha256_meta] | join(" ")')" \
    "300000 image/png $SMALL_SHA" "SDK HEAD of the small file"

ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/big"
assert_status 202 "multipart file submit, no digest"
B=$(ht_json .id)
assert_json .input.sha256 "$BIG_SHA" "big: sha256"
assert_eq "$(sdk get "ht/default/$B/input" | jq -r '"\(.bytes) \(.sha256)"')" "$((12 << 20)) $BIG_SHA" \
    "SDK GET of the multipart file"
ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/big" \
    -H "Content-Digest: sha-256=:$(openssl dgst -sha256 -binary "$HT_TMP/big" | base64):"
assert_status 202 "multipart file submit with Content-Digest"
D=$(ht_json .id)
grep -q "^OK POST /$BUCKET/ht/default/$D/input?uploads=\$" "${HT_LOGS[sigv4]}" ||
    fail "with a digest the parts should go straight to the final key"

assert_eq "$(curl -s "$HT_URL/v1/jobs/$B/input" | sha256sum | cut -c1-64)" "$BIG_SHA" "download of the big file"
assert_eq "$(curl -s "$HT_URL/v1/jobs/$S/input" | sha256sum | cut -c1-64)" "$SMALL_SHA" "download of the small file"
part_sha() { tail -c +$(($2 + 1)) "$1" | head -c "$3" | sha256sum | cut -c1-64; }
got=$(curl -s -H 'Range: bytes=5242870-5242899' "$HT_URL/v1/jobs/$B/input" | sha256sum | cut -c1-64)
assert_eq "$got" "$(part_sha "$HT_TMP/big" 5242870 30)" "a range across a part boundary"
# The api reads S3 in ranged GETs of 4 MiB: this one takes two and a bit.
got=$(curl -s -H 'Range: bytes=-9000000' "$HT_URL/v1/jobs/$B/input" | sha256sum | cut -c1-64)
assert_eq "$got" "$(part_sha "$HT_TMP/big" $(((12 << 20) - 9000000)) 9000000)" "a suffix range over three reads"
code=$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' "$HT_URL/v1/jobs/$B/input")
assert_eq "$code" "200 0" "HEAD"

# ---- nothing left ------------------------------------------------------------

before=$(sdk_keys)
ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/big" \
    -H 'Content-Digest: sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'
assert_problem 400 "digest mismatch"
ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/small" -H 'Idempotency-Key: s3-1'
assert_status 202 "keyed submit"
first=$(ht_json .id)
ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/small" -H 'Idempotency-Key: s3-1'
assert_json .id "$first" "replay"
want=$(printf '%s\nht/default/%s/input\n' "$before" "$first" | sort)
keys_are() { [[ "$(sdk_keys)" == "$1" ]]; }
wait_until 20 "only the keyed submit's object is new" keys_are "$want"

# ---- the service down ----------------------------------------------------------

ht_stop s3rver KILL
ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/small"
assert_problem 503 "upload with S3 down"
assert_eq "$(ht_header Retry-After)" 5 "503 says when to come back"
ht_http GET "/v1/jobs/$S/input"
assert_problem 503 "download with S3 down"
assert_eq "$(ht_header Retry-After)" 5 "download 503 says when to come back"
ht_http GET /v1/queues
assert_json '.queues[0].totals.submitted' 4 "no job from the failed upload"
