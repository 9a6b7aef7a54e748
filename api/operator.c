/* Operator actions, for operator keys only (api/router.c; docs/fairness.md
 * has the rules, docs/http-api.md the endpoints):
 *
 *   POST   /v1/queues/{name}/pause[?type=T]   200 {"name", "paused": true[, "type"]}:
 *                                             nothing new starts (of type T);
 *                                             running jobs finish, submits go on
 *   POST   /v1/queues/{name}/resume[?type=T]  200 {"name", "paused": false[, "type"]}
 *   GET    /v1/limits                         200 {"partitions", "tenants": {name:
 *                                             limits}, "types": {name: limits}}
 *   PUT    /v1/limits/tenants/{tenant}        {"max_queued", "max_running",
 *                                             "max_priority", "weight"} (each
 *                                             optional: absent is none) -> 200
 *   DELETE /v1/limits/tenants/{tenant}        204
 *   PUT    /v1/limits/types/{type}            {"max_running"} -> 200
 *   DELETE /v1/limits/types/{type}            204
 *
 * The claim runs in Redis, one partition at a time, so every setting is
 * written to every partition the api serves (ht_limits, one call each):
 * pause flags, priorities and weights as they are, caps split (share()).
 * The caps as set are recorded in HT_KEY_LIMITS for GET.  A write that
 * fails part way answers 503; sending it again puts everything right (a
 * PUT replaces, a DELETE removes, pause and resume are idempotent). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/log.h"

#include "api/auth.h"
#include "api/http.h"
#include "api/router.h"
#include "api/store.h"
#include "api/types.h"

#define BODY_MAX   4096
#define WEIGHT_MAX 100
#define CAP_MAX    1000000000LL

/* ---- every served partition --------------------------------------------- */

static size_t served(const ht_api_thread_t *t)
{
    return t->cfg->parts ? t->cfg->parts->count : 1;
}

static const ht_keys_t *served_keys(ht_api_thread_t *t, size_t i)
{
    return t->cfg->parts ? &t->cfg->parts->parts[i].keys : &t->keys;
}

/* Partition i's share of a cap of n over p partitions: n / p, and one more
 * for the first n % p of them; the shares add up to n, so a cap on running
 * jobs holds across the partitions exactly.  Every share is at least 1
 * because such a cap is refused below p (validation). */
static long long share(long long n, size_t i, size_t p)
{
    return n / (long long)p + ((long long)i < n % (long long)p ? 1 : 0);
}

/* A write to every partition, answered once all are done. */
typedef struct {
    h2o_req_t *req;
    size_t pending;
    int err;
    int status;   /* of the answer: 200, or 204 (no body) */
    json_t *body; /* owned; freed with the request */
} fan_t;

static void fan_dispose(void *p)
{
    json_decref(((fan_t *)p)->body);
}

static fan_t *fan_new(h2o_req_t *req, size_t pending, int status, json_t *body)
{
    fan_t *f = h2o_mem_alloc_shared(&req->pool, sizeof(*f), fan_dispose);
    *f = (fan_t){req, pending, 0, status, body};
    return f;
}

static void on_applied(void *data, int err, long long value)
{
    fan_t *f = data;
    (void)value;
    if (err && !f->err)
        f->err = err;
    if (--f->pending)
        return;
    if (f->err) {
        ht_log(HT_LOG_WARN, "an operator setting reached only some partitions", "error",
               ht_strerror(f->err), NULL);
        ht_http_store_problem(f->req, f->err);
        return;
    }
    if (f->status == 204)
        ht_http_send_empty(f->req, 204);
    else
        ht_http_send_json(f->req, f->status, f->body);
}

/* Up to 4 fields set in every partition; values[i] gives partition i's. */
typedef struct {
    size_t n;
    const char *fields[4];
    char (*values)[4][24]; /* [partition][field] */
} spread_t;

/* Sends spread `s` to every partition; the fan answers. */
static void apply_all(ht_api_thread_t *t, fan_t *f, const spread_t *s)
{
    size_t p = served(t);
    for (size_t i = 0; i < p; i++) {
        const char *values[4];
        for (size_t k = 0; k < s->n; k++)
            values[k] = s->values[i][k];
        ht_astore_limits_apply(t->store, f->req, served_keys(t, i), s->fields, values, s->n,
                               on_applied, f);
    }
}

static spread_t spread_new(h2o_req_t *req, size_t parts)
{
    spread_t s = {0};
    s.values = h2o_mem_alloc_pool(&req->pool, parts * sizeof(*s.values));
    memset(s.values, 0, parts * sizeof(*s.values));
    return s;
}

/* Adds field `name` with the same value `v` ("" = delete) everywhere. */
static void spread_same(spread_t *s, size_t parts, const char *name, const char *v)
{
    size_t k = s->n++;
    s->fields[k] = name;
    for (size_t i = 0; i < parts; i++)
        snprintf(s->values[i][k], sizeof(s->values[i][k]), "%s", v);
}

/* Adds field `name` with partition i's share of cap n (0: delete). */
static void spread_share(spread_t *s, size_t parts, const char *name, long long n, int round_up)
{
    size_t k = s->n++;
    s->fields[k] = name;
    for (size_t i = 0; i < parts; i++) {
        long long v = round_up ? (n + (long long)parts - 1) / (long long)parts : share(n, i, parts);
        if (n > 0)
            snprintf(s->values[i][k], sizeof(s->values[i][k]), "%lld", v);
        else
            s->values[i][k][0] = '\0';
    }
}

/* ---- POST /v1/queues/{name}/pause|resume ------------------------------- */

/* The queue of the path (only "default" exists) and the ?type=, into
 * *type (NULL for the whole queue).  Returns 0, or -1 having answered. */
static int pause_target_or_reply(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args,
                                 const char **type)
{
    *type = NULL;
    if (!h2o_memis(args->id.base, args->id.len, t->keys.queue, strlen(t->keys.queue)))
        return ht_http_problem(req, HT_P_NOT_FOUND, "no queue named '%.*s' (there is '%s')",
                               (int)(args->id.len > 64 ? 64 : args->id.len), args->id.base,
                               t->keys.queue);
    ht_query_t q;
    ht_query_param_t p;
    if (ht_http_query_or_reply(req, &q) < 0)
        return -1;
    ht_problem_t prob = {0};
    while (ht_query_next(&q, &p) == 1) {
        if (strcmp(p.name, "type") != 0) {
            ht_problem_add_error(&prob, "", "unknown_parameter",
                                 "unknown query parameter '%.64s' (the one known: type)", p.name);
        } else if (!ht_job_type_valid(p.value) || !ht_types_known(t->types, p.value)) {
            ht_problem_add_error(&prob, "", "unknown_type",
                                 "type: '%.64s' is not a type any worker serves", p.value);
        } else if (!*type) {
            *type = h2o_strdup(&req->pool, p.value, p.value_len).base;
        }
    }
    if (prob.kind) {
        ht_http_send_problem(req, &prob);
        ht_problem_clear(&prob);
        return -1;
    }
    return 0;
}

static int pause_or_resume(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args,
                           int pause)
{
    const char *type;
    if (pause_target_or_reply(t, req, args, &type) < 0)
        return -1;
    size_t parts = served(t);
    spread_t s = spread_new(req, parts);
    char field[HT_TYPE_MAX + 8];
    snprintf(field, sizeof(field), "%s%s", type ? "py:" : "paused", type ? type : "");
    spread_same(&s, parts, h2o_strdup(&req->pool, field, SIZE_MAX).base, pause ? "1" : "");
    json_t *body = json_pack("{s:s, s:b}", "name", t->keys.queue, "paused", pause);
    if (type)
        json_object_set_new(body, "type", json_string(type));
    ht_log(HT_LOG_INFO, pause ? "paused" : "resumed", "operator", args->operator_name, "type",
           type ? type : "(every type)", NULL);
    apply_all(t, fan_new(req, parts, 200, body), &s);
    return 0;
}

int ht_operator_pause(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    return pause_or_resume(t, req, args, 1);
}

int ht_operator_resume(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    return pause_or_resume(t, req, args, 0);
}

/* ---- GET /v1/limits ------------------------------------------------------ */

static void on_limits(void *data, int err, size_t n, const char *const *strs)
{
    h2o_req_t *req = data;
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    ht_api_thread_t *t = ht_api_thread_of(req);
    json_t *tenants = json_object(), *types = json_object();
    for (size_t i = 0; i + 1 < n; i += 2) {
        json_t *v = json_loads(strs[i + 1], 0, NULL);
        if (!json_is_object(v)) {
            json_decref(v);
            continue; /* not ours: skipped */
        }
        if (strncmp(strs[i], "tenant:", 7) == 0)
            json_object_set_new(tenants, strs[i] + 7, v);
        else if (strncmp(strs[i], "type:", 5) == 0)
            json_object_set_new(types, strs[i] + 5, v);
        else
            json_decref(v);
    }
    json_t *doc = json_pack("{s:I, s:o, s:o}", "partitions", (json_int_t)served(t), "tenants",
                            tenants, "types", types);
    ht_http_add_header(req, "cache-control", "no-cache");
    ht_http_send_json(req, 200, doc);
    json_decref(doc);
}

int ht_operator_limits_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    (void)args;
    ht_astore_limits_read(t->store, req, on_limits, req);
    return 0;
}

/* ---- PUT and DELETE /v1/limits/tenants|types/{name} --------------------- */

/* The name in the path, copied; NULL (and a 422 naming `what` sent) when it
 * is not a known tenant or type (`known` 0: any valid name, for DELETE). */
static const char *name_or_reply(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args,
                                 int is_tenant, int known)
{
    char name[HT_TYPE_MAX + HT_TENANT_MAX + 2];
    size_t len = args->id.len < sizeof(name) ? args->id.len : sizeof(name) - 1;
    memcpy(name, args->id.base, len);
    name[len] = '\0';
    int valid =
        args->id.len == len && (is_tenant ? ht_tenant_valid(name) : ht_job_type_valid(name));
    if (valid &&
        (!known || (is_tenant ? ht_auth_tenant_known(name) : ht_types_known(t->types, name))))
        return h2o_strdup(&req->pool, name, len).base;
    ht_problem_t p = {0};
    if (is_tenant)
        ht_problem_add_error(&p, "", "unknown_tenant",
                             "tenant: '%.64s' has no key in the API keys file", name);
    else
        ht_problem_add_error(&p, "", "unknown_type",
                             "type: '%.64s' is not a type any worker serves", name);
    ht_http_send_problem(req, &p);
    ht_problem_clear(&p);
    return NULL;
}

/* The body: a JSON object of at most BODY_MAX bytes.  NULL when it
 * answered (415, 413, 400, 422). */
static json_t *body_or_reply(h2o_req_t *req)
{
    json_t *body = ht_http_json_body_or_reply(req, BODY_MAX);
    if (!body)
        return NULL;
    if (!json_is_object(body)) {
        json_decref(body);
        ht_problem_t p = {0};
        ht_problem_add_error(&p, "", "invalid_type", "must be a JSON object");
        ht_http_send_problem(req, &p);
        ht_problem_clear(&p);
        return NULL;
    }
    return body;
}

/* Field `name` of `body` as a cap: absent (0), or an integer from `min` to
 * CAP_MAX (else an error naming it). */
static long long cap_field(json_t *body, const char *name, long long min, const char *why,
                           ht_problem_t *p)
{
    json_t *v = json_object_get(body, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > CAP_MAX) {
        ht_problem_add_error(p, "", "invalid_value", "%s: must be an integer from %lld to %lld%s",
                             name, min, CAP_MAX, why);
        return 0;
    }
    return json_integer_value(v);
}

/* Fields of `body` not in known[]: an error each. */
static void unknown_fields(json_t *body, const char *const *known, size_t n, ht_problem_t *p)
{
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        size_t i = 0;
        while (i < n && strcmp(key, known[i]) != 0)
            i++;
        if (i == n)
            ht_problem_add_error(p, "", "unknown_field", "%.64s: not a field of these limits", key);
    }
}

/* Records the caps as set (json NULL: removed), then writes spread `s`. */
typedef struct {
    ht_api_thread_t *t;
    fan_t *fan;
    spread_t spread;
} put_t;

static void on_recorded(void *data, int err, long long value)
{
    put_t *p = data;
    (void)value;
    if (err) {
        ht_http_store_problem(p->fan->req, err);
        return;
    }
    apply_all(p->t, p->fan, &p->spread);
}

static void record_then_apply(ht_api_thread_t *t, h2o_req_t *req, const char *field,
                              const json_t *set, int status, json_t *body, const spread_t *s)
{
    put_t *p = h2o_mem_alloc_pool(&req->pool, sizeof(*p));
    *p = (put_t){t, fan_new(req, served(t), status, body), *s};
    char *text = set ? json_dumps(set, JSON_COMPACT) : NULL;
    char *pooled = text ? h2o_strdup(&req->pool, text, SIZE_MAX).base : NULL;
    free(text);
    ht_astore_limits_record(t->store, req, field, pooled, on_recorded, p);
}

static char *field_of(h2o_req_t *req, const char *prefix, const char *name)
{
    size_t n = strlen(prefix) + strlen(name) + 1;
    char *f = h2o_mem_alloc_pool(&req->pool, n);
    snprintf(f, n, "%s%s", prefix, name);
    return f;
}

/* The tenant's fields in every partition: its caps, max_priority and
 * weight, from `set` (NULL: all removed). */
static spread_t tenant_spread(ht_api_thread_t *t, h2o_req_t *req, const char *tenant,
                              const json_t *set)
{
    size_t parts = served(t);
    spread_t s = spread_new(req, parts);
    json_t *v;
    spread_share(&s, parts, field_of(req, "tq:", tenant),
                 (v = json_object_get(set, "max_queued")) ? json_integer_value(v) : 0, 1);
    spread_share(&s, parts, field_of(req, "tr:", tenant),
                 (v = json_object_get(set, "max_running")) ? json_integer_value(v) : 0, 0);
    v = json_object_get(set, "max_priority");
    spread_same(&s, parts, field_of(req, "tp:", tenant), v ? json_string_value(v) : "");
    char w[24] = "";
    if ((v = json_object_get(set, "weight")) && json_integer_value(v) > 1)
        snprintf(w, sizeof(w), "%lld", (long long)json_integer_value(v));
    spread_same(&s, parts, field_of(req, "tw:", tenant), w);
    return s;
}

int ht_operator_tenant_put(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    const char *tenant = name_or_reply(t, req, args, 1, 1);
    if (!tenant)
        return -1;
    json_t *body = body_or_reply(req);
    if (!body)
        return -1;
    static const char *const known[] = {"max_queued", "max_running", "max_priority", "weight"};
    ht_problem_t p = {0};
    unknown_fields(body, known, 4, &p);
    long long parts = (long long)served(t);
    char why[96] = "";
    if (parts > 1)
        snprintf(why, sizeof(why), " (at least the %lld partitions: each runs its share)", parts);
    long long max_queued = cap_field(body, "max_queued", 1, "", &p);
    long long max_running = cap_field(body, "max_running", parts, why, &p);
    long long weight = cap_field(body, "weight", 1, "", &p);
    if (weight > WEIGHT_MAX)
        ht_problem_add_error(&p, "", "invalid_value", "weight: must be from 1 to %d", WEIGHT_MAX);
    json_t *prio = json_object_get(body, "max_priority");
    ht_priority_t pr;
    if (prio && !json_is_null(prio) &&
        (!json_is_string(prio) || ht_priority_parse(json_string_value(prio), &pr) < 0))
        ht_problem_add_error(&p, "", "invalid_value",
                             "max_priority: must be \"high\", \"default\" or \"low\"");
    if (p.kind) {
        json_decref(body);
        ht_http_send_problem(req, &p);
        ht_problem_clear(&p);
        return -1;
    }
    json_t *set = json_object();
    if (max_queued)
        json_object_set_new(set, "max_queued", json_integer(max_queued));
    if (max_running)
        json_object_set_new(set, "max_running", json_integer(max_running));
    if (prio && json_is_string(prio))
        json_object_set(set, "max_priority", prio);
    if (weight)
        json_object_set_new(set, "weight", json_integer(weight));
    json_decref(body);
    spread_t s = tenant_spread(t, req, tenant, set);
    json_t *answer = json_deep_copy(set);
    json_object_set_new(answer, "tenant", json_string(tenant));
    ht_log(HT_LOG_INFO, "tenant limits set", "operator", args->operator_name, "tenant", tenant,
           NULL);
    record_then_apply(t, req, field_of(req, "tenant:", tenant), json_object_size(set) ? set : NULL,
                      200, answer, &s);
    json_decref(set);
    return 0;
}

int ht_operator_tenant_delete(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    const char *tenant = name_or_reply(t, req, args, 1, 0);
    if (!tenant)
        return -1;
    spread_t s = tenant_spread(t, req, tenant, NULL);
    ht_log(HT_LOG_INFO, "tenant limits removed", "operator", args->operator_name, "tenant", tenant,
           NULL);
    record_then_apply(t, req, field_of(req, "tenant:", tenant), NULL, 204, NULL, &s);
    return 0;
}

static spread_t type_spread(ht_api_thread_t *t, h2o_req_t *req, const char *type,
                            long long max_running)
{
    size_t parts = served(t);
    spread_t s = spread_new(req, parts);
    spread_share(&s, parts, field_of(req, "yr:", type), max_running, 0);
    return s;
}

int ht_operator_type_put(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    const char *type = name_or_reply(t, req, args, 0, 1);
    if (!type)
        return -1;
    json_t *body = body_or_reply(req);
    if (!body)
        return -1;
    static const char *const known[] = {"max_running"};
    ht_problem_t p = {0};
    unknown_fields(body, known, 1, &p);
    long long parts = (long long)served(t);
    char why[96] = "";
    if (parts > 1)
        snprintf(why, sizeof(why), " (at least the %lld partitions: each runs its share)", parts);
    long long max_running = cap_field(body, "max_running", parts, why, &p);
    if (!p.kind && !max_running)
        ht_problem_add_error(&p, "", "missing_field",
                             "max_running: required (DELETE removes the cap)");
    json_decref(body);
    if (p.kind) {
        ht_http_send_problem(req, &p);
        ht_problem_clear(&p);
        return -1;
    }
    json_t *set = json_pack("{s:I}", "max_running", (json_int_t)max_running);
    json_t *answer = json_pack("{s:s, s:I}", "type", type, "max_running", (json_int_t)max_running);
    spread_t s = type_spread(t, req, type, max_running);
    ht_log(HT_LOG_INFO, "type limits set", "operator", args->operator_name, "type", type, NULL);
    record_then_apply(t, req, field_of(req, "type:", type), set, 200, answer, &s);
    json_decref(set);
    return 0;
}

int ht_operator_type_delete(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    const char *type = name_or_reply(t, req, args, 0, 0);
    if (!type)
        return -1;
    spread_t s = type_spread(t, req, type, 0);
    ht_log(HT_LOG_INFO, "type limits removed", "operator", args->operator_name, "type", type, NULL);
    record_then_apply(t, req, field_of(req, "type:", type), NULL, 204, NULL, &s);
    return 0;
}
