#!/usr/bin/env bash
# An upload does not go through the api's memory or Redis (docs/files.md
# "Memory"): during a 512 MiB upload read from the socket, and a 256 MiB
# one over HTTP/2 (h2o's spool file), the api's anonymous memory (RssAnon)
# grows by less than 64 MiB, and Redis' used_memory by less than 1 MiB;
# the files come back whole.  The bounds are far above what is needed
# (bench/README.md has the figures), so a loaded machine cannot make this
# flake; a copy of the file in memory could not pass it.
source "$(dirname "$0")/lib.sh"

export HANGTIGHT_BLOB_STORE=dir:$HT_TMP/blobs
ht_start_stack --workers 0
API_PID=${HT_PIDS[api]}
rss_anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$API_PID/status"; }
used_memory() { ht_redis INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }

# A monitor of the api's RssAnon peak (KiB), sampled every 10 ms.
watch_rss() {
    local peak=0 v
    while [[ ! -e "$HT_TMP/stop-watch" ]]; do
        v=$(awk '/^RssAnon:/ { print $2 }' "/proc/$API_PID/status" 2>/dev/null || echo 0)
        ((v > peak)) && peak=$v && echo "$peak" >"$HT_TMP/peak"
        sleep 0.01
    done
}

# upload_and_check WHAT SIZE CURL-ARGS...: uploads a sparse file of SIZE,
# checks both bounds, downloads it back.
upload_and_check() {
    local what=$1 size=$2
    shift 2
    rm -f "$HT_TMP/big" "$HT_TMP/stop-watch"
    truncate -s "$size" "$HT_TMP/big"
    local base_rss base_mem
    base_rss=$(rss_anon)
    base_mem=$(used_memory)
    echo "$base_rss" >"$HT_TMP/peak"
    watch_rss &
    local watcher=$!
    local code
    code=$(curl -s -o "$HT_TMP/o" -w '%{http_code}' "$@" -T "$HT_TMP/big" -X POST \
        "$HT_URL/v1/jobs?type=echo")
    touch "$HT_TMP/stop-watch"
    wait "$watcher"
    assert_eq "$code" 202 "$what: $(head -c 300 "$HT_TMP/o")"
    local grew=$(($(cat "$HT_TMP/peak") - base_rss)) mem=$(($(used_memory) - base_mem))
    log "$what: RssAnon $base_rss KiB, peak +$grew KiB; Redis used_memory +$mem bytes"
    ((grew < 64 * 1024)) || fail "$what: the api's RssAnon grew by $grew KiB"
    ((mem < 1024 * 1024)) || fail "$what: Redis grew by $mem bytes"
    local id sha
    id=$(jq -r .id "$HT_TMP/o")
    sha=$(sha256sum "$HT_TMP/big" | cut -c1-64)
    assert_eq "$(jq -r .input.sha256 "$HT_TMP/o")" "$sha" "$what: the stored SHA-256"
    assert_eq "$(curl -s "$HT_URL/v1/jobs/$id/input" | sha256sum | cut -c1-64)" "$sha" \
        "$what: the download"
    rm -f "$HT_TMP/big" "$HT_TMP/blobs/blobs/default/$id/input"
}

upload_and_check "512 MiB over HTTP/1.1" 512M
upload_and_check "256 MiB over HTTP/2" 256M --http2-prior-knowledge
metrics=$(curl -s "$HT_URL/metrics")
assert_match "$metrics" 'hangtight_api_uploads_total\{body="socket"\} 1' "the HTTP/1.1 body came from the socket"
assert_match "$metrics" 'hangtight_api_uploads_total\{body="buffered"\} 1' "the HTTP/2 body came through h2o"
