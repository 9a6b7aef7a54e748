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
#include <stddef.h>
#include <stdint.h>

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

/* Progress by bytes: `done` of `total` bytes (total 0: unknown), as a
 * percent and a message "<verb> <n> of <m> MiB".  Publishes at most every
 * HT_PROGRESS_BYTES_MS (always when done reaches total), so it may be
 * called for every piece.  Returns nonzero when the handler should stop. */
int ht_job_progress_bytes(ht_job_ctx_t *ctx, uint64_t done, uint64_t total, const char *verb);

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

/* ---- files (DESIGN.md "Files", docs/files.md) ------------------------
 * A job may come with an input file and its handler may leave an output
 * file.  The bytes live in the blob store (HANGTIGHT_BLOB_STORE), never in
 * memory: read the input from its path or as a stream, write the output
 * to its path or through the writer.  The output is kept only when the
 * handler returns HT_HANDLER_OK (the job document's "output" then names
 * it); whatever a failed, stopped or retried attempt wrote is removed.  On
 * a failure these calls have already recorded it (ht_job_fail(): code
 * "no_input" or "input_unavailable" for the input, "output_failed" for the
 * output): the handler just returns HT_HANDLER_FAIL. */

/* 1 when the job has an input file, with its size in *bytes (may be NULL);
 * 0 when it has none. */
int ht_job_has_input(const ht_job_ctx_t *ctx, uint64_t *bytes);

/* The input's content type as the client gave it (borrowed), or NULL. */
const char *ht_job_input_content_type(const ht_job_ctx_t *ctx);

/* The input's SHA-256 as stored when it came in (lowercase hex, borrowed),
 * or NULL. */
const char *ht_job_input_sha256(const ht_job_ctx_t *ctx);

/* A readable local path of the input (borrowed, valid during the call; not
 * to be written to), or NULL after a recorded failure (no input, no store,
 * the store unavailable).  An s3: store fetches a local copy first: a
 * handler that reads the input once from start to end does better with
 * ht_job_input_read(). */
const char *ht_job_input_path(ht_job_ctx_t *ctx);

/* Receives the input's bytes in order, in pieces of up to 256 KiB (buf
 * valid during the call).  Returns 0 to go on, nonzero to stop. */
typedef int (*ht_job_sink_fn)(void *ud, const void *buf, size_t len);

/* Streams the whole input to sink, with no local copy.  Returns 0 once
 * every byte went to sink, HT_ECANCELED when sink stopped it (nothing is
 * recorded), or another negative code after a recorded failure. */
int ht_job_input_read(ht_job_ctx_t *ctx, ht_job_sink_fn sink, void *ud);

/* Sets the output's content type (printable ASCII with a '/'; default
 * application/octet-stream).  Before the first ht_job_output_write().
 * Returns 0, or HT_EINVAL (recorded). */
int ht_job_output_type(ht_job_ctx_t *ctx, const char *content_type);

/* A path to write the output file to (borrowed; nothing is there yet; on
 * the store's file system, so keeping it is a rename), or NULL after a
 * recorded failure (no store, or the writer is in use). */
const char *ht_job_output_path(ht_job_ctx_t *ctx);

/* Appends len bytes to the output, streamed into the store as they come.
 * Returns 0, or a negative code after a recorded failure (the path is in
 * use, the store is full or unavailable, over 5 GiB). */
int ht_job_output_write(ht_job_ctx_t *ctx, const void *buf, size_t len);

/* Registers a handler for job type `name` ([a-z0-9_.-]{1,64}).  Call before
 * ht_worker_main(), from one thread.  `name` is copied.  Returns 0,
 * HT_EINVAL (bad name or NULL fn), HT_EEXIST (the type is already taken,
 * including by the built-ins sleep, echo, fail, checksum and gzip) or HT_ENOMEM. */
int ht_worker_register(const char *name, ht_handler_fn fn);

/* Runs a worker: parses options (--help lists them), connects to Redis,
 * serves the built-in, registered, exec and persistent handler types until
 * SIGTERM or SIGINT, drains, and returns the process exit status (0 after
 * a clean drain, 1 on a startup error, 2 on bad usage). */
int ht_worker_main(int argc, char **argv);

#endif
