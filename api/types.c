/* The per-thread cache of accepted job types (see types.h).  The set is a
 * jansson object used as a hash set: type -> true. */
#include "api/types.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/problem.h"

#include "api/http.h"

#define REFRESH_MS 5000

static const char *const builtin_types[] = {"sleep", "echo", "fail"};

struct ht_types {
    uv_timer_t timer;
    ht_aclient_t *store;
    json_t *set; /* owned; replaced on every successful refresh */
};

static void on_types(void *data, int err, size_t n, const char *const *types)
{
    ht_types_t *t = data;
    if (err)
        return; /* keep the old set: Redis is down, submits get 503 anyway */
    json_t *set = json_object();
    if (!set)
        return;
    for (size_t i = 0; i < n; i++)
        json_object_set_new(set, types[i], json_true());
    json_decref(t->set);
    t->set = set;
}

static void on_refresh(uv_timer_t *timer)
{
    ht_types_t *t = timer->data;
    ht_astore_types(t->store, NULL, on_types, t);
}

int ht_types_new(ht_types_t **out, uv_loop_t *loop, ht_aclient_t *store)
{
    *out = NULL;
    ht_types_t *t = calloc(1, sizeof(*t));
    if (!t)
        return HT_ENOMEM;
    if (!(t->set = json_object())) {
        free(t);
        return HT_ENOMEM;
    }
    t->store = store;
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    /* The first load comes soon after start, once the connection is up. */
    uv_timer_start(&t->timer, on_refresh, 100, REFRESH_MS);
    *out = t;
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    ht_types_t *t = h->data;
    json_decref(t->set);
    free(t);
}

void ht_types_close(ht_types_t *t)
{
    if (!t)
        return;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, on_closed);
}

int ht_types_known(const ht_types_t *t, const char *type)
{
    for (size_t i = 0; i < sizeof(builtin_types) / sizeof(builtin_types[0]); i++) {
        if (strcmp(type, builtin_types[i]) == 0)
            return 1;
    }
    return json_object_get(t->set, type) != NULL;
}

/* One HEXISTS in flight, in the request's pool: if the request goes away
 * first, the store drops the callback and the pool takes this with it. */
typedef struct {
    ht_types_t *t;
    ht_types_cb cb;
    void *data;
    char type[];
} check_t;

static void on_exists(void *data, int err, long long value)
{
    check_t *c = data;
    if (!err && value == 1)
        json_object_set_new(c->t->set, c->type, json_true());
    c->cb(c->data, err, !err && value == 1);
}

void ht_types_check(ht_types_t *t, h2o_req_t *req, const char *type, ht_types_cb cb, void *data)
{
    size_t len = strlen(type);
    check_t *c = h2o_mem_alloc_pool(&req->pool, sizeof(*c) + len + 1);
    c->t = t;
    c->cb = cb;
    c->data = data;
    memcpy(c->type, type, len + 1);
    ht_astore_type_exists(t->store, req, type, on_exists, c);
}

void ht_types_refuse(h2o_req_t *req, const char *pointer, const char *type)
{
    ht_problem_t p = {0};
    ht_problem_add_error(&p, pointer, "unknown_type", HT_TYPES_UNSERVED, type);
    ht_problem_set(&p, HT_P_INVALID_FIELDS, "1 problem with the request body");
    ht_http_send_problem(req, &p);
    ht_problem_clear(&p);
}
