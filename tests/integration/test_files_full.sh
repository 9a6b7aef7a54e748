#!/usr/bin/env bash
# A full disk under the blob store is a 507 problem, and leaves nothing
# half-written: the api runs in a mount namespace of its own whose blob
# directory is a 4 MiB tmpfs.  An upload announced bigger than the room is
# refused when its writer opens (fallocate), before the body is sent (no
# 100 Continue); a chunked one fails when the disk fills mid-body; an
# HTTP/2 one (through h2o's spool file, kept on a disk here) when its copy
# does.  Afterwards the store holds no partial file and a small upload
# still works.
source "$(dirname "$0")/lib.sh"

unshare --mount true 2>/dev/null || ht_skip "needs a mount namespace (root, or unprivileged user namespaces)"
BLOBS=$HT_TMP/blobs
mkdir -p "$BLOBS" "$HT_TMP/spool"
# The api, in a mount namespace where $BLOBS is a 4 MiB tmpfs.
cat >"$HT_TMP/api-small-disk" <<EOF
#!/bin/sh
exec unshare --mount --propagation private sh -c 'mount -t tmpfs -o size=4m tmpfs "\$0" && exec "\$@"' \\
    "$BLOBS" "$HT_API_BIN" "\$@"
EOF
chmod +x "$HT_TMP/api-small-disk"
HT_API_BIN=$HT_TMP/api-small-disk
export HANGTIGHT_BLOB_STORE=dir:$BLOBS
export HANGTIGHT_UPLOAD_SPOOL_DIR=$HT_TMP/spool
ht_start_stack --workers 0
API_ROOT=/proc/${HT_PIDS[api]}/root # the api's view of the file system
[[ "$(stat -f -c %T "$API_ROOT$BLOBS")" == tmpfs ]] || fail "the blob directory is not the small tmpfs"
leftovers() { find "$API_ROOT$BLOBS" -type f | wc -l; }
head -c $((8 << 20)) /dev/urandom >"$HT_TMP/big.bin"
head -c $((1 << 20)) /dev/urandom >"$HT_TMP/small.bin"

curl -s -v -o "$HT_TMP/o" -T "$HT_TMP/big.bin" -X POST "$HT_URL/v1/jobs?type=echo" 2>"$HT_TMP/v"
grep -q '^< HTTP/1.1 507' "$HT_TMP/v" || fail "an upload bigger than the disk: $(cat "$HT_TMP/v" "$HT_TMP/o")"
grep -q '^< HTTP/1.1 100' "$HT_TMP/v" && fail "a 100 Continue came before the 507"
assert_eq "$(jq -r '.type' "$HT_TMP/o")" urn:hangtight:problem:insufficient-storage "507 problem type"
assert_eq "$(leftovers)" 0 "nothing left by the refused upload"

ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/big.bin" -H 'Transfer-Encoding: chunked'
assert_problem 507 "a chunked upload that fills the disk"
assert_eq "$(leftovers)" 0 "nothing left by the chunked upload"

code=$(curl -s --http2-prior-knowledge -o "$HT_TMP/o" -w '%{http_code}' -T "$HT_TMP/big.bin" \
    -X POST "$HT_URL/v1/jobs?type=echo")
assert_eq "$code" 507 "an HTTP/2 upload that fills the disk: $(cat "$HT_TMP/o")"
assert_eq "$(leftovers)" 0 "nothing left by the HTTP/2 upload"

ht_http POST '/v1/jobs?type=echo' "" -T "$HT_TMP/small.bin"
assert_status 202 "a small upload after the failures"
assert_eq "$(leftovers)" 2 "the small upload's file and sidecar"
ht_http GET /v1/queues
assert_json '.queues[0].totals.submitted' 1 "only the small upload made a job"
