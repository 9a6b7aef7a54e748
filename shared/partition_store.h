/* The partition set in Redis (shared/partition.h), read and written over
 * the blocking store: what every process does at start, and what
 * `hangtight partitions` reports and retires. */
#ifndef HT_PARTITION_STORE_H
#define HT_PARTITION_STORE_H

#include "shared/partition.h"
#include "shared/store.h"

/* Records p's own N in the set (when `record`) and serves the partitions of
 * every N the set holds.  Returns 0 or a negative code (HT_EREDIS...;
 * HT_EINVAL when they are more than HT_PARTITIONS_SERVED_MAX in all, logged;
 * without `record` such an N is only counted in p->ns, no error). */
int ht_parts_sync(ht_parts_t *p, ht_store_t *s, int record);

/* What one partition still holds. */
typedef struct {
    long long queued, scheduled, running, deliveries;
} ht_part_load_t;

/* Counts the work left in partition `k`.  Returns 0 or a negative code. */
int ht_parts_load(ht_store_t *s, const ht_keys_t *k, ht_part_load_t *out);

/* Records p's own N in the set (SADD only: safe while other threads use p).
 * Returns 0 or a negative code. */
int ht_parts_record(const ht_parts_t *p, ht_store_t *s);

/* Removes `n` from the recorded set.  Returns 0 or a negative code. */
int ht_parts_forget(ht_parts_t *p, ht_store_t *s, unsigned n);

#endif
