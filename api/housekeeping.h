/* The queue's housekeeping, done by the api while remote workers (the HTTP
 * worker API) use it: what every hangtight-worker's lease thread does
 * (worker/lease.c), so that remote workers alone, with no hangtight-worker
 * beside them, still have
 *   - the jobs whose lease ran out requeued or ended (ht_reap, about every
 *     second): a remote worker killed mid-job has its job run again;
 *   - due scheduled jobs promoted (ht_promote, about every 100 ms, sooner
 *     when the next one is due sooner): delays, and the backoff of failed
 *     attempts;
 *   - expired jobs trimmed from the listing indexes (ht_trim, every
 *     second);
 *   - remote workers not seen for HANGTIGHT_WORKER_TTL_S forgotten: their
 *     types (ht_types_remote) and records (HT_KEY_WORKERS), every minute
 *     (every half TTL when that is shorter).
 * Webhook deliveries are not among them: hangtight-worker makes those.
 *
 * One api thread does it (the one that made it), for every partition
 * served, and only while some thread of this process answered a worker API
 * call in the last 2 x HANGTIGHT_WORKER_TTL_S (the second TTL forgets the
 * workers of the first): an api that no remote worker uses sends Redis
 * nothing more.  Several api processes and workers doing
 * it at once is harmless: each step is one atomic call that finds nothing
 * left to do when another did it first. */
#ifndef HT_API_HOUSEKEEPING_H
#define HT_API_HOUSEKEEPING_H

#include "api/thread.h"

typedef struct ht_housekeeping ht_housekeeping_t;

/* A worker API call was answered now (any thread). */
void ht_housekeeping_touch(void);

/* Starts it on `t`'s loop, through t->store.  Returns 0 or HT_ENOMEM. */
int ht_housekeeping_new(ht_housekeeping_t **out, ht_api_thread_t *t);

/* Stops it; the memory is freed once libuv has closed its timer and every
 * call in flight has answered (ht_aclient_close() answers them at once). */
void ht_housekeeping_close(ht_housekeeping_t *h);

#endif
