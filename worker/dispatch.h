/* The dispatcher (dispatch.c): one per process, the only part that claims
 * jobs and stores outcomes.  The slots hand their outcomes over and wait
 * for their next job; the dispatcher thread sends what is handed over with
 * claims for the free slots in one ht_complete_many per partition
 * (shared/store.h ht_store_complete_many) on its own connection, whenever
 * its previous call has returned: it never waits for a batch to fill, so a
 * lone outcome goes out at once, and under load a call carries the
 * outcomes of every slot that finished during the last round trip.  A
 * waiter thread with a connection of its own blocks on a partition's
 * submit signal while slots are free and the last claims found nothing.
 * Both count what the calls answer (counts.h).  Internal to worker/. */
#ifndef HT_WORKER_DISPATCH_H
#define HT_WORKER_DISPATCH_H

#include "shared/store.h"

#include "worker/state.h"

/* Makes the dispatcher of `st` (one box per slot of st->concurrency) and
 * starts its two threads.  Returns 0 or a negative code. */
int ht_dispatch_start(ht_dispatch_t **out, ht_wstate_t *st);

/* The worker drains (st->draining is set): no more claims; slots waiting
 * for a job are told there is none; jobs claimed and not given to a slot
 * are handed back (ht_release).  Outcomes are still stored. */
void ht_dispatch_drain(ht_dispatch_t *d);

/* Stops both threads (after the slots have left: nothing is handed over
 * any more), hands back what is claimed and not given, and frees `d`. */
void ht_dispatch_stop(ht_dispatch_t *d);

/* Slot `slot` hands over the outcome of the attempt it holds, `o` (its
 * answer fields are filled), of partition `k` (copied), and waits for the
 * answer, retried while Redis is away for up to the dispatcher's outcome
 * window.  With `next`, the same call may claim the slot's next job (see
 * ht_dispatch_take).  Returns 0 when stored (o->status made), HT_ESTALE when
 * the first answer said the attempt no longer holds the job, or -1 when it
 * is not known (an answer was lost, or Redis stayed away). */
int ht_dispatch_settle(ht_dispatch_t *d, int slot, const ht_keys_t *k, ht_settle_t *o, int next);

/* Waits for the next job of slot `slot`: 1 with *job filled (owned by the
 * caller, ht_job_clear()), or 0 when the worker drains. */
int ht_dispatch_take(ht_dispatch_t *d, int slot, ht_job_t *job);

#endif
