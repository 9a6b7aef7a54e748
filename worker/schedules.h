/* Firing recurring schedules (shared/schedule.h): every worker's lease
 * thread calls this, so there is no scheduler process to run or to lose;
 * of the workers that find the same run due, one fires it (ht_sched_fire
 * compares and sets the schedule's next run) and the others skip it. */
#ifndef HT_WORKER_SCHEDULES_H
#define HT_WORKER_SCHEDULES_H

#include <stdint.h>

#include "shared/partition.h"
#include "shared/store.h"

/* Fires the runs that have come of every schedule of the partitions
 * served: each gets its job (or, when missed, what its catch-up rule
 * says) and its next run.  Returns how long to wait before the next call,
 * in ms. */
int64_t ht_schedules_fire(ht_store_t *store, const ht_parts_t *parts);

#endif
