/* The schedules resource (recurring jobs, docs/schedules.md):
 *
 *   POST   /v1/schedules              create      -> 201 + schedule
 *   GET    /v1/schedules              the tenant's, oldest first, paged
 *   GET    /v1/schedules/{id}         one         -> 200 + schedule
 *   DELETE /v1/schedules/{id}         delete      -> 204 (its jobs stay)
 *   POST   /v1/schedules/{id}/pause   no run comes while paused -> 200
 *   POST   /v1/schedules/{id}/resume  runs again from now on    -> 200
 *
 * A schedule of another tenant answers as one that does not exist (404).
 * Validation is shared/schedule.c's (the job template through the one
 * submit schema), the first and resumed runs are computed here in C
 * (cron, time zone), the storing is the ht_sched_* library functions; the
 * runs themselves are fired by the workers (worker/schedules.c).
 *
 * A tenant's schedules live in the partition a hash of its name picks
 * (the jobs they make go there too), so its quota is counted in one place;
 * the listing still reads every served partition, where schedules made
 * under another partition count may be. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/log.h"
#include "shared/schedule.h"

#include "api/http.h"
#include "api/parts.h"
#include "api/router.h"

#define MAX_PAYLOAD_DEPTH 32
#define LIMIT_DEFAULT     20
#define LIMIT_MAX         100
#define CURSOR_MAX        64 /* "<created_at>:<id>" */
/* The key that picks a tenant's partition (shared/partition.h). */
#define PARTITION_KEY "schedules"

/* A schedule's document as the answer's body. */
static int send_schedule(h2o_req_t *req, int status, const ht_schedule_t *s)
{
    json_t *doc = ht_schedule_doc(s);
    if (!doc)
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    ht_http_add_header(req, "cache-control", "no-store");
    ht_http_send_json(req, status, doc);
    json_decref(doc);
    return 0;
}

/* A failed read or change of one schedule: 404 for HT_ENOTFOUND (none, or
 * another tenant's), else as ht_http_store_problem. */
static void schedule_problem(h2o_req_t *req, int err)
{
    if (err == HT_ENOTFOUND)
        ht_http_problem(req, HT_P_SCHEDULE_NOT_FOUND, "no schedule with this id");
    else
        ht_http_store_problem(req, err);
}

/* ---- POST /v1/schedules ------------------------------------------------- */

typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    const char *tenant;
    ht_schedule_request_t r;
    char id[HT_ID_LEN + 1];
    char *payload_json, *metadata_json; /* malloc'd */
} create_t;

static void create_dispose(void *p)
{
    create_t *c = p;
    ht_schedule_request_clear(&c->r);
    free(c->payload_json);
    free(c->metadata_json);
}

static void on_created(void *data, int err, const ht_schedule_t *s)
{
    create_t *c = data;
    if (err == HT_ELIMIT) {
        ht_http_problem(c->req, HT_P_CONFLICT,
                        "this tenant has %d schedules, the most it may keep: delete one first",
                        HT_SCHEDULES_PER_TENANT_MAX);
        return;
    }
    if (err) {
        ht_http_store_problem(c->req, err);
        return;
    }
    ht_log(HT_LOG_INFO, "schedule created", "schedule", c->id, "tenant", c->tenant, NULL);
    ht_http_add_headerf(c->req, "location", "/v1/schedules/%s", c->id);
    send_schedule(c->req, 201, s);
}

static int store_schedule(create_t *c)
{
    char why[256] = "";
    int64_t first;
    int rc = ht_schedule_first(&c->r.when, ht_now_ms(), &first, why, sizeof(why));
    if (rc == HT_ENOTFOUND)
        snprintf(why, sizeof(why), "the expression does not fire within %lld years",
                 (long long)(HT_CRON_HORIZON_S / (366 * 86400)));
    if (rc < 0) {
        ht_problem_t p = {0};
        ht_problem_add_error(&p, c->r.when.is_cron ? "/cron" : "/every_s", "out_of_range", "%s",
                             why);
        ht_problem_set(&p, HT_P_INVALID_FIELDS, "1 problem with the request body");
        ht_http_send_problem(c->req, &p);
        ht_problem_clear(&p);
        return -1;
    }
    unsigned index, n;
    const ht_keys_t *k =
        ht_api_submit_keys(c->t, c->tenant, PARTITION_KEY, sizeof(PARTITION_KEY) - 1, &index, &n);
    if ((rc = ht_id_new_in(c->id, index, n)) < 0)
        return ht_http_problem(c->req, HT_P_INTERNAL, "cannot make an id: %s", ht_strerror(rc));
    c->payload_json = json_dumps(c->r.job.payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (c->r.job.metadata)
        c->metadata_json = json_dumps(c->r.job.metadata, JSON_COMPACT);
    if (!c->payload_json || (c->r.job.metadata && !c->metadata_json))
        return ht_http_problem(c->req, HT_P_INTERNAL, "out of memory");
    long keep = c->t->cfg->failed_ttl_s;
    ht_astore_sched_new_t nw = {.id = c->id,
                                .tenant = c->tenant,
                                .r = &c->r,
                                .next_run_ms = first,
                                .failed_ttl_s = c->r.job.ttl_s > keep ? c->r.job.ttl_s : keep,
                                .payload_json = c->payload_json,
                                .metadata_json = c->metadata_json};
    ht_astore_sched_create(c->t->store, c->req, k, &nw, on_created, c);
    return 0;
}

static void on_type_checked(void *data, int err, int served)
{
    create_t *c = data;
    if (err) {
        ht_http_store_problem(c->req, err);
        return;
    }
    if (!served) {
        ht_types_refuse(c->req, "/job/type", c->r.job.type);
        return;
    }
    store_schedule(c);
}

int ht_schedules_create(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    if (req->entity.len > t->cfg->max_body_bytes)
        return ht_http_problem(req, HT_P_TOO_LARGE, "the body is %zu bytes; the limit is %zu",
                               req->entity.len, t->cfg->max_body_bytes);
    if (ht_http_json_content_type_or_reply(req) < 0)
        return -1;
    create_t *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), create_dispose);
    memset(c, 0, sizeof(*c));
    c->t = t;
    c->req = req;
    c->tenant = args->tenant;
    ht_job_limits_t job = {.max_payload_depth = MAX_PAYLOAD_DEPTH,
                           .allow_private_callbacks = t->cfg->webhook_allow_private};
    ht_schedule_limits_t limits = {.job = &job, .cron_seconds = t->cfg->schedule_seconds};
    ht_problem_t p = {0};
    if (ht_schedule_request_parse(&c->r, req->entity.base, req->entity.len, &limits, &p) < 0) {
        ht_http_send_problem(req, &p);
        ht_problem_clear(&p);
        return -1;
    }
    if (ht_types_known(t->types, c->r.job.type))
        return store_schedule(c);
    ht_types_check(t->types, req, c->r.job.type, on_type_checked, c);
    return 0;
}

/* ---- GET /v1/schedules ---------------------------------------------------- */

/* One schedule of a listing: its place and its document. */
typedef struct {
    int64_t created_at;
    char id[HT_ID_LEN + 1];
    json_t *doc;
} entry_t;

typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    int limit;
    char cursor[CURSOR_MAX + 1];
    size_t pending;
    int err;
    int more; /* a partition has schedules past what it returned */
    entry_t *entries;
    size_t n, cap;
} list_t;

static void list_dispose(void *p)
{
    list_t *l = p;
    for (size_t i = 0; i < l->n; i++)
        json_decref(l->entries[i].doc);
    free(l->entries);
}

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void put_page_url(ht_buf_t *b, const void *ctx, const char *cursor)
{
    const list_t *l = ctx;
    ht_buf_printf(b, "\"/v1/schedules?limit=%d", l->limit);
    if (cursor && cursor[0])
        ht_buf_printf(b, "&cursor=%s", cursor); /* digits, ':' and an id: nothing to escape */
    ht_buf_putc(b, '"');
}

/* Every partition answered: the oldest `limit` of what came back. */
static void send_page(list_t *l)
{
    h2o_req_t *req = l->req;
    if (l->err == HT_EINVAL) {
        ht_http_problem(req, HT_P_BAD_REQUEST,
                        "cursor is not one this server made (use next_cursor)");
        return;
    }
    if (l->err) {
        ht_http_store_problem(req, l->err);
        return;
    }
    if (l->n > 1)
        qsort(l->entries, l->n, sizeof(*l->entries), entry_cmp);
    size_t take = l->n < (size_t)l->limit ? l->n : (size_t)l->limit;
    char next[CURSOR_MAX + 1] = "";
    if (take > 0 && (l->more || l->n > take))
        snprintf(next, sizeof(next), "%lld:%s", (long long)l->entries[take - 1].created_at,
                 l->entries[take - 1].id);
    ht_buf_t b;
    ht_http_buf_init(req, &b);
    ht_buf_puts(&b, "{\"schedules\":[");
    for (size_t i = 0; i < take; i++) {
        char *text = json_dumps(l->entries[i].doc, JSON_COMPACT);
        if (!text) {
            ht_http_problem(req, HT_P_INTERNAL, "out of memory");
            return;
        }
        if (i > 0)
            ht_buf_putc(&b, ',');
        ht_buf_puts(&b, text);
        free(text);
    }
    ht_http_send_page(req, &b, l->cursor, next, put_page_url, l);
}

static void on_part_page(void *data, int err, const char *next, size_t n,
                         const ht_schedule_t *scheds)
{
    list_t *l = data;
    if (err && !l->err)
        l->err = err;
    if (!err && next[0])
        l->more = 1;
    for (size_t i = 0; !err && i < n; i++) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 32;
            entry_t *e = realloc(l->entries, cap * sizeof(*e));
            if (!e) {
                l->err = HT_ENOMEM;
                break;
            }
            l->entries = e;
            l->cap = cap;
        }
        entry_t *e = &l->entries[l->n];
        if (!(e->doc = ht_schedule_doc(&scheds[i]))) {
            l->err = HT_ENOMEM;
            break;
        }
        e->created_at = scheds[i].created_at;
        memcpy(e->id, scheds[i].id, sizeof(e->id));
        l->n++;
    }
    if (--l->pending == 0)
        send_page(l);
}

/* One query parameter into l.  Returns 0 or -1 (answered 400). */
static int take_param(list_t *l, const ht_query_param_t *p)
{
    if (p->name_len == 5 && memcmp(p->name, "limit", 5) == 0) {
        char *end;
        long n = strtol(p->value, &end, 10);
        if (*p->value < '0' || *p->value > '9' || *end != '\0' || n < 1 || n > LIMIT_MAX)
            return ht_http_problem(l->req, HT_P_BAD_REQUEST,
                                   "limit must be an integer from 1 to %d", LIMIT_MAX);
        l->limit = (int)n;
        return 0;
    }
    if (p->name_len == 6 && memcmp(p->name, "cursor", 6) == 0) {
        long long score;
        char id[HT_ID_LEN + 1];
        int used = 0;
        if (*p->value && (strlen(p->value) > CURSOR_MAX ||
                          sscanf(p->value, "%lld:%36[0-9a-f-]%n", &score, id, &used) != 2 ||
                          p->value[used] != '\0' || !ht_id_valid(id, strlen(id))))
            return ht_http_problem(l->req, HT_P_BAD_REQUEST,
                                   "cursor is not one this server made (use next_cursor)");
        snprintf(l->cursor, sizeof(l->cursor), "%s", p->value);
        return 0;
    }
    return ht_http_problem(l->req, HT_P_BAD_REQUEST,
                           "unknown query parameter '%.*s' (known: limit, cursor)",
                           (int)(p->name_len > 64 ? 64 : p->name_len), p->name);
}

int ht_schedules_list(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    list_t *l = h2o_mem_alloc_shared(&req->pool, sizeof(*l), list_dispose);
    memset(l, 0, sizeof(*l));
    l->t = t;
    l->req = req;
    l->limit = LIMIT_DEFAULT;
    ht_query_t q;
    ht_query_param_t p;
    if (ht_http_query_or_reply(req, &q) < 0)
        return -1;
    while (ht_query_next(&q, &p) == 1) {
        if (take_param(l, &p) < 0)
            return -1;
    }
    size_t n = ht_api_served(t);
    l->pending = n;
    /* Only the tenant's own index: another tenant's schedules are never
     * read. */
    for (size_t i = 0; i < n; i++)
        ht_astore_sched_list(t->store, req, ht_api_served_keys(t, i), args->tenant, l->limit,
                             l->cursor, on_part_page, l);
    return 0;
}

/* ---- one schedule ----------------------------------------------------------- */

typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    const char *tenant;
    char id[HT_ID_LEN + 1];
} one_t;

/* The schedule of the request's path, or NULL having answered 404. */
static one_t *one_new(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    one_t *o = h2o_mem_alloc_pool(&req->pool, sizeof(*o));
    if (ht_http_id_or_reply(req, args->id, HT_P_SCHEDULE_NOT_FOUND, "schedule", o->id) < 0)
        return NULL;
    o->t = t;
    o->req = req;
    o->tenant = args->tenant;
    return o;
}

static const ht_keys_t *one_keys(one_t *o, ht_keys_t *scratch)
{
    return ht_api_keys_of(o->t, o->id, scratch);
}

/* A schedule read for `o`: 0 when it is there and the caller's, else -1
 * having answered (another tenant's is as missing as an id that does not
 * exist). */
static int own_or_reply(one_t *o, int err, const ht_schedule_t *s)
{
    if (!err && strcmp(s->tenant, o->tenant) != 0)
        err = HT_ENOTFOUND;
    if (err) {
        schedule_problem(o->req, err);
        return -1;
    }
    return 0;
}

/* Reads the schedule of the request's path, then cb(o, ...). */
static int read_one(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args,
                    ht_astore_sched_cb cb)
{
    one_t *o = one_new(t, req, args);
    if (!o)
        return -1;
    ht_keys_t scratch;
    ht_astore_sched_get(t->store, req, one_keys(o, &scratch), o->id, cb, o);
    return 0;
}

static void on_schedule(void *data, int err, const ht_schedule_t *s)
{
    one_t *o = data;
    if (own_or_reply(o, err, s) == 0)
        send_schedule(o->req, 200, s);
}

int ht_schedules_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    return read_one(t, req, args, on_schedule);
}

static void on_deleted(void *data, int err, long long deleted)
{
    one_t *o = data;
    if (!err && !deleted)
        err = HT_ENOTFOUND;
    if (err) {
        schedule_problem(o->req, err);
        return;
    }
    ht_log(HT_LOG_INFO, "schedule deleted", "schedule", o->id, NULL);
    ht_http_send_empty(o->req, 204);
}

int ht_schedules_delete(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    one_t *o = one_new(t, req, args);
    if (!o)
        return -1;
    ht_keys_t scratch;
    ht_astore_sched_delete(t->store, req, one_keys(o, &scratch), o->id, o->tenant, on_deleted, o);
    return 0;
}

int ht_schedules_pause(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    one_t *o = one_new(t, req, args);
    if (!o)
        return -1;
    ht_keys_t scratch;
    ht_astore_sched_pause(t->store, req, one_keys(o, &scratch), o->id, o->tenant, on_schedule, o);
    return 0;
}

/* Resume: the schedule is read first, for when it runs; its next run is
 * the first after now (the runs it missed while paused are not made up). */
static void on_to_resume(void *data, int err, const ht_schedule_t *s)
{
    one_t *o = data;
    if (own_or_reply(o, err, s) < 0)
        return;
    ht_schedule_when_t w;
    char why[256] = "";
    int64_t next = 0;
    int rc = ht_schedule_when_of(s, &w, why, sizeof(why));
    if (rc == 0)
        rc = ht_schedule_next(&w, ht_now_ms(), &next, why, sizeof(why));
    if (rc < 0) {
        ht_http_problem(o->req, HT_P_CONFLICT, "this schedule cannot run again: %s",
                        rc == HT_ENOTFOUND ? "it never fires again" : why);
        return;
    }
    ht_keys_t scratch;
    ht_astore_sched_resume(o->t->store, o->req, one_keys(o, &scratch), o->id, o->tenant, next,
                           on_schedule, o);
}

int ht_schedules_resume(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    return read_one(t, req, args, on_to_resume);
}
