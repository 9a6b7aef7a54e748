#!/usr/bin/env bash
# Files in and out of jobs, the api side (DESIGN.md "Files", docs/files.md),
# on the dir: blob store: upload into a job (Content-Length, chunked,
# HTTP/2, keep-alive, pipelined; fields from the query string), the job
# document's input, download with HEAD, ranges (206, 416), If-None-Match
# (304) and If-Range, another tenant's 404 byte for byte, and everything
# that must leave no file and no job: a digest mismatch, an unknown type,
# bad fields, an oversize body by Content-Length (413 before the body:
# no 100 Continue) and by chunks, a client that hangs up or stalls mid-body,
# a rate-limited tenant, an idempotent replay.  Sync mode: 102s once the
# file is in, then 201 Created with Location of the output when the job
# left one (written here through the library call a worker makes:
# ht_complete with an output), 200 when not.  Stored bytes per tenant in
# /v1/queues and /metrics.  Without a blob store a file submit is a 415.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys acme globex
BLOBS=$HT_TMP/blobs
TOOL=$HT_BUILD_DIR/ht-blob-tool

ht_start_redis
ht_migrate
export HANGTIGHT_BLOB_STORE=dir:$BLOBS
export HANGTIGHT_MAX_UPLOAD_BYTES=$((6 << 20))
ht_start_api --api-keys-file "$HT_TMP/keys" --request-timeout-ms 2000 --metrics-public

head -c 3000000 /dev/urandom >"$HT_TMP/a.bin"
A_SHA=$(sha256sum "$HT_TMP/a.bin" | cut -c1-64)
A_B64=$(openssl dgst -sha256 -binary "$HT_TMP/a.bin" | base64)

# Files under the store: committed blobs (not sidecars), and what is in
# its tmp/ (writes under way or left by a crash).
blob_count() { find "$BLOBS/blobs" -type f ! -name '*.meta' 2>/dev/null | wc -l; }
tmp_count() { find "$BLOBS/tmp" -type f 2>/dev/null | wc -l; }
jobs_submitted() {
    ht_http GET /v1/queues "" "${acme[@]}"
    ht_json '.queues[0].totals.submitted'
}
# up QUERY FILE [CURL ARGS...]: a file submit of acme.
up() {
    local q=$1 f=$2
    shift 2
    ht_http POST "/v1/jobs?$q" "" "${acme[@]}" -T "$f" "$@"
}

# ---- upload and download ----------------------------------------------------

up 'type=echo&priority=high&max_attempts=5&ttl_s=600&payload=%7B%22k%22%3A%5B1%2C2%5D%7D' \
    "$HT_TMP/a.bin" -H 'Content-Type: video/mp4'
assert_status 202 "file submit"
ID=$(ht_json .id)
assert_eq "$(ht_header Location)" "/v1/jobs/$ID" "Location of a file submit"
assert_json '.input.bytes' 3000000 "input.bytes"
assert_json '.input.sha256' "$A_SHA" "input.sha256"
assert_json '.input.content_type' video/mp4 "input.content_type"
assert_json '.input.href' "/v1/jobs/$ID/input" "input.href"
assert_json '[.priority, .max_attempts, .ttl_s] | join(" ")' "high 5 600" "fields from the query"
assert_jq '.output == null' "no output yet"
ht_http GET "/v1/jobs/$ID" "" "${acme[@]}"
assert_json '.input.sha256' "$A_SHA" "GET: input.sha256"
assert_jq '.payload == null' "the document does not carry the payload"
assert_eq "$(ht_job_hget "$ID" payload)" '{"k":[1,2]}' "payload from the query, as JSON"
assert_eq "$(blob_count)" 1 "one blob stored"

curl -s -D "$HT_TMP/h" -o "$HT_TMP/got" "${acme[@]}" "$HT_URL/v1/jobs/$ID/input"
assert_eq "$(sha256sum "$HT_TMP/got" | cut -c1-64)" "$A_SHA" "download: same SHA-256"
hdr() { tr -d '\r' <"$HT_TMP/h" | awk -v n="${1,,}" -F': ' 'tolower($1) == n { print $2 }'; }
assert_eq "$(head -1 "$HT_TMP/h" | tr -d '\r')" "HTTP/1.1 200 OK" "download status"
assert_eq "$(hdr content-type)" video/mp4 "download Content-Type"
assert_eq "$(hdr content-length)" 3000000 "download Content-Length"
assert_eq "$(hdr etag)" "\"$A_SHA\"" "download ETag"
assert_eq "$(hdr content-digest)" "sha-256=:$A_B64:" "download Content-Digest"
assert_eq "$(hdr repr-digest)" "sha-256=:$A_B64:" "download Repr-Digest"
assert_eq "$(hdr accept-ranges)" bytes "download Accept-Ranges"

# HEAD: the headers of the GET, and not a byte more on the connection.
curl -s -I -D "$HT_TMP/h" -o /dev/null -w '%{size_download}' "${acme[@]}" "$HT_URL/v1/jobs/$ID/input" \
    >"$HT_TMP/size"
assert_eq "$(head -1 "$HT_TMP/h" | tr -d '\r')" "HTTP/1.1 200 OK" "HEAD status"
assert_eq "$(hdr content-length)" 3000000 "HEAD Content-Length"
assert_eq "$(hdr etag)" "\"$A_SHA\"" "HEAD ETag"
assert_eq "$(cat "$HT_TMP/size")" 0 "HEAD has no body"

# ---- ranges, validators --------------------------------------------------------

range() { # range SPEC: sets HTTP_STATUS, saves the body in $HT_TMP/part
    HTTP_STATUS=$(curl -s -D "$HT_TMP/h" -o "$HT_TMP/part" -w '%{http_code}' "${acme[@]}" \
        -H "Range: $1" "${@:2}" "$HT_URL/v1/jobs/$ID/input")
}
part_of() { tail -c +$(($1 + 1)) "$HT_TMP/a.bin" | head -c "$2" | sha256sum | cut -c1-64; }
range 'bytes=10-19'
assert_eq "$HTTP_STATUS" 206 "range 10-19"
assert_eq "$(hdr content-range)" "bytes 10-19/3000000" "Content-Range"
assert_eq "$(sha256sum "$HT_TMP/part" | cut -c1-64)" "$(part_of 10 10)" "range 10-19: the right bytes"
assert_eq "$(hdr content-digest)" "" "a 206 has no Content-Digest of the whole"
assert_eq "$(hdr repr-digest)" "sha-256=:$A_B64:" "a 206 has the Repr-Digest of the whole"
range 'bytes=2999990-'
assert_eq "$HTTP_STATUS" 206 "open range"
assert_eq "$(stat -c %s "$HT_TMP/part")" 10 "open range: 10 bytes"
assert_eq "$(sha256sum "$HT_TMP/part" | cut -c1-64)" "$(part_of 2999990 10)" "open range: the right bytes"
range 'bytes=-5'
assert_eq "$HTTP_STATUS" 206 "suffix range"
assert_eq "$(hdr content-range)" "bytes 2999995-2999999/3000000" "suffix Content-Range"
range 'bytes=1000000-2999999999'
assert_eq "$HTTP_STATUS" 206 "range past the end is cut"
assert_eq "$(stat -c %s "$HT_TMP/part")" 2000000 "range past the end: to the end"
range 'bytes=3000000-'
assert_eq "$HTTP_STATUS" 416 "range from the end"
assert_eq "$(hdr content-range)" "bytes */3000000" "416 Content-Range"
assert_match "$(hdr content-type)" '^application/problem\+json' "416 is a problem"
range 'bytes=0-1,5-6'
assert_eq "$HTTP_STATUS" 200 "several ranges: the whole file"
assert_eq "$(stat -c %s "$HT_TMP/part")" 3000000 "several ranges: all bytes"
range 'bytes=0-9' -H 'If-Range: "not-the-etag"'
assert_eq "$HTTP_STATUS" 200 "If-Range of another ETag: the whole file"
range 'bytes=0-9' -H "If-Range: \"$A_SHA\""
assert_eq "$HTTP_STATUS" 206 "If-Range of this ETag: the range"
ht_http GET "/v1/jobs/$ID/input" "" "${acme[@]}" -H "If-None-Match: \"$A_SHA\""
assert_status 304 "If-None-Match"
assert_eq "$(ht_header ETag)" "\"$A_SHA\"" "304 carries the ETag"
ht_http GET "/v1/jobs/$ID/output" "" "${acme[@]}"
assert_problem 404 "no output yet"

# ---- another tenant: the answer of a job that does not exist -------------------

ht_http GET "/v1/jobs/$ID/input" "" "${globex[@]}"
assert_problem 404 "another tenant's input"
other=$HTTP_BODY
ht_http GET "/v1/jobs/00000000-0000-4000-8000-000000000000/input" "" "${globex[@]}"
assert_problem 404 "a job that does not exist"
assert_eq "$other" "$HTTP_BODY" "another tenant's job answers byte for byte like a missing one"
assert_eq "$(curl -s -I -o /dev/null -w '%{http_code}' "${globex[@]}" "$HT_URL/v1/jobs/$ID/input")" 404 \
    "another tenant's HEAD"
ht_http GET "/v1/jobs/$ID/input" ""
assert_problem 401 "download without a key"

# ---- how bodies arrive -----------------------------------------------------------

up 'type=echo' "$HT_TMP/a.bin" -H 'Transfer-Encoding: chunked'
assert_status 202 "chunked file submit"
assert_json '.input.sha256' "$A_SHA" "chunked: sha256"
assert_json '.input.content_type' application/octet-stream "the default content type"
# Chunked by hand: extensions, a trailer, bare LFs, and a broken size.
chunked() {
    python3 - "$(ht_hostport)" "$ACME_KEY" "$1" <<'PY'
import socket, sys
h, p = sys.argv[1].split(':')
s = socket.create_connection((h, int(p)))
s.settimeout(20)
s.sendall(b"POST /v1/jobs?type=echo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
          sys.argv[2].encode() + b"\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
          sys.argv[3].encode().decode('unicode_escape').encode('latin-1'))
data = b""
while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
        [l for l in data.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1]):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(data.split(b"\r\n")[0].decode(), data.split(b"\r\n\r\n", 1)[1].decode())
PY
}
out=$(chunked '5;ext=1\r\nhello\r\n7\n, world\n0\r\nX-Trailer: yes\r\n\r\n')
assert_match "$out" '^HTTP/1.1 202 ' "chunked with extensions, a trailer and bare LFs"
cid=$(sed 's/^[^{]*//' <<<"$out" | jq -r .id)
assert_eq "$(curl -s "${acme[@]}" "$HT_URL/v1/jobs/$cid/input")" "hello, world" "the chunks decoded"
blobs_now=$(blob_count)
out=$(chunked '5\r\nhello\r\nzz\r\n')
assert_match "$out" '^HTTP/1.1 400 ' "a broken chunk size"
assert_match "$out" 'chunked encoding' "the 400 says why"
assert_eq "$(blob_count)" "$blobs_now" "nothing kept of a broken chunked body"
# Two uploads and a GET on one connection: each upload's body is read from
# the socket (the wrapper comes back after every answer).
socket0=$(curl -s "${acme[@]}" "$HT_URL/metrics" | awk '/^hangtight_api_uploads_total\{body="socket"\}/ { print $2 }')
curl -s -o /dev/null -w '%{http_code}\n' "${acme[@]}" -T "$HT_TMP/a.bin" -X POST "$HT_URL/v1/jobs?type=echo" \
    --next -o /dev/null -w '%{http_code}\n' "${acme[@]}" "$HT_URL/healthz" \
    --next -o /dev/null -w '%{http_code}\n' "${acme[@]}" -T "$HT_TMP/a.bin" -X POST "$HT_URL/v1/jobs?type=echo" \
    >"$HT_TMP/codes" 2>"$HT_TMP/curl.err"
assert_eq "$(tr '\n' ' ' <"$HT_TMP/codes")" "202 200 202 " "keep-alive: two uploads around a GET"
socket1=$(curl -s "${acme[@]}" "$HT_URL/metrics" | awk '/^hangtight_api_uploads_total\{body="socket"\}/ { print $2 }')
assert_eq "$((socket1 - socket0))" 2 "both keep-alive uploads were read from the socket"
buffered0=$(curl -s "${acme[@]}" "$HT_URL/metrics" | awk '/^hangtight_api_uploads_total\{body="buffered"\}/ { print $2 }')
code=$(curl -s --http2-prior-knowledge -o "$HT_TMP/o" -w '%{http_code}' "${acme[@]}" -T "$HT_TMP/a.bin" \
    -X POST "$HT_URL/v1/jobs?type=echo")
assert_eq "$code" 202 "HTTP/2 file submit"
assert_eq "$(jq -r .input.sha256 "$HT_TMP/o")" "$A_SHA" "HTTP/2: sha256"
buffered1=$(curl -s "${acme[@]}" "$HT_URL/metrics" | awk '/^hangtight_api_uploads_total\{body="buffered"\}/ { print $2 }')
assert_eq "$((buffered1 - buffered0))" 1 "the HTTP/2 upload came through h2o's buffer"
# Two file submits in one write: the first is read from the socket, the
# second (already in the buffer) through h2o; both are stored whole.
ht_raw "$(jq -n --arg k "$ACME_KEY" '{mode: "pipelined", requests: [
    {method: "POST", path: "/v1/jobs?type=echo", headers: {Authorization: ("Bearer " + $k),
     "Content-Type": "text/plain"}, body: "first file"},
    {method: "POST", path: "/v1/jobs?type=echo", headers: {Authorization: ("Bearer " + $k),
     "Content-Type": "text/plain"}, body: "the second file"}]}')"
assert_eq "$(ht_raw_json '[.responses[].status] | join(" ")')" "202 202" "pipelined file submits"
assert_eq "$(ht_raw_json '[.responses[].body | fromjson | .input.bytes] | join(" ")')" "10 15" \
    "pipelined: each body where it belongs"
p2=$(ht_raw_json '.responses[1].body | fromjson | .id')
assert_eq "$(curl -s "${acme[@]}" "$HT_URL/v1/jobs/$p2/input")" "the second file" "pipelined: second file's bytes"

# ---- refusals leave nothing ---------------------------------------------------------

blobs0=$(blob_count)
sub0=$(jobs_submitted)
up 'type=echo' "$HT_TMP/a.bin" -H 'Content-Digest: sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'
assert_problem 400 "digest mismatch"
assert_json .type urn:hangtight:problem:digest-mismatch "digest mismatch: its type"
up 'type=echo' "$HT_TMP/a.bin" -H 'Content-Digest: sha-256=:not base64!:'
assert_problem 400 "malformed Content-Digest"
up 'type=no.such.type' "$HT_TMP/a.bin"
assert_problem 422 "unknown type"
assert_json '.errors[0].code' unknown_type "unknown type: code"
up 'type=echo&max_attempts=0&priority=urgent&payload=%7Bnot-json&bogus=1' "$HT_TMP/a.bin"
assert_problem 422 "bad fields in the query"
assert_jq '[.errors[].pointer] | sort == ["/bogus", "/max_attempts", "/payload", "/priority"]' \
    "every bad parameter is listed"
up 'priority=high' "$HT_TMP/a.bin"
assert_problem 422 "no type"
up 'type=echo&x=%zz' "$HT_TMP/a.bin"
assert_problem 400 "a malformed query string"
head -c $(((6 << 20) + 1)) /dev/zero >"$HT_TMP/big.bin"
curl -s -v -o "$HT_TMP/o" "${acme[@]}" -T "$HT_TMP/big.bin" -X POST "$HT_URL/v1/jobs?type=echo" 2>"$HT_TMP/v"
grep -q '^< HTTP/1.1 413' "$HT_TMP/v" || fail "oversize by Content-Length: $(cat "$HT_TMP/v")"
grep -q '^> Expect: 100-continue' "$HT_TMP/v" || fail "curl did not send Expect: 100-continue"
grep -q '^< HTTP/1.1 100' "$HT_TMP/v" && fail "a 100 Continue came before the 413"
assert_eq "$(jq -r .status "$HT_TMP/o")" 413 "413 is a problem"
up 'type=echo' "$HT_TMP/big.bin" -H 'Transfer-Encoding: chunked'
assert_problem 413 "oversize chunked body"
# A client that hangs up after 1 MB of 5 MB, and one that stops sending.
python3 - "$(ht_hostport)" "$ACME_KEY" <<'PY'
import socket, sys, time
h, p = sys.argv[1].split(':')
s = socket.create_connection((h, int(p)))
s.sendall(b"POST /v1/jobs?type=echo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
          sys.argv[2].encode() + b"\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Length: 5000000\r\n\r\n" + b"x" * 1000000)
time.sleep(0.3)
s.close()
PY
RAW_MAY_FAIL=1 ht_raw "$(jq -n --arg k "$ACME_KEY" '{timeout: 15, requests: [
    {method: "POST", path: "/v1/jobs?type=echo", headers: {Authorization: ("Bearer " + $k),
     "Content-Type": "text/plain", "Content-Length": "100"}, body: "only forty bytes of a hundred, then none"}]}')"
assert_eq "$(ht_raw_json '.responses[0].status')" 408 "a body that stops arriving: 408 after the request timeout"
tmp_is() { [[ "$(tmp_count)" == "$1" ]]; }
blobs_are() { [[ "$(blob_count)" == "$1" ]]; }
wait_until 10 "no write is left under way" tmp_is 0
assert_eq "$(blob_count)" "$blobs0" "no blob from any refused upload"
assert_eq "$(jobs_submitted)" "$sub0" "no job from any refused upload"

# ---- idempotency ----------------------------------------------------------------------

up 'type=echo' "$HT_TMP/a.bin" -H 'Idempotency-Key: file-1'
assert_status 202 "keyed file submit"
first=$(ht_json .id)
up 'type=echo' "$HT_TMP/a.bin" -H 'Idempotency-Key: file-1'
assert_status 202 "replay"
assert_eq "$(ht_json .id)" "$first" "a replay names the first job"
assert_eq "$(ht_header Idempotent-Replayed)" true "a replay says so"
printf 'another file' >"$HT_TMP/c.bin"
up 'type=echo' "$HT_TMP/c.bin" -H 'Idempotency-Key: file-1'
assert_problem 422 "the key with another file"
wait_until 10 "the replay's and the mismatch's files are gone" blobs_are $((blobs0 + 1))

# ---- stored bytes ----------------------------------------------------------------------

ht_http GET /v1/queues "" "${acme[@]}"
stored=$(ht_json '.queues[0].stored_bytes')
want=$(find "$BLOBS/blobs/acme" -type f ! -name '*.meta' -printf '%s\n' | awk '{ s += $1 } END { print s }')
assert_eq "$stored" "$want" "/v1/queues: acme's stored bytes are its files' sizes"
ht_http GET /v1/queues "" "${globex[@]}"
assert_jq '(.queues[0].stored_bytes // 0) == 0' "globex stored nothing"
assert_match "$(curl -s "${acme[@]}" "$HT_URL/metrics")" \
    "hangtight_blob_stored_bytes\\{tenant=\"acme\"\\} $want" "/metrics: stored bytes by tenant"

# ---- sync mode: 102s, then 201 with the output, or 200 -----------------------------------

key() { printf 'ht:{default}:%s' "$1"; }
# claim_and_complete ID [OUTPUT-FILE]: takes the job as a worker would
# (ht_claim) and completes it (ht_complete), with the file as its output.
claim_and_complete() {
    local id=$1 out=${2:-} token ref=""
    ht_redis FCALL ht_claim 5 "$(key wait:high)" "$(key wait:default)" "$(key wait:low)" \
        "$(key active)" "$(key fence)" "$(key job:)" test-worker "$(key events)" >/dev/null
    token=$(ht_job_hget "$id" token)
    [[ -n "$token" ]] || fail "could not claim $id"
    if [[ -n "$out" ]]; then
        HANGTIGHT_BLOB_STORE=dir:$BLOBS "$TOOL" --ctype text/csv put "acme/$id/output-1" <"$out" >"$HT_TMP/put"
        ref="$(jq -r .bytes "$HT_TMP/put") $(jq -r .sha256 "$HT_TMP/put") output-1 text/csv"
    fi
    ht_redis FCALL ht_complete 4 "$(key job:$id)" "$(key active)" "$(key wait:default)" "$(key signal)" \
        "$id" "$token" succeeded '{"ok":true}' 0 "$(key events)" '' "$ref" >/dev/null
}
# No worker runs here: the jobs submitted above wait in the queue.  Empty
# it (every tenant's lists, the rotations, docs/keyspace.md "The wait
# structure"), so that the claims below take the held jobs.
ht_redis EVAL "for _, p in ipairs({'q:*', 'rr:*', 'rt:*'}) do
    for _, k in ipairs(redis.call('KEYS', ARGV[1] .. p)) do redis.call('DEL', k) end
  end
  redis.call('DEL', ARGV[1] .. 'depth', ARGV[1] .. 'turn')" 0 "$(key '')" >/dev/null
printf 'a,b\n1,2\n' >"$HT_TMP/out.csv"
curl -s -v "${acme[@]}" -H 'Prefer: wait=30, heartbeat=1' -T "$HT_TMP/a.bin" -X POST \
    "$HT_URL/v1/jobs?type=echo" -o "$HT_TMP/sync.body" 2>"$HT_TMP/sync.v" &
sync_pid=$!
queued_is() { [[ "$(ht_redis LLEN "$(key q:default:echo:acme)")" == "$1" ]]; }
wait_until 20 "the sync submit is held" queued_is 1
held=$(ht_redis LRANGE "$(key q:default:echo:acme)" 0 0)
wait_until 10 "a 102 Processing" grep -q '^< HTTP/1.1 102' "$HT_TMP/sync.v"
claim_and_complete "$held" "$HT_TMP/out.csv"
wait "$sync_pid"
grep -q '^< HTTP/1.1 201 Created' "$HT_TMP/sync.v" || fail "sync with an output: $(cat "$HT_TMP/sync.v")"
grep -qi "^< location: /v1/jobs/$held/output" "$HT_TMP/sync.v" || fail "201 Location: $(cat "$HT_TMP/sync.v")"
assert_eq "$(jq -r '[.status, .output.bytes, .output.content_type, .output.href] | join(" ")' "$HT_TMP/sync.body")" \
    "succeeded 8 text/csv /v1/jobs/$held/output" "201 body: the job with its output"
assert_eq "$(curl -s "${acme[@]}" "$HT_URL/v1/jobs/$held/output")" "$(cat "$HT_TMP/out.csv")" "the output's bytes"
curl -s "${acme[@]}" -H 'Prefer: wait=30' -T "$HT_TMP/c.bin" -X POST "$HT_URL/v1/jobs?type=echo" \
    -o "$HT_TMP/sync.body" -w '%{http_code}' >"$HT_TMP/sync.code" &
sync_pid=$!
wait_until 20 "the second sync submit is held" queued_is 1
claim_and_complete "$(ht_redis LRANGE "$(key q:default:echo:acme)" 0 0)"
wait "$sync_pid"
assert_eq "$(cat "$HT_TMP/sync.code")" 200 "sync without an output: 200"
# The form that claims the next job too (8 keys; lease_ms and grace_ms
# before the output, which is the 12th argument).
up 'type=echo' "$HT_TMP/c.bin"
assert_status 202 "a file submit completed with the claim-next form"
nid=$(ht_json .id)
ht_redis FCALL ht_claim 5 "$(key wait:high)" "$(key wait:default)" "$(key wait:low)" \
    "$(key active)" "$(key fence)" "$(key job:)" test-worker "$(key events)" 60000 1000 >/dev/null
token=$(ht_job_hget "$nid" token)
[[ -n "$token" ]] || fail "could not claim $nid"
HANGTIGHT_BLOB_STORE=dir:$BLOBS "$TOOL" --ctype text/csv put "acme/$nid/output-1" <"$HT_TMP/out.csv" >"$HT_TMP/put"
ref="$(jq -r .bytes "$HT_TMP/put") $(jq -r .sha256 "$HT_TMP/put") output-1 text/csv"
ht_redis FCALL ht_complete 8 "$(key job:$nid)" "$(key active)" "$(key wait:default)" "$(key signal)" \
    "$(key wait:high)" "$(key wait:default)" "$(key wait:low)" "$(key fence)" \
    "$nid" "$token" succeeded '{"ok":true}' 0 "$(key events)" '' "$(key job:)" test-worker \
    60000 1000 "$ref" >/dev/null
ht_http GET "/v1/jobs/$nid" "" "${acme[@]}"
assert_json '.output.bytes' 8 "the output of a claim-next completion"
assert_eq "$(curl -s "${acme[@]}" "$HT_URL/v1/jobs/$nid/output")" "$(cat "$HT_TMP/out.csv")" \
    "the output's bytes (claim-next completion)"
# The claim-next form of the typed claim (5 keys; the types are the 12th
# argument, the output the 13th).
up 'type=echo' "$HT_TMP/c.bin"
assert_status 202 "a file submit completed with the typed claim-next form"
nid=$(ht_json .id)
ht_redis FCALL ht_claim 2 "$(key active)" "$(key fence)" "$(key '')" test-worker "$(key events)" \
    60000 1000 echo >/dev/null
token=$(ht_job_hget "$nid" token)
[[ -n "$token" ]] || fail "could not claim $nid (typed)"
HANGTIGHT_BLOB_STORE=dir:$BLOBS "$TOOL" --ctype text/csv put "acme/$nid/output-1" <"$HT_TMP/out.csv" >"$HT_TMP/put"
ref="$(jq -r .bytes "$HT_TMP/put") $(jq -r .sha256 "$HT_TMP/put") output-1 text/csv"
ht_redis FCALL ht_complete 5 "$(key job:$nid)" "$(key active)" "$(key wait:default)" "$(key signal)" \
    "$(key fence)" "$nid" "$token" succeeded '{"ok":true}' 0 "$(key events)" '' "$(key '')" \
    test-worker 60000 1000 echo "$ref" >/dev/null
ht_http GET "/v1/jobs/$nid" "" "${acme[@]}"
assert_json '.output.bytes' 8 "the output of a typed claim-next completion"

# ---- the api stops mid-upload: 503, nothing kept -------------------------------------------

blobs0=$(blob_count)
python3 - "$(ht_hostport)" "$ACME_KEY" >"$HT_TMP/slow.out" 2>&1 <<'PY' &
import socket, sys, time
h, p = sys.argv[1].split(':')
s = socket.create_connection((h, int(p)))
s.sendall(b"POST /v1/jobs?type=echo HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " +
          sys.argv[2].encode() + b"\r\nContent-Type: application/octet-stream\r\n"
          b"Content-Length: 6000000\r\n\r\n")
s.settimeout(20)
try:
    for i in range(60):
        s.sendall(b"x" * 100000)
        time.sleep(0.05)
except OSError:
    pass
try:
    print(s.recv(4096).decode(errors="replace").split("\r\n")[0])
except OSError as e:
    print("no answer:", e)
PY
slow=$!
writing() { [[ -n "$(find "$BLOBS/tmp" -name '*.part' -size +1k)" ]]; }
wait_until 10 "the slow upload is under way" writing
ht_stop api
wait "$slow"
assert_eq "$(cat "$HT_TMP/slow.out")" "HTTP/1.1 503 Service Unavailable" "an upload when the api stops"
assert_eq "$(tmp_count)" 0 "the stopped upload's write is gone"
assert_eq "$(blob_count)" "$blobs0" "no blob from the stopped upload"

# ---- rate-limited tenant: refused before the body ---------------------------------------

ht_start_api --api-keys-file "$HT_TMP/keys" --rate-limit 0.01:1
blobs0=$(blob_count)
up 'type=echo' "$HT_TMP/c.bin"
assert_status 202 "first upload within the rate"
curl -s -v -o "$HT_TMP/o" "${acme[@]}" -T "$HT_TMP/a.bin" -X POST "$HT_URL/v1/jobs?type=echo" 2>"$HT_TMP/v"
grep -q '^< HTTP/1.1 429' "$HT_TMP/v" || fail "rate-limited upload: $(cat "$HT_TMP/v")"
grep -q '^< HTTP/1.1 100' "$HT_TMP/v" && fail "a 100 Continue came before the 429"
assert_eq "$(blob_count)" $((blobs0 + 1)) "no blob from the rate-limited upload"

# ---- no blob store: 415 ------------------------------------------------------------------

ht_stop api
unset HANGTIGHT_BLOB_STORE
ht_start_api --api-keys-file "$HT_TMP/keys"
up 'type=echo' "$HT_TMP/c.bin"
assert_problem 415 "file submit without a blob store"
assert_match "$(ht_json .detail)" 'HANGTIGHT_BLOB_STORE' "415 says what is missing"
ht_http POST /v1/jobs '{"type": "echo"}' "${acme[@]}"
assert_status 202 "JSON submits work without a blob store"
ht_http POST /v1/jobs '' "${acme[@]}" -H 'Content-Type: text/plain' --data-binary '{"type": "echo"}'
assert_problem 415 "a text body without a store is still a 415"
