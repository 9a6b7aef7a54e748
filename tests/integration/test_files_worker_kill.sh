#!/usr/bin/env bash
# A worker killed mid-output (kill -9 while its handler writes the output
# file, slowly) leaves no visible output: the job document has none, the
# download is 404, no output blob exists.  Once the lease
# (HANGTIGHT_LEASE_MS, 2 s here) runs out the job runs again on another
# worker, as attempt 2 with an output path of its own, and succeeds with
# the whole output; what attempt 1 wrote stays out of sight in the store's
# tmp/ (the api's sweeper removes such files after the grace period).
source "$(dirname "$0")/lib.sh"

BLOBS=$HT_TMP/blobs
cat >"$HT_TMP/slowwrite.sh" <<'SH'
#!/bin/sh
# Copies the input into the output 40 times, a copy every 50 ms, noting its
# pid and output path for the test.
echo "$$ $HT_OUTPUT_PATH" >"$0.attempt$HANGTIGHT_ATTEMPT"
i=0
: >"$HT_OUTPUT_PATH"
while [ $i -lt 40 ]; do
    cat "$HT_INPUT_PATH" >>"$HT_OUTPUT_PATH"
    i=$((i + 1))
    sleep 0.05
done
echo '{"copies": 40}'
SH
chmod +x "$HT_TMP/slowwrite.sh"
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {"t.slowwrite": {"command": ["$HT_TMP/slowwrite.sh"]}}}
JSON
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
export HANGTIGHT_BLOB_STORE=dir:$BLOBS
export HANGTIGHT_LEASE_MS=2000
ht_start_stack --workers 0
ht_start_worker w1

head -c 100000 /dev/urandom >"$HT_TMP/in.bin"
for _ in $(seq 40); do cat "$HT_TMP/in.bin"; done >"$HT_TMP/want.bin"
ht_http POST '/v1/jobs?type=t.slowwrite&max_attempts=3' "" -T "$HT_TMP/in.bin"
assert_status 202 "file submit"
ID=$(ht_json .id)

# Mid-output: the file of attempt 1 has some copies, not all.
mid_output() {
    [[ -s "$HT_TMP/slowwrite.sh.attempt1" ]] || return 1
    local f
    f=$(cut -d' ' -f2 "$HT_TMP/slowwrite.sh.attempt1")
    [[ -f "$f" ]] && (($(stat -c %s "$f") >= 300000))
}
wait_until 30 "attempt 1 is writing its output" mid_output
read -r CHILD OUT1 <"$HT_TMP/slowwrite.sh.attempt1"
kill -9 "${HT_PIDS[w1]}"
ht_wait_exit w1 10
# The handler leads its own process group: it outlives the worker; stop it.
kill -9 -- "-$CHILD" 2>/dev/null || true
size1=$(stat -c %s "$OUT1")
((size1 < 4000000)) || fail "attempt 1 finished its output before the kill ($size1 bytes)"

ht_http GET "/v1/jobs/$ID"
assert_json .status running "the job is still held by the dead worker's lease"
assert_jq '.output == null' "no output after the kill"
assert_eq "$(curl -s -o /dev/null -w '%{http_code}' "$HT_URL/v1/jobs/$ID/output")" 404 "no output to download"
assert_eq "$(find "$BLOBS/blobs" -name 'output*' | wc -l)" 0 "no output blob"

ht_start_worker w2
wait_until 60 "the job succeeds on w2" ht_job_is "$ID" succeeded
assert_json .attempt 2 "the retry is attempt 2"
assert_json .output.bytes 4000000 "the whole output"
assert_json .result.copies 40
read -r _ OUT2 <"$HT_TMP/slowwrite.sh.attempt2"
assert_ne "$OUT2" "$OUT1" "the retry writes to a path of its own"
curl -s -o "$HT_TMP/got.bin" "$HT_URL/v1/jobs/$ID/output"
cmp -s "$HT_TMP/got.bin" "$HT_TMP/want.bin" || fail "the downloaded output is not the retry's whole output"
assert_eq "$(ht_job_hget "$ID" output | cut -d' ' -f3)" output-2 "the kept blob is attempt 2's"
assert_eq "$(find "$BLOBS/blobs" -name 'output*' ! -name '*.meta' | wc -l)" 1 "one output blob"
# Attempt 1's partial file: only in tmp/, never under blobs/.
assert_eq "$(stat -c %s "$OUT1")" "$size1" "attempt 1's file is as the kill left it"
assert_match "$OUT1" "^$BLOBS/tmp/" "attempt 1's file is in the store's tmp/"
