#!/usr/bin/env bash
# api/openapi.json against the server that serves it:
#  - GET /openapi.json answers the file byte for byte, with a strong ETag
#    (If-None-Match: 304) and Content-Type application/json;
#  - the routes agree both ways: the route table of api/router.c (read now,
#    not copied here) and the document's paths and methods are the same set,
#    and the running server agrees: every documented path answers OPTIONS with
#    405 and an Allow header listing exactly the documented methods, and a
#    path that is not documented answers 404;
#  - every problem type of shared/problem.c is in the document, every /v1
#    operation lists 401 and a 4xx, every tenant one (not the worker API's:
#    worker keys have no rate limit) 429, and the headers the README
#    promises are described;
#  - `redocly lint` (npm @redocly/cli, pinned in tests/openapi/package-lock.json,
#    installed into the build dir) passes with tests/openapi/redocly.yaml.
source "$(dirname "$0")/lib.sh"

DOC=$HT_SOURCE_DIR/api/openapi.json
jq -e . "$DOC" >/dev/null || fail "api/openapi.json is not JSON"
assert_eq "$(jq -r .openapi "$DOC")" 3.1.0 "openapi version"

# ---- the route table, both ways ---------------------------------------------
# "METHOD /path" lines, with every {param} written {}.
norm() { sed -E 's/\{[^}]*\}/{}/g' | sort -u; }
grep -oE '^\s*\{"(GET|POST|PUT|PATCH|DELETE)", "/[^"]*"' "$HT_SOURCE_DIR/api/router.c" |
    sed -E 's/^\s*\{"([A-Z]+)", "([^"]*)"/\1 \2/' | norm >"$HT_TMP/router.routes"
(($(wc -l <"$HT_TMP/router.routes") >= 9)) || fail "could not read the route table of api/router.c"
jq -r '.paths | to_entries[] | .key as $p | .value | keys[]
       | select(IN("get","post","put","patch","delete")) | "\(ascii_upcase) \($p)"' "$DOC" |
    norm >"$HT_TMP/doc.routes"
if ! diff -u "$HT_TMP/router.routes" "$HT_TMP/doc.routes" >"$HT_TMP/routes.diff"; then
    fail "api/router.c (-) and api/openapi.json (+) disagree:
$(cat "$HT_TMP/routes.diff")"
fi
log "route table and document agree: $(wc -l <"$HT_TMP/doc.routes") routes"

# ---- the running server -------------------------------------------------------
ht_start_stack --workers 0

ht_http GET /openapi.json
assert_status 200 "GET /openapi.json"
assert_match "$(ht_header Content-Type)" '^application/json' "openapi Content-Type"
cmp -s "$HT_TMP/http.body" "$DOC" || fail "GET /openapi.json is not api/openapi.json (rebuild the api?)"
etag=$(ht_header ETag)
assert_match "$etag" '^"[0-9a-f]{16}"$' "openapi ETag (strong)"
assert_eq "$(ht_header Access-Control-Allow-Origin)" "*" "openapi CORS"
ht_http GET /openapi.json '' -H "If-None-Match: $etag"
assert_status 304 "conditional GET /openapi.json"
ht_http HEAD /openapi.json '' -I
assert_status 200 "HEAD /openapi.json"

# Each documented path, made concrete, must be known to the server with
# exactly the documented methods: OPTIONS is in no path's methods, so the
# router answers 405 with Allow.
sample() { sed -e 's#/jobs/{[^}]*}#/jobs/5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11#' \
               -e 's#/v1/schedules/{[^}]*}#/v1/schedules/7c9e6679-7425-40de-944b-e07fc1f90ae7#' \
               -e 's#/v1/webhook-secrets/{[^}]*}#/v1/webhook-secrets/ws_0123456789abcdef01234567#' \
               -e 's#/dashboard/{[^}]*}#/dashboard/app.js#' -e 's#/v1/queues/{[^}]*}#/v1/queues/default#' \
               -e 's#/v1/limits/tenants/{[^}]*}#/v1/limits/tenants/default#' \
               -e 's#/v1/limits/types/{[^}]*}#/v1/limits/types/echo#'; }
n=0
while IFS=$'\t' read -r path want; do
    concrete=$(sample <<<"$path")
    [[ "$concrete" != *'{'* ]] || fail "no sample value for a parameter of $path"
    ht_http OPTIONS "$concrete"
    assert_problem 405 "OPTIONS $concrete"
    got=$(ht_header Allow | tr ',' '\n' | tr -d ' ' | sort | xargs)
    assert_eq "$got" "$want" "Allow of $concrete (server) vs methods of $path (document)"
    n=$((n + 1))
done < <(jq -r '.paths | to_entries[] | [.key, ([.value | keys[] | select(IN("get","post","put","patch","delete"))
                | ascii_upcase | if . == "GET" then ("GET", "HEAD") else . end] | sort | join(" "))] | @tsv' "$DOC")
log "the server knows all $n documented paths with the documented methods"
for path in /v1/nope /v1/jobs/x/y /openapi.yaml /dashboard /v2/jobs; do
    ht_http OPTIONS "$path"
    assert_problem 404 "OPTIONS $path (not documented)"
done

# ---- content checks -------------------------------------------------------------
# Every problem kind of shared/problem.c.
codes=$(grep -oE '\[HT_P_[A-Z_]+\] = \{[0-9]+, "[a-z-]+"' "$HT_SOURCE_DIR/shared/problem.c" |
    sed -E 's/.*\{([0-9]+), "([a-z-]+)"/\1 \2/')
[[ -n "$codes" ]] || fail "could not read the problem table of shared/problem.c"
jq -r '.components.schemas.Problem.properties.type.enum[]' "$DOC" >"$HT_TMP/problem.enum"
jq -r .components.schemas.Problem.description "$DOC" >"$HT_TMP/problem.table"
while read -r status code; do
    grep -qxF "urn:hangtight:problem:$code" "$HT_TMP/problem.enum" ||
        fail "problem type $code is not in the document's Problem schema"
    grep -qF "| $status | \`urn:hangtight:problem:$code\`" "$HT_TMP/problem.table" ||
        fail "problem type $code ($status) is not in the Problem description table"
done <<<"$codes"
log "all $(wc -l <<<"$codes") problem types are described"

# Every /v1 operation: 401 (keys), and 429 (rate limits) unless it is the
# worker API's, at least one 4xx besides.
bad=$(jq -r '.paths | to_entries[] | select(.key | startswith("/v1/")) | .key as $p | .value | to_entries[]
             | select(.key | IN("get","post","put","patch","delete"))
             | select((.value.responses | has("401") and (has("429") or ($p | startswith("/v1/worker/")))) | not)
             | "\(.key) \($p)"' "$DOC")
[[ -z "$bad" ]] || fail "operations without 401/429: $bad"

# The headers the README names.
for h in Prefer Idempotency-Key If-None-Match Last-Event-ID; do
    jq -e --arg h "$h" '[.. | objects | select(.in? == "header" and .name? == $h)] | length > 0' "$DOC" >/dev/null ||
        fail "request header $h is not described"
done
for h in Location Operation-Location Retry-After ETag Preference-Applied Vary Content-Location \
    Idempotent-Replayed X-Request-Id WWW-Authenticate Cache-Control Content-Security-Policy; do
    jq -e --arg h "$h" '[.. | objects | select(has("headers")) | .headers | select(type == "object") | has($h)] | any' "$DOC" >/dev/null ||
        fail "response header $h is not described"
done
jq -e '.components.securitySchemes.bearerAuth.scheme == "bearer"' "$DOC" >/dev/null || fail "no bearer scheme"
jq -e '.components.securitySchemes.workerKey.scheme == "bearer"' "$DOC" >/dev/null || fail "no worker key scheme"
bad=$(jq -r '.paths | to_entries[] | select(.key | startswith("/v1/worker/")) | .key as $p | .value
             | to_entries[] | select(.key | IN("get","post","put","patch","delete"))
             | select([.value.security[] | keys[]] != ["workerKey"]) | "\(.key) \($p)"' "$DOC")
[[ -z "$bad" ]] || fail "worker API operations not secured by workerKey alone: $bad"
jq -e '.webhooks.jobFinished.post.requestBody.content["application/json"].schema' "$DOC" >/dev/null ||
    fail "the webhook payload is not under webhooks:"
for h in webhook-id webhook-timestamp webhook-signature; do
    jq -e --arg h "$h" '[.webhooks.jobFinished.post.parameters[] | select(.name == $h)] | length == 1' "$DOC" \
        >/dev/null || fail "webhook header $h is not described"
done

# The job document the server makes fits the document's Job schema's
# required fields (a cheap check that the two did not drift apart).
ht_http POST /v1/jobs '{"type":"echo","payload":{"n":1}}'
assert_status 202 "submit"
missing=$(jq -r --argjson job "$HTTP_BODY" '.components.schemas.Job.required[] as $k | select($job | has($k) | not) | $k' "$DOC")
[[ -z "$missing" ]] || fail "the job document lacks fields the schema requires: $missing"
extra=$(jq -r --argjson job "$HTTP_BODY" '.components.schemas.Job.properties as $p | $job | keys[] as $k | select($p | has($k) | not) | $k' "$DOC")
[[ -z "$extra" ]] || fail "the job document has fields the schema does not describe: $extra"

# ---- redocly lint -------------------------------------------------------------------
ht_npm_ci openapi .bin/redocly
# No telemetry, no update check: the test talks to nobody.
if ! REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
    "$NPM_DIR/node_modules/.bin/redocly" lint "$DOC" --config "$HT_SOURCE_DIR/tests/openapi/redocly.yaml" \
    >"$HT_TMP/lint.log" 2>&1; then
    fail "redocly lint failed:
$(grep -v '[║╔╚]' "$HT_TMP/lint.log" | tail -n 60)"
fi
grep -q 'is valid' "$HT_TMP/lint.log" || fail "redocly lint did not say valid: $(tail -n 20 "$HT_TMP/lint.log")"
if grep -qiE '^warning|warnings?\.' "$HT_TMP/lint.log"; then
    fail "redocly lint warns (the rules make every problem an error): $(tail -n 30 "$HT_TMP/lint.log")"
fi
log "redocly lint: valid, no warnings"
