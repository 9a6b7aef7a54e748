#!/usr/bin/env bash
# Submit a job with curl and follow it by polling, as the API asks: wait
# Retry-After seconds between polls, stop at a final status.
#
#   HANGTIGHT_URL=http://127.0.0.1:8080 examples/curl/submit_and_follow.sh [JOB-JSON]
#
# HANGTIGHT_API_KEY, when set, is sent as "Authorization: Bearer".  Prints
# progress lines on stderr and the final job document on stdout; exits 0
# when the job succeeded, 1 otherwise.  Needs curl and jq.
set -euo pipefail
URL=${HANGTIGHT_URL:-http://127.0.0.1:8080}
JOB=${1:-'{"type": "sleep", "payload": {"ms": 1500, "steps": 3}}'}
auth=()
[[ -n "${HANGTIGHT_API_KEY:-}" ]] && auth=(-H "Authorization: Bearer $HANGTIGHT_API_KEY")

hdrs=$(mktemp)
trap 'rm -f "$hdrs"' EXIT
# The header value NAME of the last answer.
header() { tr -d '\r' <"$hdrs" | awk -v n="${1,,}" -F': ' 'tolower($1) == n { v = $2 } END { print v }'; }

body=$(curl -sS -D "$hdrs" "${auth[@]}" -H 'Content-Type: application/json' --data-binary "$JOB" "$URL/v1/jobs")
status=$(awk 'NR == 1 { print $2 }' "$hdrs")
if [[ "$status" != 202 ]]; then
    echo "submit: HTTP $status: $body" >&2    # a problem+json document
    exit 1
fi
location=$(header location)
echo "submitted: $location" >&2

while :; do
    wait_s=$(header retry-after)
    sleep "${wait_s:-1}"
    body=$(curl -sS -D "$hdrs" "${auth[@]}" "$URL$location")
    state=$(jq -r .status <<<"$body")
    echo "$(jq -r '"\(.status) \(.progress.percent // 0)% \(.progress.message // "")"' <<<"$body")" >&2
    case "$state" in
    succeeded) echo "$body"; exit 0 ;;
    failed | canceled) echo "$body"; exit 1 ;;
    esac
done
