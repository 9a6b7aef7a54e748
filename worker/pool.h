/* The processes of persistent handlers (pool.c): for each persistent
 * handler a pool of `processes` seats, each holding a process started once
 * and kept, and one supervisor thread for all of them (the "handlers"
 * thread of state.h) that starts and restarts the processes, reads and
 * logs their stderr, reaps them, and escalates the stop of those being
 * retired (SIGTERM, then SIGKILL after a grace).  A slot serving a job
 * (persistent.c) takes an idle process, does the job's I/O itself, and
 * gives the process back, or retires it.
 *
 * Seats: `processes` of them, default and cap the worker's concurrency
 * (a slot uses one process at a time).  Claims are not by type (one queue
 * serves every type), so a slot can claim a job whose pool has no idle
 * process: ht_pool_acquire() then waits for one, within the attempt's
 * time, woken as soon as one is free.  With the default (a process a
 * slot) that wait never happens.  While every process of the pool has
 * failed at start and its seats back off, a job fails at once
 * (handler_unavailable, retried) instead of waiting. */
#ifndef HT_WORKER_POOL_H
#define HT_WORKER_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "shared/log.h"

#include "worker/child.h"
#include "worker/handler.h"
#include "worker/handlers_config.h"

/* How often a slot waiting on a process looks at its stop request. */
#define HT_POOL_TICK_MS 100

typedef struct ht_pools ht_pools_t; /* every pool of a worker, and the supervisor */
typedef struct ht_pool ht_pool_t;   /* the processes of one persistent handler */
typedef struct ht_proc ht_proc_t;   /* one process */

/* ---- the worker's side ------------------------------------------------- */

/* Makes a pool for each persistent handler of `cfg` (borrowed: it must
 * outlive the pools); `concurrency` is the worker's.  Starts nothing.
 * *out is NULL when cfg has no persistent handler.  Returns 0 or
 * HT_ENOMEM. */
int ht_pools_new(ht_pools_t **out, const ht_handlers_config_t *cfg, long concurrency);

/* The pool of persistent handler `h` (an entry of the cfg): its registry
 * data for ht_persistent_run.  NULL when h is not one of the pools'. */
ht_pool_t *ht_pools_pool_of(const ht_pools_t *ps, const ht_exec_handler_t *h);

/* Starts every process and the supervisor thread.  Returns 0 or a
 * negative errno (nothing runs; ht_pools_free() cleans up). */
int ht_pools_start(ht_pools_t *ps);

/* Stops every process (stdin closed, SIGTERM 2 s later, SIGKILL 5 s after
 * that), waits until all are reaped, and joins the supervisor.  Call once
 * no slot runs a job any more (after the drain).  NULL is fine. */
void ht_pools_stop(ht_pools_t *ps);

/* Frees the pools (stopped, or never started).  NULL is fine. */
void ht_pools_free(ht_pools_t *ps);

/* What the worker publishes about each persistent handler. */
typedef struct {
    const char *type; /* borrowed from the config */
    long processes;   /* seats */
    long running;     /* processes alive now */
    long busy;        /* of which serving a job */
    long restarts;    /* processes started after a seat's first one */
    int failing;      /* processes keep failing at start: restarts back off */
} ht_pool_figures_t;

/* Fills out[0..max) with the figures of the pools; returns how many pools
 * there are (0 for NULL). */
size_t ht_pools_figures(ht_pools_t *ps, ht_pool_figures_t *out, size_t max);

/* ---- a slot's side ----------------------------------------------------- */

const ht_exec_handler_t *ht_pool_handler(const ht_pool_t *pool);

/* Takes an idle process of `pool` for the job of `ctx`, waiting for one
 * until `deadline` (monotonic ms) or a stop request.  Returns 0 with *out
 * (the process is the caller's until it calls one of the three below), or
 * the handler's return when it cannot (HT_HANDLER_STOPPED, or
 * HT_HANDLER_FAIL with the reason in the ctx). */
int ht_pool_acquire(ht_pool_t *pool, ht_job_ctx_t *ctx, int64_t deadline, ht_proc_t **out);

/* The process answered its job: it is idle again, or retired (replaced
 * between jobs) when it served max_jobs or wrote `extra` output after its
 * answer.  `job_id` names the job in the log. */
void ht_pool_release(ht_proc_t *p, int extra, const char *job_id);

/* The job cannot finish (stop, timeout, protocol error): the process's
 * group gets SIGTERM now and SIGKILL after the grace, and its seat a new
 * process at once. */
void ht_pool_kill(ht_proc_t *p);

/* The process closed its stdout: it is ending.  Waits up to a second for
 * its exit status and writes how it ended into story ("exited with status
 * 3<during>: <the end of its stderr>").  Returns 1 when it ended (its seat
 * restarts, with the backoff when it never proved itself), 0 when it lives
 * on (then it is killed). */
int ht_pool_lost(ht_proc_t *p, const char *during, char *story, size_t len);

/* The pid and pipes of a process taken by ht_pool_acquire(): stdin and
 * stdout are the caller's to use (and to close, once broken). */
ht_child_t *ht_proc_io(ht_proc_t *p);

/* Jobs the process has answered. */
long ht_proc_jobs(const ht_proc_t *p);

/* Logs `msg` with the pool's type, the pid (when > 0) and up to two more
 * fields (a NULL key: none). */
void ht_pool_log(ht_log_level_t level, const char *msg, const ht_pool_t *pool, pid_t pid,
                 const char *k1, const char *v1, const char *k2, const char *v2);

#endif
