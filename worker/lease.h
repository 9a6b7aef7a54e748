/* The lease thread (lease.c): lease renewals, the queue's housekeeping and
 * the worker's registration in Redis. */
#ifndef HT_WORKER_LEASE_H
#define HT_WORKER_LEASE_H

#include "shared/store.h"

#include "worker/pool.h"
#include "worker/state.h"

typedef struct {
    ht_wthread_t thread;
    ht_wstate_t *st;
    ht_pools_t *pools; /* the persistent handlers (NULL: none), published with the worker */
} ht_lease_t;

/* Starts and stops the thread; ht_lease_stop() joins it, and the thread
 * takes the worker's record out of HT_KEY_WORKERS on its way out. */
int ht_lease_start(ht_lease_t *l);
void ht_lease_stop(ht_lease_t *l);

/* Records the types this worker serves in HT_KEY_TYPES and the worker
 * itself in HT_KEY_WORKERS (at start, and again from the lease thread: the
 * types every minute, so that a Redis that lost its data learns them
 * again; the worker's record every few seconds).  Returns 0 or a negative
 * code. */
int ht_lease_register(const ht_lease_t *l, ht_store_t *s);

#endif
