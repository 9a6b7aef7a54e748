#!/usr/bin/env bash
# A job's files go when the job goes (docs/files.md "Lifetime"): a finished
# job's input and output are deleted once it expires (ht_trim, run by the
# worker, lists them on the gone list; the api's sweeper deletes them) and
# the tenant's stored bytes come back down; the orphan sweep deletes a blob
# no job names once older than the grace, and an interrupted write left in
# the store's tmp/ once older than the grace plus the longest attempt,
# while a blob whose job exists, and a young orphan, stay.
source "$(dirname "$0")/lib.sh"

BLOBS=$HT_TMP/blobs
TOOL=$HT_BUILD_DIR/ht-blob-tool
export HANGTIGHT_BLOB_STORE=dir:$BLOBS
export HANGTIGHT_BLOB_SWEEP_S=1
ht_start_stack --workers 0
head -c 200000 /dev/urandom >"$HT_TMP/in.bin"
printf 'result file\n' >"$HT_TMP/out.txt"

blob_exists() { [[ -f "$BLOBS/blobs/$1" ]]; }
blob_gone() { ! blob_exists "$1" && [[ ! -f "$BLOBS/blobs/$1.meta" ]]; }
stored_bytes() {
    ht_http GET /v1/queues
    ht_json '.queues[0].stored_bytes // 0'
}
stored_is() { [[ "$(stored_bytes)" == "$1" ]]; }
key() { printf 'ht:{default}:%s' "$1"; }

# ---- expiry takes the input and the output ------------------------------------

# Finished by hand, as a worker would finish it (the worker's own output
# upload is not part of this test): claim, store the output, complete.
ht_http POST '/v1/jobs?type=echo&ttl_s=1' "" -T "$HT_TMP/in.bin"
assert_status 202 "file submit with ttl_s=1"
A=$(ht_json .id)
ht_redis FCALL ht_claim 5 "$(key wait:high)" "$(key wait:default)" "$(key wait:low)" \
    "$(key active)" "$(key fence)" "$(key job:)" test-worker "$(key events)" >/dev/null
token=$(ht_job_hget "$A" token)
[[ -n "$token" ]] || fail "could not claim $A"
HANGTIGHT_BLOB_STORE=dir:$BLOBS "$TOOL" --ctype text/plain put "default/$A/output-1" \
    <"$HT_TMP/out.txt" >"$HT_TMP/put"
ref="$(jq -r .bytes "$HT_TMP/put") $(jq -r .sha256 "$HT_TMP/put") output-1 text/plain"
ht_redis FCALL ht_complete 4 "$(key job:$A)" "$(key active)" "$(key wait:default)" "$(key signal)" \
    "$A" "$token" succeeded '{}' 0 "$(key events)" '' "$ref" >/dev/null
ht_http GET "/v1/jobs/$A"
assert_json '[.status, .output.bytes] | join(" ")' "succeeded 12" "the job has its output"
assert_eq "$(stored_bytes)" $((200000 + 12)) "stored bytes: input and output"
blob_exists "default/$A/input" || fail "the input is stored"
blob_exists "default/$A/output-1" || fail "the output is stored"

# A worker trims the expired job (about once a second); the sweeper deletes.
ht_start_worker w1
wait_until 30 "the expired job's input is deleted" blob_gone "default/$A/input"
wait_until 10 "the expired job's output is deleted" blob_gone "default/$A/output-1"
[[ -d "$BLOBS/blobs/default/$A" ]] && fail "the job's directory is left"
ht_http GET "/v1/jobs/$A/input"
assert_problem 404 "the expired job's input"
wait_until 10 "stored bytes back to 0" stored_is 0
assert_eq "$(ht_redis HLEN "$(key t:default:files)")" 0 "no files entry is left"
assert_eq "$(ht_redis LLEN "$(key gone)")" 0 "the gone list is drained"

# The same through the worker: an echo job with a file, expiring.
ht_http POST '/v1/jobs?type=echo&ttl_s=1' "" -T "$HT_TMP/in.bin"
B=$(ht_json .id)
# Seen in the worker's log: a second after its end the job may be gone
# already, before a GET of it on a loaded machine.
wait_until 30 "the echo job ends" ht_log_has w1 "\"msg\":\"job succeeded\",\"job_id\":\"$B\""
wait_until 30 "its input is deleted once it expired" blob_gone "default/$B/input"

# ---- the orphan sweep ------------------------------------------------------------

ht_http POST '/v1/jobs?type=sleep&ttl_s=3600&payload=%7B%22ms%22%3A1%7D' "" -T "$HT_TMP/in.bin"
KEPT=$(ht_json .id)
wait_until 30 "the kept job ends" ht_job_is "$KEPT" succeeded
ORPHAN=00000000-0000-4000-8000-0000000000aa
YOUNG=00000000-0000-4000-8000-0000000000bb
for id in $ORPHAN $YOUNG; do
    HANGTIGHT_BLOB_STORE=dir:$BLOBS "$TOOL" put "default/$id/input" <"$HT_TMP/out.txt" >/dev/null
done
printf 'half' >"$BLOBS/tmp/0123456789abcdef0123456789abcdef.part" # a write that never ended
printf 'going' >"$BLOBS/tmp/fedcba9876543210fedcba9876543210.part" # one under way
# Older than the grace (3600 s) and, for the interrupted write, than the
# grace plus the longest attempt (a day).
touch -d '2 hours ago' "$BLOBS/blobs/default/$ORPHAN/input" "$BLOBS/blobs/default/$ORPHAN/input.meta" \
    "$BLOBS/blobs/default/$KEPT/input" "$BLOBS/blobs/default/$KEPT/input.meta"
touch -d '3 days ago' "$BLOBS/tmp/0123456789abcdef0123456789abcdef.part"
wait_until 30 "the old orphan is deleted" blob_gone "default/$ORPHAN/input"
partial_gone() { [[ ! -e "$BLOBS/tmp/0123456789abcdef0123456789abcdef.part" ]]; }
wait_until 10 "the interrupted write is deleted" partial_gone
# The sweep that took them looked at the others too.
blob_exists "default/$KEPT/input" || fail "a blob whose job exists was deleted"
blob_exists "default/$YOUNG/input" || fail "an orphan younger than the grace was deleted"
[[ -e "$BLOBS/tmp/fedcba9876543210fedcba9876543210.part" ]] || fail "a young partial write was deleted"
ht_log_has api 'deleted a file no job names' || fail "the sweep logs what it deleted"
ttl=$(ht_redis TTL ht:blobsweep)
((ttl >= 0 && ttl <= 1)) || fail "the sweep lease lasts one interval (TTL $ttl)"
