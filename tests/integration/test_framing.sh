#!/usr/bin/env bash
# HTTP/1.1 framing at the front door (api/guard.h): each case of the table
# in clients/hostile.py (run_framing) on its own connection, with the
# status, the kind of body (problem+json from the api, or h2o's own
# text/plain answer) and whether the connection is closed after the answer.
# Smuggling attempts (CL+TE, CL.CL, TE.TE) hide a valid submit after the
# first request: no job may be created.
source "$(dirname "$0")/lib.sh"

ht_start_stack --workers 0 --api-args --max-body-bytes 65536

out=$(python3 "$HT_CLIENTS_DIR/hostile.py" "$(ht_hostport)" framing) ||
    fail "framing table: $(jq -c .bad <<<"$out" 2>/dev/null || echo "$out")"
log "$(jq -r '.cases[] | "\(.case): \(.status) \(.content_type) closed=\(.closed)"' <<<"$out")"

# No smuggled submit ran.
assert_eq "$(ht_redis HGET 'ht:{default}:t:default:stats' submitted)" "" "jobs submitted"
assert_eq "$(ht_redis --scan --pattern 'ht:{default}:job:*' | wc -l)" 0 "job hashes"

# The api is still up and serving.
ht_http GET /healthz
assert_status 200
