#!/usr/bin/env bash
# A few thousand malformed and hostile requests (clients/hostile.py: random
# bytes, truncated, deep and invalid-UTF-8 JSON, huge numbers, oversized
# fields, smuggling, bad percent-encoding, huge heads, long URLs, bad
# framing) in three rounds with different seeds.  Asserts: the api stays
# up; every answer is a 4xx problem+json (501 for an unsupported transfer
# coding), except h2o's fixed text/plain "400 Bad Request" for a head that
# does not parse (hostile.py's H2O_RAW), which must close the connection;
# no job is created; resident memory does not grow after the warm-up
# round.
source "$(dirname "$0")/lib.sh"

# A small ASan quarantine, so that freed memory is reused and RSS shows
# real growth (the default 256 MB quarantine would fill up over the run).
export ASAN_OPTIONS="${ASAN_OPTIONS}:quarantine_size_mb=16"

ht_start_stack --workers 0 --api-args --max-body-bytes 65536

submitted() { ht_redis HGET 'ht:{default}:t:default:stats' submitted; }
jobs() { ht_redis --scan --pattern 'ht:{default}:job:*' | wc -l; }

round() {
    local seed=$1 out
    out=$(python3 "$HT_CLIENTS_DIR/hostile.py" "$(ht_hostport)" malformed "$seed") ||
        fail "round $seed: $(jq -c '.bad[:5]' <<<"$out" 2>/dev/null || echo "$out")"
    ht_alive api || fail "the api died during round $seed"
    log "round $seed: $(jq -c '{requests, answered, no_answer, no_answer_in, problem_json, h2o_raw, statuses}' <<<"$out")"
    TOTAL=$((TOTAL + $(jq .requests <<<"$out")))
}
TOTAL=0

round 1 # warm-up: pools, buffers and allocator caches reach their size
rss_warm=$(ht_rss_kib api)
round 2
round 3
rss_end=$(ht_rss_kib api)
log "$TOTAL requests; api RSS after warm-up ${rss_warm} KiB, at the end ${rss_end} KiB"
# Generous: two more rounds must not cost 48 MiB more than the first.
((rss_end - rss_warm < 48 * 1024)) ||
    fail "RSS grew from ${rss_warm} KiB to ${rss_end} KiB over two rounds"
((TOTAL >= 2000)) || fail "only $TOTAL requests sent"

assert_eq "$(submitted)" "" "jobs submitted"
assert_eq "$(jobs)" 0 "job hashes"

# Positive control: the counting above does see a job.
ht_submit '{"type":"echo"}'
assert_eq "$(submitted)" 1 "jobs submitted after one valid submit"
assert_eq "$(jobs)" 1 "job hashes after one valid submit"
ht_http GET /healthz
assert_status 200
