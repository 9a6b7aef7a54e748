/* The tenant registry (see tenants.h): a locked list, searched only when a
 * key table is loaded or the api runs open and needs "default". */
#include "api/tenants.h"

#include <h2o.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ht_tenant_t *tenants;

ht_tenant_t *ht_tenant_intern(const char *name)
{
    if (!ht_tenant_valid(name))
        return NULL;
    pthread_mutex_lock(&lock);
    ht_tenant_t *t = tenants;
    while (t && strcmp(t->name, name) != 0)
        t = t->next;
    if (!t && (t = calloc(1, sizeof(*t)))) {
        strcpy(t->name, name); /* fits: ht_tenant_valid bounds it */
        ht_keys_rate(name, t->rate_key); /* cannot fail: the name is valid */
        for (int i = 0; i < HT_TENANT__SLOTS; i++)
            atomic_init(&t->used[i], 0);
        t->next = tenants;
        tenants = t;
    }
    pthread_mutex_unlock(&lock);
    return t;
}

int ht_tenant_take(ht_tenant_t *t, ht_tenant_slot_t kind, long max)
{
    if (max <= 0) {
        atomic_fetch_add(&t->used[kind], 1);
        return 0;
    }
    long cur = atomic_load(&t->used[kind]);
    do {
        if (cur >= max)
            return -1;
    } while (!atomic_compare_exchange_weak(&t->used[kind], &cur, cur + 1));
    return 0;
}

void ht_tenant_give(ht_tenant_t *t, ht_tenant_slot_t kind)
{
    atomic_fetch_sub(&t->used[kind], 1);
}

typedef struct {
    ht_tenant_t *t;
    ht_tenant_slot_t kind;
} lease_t;

static void on_req_disposed(void *p)
{
    lease_t *l = p;
    ht_tenant_give(l->t, l->kind);
}

int ht_tenant_take_for_or_reply(ht_tenant_t *t, h2o_req_t *req, ht_tenant_slot_t kind, long max,
                                const char *what)
{
    if (!t)
        return 0;
    if (ht_tenant_take(t, kind, max) < 0) {
        return ht_http_problem(req, HT_P_RATE_LIMITED,
                               "tenant '%s' has %ld %s open on this server, its limit; close one "
                               "or retry later",
                               t->name, max, what);
    }
    lease_t *l = h2o_mem_alloc_shared(&req->pool, sizeof(*l), on_req_disposed);
    l->t = t;
    l->kind = kind;
    return 0;
}

void ht_tenants_shutdown(void)
{
    pthread_mutex_lock(&lock);
    while (tenants) {
        ht_tenant_t *next = tenants->next;
        free(tenants);
        tenants = next;
    }
    pthread_mutex_unlock(&lock);
}
