#!/usr/bin/env bash
# A file as a job's input with curl: upload it (curl -T streams it from
# disk), hold the request until the job finishes (Prefer: wait=N: 102
# Processing meanwhile, then 201 Created when the job left an output file,
# 200 when not, 202 if N ran out), then download a file of the job.
#
#   HANGTIGHT_URL=http://127.0.0.1:8080 examples/curl/upload_file.sh TYPE FILE [output|input]
#
# The downloaded file goes to FILE.output (or FILE.input) and its SHA-256 is
# checked against the ETag.  HANGTIGHT_API_KEY, when set, is sent as
# "Authorization: Bearer".  Prints the job document on stdout; exits 0 when
# the job succeeded and the file came back whole.  Needs curl, jq, sha256sum.
set -euo pipefail
URL=${HANGTIGHT_URL:-http://127.0.0.1:8080}
TYPE=${1:?usage: upload_file.sh TYPE FILE [output|input]}
FILE=${2:?usage: upload_file.sh TYPE FILE [output|input]}
WHICH=${3:-output}
auth=()
[[ -n "${HANGTIGHT_API_KEY:-}" ]] && auth=(-H "Authorization: Bearer $HANGTIGHT_API_KEY")
hdrs=$(mktemp)
trap 'rm -f "$hdrs"' EXIT
header() { tr -d '\r' <"$hdrs" | awk -v n="${1,,}" -F': ' 'tolower($1) == n { v = $2 } END { print v }'; }

# -T streams the file with Content-Length (and Expect: 100-continue, so a
# refusal comes before the upload); -X POST because -T alone is a PUT.
body=$(curl -sS -D "$hdrs" "${auth[@]}" -T "$FILE" -X POST -H 'Content-Type: application/octet-stream' \
    -H 'Prefer: wait=60' "$URL/v1/jobs?type=$TYPE")
status=$(tr -d '\r' <"$hdrs" | awk '/^HTTP\// { s = $2 } END { print s }') # the final status line
case "$status" in
201) echo "finished with an output: $(header location)" >&2 ;;
200) echo "finished" >&2 ;;
202) echo "still running after 60 s: poll $(header location)" >&2; echo "$body"; exit 1 ;;
*) echo "submit: HTTP $status: $body" >&2; exit 1 ;;
esac
echo "$body"
[[ "$(jq -r .status <<<"$body")" == succeeded ]] || exit 1

href=$(jq -r --arg w "$WHICH" '.[$w].href // empty' <<<"$body")
if [[ -z "$href" ]]; then
    echo "the job has no $WHICH file" >&2
    exit 0
fi
curl -sS -f -D "$hdrs" "${auth[@]}" -o "$FILE.$WHICH" "$URL$href"
etag=$(header etag)
sha=$(sha256sum "$FILE.$WHICH" | cut -c1-64)
[[ "$etag" == "\"$sha\"" ]] || { echo "download: SHA-256 $sha, ETag $etag" >&2; exit 1; }
echo "saved the $WHICH file as $FILE.$WHICH ($(stat -c %s "$FILE.$WHICH") bytes, sha256 $sha)" >&2
