#!/usr/bin/env bash
# The file examples of examples/ against the real stack, each the way a
# user runs it: curl -T (examples/curl/upload_file.sh), Python's
# http.client streaming an open file (examples/python/upload_file.py) and
# Node's fetch streaming a file with duplex "half" (examples/node/
# upload_file.mjs).  Each uploads a 5 MB file as an echo job with an API
# key, holds the request until the job finishes, and downloads the job's
# input back (echo leaves no output), checking its SHA-256; the api's
# metrics show every upload read from the socket.  An example whose runtime
# is missing is skipped with a message (ht_skip_part).
source "$(dirname "$0")/lib.sh"

EX=$HT_SOURCE_DIR/examples
export PYTHONDONTWRITEBYTECODE=1
export HANGTIGHT_API_KEY=examples-$(openssl rand -hex 12)
printf 'acme:%s\n' "$HANGTIGHT_API_KEY" >"$HT_TMP/keys"
export HANGTIGHT_BLOB_STORE=dir:$HT_TMP/blobs
ht_start_stack --api-args --api-keys-file "$HT_TMP/keys" --metrics-public
export HANGTIGHT_URL=$HT_URL
head -c 5000000 /dev/urandom >"$HT_TMP/src.bin"
SHA=$(sha256sum "$HT_TMP/src.bin" | cut -c1-64)

ran=0
run() {
    local name=$1 rc=0
    shift
    cp "$HT_TMP/src.bin" "$HT_TMP/$name.bin"
    timeout 90 "$@" echo "$HT_TMP/$name.bin" input >"$HT_TMP/$name.out" 2>"$HT_TMP/$name.err" || rc=$?
    ((rc == 0)) || fail "example $name exited $rc: $(tail -n 20 "$HT_TMP/$name.err")"
    assert_eq "$(jq -r '[.status, .input.sha256] | join(" ")' "$HT_TMP/$name.out")" "succeeded $SHA" \
        "example $name: the finished job with its input"
    assert_eq "$(sha256sum "$HT_TMP/$name.bin.input" | cut -c1-64)" "$SHA" "example $name: the file downloaded"
    [[ -e "$HT_TMP/$name.bin.input.part" ]] && fail "example $name left a .part file"
    log "$name: $(tail -n 1 "$HT_TMP/$name.err")"
    ran=$((ran + 1))
}

run curl bash "$EX/curl/upload_file.sh"
run python python3 "$EX/python/upload_file.py"
if command -v node >/dev/null && (($(node -p 'process.versions.node.split(".")[0]') >= 18)); then
    run node node "$EX/node/upload_file.mjs"
else
    ht_skip_part node "node >= 18 is not installed"
fi
socket=$(curl -s -H "Authorization: Bearer $HANGTIGHT_API_KEY" "$HT_URL/metrics" |
    awk '/^hangtight_api_uploads_total\{body="socket"\}/ { print $2 }')
assert_eq "$socket" "$ran" "every example's upload was read from the socket"
