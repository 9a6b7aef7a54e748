#!/usr/bin/env bash
# Slowloris: 1,000 connections dribbling a request head or body one byte
# every 2 s (and idle keep-alive ones), while a prober sends GET /healthz on
# fresh connections every 0.2 s.  h2o's http1 req_timeout
# (--request-timeout-ms, here 4 s; 10 s by default) is a deadline armed when
# a request starts and not re-armed by each byte, so every dribbler is cut
# off about 4 s after it opened, without an answer, and the prober is
# answered promptly throughout (clients/slowloris.py).
source "$(dirname "$0")/lib.sh"

TIMEOUT_MS=4000
ht_start_stack --workers 0 --api-args --request-timeout-ms "$TIMEOUT_MS"

ulimit -n 4096 2>/dev/null || true
out=$(python3 "$HT_CLIENTS_DIR/slowloris.py" "$(ht_hostport)" 1000 2 20) ||
    fail "slowloris client failed: $out"
log "$(jq -c . <<<"$out")"
ht_alive api || fail "the api died"

for kind in head body idle; do
    k=$(jq -c ".kinds.$kind" <<<"$out")
    # Every dribbler cut off; not before the deadline (so the deadline is
    # what cut it), and not long after it.
    assert_eq "$(jq .still_open <<<"$k")" 0 "$kind dribblers still open"
    jq -e '.cut_min_s >= 3.5 and .cut_max_s <= 10' <<<"$k" >/dev/null ||
        fail "$kind dribblers cut off outside 3.5..10 s: $k"
done
# The head and body dribblers never got an answer; the idle ones exactly
# their one 200.
assert_eq "$(jq -c '.kinds.head.received' <<<"$out")" '[]' "answers to head dribblers"
assert_eq "$(jq -c '.kinds.body.received' <<<"$out")" '[]' "answers to body dribblers"
assert_eq "$(jq -c '.kinds.idle.received' <<<"$out")" '["HTTP/1.1 200"]' "answers to idle connections"

# Meanwhile normal clients were answered, and promptly (generous bound).
p=$(jq -c .probes <<<"$out")
assert_eq "$(jq .failures <<<"$p")" 0 "failed probes ($p)"
jq -e '.ok >= 10 and .max_ms < 1000' <<<"$p" >/dev/null || fail "probes too slow or too few: $p"

ht_http GET /healthz
assert_status 200
