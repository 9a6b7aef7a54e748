/* The cancel listener (cancel.c): stops the slot running an attempt whose
 * job a client canceled. */
#ifndef HT_WORKER_CANCEL_H
#define HT_WORKER_CANCEL_H

#include "worker/state.h"

typedef struct {
    ht_wthread_t thread;
    ht_wstate_t *st;
} ht_cancel_t;

/* Starts and stops the listener; ht_cancel_stop() joins it (within about
 * half a second, or a connect timeout). */
int ht_cancel_start(ht_cancel_t *c);
void ht_cancel_stop(ht_cancel_t *c);

#endif
