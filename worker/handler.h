/* The public C API for job handlers.  A handler is a function that runs one
 * attempt of one job; C users link their own handlers into a worker of their
 * own:
 *
 *     static int resize(ht_job_ctx_t *ctx, const json_t *payload, json_t **result)
 *     {
 *         for (int i = 1; i <= 10; i++) {
 *             if (ht_job_sleep_ms(ctx, 100))   // stop requested: just return
 *                 return HT_HANDLER_STOPPED;
 *             ht_job_progress(ctx, i * 10, "resizing");
 *         }
 *         *result = json_pack("{s:b}", "ok", 1);
 *         return HT_HANDLER_OK;
 *     }
 *
 *     int main(int argc, char **argv)
 *     {
 *         ht_worker_register("image.resize", resize);
 *         return ht_worker_main(argc, argv);
 *     }
 *
 * Threading: a worker runs up to --concurrency handlers at once, each on its
 * own thread; one handler call runs entirely on one thread, and the ctx
 * functions below must be called only from that thread, only during the
 * call.  Handlers must be thread-safe with respect to each other.
 *
 * Stopping: the worker asks a handler to stop when the attempt's timeout_s
 * runs out, when its lease is lost, when the job is canceled, or when the
 * worker drains on SIGTERM.  A handler should check ht_job_should_stop() (or
 * the return values of ht_job_progress() and ht_job_sleep_ms()) at least
 * every second or so and return promptly; its return value is then ignored
 * and the worker decides the outcome (timeout -> failed "timeout" and
 * retried; canceled -> canceled; drain -> handed back to the queue; lease
 * lost -> dropped, another attempt owns the job).  One exception: a handler
 * that returns HT_HANDLER_OK although a cancel was requested has done the
 * work, and its result is kept (the job ends succeeded, not canceled).
 * A handler that never checks cannot be interrupted. */
#ifndef HT_HANDLER_H
#define HT_HANDLER_H

#include <jansson.h>

#include "shared/error.h" /* HT_E* codes returned below */

/* One running attempt of one job.  Owned by the worker; valid only during
 * the handler call. */
typedef struct ht_job_ctx ht_job_ctx_t;

enum {
    HT_HANDLER_OK = 0,      /* succeeded; *result holds the result */
    HT_HANDLER_FAIL = 1,    /* failed; call ht_job_fail() first */
    HT_HANDLER_STOPPED = 2, /* returned because a stop was requested */
};

/* Runs one attempt.  `payload` is borrowed (valid during the call).  On
 * HT_HANDLER_OK, *result is a NEW reference the worker takes (decref'd by
 * the worker), or NULL for a JSON null result.  On failure the handler may
 * leave *result NULL; anything there is released by the worker. */
typedef int (*ht_handler_fn)(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);

/* Publishes progress: `percent` 0..100, or -1 for none; `message` may be
 * NULL (copied).  Updates reach Redis at most every ~100 ms; the last one is
 * always written before the job completes.  Returns nonzero when the handler
 * should stop (as ht_job_should_stop()). */
int ht_job_progress(ht_job_ctx_t *ctx, int percent, const char *message);

/* Nonzero when the handler should stop and return (timeout, lease lost,
 * canceled or drain). */
int ht_job_should_stop(ht_job_ctx_t *ctx);

/* Sleeps `ms` milliseconds, waking early on a stop request.  Returns 0 after
 * the full sleep, nonzero when it returned early because of a stop. */
int ht_job_sleep_ms(ht_job_ctx_t *ctx, long ms);

/* Records the failure to report when the handler returns HT_HANDLER_FAIL.
 * `code` is a short stable slug ("invalid_payload"), `message` a human
 * sentence; both are copied.  `retryable` 0 makes the failure permanent
 * (no further attempts); otherwise the job is retried while attempts are
 * left.  A later call replaces an earlier one. */
void ht_job_fail(ht_job_ctx_t *ctx, const char *code, const char *message, int retryable);

/* The job's id, attempt number (1 for the first) and type; strings are
 * borrowed and valid during the handler call. */
const char *ht_job_id(const ht_job_ctx_t *ctx);
int ht_job_attempt(const ht_job_ctx_t *ctx);
const char *ht_job_type(const ht_job_ctx_t *ctx);

/* Registers a handler for job type `name` ([a-z0-9_.-]{1,64}).  Call before
 * ht_worker_main(), from one thread.  `name` is copied.  Returns 0,
 * HT_EINVAL (bad name or NULL fn), HT_EEXIST (the type is already taken,
 * including by the built-ins sleep, echo and fail) or HT_ENOMEM. */
int ht_worker_register(const char *name, ht_handler_fn fn);

/* Runs a worker: parses options (--help lists them), connects to Redis,
 * serves the built-in, registered, exec and persistent handler types until
 * SIGTERM or SIGINT, drains, and returns the process exit status (0 after
 * a clean drain, 1 on a startup error, 2 on bad usage). */
int ht_worker_main(int argc, char **argv);

#endif
