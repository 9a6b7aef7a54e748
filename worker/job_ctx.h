/* The worker's side of ht_job_ctx_t (the handler's side is handler.h): what
 * one running attempt knows, how its stop request is signalled, the
 * coalesced progress it publishes and the failure it reports.  Used by the
 * slot loop (loop.c) and the exec handler. */
#ifndef HT_WORKER_JOB_CTX_H
#define HT_WORKER_JOB_CTX_H

#include <stdatomic.h>
#include <stdint.h>

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/store.h"

#include "worker/files.h"
#include "worker/handler.h"

/* Why a handler is asked to stop.  The first reason set wins. */
typedef enum {
    HT_STOP_NONE = 0,
    HT_STOP_TIMEOUT,    /* the attempt ran past its timeout_s */
    HT_STOP_LEASE_LOST, /* renew or progress answered HT_ESTALE */
    HT_STOP_DRAIN,      /* the worker is shutting down: hand the job back */
    HT_STOP_CANCELED,   /* a client canceled the job (DELETE): end it canceled */
} ht_stop_reason_t;

/* Progress reaches Redis at most this often; see ht_job_progress(). */
#define HT_PROGRESS_INTERVAL_MS 100
/* ht_job_progress_bytes() reports at most this often. */
#define HT_PROGRESS_BYTES_MS 250

struct ht_job_ctx {
    const ht_job_t *job;      /* borrowed: the claimed job */
    const void *handler_data; /* borrowed: the registry entry's data */
    ht_store_t *store;        /* borrowed: the slot's own connection */
    const ht_keys_t *keys;
    atomic_int *stop;    /* the slot's ht_stop_reason_t */
    int64_t deadline_ms; /* monotonic; past it the attempt has timed out */

    int failed; /* ht_job_fail() was called */
    char *fail_code, *fail_msg;
    int fail_retryable;

    char *result_text; /* set by ht_job_ctx_set_result_text(), owned */

    int progress_pending; /* an update not yet written to Redis */
    int progress_pct;
    char *progress_msg;
    int64_t progress_sent_ms; /* monotonic time of the last write */
    int64_t bytes_shown_ms;   /* monotonic time of the last ht_job_progress_bytes() report */

    ht_job_files_t files; /* the input handed over, the output left */
};

/* Monotonic milliseconds, for deadlines and intervals (never the wall
 * clock, which may jump). */
int64_t ht_mono_ms(void);
/* The same clock in microseconds. */
int64_t ht_mono_us(void);

/* Sets the stop reason unless one is set already. */
void ht_stop_request(atomic_int *stop, ht_stop_reason_t why);

void ht_job_ctx_init(ht_job_ctx_t *ctx, const ht_job_t *job, const void *handler_data,
                     ht_store_t *store, const ht_keys_t *keys, atomic_int *stop,
                     int64_t deadline_ms);

/* Writes a pending progress update now, whatever the interval. */
void ht_job_ctx_flush_progress(ht_job_ctx_t *ctx);

/* The error object {"code", "message"} recorded by ht_job_fail() (or a
 * generic one when the handler failed without calling it), as JSON text: a
 * new malloc'd string or NULL on allocation failure. */
char *ht_job_ctx_error_json(const ht_job_ctx_t *ctx);

/* The registry data of the handler running this job (borrowed). */
const void *ht_job_handler_data(const ht_job_ctx_t *ctx);

/* The job's payload as stored (the api's compact JSON text; "{}" when
 * none) and its length: borrowed, valid during the handler call.  The
 * handlers registered for the stored bytes (registry.h) read it here
 * instead of a parsed tree. */
const char *ht_job_payload_text(const ht_job_ctx_t *ctx, size_t *len);

/* The result as JSON text (valid JSON, taken over: freed by the ctx), for
 * a handler that has it as text already: the slot stores it as given
 * instead of encoding *result. */
void ht_job_ctx_set_result_text(ht_job_ctx_t *ctx, char *text);

/* Removes the attempt's temporary files and frees what the ctx owns. */
void ht_job_ctx_clear(ht_job_ctx_t *ctx);

/* After the handler returned HT_HANDLER_OK: stores the output it left, if
 * any, and writes its reference into ref[reflen] ("" for none).  Returns
 * 0, or a negative code with the failure recorded (ht_job_fail: code
 * "output_failed"): the attempt then fails. */
int ht_job_ctx_keep_output(ht_job_ctx_t *ctx, char *ref, size_t reflen);

/* The stored output's outcome was not taken (a later attempt owns the
 * job): its blob is deleted. */
void ht_job_ctx_drop_output(ht_job_ctx_t *ctx);

/* The local path of the input for a handler's child process: 0 with *path
 * (NULL when the job has none), or a negative code with the failure
 * recorded.  The output path likewise (NULL when no store is configured). */
int ht_job_ctx_input_path(ht_job_ctx_t *ctx, const char **path);
int ht_job_ctx_output_path(ht_job_ctx_t *ctx, const char **path);

/* Builds an error object's JSON text {"code": code, "message": message}
 * (message made valid UTF-8): a new malloc'd string or NULL. */
char *ht_error_json(const char *code, const char *message);

#endif
