/* The paces of a queue's housekeeping: how often and how much at a time a
 * worker's lease thread (worker/lease.c) and an api serving remote workers
 * (api/housekeeping.c) requeue expired leases (reap), move due scheduled
 * jobs to their queues (promote) and drop expired finished jobs (trim). */
#ifndef HT_HOUSEKEEPING_H
#define HT_HOUSEKEEPING_H

#define HT_REAP_EVERY_MS    1000
#define HT_REAP_LIMIT       100
#define HT_PROMOTE_EVERY_MS 100
#define HT_PROMOTE_MIN_MS   20 /* the soonest next promote when more are due */
#define HT_PROMOTE_LIMIT    100
#define HT_TRIM_EVERY_MS    1000
#define HT_TRIM_LIMIT       500

#endif
