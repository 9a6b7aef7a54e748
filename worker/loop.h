/* The slots (loop.c): one thread per concurrent job that claims, runs the
 * job's handler and stores the outcome. */
#ifndef HT_WORKER_LOOP_H
#define HT_WORKER_LOOP_H

#include "worker/state.h"

/* Starts the slot's thread; slot->st and slot->index are set, slot->mu
 * initialised.  The thread returns once st->draining is set and its job
 * is done.  Returns 0 or a negative errno. */
int ht_slot_start(ht_slot_t *slot);

#endif
