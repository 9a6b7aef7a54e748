/* The lease thread (lease.c): lease renewals, the queue's housekeeping and
 * the worker's registration in Redis. */
#ifndef HT_WORKER_LEASE_H
#define HT_WORKER_LEASE_H

#include "shared/store.h"

#include "worker/state.h"

typedef struct {
    ht_wthread_t thread;
    ht_wstate_t *st;
} ht_lease_t;

/* Starts and stops the thread; ht_lease_stop() joins it. */
int ht_lease_start(ht_lease_t *l);
void ht_lease_stop(ht_lease_t *l);

/* Records the types this worker serves in HT_KEY_TYPES (at start, and
 * again every minute from the lease thread so that a Redis that lost its
 * data learns them again).  Returns 0 or a negative code. */
int ht_lease_register(const ht_lease_t *l, ht_store_t *s);

#endif
