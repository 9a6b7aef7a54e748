#!/usr/bin/env bash
# The dashboard (GET /) in a real browser: Debian's chromium, headless,
# driven by playwright-core (tests/browser/dashboard.test.mjs, which says
# what it checks) against redis + api + worker.  Also checks the static
# files' headers with curl (ETag/304, CSP, nosniff, 404 for unknown files).
#
# playwright-core is installed with npm ci from tests/browser/package-lock.json
# into the build dir (cached).  Skipped (ht_skip) only when /usr/bin/chromium
# is missing: scripts/deps.sh --test installs it.
#
# The api runs with an API key file; the page gets the key typed in.
# Screenshots go to $HT_BUILD_DIR/test-output/dashboard/; with
# HT_UPDATE_DOCS=1 (or when it is missing) the screenshot is also copied to
# docs/img/dashboard.png for the README.
source "$(dirname "$0")/lib.sh"

CHROMIUM=${HT_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x "$CHROMIUM" ]]; then
    ht_skip "$CHROMIUM is not installed (apt-get install chromium; scripts/deps.sh --test does)"
fi

# With API keys: the page must ask for one and send it (as Bearer) on every
# call, its fetch()-read event streams included.
KEY=dash-$(openssl rand -hex 12)
printf 'acme:%s\n' "$KEY" >"$HT_TMP/keys"
# The detail view replays a job's event log from its start: here every job
# keeps one (by default only the changes made while some request watches
# the job are logged: docs/keyspace.md, "Watching").
export HANGTIGHT_LOG_EVERY_JOB=1
# An operator key, to pause and resume while the page shows it.
OPS_KEY=ops-$(openssl rand -hex 12)
printf 'ops:%s\n' "$OPS_KEY" >"$HT_TMP/operators"
# A blob store: the detail view shows a job's files (docs/files.md).
export HANGTIGHT_BLOB_STORE=dir:$HT_TMP/blobs
# --metrics-public: the page reads /metrics (persistent handlers) with the
# tenant's key, which /metrics refuses otherwise (403: a console error).
ht_start_stack --api-args --api-keys-file "$HT_TMP/keys" --operator-keys-file "$HT_TMP/operators" \
    --metrics-public --worker-args --concurrency 6

# ---- static files with curl (no key: they show no tenant's data) ---------------
ht_http GET /
assert_status 200 "GET /"
assert_match "$(ht_header Content-Type)" '^text/html' "dashboard Content-Type"
assert_match "$(ht_header Content-Security-Policy)" "^default-src 'none'; script-src 'self'" "CSP"
assert_eq "$(ht_header X-Content-Type-Options)" nosniff "nosniff"
assert_eq "$(ht_header Cache-Control)" no-cache "Cache-Control"
grep -q '<script src="/dashboard/app.js"' <<<"$HTTP_BODY" || fail "the page does not load app.js"
! grep -qE '<script>|<script [^>]*>[^<]' <<<"$HTTP_BODY" || fail "inline script in the page"
etag=$(ht_header ETag)
assert_match "$etag" '^"[0-9a-f]{16}"$' "dashboard ETag"
ht_http GET / '' -H "If-None-Match: $etag"
assert_status 304 "conditional GET /"
ht_http GET / '' -H 'If-None-Match: "0000000000000000"'
assert_status 200 "GET / with a stale ETag"
for f in app.js:text/javascript app.css:text/css favicon.svg:image/svg.xml; do
    ht_http GET "/dashboard/${f%%:*}"
    assert_status 200 "GET /dashboard/${f%%:*}"
    assert_match "$(ht_header Content-Type)" "^${f#*:}" "Content-Type of ${f%%:*}"
    cmp -s "$HT_TMP/http.body" "$HT_SOURCE_DIR/api/dashboard/${f%%:*}" || fail "${f%%:*} differs from the source"
done
for f in nope.js index.html openapi.json; do
    ht_http GET "/dashboard/$f"
    assert_problem 404 "GET /dashboard/$f"
done
ht_http POST / '{}'
assert_problem 405 "POST /"

# ---- the browser -----------------------------------------------------------------
ht_npm_ci browser playwright-core
# The script lives in the source tree; node resolves playwright-core from
# NODE_PATH... which ES modules ignore, so run a copy next to node_modules.
cp "$HT_SOURCE_DIR/tests/browser/dashboard.test.mjs" "$NPM_DIR/"
OUT=$HT_BUILD_DIR/test-output/dashboard
rm -rf "$OUT"
log "driving $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null || echo '?'))"
HT_API_KEY=$KEY HT_OPERATOR_KEY=$OPS_KEY HT_CHROMIUM=$CHROMIUM timeout 150 node "$NPM_DIR/dashboard.test.mjs" "$HT_URL" "$OUT" ||
    fail "the browser test failed (screenshots, if any, in $OUT)"
[[ -s "$OUT/dashboard.png" ]] || fail "no screenshot"
if [[ "${HT_UPDATE_DOCS:-0}" == 1 || ! -f "$HT_SOURCE_DIR/docs/img/dashboard.png" ]]; then
    mkdir -p "$HT_SOURCE_DIR/docs/img"
    cp "$OUT/dashboard.png" "$HT_SOURCE_DIR/docs/img/dashboard.png"
    log "copied the screenshot to docs/img/dashboard.png"
fi
log "screenshot: $OUT/dashboard.png"
