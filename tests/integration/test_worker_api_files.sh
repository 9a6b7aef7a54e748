#!/usr/bin/env bash
# Job files through the HTTP worker API (docs/handlers.md "HTTP worker API",
# docs/files.md) with the real api, redis-server, curl and the Python
# example worker, on the dir: blob store, with tenant and worker keys:
#  - the claim of a file job carries input_url and the input's bytes,
#    sha256 and content type; GET of input_url with the claim's token gives
#    the same SHA-256, HEAD its length, Range the right bytes; no token is
#    400, a wrong token 409, a tenant's key 403;
#  - PUT of the output: a stale token is 409 and keeps nothing (with Expect:
#    100-continue, before the body is sent); a Content-Digest mismatch is
#    400 and keeps nothing; a good one is 201 {bytes, sha256, content_type},
#    by Content-Length, chunked or over HTTP/2, each replacing the last;
#    complete with
#    "output": true makes it the job's output, downloadable by the tenant
#    with its content type; a PUT with the token after complete is 409 and
#    stores nothing;
#  - complete with "output": true and no PUT is 422; fail after a PUT
#    leaves the job without an output; a lease that runs out while the
#    output is sent is 409 and the stored file is deleted;
#  - the Python example worker reads the input and writes a gzip of it as
#    the output.
source "$(dirname "$0")/lib.sh"

ht_tenant_keys acme
WKEY=files-worker-key-0123456789
printf 'etl:%s\n' "$WKEY" >"$HT_TMP/worker-keys"
worker=(-H "Authorization: Bearer $WKEY")
BLOBS=$HT_TMP/blobs
export HANGTIGHT_BLOB_STORE=dir:$BLOBS HANGTIGHT_LEASE_MS=20000
ht_start_redis
ht_migrate
ht_start_api --api-keys-file "$HT_TMP/keys" --worker-keys-file "$HT_TMP/worker-keys"

head -c 3000000 /dev/urandom >"$HT_TMP/in.bin"
IN_SHA=$(sha256sum "$HT_TMP/in.bin" | cut -c1-64)
head -c 2000000 /dev/urandom >"$HT_TMP/out.bin"
OUT_SHA=$(sha256sum "$HT_TMP/out.bin" | cut -c1-64)
OUT_DIGEST="sha-256=:$(openssl dgst -sha256 -binary "$HT_TMP/out.bin" | base64):"
IN_DIGEST="sha-256=:$(openssl dgst -sha256 -binary "$HT_TMP/in.bin" | base64):"

claim() { ht_http POST /v1/worker/claim "{\"types\": [\"$1\"]}" "${worker[@]}"; }
# wfile METHOD ID FILE TOKEN [CURL ARGS...]: a file route of the worker API.
wfile() {
    local method=$1 id=$2 file=$3 token=$4
    shift 4
    ht_http "$method" "/v1/worker/jobs/$id/$file" "" "${worker[@]}" -H "Hangtight-Token: $token" "$@"
}
# Committed blobs of job ID in the store.
blobs_of() { find "$BLOBS/blobs" -path "*$1*" -type f ! -name '*.meta' 2>/dev/null | wc -l; }
submit_file() {
    ht_http POST "/v1/jobs?type=$1" "" "${acme[@]}" -T "$HT_TMP/in.bin" -H 'Content-Type: text/csv'
    assert_status 202 "file submit of $1"
    ht_json .id
}

claim wf.conv
assert_status 204 "the claim that registers wf.conv"

# The body of the last answer, kept under NAME.
keep() { cp "$HT_TMP/http.body" "$HT_TMP/$1"; }

# ---- the input ---------------------------------------------------------------------
ID=$(submit_file wf.conv)
claim wf.conv
assert_status 200 "claim of a file job"
assert_json .job.id "$ID" "the job claimed"
assert_json .job.input_url "/v1/worker/jobs/$ID/input" "input_url"
assert_json '.job.input | [.bytes, .sha256, .content_type] | join(" ")' "3000000 $IN_SHA text/csv" \
    "the input in the claim"
TOKEN=$(ht_json .token)

wfile GET "$ID" input "$TOKEN"
keep got.bin
assert_status 200 "GET input_url"
assert_eq "$(sha256sum "$HT_TMP/got.bin" | cut -c1-64)" "$IN_SHA" "the input's SHA-256"
assert_eq "$(ht_header Content-Type)" text/csv "the input's Content-Type"
assert_eq "$(ht_header Content-Digest)" "$IN_DIGEST" "the input's Content-Digest"
wfile HEAD "$ID" input "$TOKEN" -I
assert_status 200 "HEAD input_url"
assert_eq "$(ht_header Content-Length)" 3000000 "HEAD Content-Length"
wfile GET "$ID" input "$TOKEN" -H 'Range: bytes=1000-1099'
assert_status 206 "a range of the input"
assert_eq "$(tail -c +1001 "$HT_TMP/in.bin" | head -c 100 | sha256sum)" \
    "$(sha256sum <"$HT_TMP/http.body")" "the range's bytes"
ht_http GET "/v1/worker/jobs/$ID/input" "" "${worker[@]}"
assert_problem 400 "GET input_url without a token"
wfile GET "$ID" input $((TOKEN + 1))
assert_problem 409 "GET input_url with another token"
assert_match "$(ht_json .type)" 'stale-token' "the problem's type"
ht_http GET "/v1/worker/jobs/$ID/input" "" "${acme[@]}" -H "Hangtight-Token: $TOKEN"
assert_problem 403 "GET input_url with a tenant's key"

# ---- the output ----------------------------------------------------------------------
wfile PUT "$ID" output $((TOKEN + 1)) -T "$HT_TMP/out.bin"
assert_problem 409 "PUT output with another token"
assert_eq "$(blobs_of "$ID")" 1 "blobs after a stale PUT (the input only)"
# With Expect: 100-continue the stale token is refused before the body is
# sent: the api's answer comes instead of "100 Continue".
curl -s -o /dev/null -D "$HT_TMP/expect.headers" "${worker[@]}" -H "Hangtight-Token: $((TOKEN + 1))" \
    -H 'Expect: 100-continue' --expect100-timeout 60 -T "$HT_TMP/out.bin" \
    "$HT_URL/v1/worker/jobs/$ID/output" || true
grep -q '^HTTP/1.1 100' "$HT_TMP/expect.headers" && fail "100 Continue sent for a stale token"
grep -q '^HTTP/1.1 409' "$HT_TMP/expect.headers" || fail "a stale PUT with Expect: $(cat "$HT_TMP/expect.headers")"
wfile PUT "$ID" output "$TOKEN" -T "$HT_TMP/out.bin" -H "Content-Digest: $IN_DIGEST"
assert_problem 400 "PUT output with a Content-Digest of other bytes"
assert_eq "$(blobs_of "$ID")" 1 "blobs after a digest mismatch"
wfile PUT "$ID" output "$TOKEN" -T "$HT_TMP/out.bin" -H "Content-Digest: $OUT_DIGEST" \
    -H 'Content-Type: application/x-thing'
assert_status 201 "PUT output"
assert_json '[.bytes, .sha256, .content_type] | join(" ")' "2000000 $OUT_SHA application/x-thing" \
    "the stored output"
ht_http GET "/v1/jobs/$ID/output" "" "${acme[@]}"
assert_problem 404 "no output before complete"
# The same PUT chunked (read from the socket by the api), then over HTTP/2
# (read by h2o first): each replaces the attempt's output.
wfile PUT "$ID" output "$TOKEN" -T "$HT_TMP/in.bin" -H 'Transfer-Encoding: chunked'
assert_status 201 "a chunked PUT"
assert_json '[.bytes, .sha256] | join(" ")' "3000000 $IN_SHA" "the chunked output"
code=$(curl -s --http2-prior-knowledge -o "$HT_TMP/h2.json" -w '%{http_code}' "${worker[@]}" \
    -H "Hangtight-Token: $TOKEN" -H 'Content-Type: application/x-thing' -T "$HT_TMP/out.bin" \
    "$HT_URL/v1/worker/jobs/$ID/output")
assert_eq "$code" 201 "an HTTP/2 PUT"
assert_eq "$(jq -r '[.bytes, .sha256, .content_type] | join(" ")' "$HT_TMP/h2.json")" \
    "2000000 $OUT_SHA application/x-thing" "the HTTP/2 output"
assert_eq "$(blobs_of "$ID")" 2 "blobs: the input and one output"
ht_http POST "/v1/worker/jobs/$ID/complete" "{\"token\": \"$TOKEN\", \"result\": {\"ok\": 1}, \"output\": true}" \
    "${worker[@]}"
assert_status 200 "complete with the output"
assert_json '[.status, .output.sha256, .output.href] | join(" ")' \
    "succeeded $OUT_SHA /v1/jobs/$ID/output" "the job's output"
ht_http GET "/v1/jobs/$ID/output" "" "${acme[@]}"
keep dl.bin
assert_status 200 "the output's download by the tenant"
assert_eq "$(sha256sum "$HT_TMP/dl.bin" | cut -c1-64)" "$OUT_SHA" "the output's SHA-256"
assert_eq "$(ht_header Content-Type)" application/x-thing "the output's Content-Type"
n=$(blobs_of "$ID")
wfile PUT "$ID" output "$TOKEN" -T "$HT_TMP/in.bin"
assert_problem 409 "PUT output after complete"
assert_eq "$(blobs_of "$ID")" "$n" "blobs after a PUT of a finished job"
ht_http GET "/v1/jobs/$ID/output" "" "${acme[@]}"
keep dl.bin
assert_eq "$(sha256sum "$HT_TMP/dl.bin" | cut -c1-64)" "$OUT_SHA" "the output after a stale PUT"

# ---- complete without a PUT; fail after one -------------------------------------------
ID2=$(submit_file wf.conv)
claim wf.conv
T2=$(ht_json .token)
ht_http POST "/v1/worker/jobs/$ID2/complete" "{\"token\": \"$T2\", \"output\": true}" "${worker[@]}"
assert_problem 422 "complete with output and no PUT"
assert_json '.errors[0].pointer' /output "the field"
wfile PUT "$ID2" output "$T2" -T "$HT_TMP/out.bin"
assert_status 201 "PUT output before a fail"
ht_http POST "/v1/worker/jobs/$ID2/fail" "{\"token\": \"$T2\", \"error\": \"no\", \"retry\": false}" \
    "${worker[@]}"
assert_status 200 "fail after a PUT"
assert_jq '.status == "failed" and .output == null' "a failed job has no output"
ht_http GET "/v1/jobs/$ID2/output" "" "${acme[@]}"
assert_problem 404 "no output of a failed job"

# ---- a lease lost while the output is sent ----------------------------------------------
# An api of a 1 s lease; the PUT takes about 10 s (curl --limit-rate), so
# the lease runs out mid-way and the job is requeued: the stored file is
# deleted and the answer is 409.
ht_start_api --name short --lease-ms 1000 --api-keys-file "$HT_TMP/keys" \
    --worker-keys-file "$HT_TMP/worker-keys"
SHORT=$(ht_api_url short)
ID4=$(submit_file wf.conv)
T4=$(curl -s "${worker[@]}" -H 'Content-Type: application/json' -d '{"types": ["wf.conv"]}' \
    "$SHORT/v1/worker/claim" | jq -r .token)
[[ "$T4" =~ ^[0-9]+$ ]] || fail "the claim on the short-lease api: $T4"
code=$(curl -s -o "$HT_TMP/lost.json" -w '%{http_code}' --limit-rate 200k "${worker[@]}" \
    -H "Hangtight-Token: $T4" -T "$HT_TMP/out.bin" "$SHORT/v1/worker/jobs/$ID4/output")
assert_eq "$code" 409 "a PUT whose lease ran out while it was sent: $(cat "$HT_TMP/lost.json")"
assert_match "$(jq -r .detail "$HT_TMP/lost.json")" 'while the file was sent' \
    "refused once stored, not before"
gone() { (($(blobs_of "$ID4") == 1)); }
wait_until 30 "the lost attempt's output is deleted" gone

# ---- the Python example worker ---------------------------------------------------------
command -v python3 >/dev/null || ht_skip "python3 is not installed"
cat >"$HT_TMP/gz_worker.py" <<'PY'
import gzip, os, shutil, sys
sys.path.insert(0, sys.argv[1])
from worker import Worker

def gz(job, progress):
    src = progress.fetch_input(os.path.join(sys.argv[2], job["id"] + ".in"))
    dst = src + ".gz"
    with open(src, "rb") as f, gzip.open(dst, "wb") as g:
        shutil.copyfileobj(f, g)
    return progress.put_output(dst, "application/gzip")

Worker(os.environ["HANGTIGHT_URL"], {"wf.gzip": gz}, os.environ["HANGTIGHT_WORKER_KEY"], "py").run()
PY
HANGTIGHT_WORKER_KEY=$WKEY ht_spawn py python3 "$HT_TMP/gz_worker.py" \
    "$HT_SOURCE_DIR/examples/http_worker/python" "$HT_TMP"
claim wf.gzip # registers the type, should the worker's first claim be later
[[ "$HTTP_STATUS" == 204 ]] || fail "a claim took the job meant for the Python worker"
ID3=$(submit_file wf.gzip)
job_done() {
    ht_http GET "/v1/jobs/$ID3" "" "${acme[@]}"
    [[ "$(ht_json .status)" == succeeded ]]
}
wait_until 60 "the Python worker's job succeeded" job_done
assert_json .output.content_type application/gzip "the Python worker's output type"
ht_http GET "/v1/jobs/$ID3/output" "" "${acme[@]}"
keep py.gz
assert_status 200 "the Python worker's output"
assert_eq "$(gunzip -c "$HT_TMP/py.gz" | sha256sum | cut -c1-64)" "$IN_SHA" \
    "the gunzipped output's SHA-256"
