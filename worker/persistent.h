/* Persistent handlers (docs/handlers.md): a job served over a process that
 * stays (pool.h), speaking the line protocol of proto.h. */
#ifndef HT_WORKER_PERSISTENT_H
#define HT_WORKER_PERSISTENT_H

#include "worker/handler.h"

/* The handler of every persistent type: its registry data is its pool
 * (ht_pools_pool_of), and it takes the stored payload bytes
 * (ht_registry_add_raw). */
int ht_persistent_run(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);

#endif
