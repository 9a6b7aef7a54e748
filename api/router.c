/* The route table and its matcher (see router.h).  Patterns are literal
 * paths where "{name}" stands for one non-empty path segment. */
#include "api/router.h"

#include <stdio.h>
#include <string.h>

#include "api/events.h"
#include "api/http.h"

typedef struct {
    const char *method;
    const char *pattern;
    ht_route_fn fn;
} route_t;

/* Seam for later issues: auth and rate limits run before the table (one
 * call in ht_router_dispatch); metrics will be a row. */
static const route_t routes[] = {
    {"POST", "/v1/jobs", ht_jobs_submit},
    {"GET", "/v1/jobs", ht_jobs_list},
    {"GET", "/v1/jobs/{id}", ht_jobs_get},
    {"DELETE", "/v1/jobs/{id}", ht_jobs_cancel},
    {"POST", "/v1/jobs/{id}/retry", ht_jobs_retry},
    {"GET", "/v1/jobs/{id}/events", ht_events_get},
    {"GET", "/v1/queues", ht_queues_get},
    {"GET", "/healthz", ht_health_live},
    {"GET", "/readyz", ht_health_ready},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* 1 when `path` fits `pattern`; the capture (if any) goes to args->id. */
static int match(const char *pattern, h2o_iovec_t path, ht_route_args_t *args)
{
    const char *p = pattern;
    size_t i = 0;
    while (*p) {
        if (*p == '{') {
            size_t start = i;
            while (i < path.len && path.base[i] != '/')
                i++;
            if (i == start)
                return 0;
            args->id = h2o_iovec_init(path.base + start, i - start);
            p = strchr(p, '}');
            if (!p)
                return 0;
            p++;
            continue;
        }
        if (i >= path.len || path.base[i] != *p)
            return 0;
        i++;
        p++;
    }
    return i == path.len;
}

static int method_is(const h2o_req_t *req, const char *method)
{
    if (h2o_memis(req->method.base, req->method.len, method, strlen(method)))
        return 1;
    return strcmp(method, "GET") == 0 &&
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

void ht_router_dispatch(ht_api_thread_t *t, h2o_req_t *req)
{
    ht_route_args_t args = {{NULL, 0}};
    char allow[128] = "";
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!match(routes[i].pattern, req->path_normalized, &args))
            continue;
        if (method_is(req, routes[i].method)) {
            routes[i].fn(t, req, &args);
            return;
        }
        size_t used = strlen(allow);
        snprintf(allow + used, sizeof(allow) - used, "%s%s%s", used ? ", " : "", routes[i].method,
                 strcmp(routes[i].method, "GET") == 0 ? ", HEAD" : "");
    }
    if (allow[0]) {
        ht_http_add_header(req, "allow", allow);
        ht_http_problem(req, HT_P_METHOD_NOT_ALLOWED, "%.*s is not allowed here; allowed: %s",
                        (int)req->method.len, req->method.base, allow);
        return;
    }
    ht_http_problem(req, HT_P_NOT_FOUND, "no resource at %.*s", (int)req->path_normalized.len,
                    req->path_normalized.base);
}
