/* Tenants as the api process sees them: an interned record per tenant name
 * that lives until exit, carrying what this process counts per tenant (held
 * sync requests, SSE streams and Redis calls in flight, for their caps).  Records are made on first
 * use (under a lock: rare) and then shared by every thread; the counters are
 * atomics, so taking a slot is lock-free. */
#ifndef HT_API_TENANTS_H
#define HT_API_TENANTS_H

#include <stdatomic.h>
#include <stddef.h>

#include "shared/keys.h"

/* HELD and STREAMS: slots taken for a request's life (caps on held
 * requests and SSE streams); INFLIGHT: Redis calls of the tenant's requests
 * in flight (api/inflight.h). */
typedef enum {
    HT_TENANT_HELD,
    HT_TENANT_STREAMS,
    HT_TENANT_INFLIGHT,
    HT_TENANT__SLOTS
} ht_tenant_slot_t;

typedef struct ht_tenant {
    char name[HT_TENANT_MAX + 1];
    char rate_key[HT_KEY_MAX]; /* its rate limiter's key (ht_keys_rate), made once */
    atomic_long used[HT_TENANT__SLOTS];
    struct ht_tenant *next; /* private: the registry's list */
} ht_tenant_t;

/* The record of `name` (valid: ht_tenant_valid), made on first use; NULL
 * when the name is invalid or memory runs out. */
ht_tenant_t *ht_tenant_intern(const char *name);

/* Takes one slot of `kind` when fewer than `max` are in use (max <= 0: no
 * cap).  Returns 0, or -1 when the tenant is at its cap (nothing taken). */
int ht_tenant_take(ht_tenant_t *t, ht_tenant_slot_t kind, long max);

/* Gives back a slot taken with ht_tenant_take. */
void ht_tenant_give(ht_tenant_t *t, ht_tenant_slot_t kind);

/* Takes a slot for the life of `req`: h2o gives it back when it disposes
 * of the request (answered, or the client gone).  NULL `t` (an open route)
 * takes nothing.  Returns 0, or -1 after answering 429 problem+json with
 * Retry-After (`what` names the resource in the detail). */
struct st_h2o_req_t;
int ht_tenant_take_for_or_reply(ht_tenant_t *t, struct st_h2o_req_t *req, ht_tenant_slot_t kind,
                                long max, const char *what);

/* Frees every record (at exit, after the server threads are gone). */
void ht_tenants_shutdown(void);

#endif
