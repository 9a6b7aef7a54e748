/* The worker's counters (counts.c): the starts, outcomes and histogram
 * observations of the claims and completions the dispatcher makes with "the
 * caller counts" (shared/store.h ht_counted_t), summed per partition in the
 * process and sent to Redis by the lease thread, one ht_count_add call per
 * partition with counts about once a second, and once more when the worker
 * stops.  /metrics and the queue and tenant counts trail the jobs by that
 * second (docs/operations.md).
 *
 * Never lost while the process lives, never counted twice: a batch is
 * frozen with its seq before it is sent; a call that fails keeps it, and
 * it is sent again, the same counters with the same seq, before anything
 * newer of its partition (counted meanwhile, summed apart); Redis applies
 * a seq once (ht_count_add), so a batch whose reply was lost after Redis
 * applied it is not counted again.  Only a batch Redis refuses (an error
 * reply that retrying cannot change) is dropped, and logged. */
#ifndef HT_WORKER_COUNTS_H
#define HT_WORKER_COUNTS_H

#include <stddef.h>

#include "shared/job.h"
#include "shared/store.h"

typedef struct ht_counts ht_counts_t;

/* Makes an empty set of counters for worker `worker_id` (copied).  Returns
 * 0 or HT_ENOMEM. */
int ht_counts_new(ht_counts_t **out, const char *worker_id);
/* Frees it, with whatever was not sent (NULL: nothing). */
void ht_counts_free(ht_counts_t *c);

/* Counting, from any thread.  `base` is the partition's ("ht:{Q}:", its
 * ht_keys_t base).  A job claimed: one start of its type, and its wait
 * when `counted_wait` (ht_counted_t.wait) is not "". */
void ht_counts_started(ht_counts_t *c, const char *base, const ht_job_t *job,
                       const char *counted_wait);
/* A stored outcome that made `status` (queued or scheduled: a retry): its
 * event for the job's tenant and type, and its run when `counted_run`
 * (ht_counted_t.run) is not "". */
void ht_counts_ended(ht_counts_t *c, const char *base, const ht_job_t *job, ht_job_status_t status,
                     const char *counted_run);

/* Sends what was counted, one call per partition (the lease thread only).
 * Returns 0 when nothing is left to send, or the negative code of a call
 * that failed (its batch kept for the next flush). */
int ht_counts_flush(ht_counts_t *c, ht_store_t *store);

#endif
