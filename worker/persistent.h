/* Persistent handlers (docs/handlers.md): programs that the worker starts
 * once and keeps, each serving one job at a time of its handler's type
 * over the line protocol of proto.h.
 *
 * Each persistent handler has a pool of `processes` seats (default and
 * cap: the worker's concurrency, since a slot uses one process at a time).
 * A slot that claimed a job of the type takes an idle process of the
 * pool, writes the job line and reads the answers on its own thread; the
 * supervisor thread (the "handlers" thread of state.h) starts and restarts
 * the processes, reads and logs their stderr, reaps them, and escalates the
 * stop of those being retired (SIGTERM, then SIGKILL after a grace).
 *
 * Claims are not by type (one queue serves every type), so a slot can
 * claim a job whose pool has no idle process: it then waits for one, the
 * wait counting toward the attempt's timeout_s, and is woken as soon as a
 * process is free.  With the default (a process a slot) that wait never
 * happens.  When every process of the pool has failed at start and the
 * pool is backing off, the job fails at once (handler_unavailable,
 * retried) instead of waiting. */
#ifndef HT_WORKER_PERSISTENT_H
#define HT_WORKER_PERSISTENT_H

#include <stddef.h>

#include "worker/handler.h"
#include "worker/handlers_config.h"

typedef struct ht_pools ht_pools_t;

/* Makes a pool for each persistent handler of `cfg` (borrowed: it must
 * outlive the pools); `concurrency` is the worker's.  Starts nothing.
 * *out is NULL when cfg has no persistent handler.  Returns 0 or
 * HT_ENOMEM. */
int ht_pools_new(ht_pools_t **out, const ht_handlers_config_t *cfg, long concurrency);

/* The registry data of persistent handler `h` (an entry of the cfg), to
 * register with ht_persistent_run; NULL when h is not one of the pools'. */
const void *ht_pools_handler_data(const ht_pools_t *p, const ht_exec_handler_t *h);

/* Starts every process and the supervisor thread.  Returns 0 or a
 * negative errno (the thread did not start; ht_pools_free() cleans up). */
int ht_pools_start(ht_pools_t *p);

/* Stops every process (stdin closed, SIGTERM 2 s later, SIGKILL 5 s after
 * that), waits until all are reaped, and joins the supervisor.  Call once
 * no slot runs a job any more (after the drain). */
void ht_pools_stop(ht_pools_t *p);

/* Frees the pools (stopped, or never started).  NULL is fine. */
void ht_pools_free(ht_pools_t *p);

/* What the worker publishes about each persistent handler. */
typedef struct {
    const char *type; /* borrowed from the config */
    long processes;   /* seats */
    long running;     /* processes alive now */
    long busy;        /* of which serving a job */
    long restarts;    /* processes started beyond the first `processes` */
    int failing;      /* processes keep exiting at start: restarts back off */
} ht_pool_figures_t;

/* Fills out[0..max) with the figures of the pools; returns how many pools
 * there are (0 for NULL). */
size_t ht_pools_figures(ht_pools_t *p, ht_pool_figures_t *out, size_t max);

/* The handler of every persistent type; its registry data is its pool
 * (ht_pools_handler_data) and it takes the stored payload bytes
 * (ht_registry_add_raw). */
int ht_persistent_run(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);

#endif
