/* The route table and its matcher (see router.h).  Patterns are literal
 * paths where "{name}" stands for one non-empty path segment. */
#include "api/router.h"

#include <stdio.h>
#include <string.h>

#include "api/auth.h"
#include "api/events.h"
#include "api/guard.h"
#include "api/http.h"
#include "api/inflight.h"
#include "api/metrics.h"
#include "api/reqid.h"
#include "api/static.h"

typedef struct {
    const char *method;
    const char *pattern;
    unsigned roles; /* HT_ROLE_* bits: who may call it (api/auth.h) */
    ht_route_fn fn;
} route_t;

#define TENANT   HT_ROLE_TENANT
#define OPERATOR HT_ROLE_OPERATOR
#define WORKER   HT_ROLE_WORKER

/* Before the table, ht_router_dispatch runs the front-door guard
 * (api/guard.h), the API key check (api/auth.h), the bounds on Redis calls
 * in flight (api/inflight.h) and the tenant's rate limit.  A key of a role
 * the route does not take is a 403. */
static const route_t routes[] = {
    {"POST", "/v1/jobs", TENANT, ht_jobs_submit},
    {"POST", "/v1/jobs/batch", TENANT, ht_jobs_batch},
    {"GET", "/v1/jobs", TENANT, ht_jobs_list},
    {"GET", "/v1/jobs/{id}", TENANT, ht_jobs_get},
    {"DELETE", "/v1/jobs/{id}", TENANT, ht_jobs_cancel},
    {"POST", "/v1/jobs/{id}/retry", TENANT, ht_jobs_retry},
    {"GET", "/v1/jobs/{id}/events", TENANT, ht_events_get},
    {"GET", "/v1/jobs/{id}/input", TENANT, ht_files_get},
    {"GET", "/v1/jobs/{id}/output", TENANT, ht_files_get},
    {"GET", "/v1/queues", TENANT | OPERATOR, ht_queues_get},
    {"POST", "/v1/queues/{id}/pause", OPERATOR, ht_operator_pause},
    {"POST", "/v1/queues/{id}/resume", OPERATOR, ht_operator_resume},
    {"GET", "/v1/limits", OPERATOR, ht_operator_limits_get},
    {"PUT", "/v1/limits/tenants/{id}", OPERATOR, ht_operator_tenant_put},
    {"DELETE", "/v1/limits/tenants/{id}", OPERATOR, ht_operator_tenant_delete},
    {"PUT", "/v1/limits/types/{id}", OPERATOR, ht_operator_type_put},
    {"DELETE", "/v1/limits/types/{id}", OPERATOR, ht_operator_type_delete},
    {"POST", "/v1/schedules", TENANT, ht_schedules_create},
    {"GET", "/v1/schedules", TENANT, ht_schedules_list},
    {"GET", "/v1/schedules/{id}", TENANT, ht_schedules_get},
    {"DELETE", "/v1/schedules/{id}", TENANT, ht_schedules_delete},
    {"POST", "/v1/schedules/{id}/pause", TENANT, ht_schedules_pause},
    {"POST", "/v1/schedules/{id}/resume", TENANT, ht_schedules_resume},
    {"POST", "/v1/webhook-secrets", TENANT, ht_webhook_secrets_create},
    {"GET", "/v1/webhook-secrets", TENANT, ht_webhook_secrets_list},
    {"GET", "/v1/webhook-secrets/{id}", TENANT, ht_webhook_secrets_get},
    {"DELETE", "/v1/webhook-secrets/{id}", TENANT, ht_webhook_secrets_revoke},
    {"POST", "/v1/worker/claim", WORKER, ht_worker_claim},
    {"POST", "/v1/worker/jobs/{id}/progress", WORKER, ht_worker_progress},
    {"POST", "/v1/worker/jobs/{id}/complete", WORKER, ht_worker_complete},
    {"POST", "/v1/worker/jobs/{id}/fail", WORKER, ht_worker_fail},
    {"GET", "/v1/worker/jobs/{id}/input", WORKER, ht_worker_input},
    {"PUT", "/v1/worker/jobs/{id}/output", WORKER, ht_worker_output},
    {"GET", "/healthz", HT_ROLE_ALL, ht_health_live},
    {"GET", "/readyz", HT_ROLE_ALL, ht_health_ready},
    {"GET", "/", HT_ROLE_ALL, ht_static_index},
    {"GET", "/dashboard/{id}", HT_ROLE_ALL, ht_static_file},
    {"GET", "/openapi.json", HT_ROLE_ALL, ht_static_openapi},
    {"GET", "/metrics", OPERATOR, ht_metrics_get},
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

static int is_v1(h2o_iovec_t path)
{
    return path.len >= 3 && memcmp(path.base, "/v1", 3) == 0 &&
           (path.len == 3 || path.base[3] == '/');
}

/* Which paths need a key: the v1 API always (when keys are configured);
 * /metrics unless --metrics-public; the rest (health, dashboard page,
 * OpenAPI document) never: they show no tenant's data.  A path that needs
 * none is open to every role. */
static int needs_key(const ht_api_thread_t *t, h2o_iovec_t path)
{
    return is_v1(path) ||
           (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")) && !t->cfg->metrics_public);
}

/* A request that passed auth, waiting for the rate limiter's answer. */
typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    ht_route_fn fn;
    ht_route_args_t args;
} admitted_t;

static void on_rate(void *data, int err, long long wait_ms)
{
    admitted_t *a = data;
    if (err) {
        /* Redis is down or failing: every handler would answer 503 too. */
        ht_http_store_problem(a->req, err);
        return;
    }
    if (wait_ms > 0) {
        ht_http_add_headerf(a->req, "retry-after", "%lld", (wait_ms + 999) / 1000);
        ht_http_problem(a->req, HT_P_RATE_LIMITED,
                        "tenant '%s' is over its rate limit of %g requests/s (burst %ld); "
                        "retry in %lld ms",
                        a->args.tenant, a->t->cfg->rate_per_s, a->t->cfg->rate_burst, wait_ms);
        return;
    }
    a->fn(a->t, a->req, &a->args);
}

/* Runs the handler; a /v1 request first passes the bounds on Redis calls
 * in flight, then its tenant's rate limiter when one is set.  Not
 * /metrics: a scrape must not spend a tenant's budget, nor fail with 503
 * when Redis is down (it reports that). */
static void admit(ht_api_thread_t *t, h2o_req_t *req, ht_route_fn fn, const ht_route_args_t *args)
{
    if (is_v1(req->path_normalized) && ht_inflight_admit_or_reply(t, req, args->who) < 0)
        return;
    if (!args->who || t->cfg->rate_per_s <= 0 || !is_v1(req->path_normalized)) {
        fn(t, req, args);
        return;
    }
    admitted_t *a = h2o_mem_alloc_pool(&req->pool, sizeof(*a));
    *a = (admitted_t){t, req, fn, *args};
    ht_astore_rate(t->store, req, args->who->rate_key, t->cfg->rate_per_s, t->cfg->rate_burst,
                   on_rate, a);
}

void ht_router_dispatch(ht_api_thread_t *t, h2o_req_t *req)
{
    HT_REQID_SCOPE(t, req);    /* X-Request-Id, log lines' request_id, access log (api/reqid.h) */
    ht_inflight_begin(t, req); /* abandoned requests are counted (api/inflight.h) */
    /* First: a withheld body makes the connection close after any answer
     * that does not read it (a refusal below included). */
    ht_intake_t *intake = ht_intake_claim(req);
    if (ht_guard_request_or_reply(t, req) < 0)
        return;
    if (t->cfg->host_check && ht_auth_host_or_reply(req) < 0)
        return;
    ht_route_args_t args = {{NULL, 0}, "default", NULL, "default", intake, NULL};
    ht_caller_t who = {HT_ROLE_ALL, NULL, NULL};
    /* Authentication comes before routing, so that without a key even the
     * shape of the API (which paths exist) stays hidden. */
    if (needs_key(t, req->path_normalized)) {
        if (ht_auth_request_or_reply(req, &who) < 0)
            return;
        args.tenant = who.tenant ? who.tenant->name : NULL;
        args.who = who.tenant;
        args.operator_name = who.roles & HT_ROLE_OPERATOR ? who.name : NULL;
        /* A worker key names its worker; open, the worker API has no key. */
        args.worker_key = who.roles == HT_ROLE_WORKER ? who.name : NULL;
    }
    /* A path a literal pattern names (/v1/jobs/batch) is that pattern's
     * alone, not also a capture's ("{id}" = "batch"). */
    int literal = 0;
    for (size_t i = 0; i < N_ROUTES && !literal; i++)
        literal = !strchr(routes[i].pattern, '{') &&
                  match(routes[i].pattern, req->path_normalized, &args);
    char allow[128] = "";
    for (size_t i = 0; i < N_ROUTES; i++) {
        if ((literal && strchr(routes[i].pattern, '{')) ||
            !match(routes[i].pattern, req->path_normalized, &args))
            continue;
        if (method_is(req, routes[i].method)) {
            if (!(routes[i].roles & who.roles)) {
                ht_http_problem(req, HT_P_FORBIDDEN, "%s",
                                routes[i].roles == HT_ROLE_WORKER
                                    ? "this needs a worker key (HANGTIGHT_WORKER_KEYS_FILE): "
                                      "only remote workers claim and settle jobs"
                                : who.roles == HT_ROLE_WORKER
                                    ? "a worker key can use the worker API (/v1/worker/...) only"
                                : routes[i].roles & HT_ROLE_OPERATOR
                                    ? "this needs an operator key (HANGTIGHT_OPERATOR_KEYS_FILE): "
                                      "it acts across tenants"
                                    : "an operator key is not a tenant's key: send the API key "
                                      "of the tenant whose jobs these are");
                return;
            }
            admit(t, req, routes[i].fn, &args);
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
