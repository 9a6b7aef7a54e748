/* Serving the embedded static files (see static.h): lookup by name,
 * conditional GET, and the security headers of the dashboard. */
#include "api/static.h"

#include <string.h>

#include "api/http.h"

/* Only this origin: the page's script is /dashboard/app.js (no inline
 * script or style), and it talks to the API of the same origin.  The
 * throughput chart is SVG built in the DOM, so no img-src data: either. */
#define DASHBOARD_CSP                                                                            \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                  \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

const ht_static_asset_t *ht_static_find(const char *name, size_t len)
{
    for (size_t i = 0; i < ht_static_assets_count; i++) {
        const ht_static_asset_t *a = &ht_static_assets[i];
        if (strlen(a->name) == len && memcmp(a->name, name, len) == 0)
            return a;
    }
    return NULL;
}

/* Answers with `a`: 304 when the client has it, else 200 with the bytes. */
static int send_asset(h2o_req_t *req, const ht_static_asset_t *a, int dashboard)
{
    ht_http_add_header(req, "etag", a->etag);
    ht_http_add_header(req, "cache-control", "no-cache");
    ht_http_add_header(req, "x-content-type-options", "nosniff");
    if (dashboard) {
        ht_http_add_header(req, "content-security-policy", DASHBOARD_CSP);
        ht_http_add_header(req, "referrer-policy", "no-referrer");
        ht_http_add_header(req, "x-frame-options", "DENY");
    }
    if (ht_http_if_none_match(req, a->etag)) {
        ht_http_send_empty(req, 304);
        return 0;
    }
    ht_http_send(req, 200, a->content_type, a->body, a->len);
    return 0;
}

int ht_static_index(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    (void)t;
    (void)args;
    const ht_static_asset_t *a = ht_static_find(H2O_STRLIT("index.html"));
    if (!a)
        return ht_http_problem(req, HT_P_NOT_FOUND, "the dashboard is not built in");
    return send_asset(req, a, 1);
}

int ht_static_file(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    (void)t;
    /* openapi.json has its own path; index.html is "/". */
    const ht_static_asset_t *a = ht_static_find(args->id.base, args->id.len);
    if (!a || strcmp(a->name, "openapi.json") == 0 || strcmp(a->name, "index.html") == 0)
        return ht_http_problem(req, HT_P_NOT_FOUND, "no dashboard file %.*s", (int)args->id.len,
                               args->id.base);
    return send_asset(req, a, 1);
}

int ht_static_openapi(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    (void)t;
    (void)args;
    const ht_static_asset_t *a = ht_static_find(H2O_STRLIT("openapi.json"));
    if (!a)
        return ht_http_problem(req, HT_P_NOT_FOUND, "the OpenAPI document is not built in");
    /* Generators and doc viewers on other origins may fetch it. */
    ht_http_add_header(req, "access-control-allow-origin", "*");
    return send_asset(req, a, 0);
}
