/* The handler-facing helpers of handler.h and the ctx bookkeeping behind
 * them (see job_ctx.h).  Everything here runs on the slot thread that runs
 * the handler, so only the stop flag is shared (with the lease thread and
 * the main thread that drains). */
#include "worker/job_ctx.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/error.h"
#include "shared/log.h"

#include "worker/text.h"

#define SLEEP_SLICE_MS 50

int64_t ht_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ht_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void ht_stop_request(atomic_int *stop, ht_stop_reason_t why)
{
    int none = HT_STOP_NONE;
    atomic_compare_exchange_strong(stop, &none, (int)why);
}

void ht_job_ctx_init(ht_job_ctx_t *ctx, const ht_job_t *job, const void *handler_data,
                     ht_store_t *store, const ht_keys_t *keys, atomic_int *stop,
                     int64_t deadline_ms)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->job = job;
    ctx->handler_data = handler_data;
    ctx->store = store;
    ctx->keys = keys;
    ctx->stop = stop;
    ctx->deadline_ms = deadline_ms;
    ctx->fail_retryable = 1;
    ctx->progress_pct = -1;
    ht_job_files_init(&ctx->files, job);
}

void ht_job_ctx_clear(ht_job_ctx_t *ctx)
{
    free(ctx->fail_code);
    free(ctx->fail_msg);
    free(ctx->progress_msg);
    free(ctx->result_text);
    ctx->fail_code = ctx->fail_msg = ctx->progress_msg = ctx->result_text = NULL;
    ht_job_files_clear(&ctx->files);
}

const void *ht_job_handler_data(const ht_job_ctx_t *ctx)
{
    return ctx->handler_data;
}

const char *ht_job_payload_text(const ht_job_ctx_t *ctx, size_t *len)
{
    const char *p = ctx->job->payload && *ctx->job->payload ? ctx->job->payload : "{}";
    *len = strlen(p);
    return p;
}

void ht_job_ctx_set_result_text(ht_job_ctx_t *ctx, char *text)
{
    free(ctx->result_text);
    ctx->result_text = text;
}

void ht_job_ctx_flush_progress(ht_job_ctx_t *ctx)
{
    if (!ctx->progress_pending)
        return;
    int rc =
        ht_store_progress(ctx->store, ctx->keys, ctx->job, ctx->progress_pct, ctx->progress_msg);
    if (rc == HT_ESTALE) {
        ht_log(HT_LOG_WARN, "lease lost while reporting progress", "id", ctx->job->id, NULL);
        ht_stop_request(ctx->stop, HT_STOP_LEASE_LOST);
    } else if (rc < 0) {
        /* Keep it pending: the next call retries once Redis is back. */
        ht_log(HT_LOG_DEBUG, "progress not written", "id", ctx->job->id, "error",
               ht_store_errstr(ctx->store), NULL);
        ctx->progress_sent_ms = ht_mono_ms();
        return;
    }
    ctx->progress_pending = 0;
    ctx->progress_sent_ms = ht_mono_ms();
}

static void flush_if_due(ht_job_ctx_t *ctx)
{
    if (ctx->progress_pending && ht_mono_ms() - ctx->progress_sent_ms >= HT_PROGRESS_INTERVAL_MS)
        ht_job_ctx_flush_progress(ctx);
}

int ht_job_should_stop(ht_job_ctx_t *ctx)
{
    if (ht_mono_ms() >= ctx->deadline_ms)
        ht_stop_request(ctx->stop, HT_STOP_TIMEOUT);
    flush_if_due(ctx);
    return atomic_load(ctx->stop) != HT_STOP_NONE;
}

int ht_job_progress(ht_job_ctx_t *ctx, int percent, const char *message)
{
    if (percent < -1)
        percent = -1;
    if (percent > 100)
        percent = 100;
    char *msg = message ? ht_utf8_sanitize(message, strlen(message)) : NULL;
    free(ctx->progress_msg);
    ctx->progress_msg = msg;
    ctx->progress_pct = percent;
    ctx->progress_pending = 1;
    return ht_job_should_stop(ctx);
}

int ht_job_progress_bytes(ht_job_ctx_t *ctx, uint64_t done, uint64_t total, const char *verb)
{
    int64_t now = ht_mono_ms();
    if ((total == 0 || done < total) && ctx->bytes_shown_ms &&
        now - ctx->bytes_shown_ms < HT_PROGRESS_BYTES_MS)
        return ht_job_should_stop(ctx);
    ctx->bytes_shown_ms = now;
    char msg[128];
    const double mib = 1024.0 * 1024.0;
    int pct = -1;
    if (total > 0) {
        pct = (int)(done >= total ? 100 : done * 100 / total);
        snprintf(msg, sizeof(msg), "%s %.1f of %.1f MiB", verb ? verb : "read", done / mib,
                 total / mib);
    } else {
        snprintf(msg, sizeof(msg), "%s %.1f MiB", verb ? verb : "read", done / mib);
    }
    return ht_job_progress(ctx, pct, msg);
}

int ht_job_sleep_ms(ht_job_ctx_t *ctx, long ms)
{
    int64_t end = ht_mono_ms() + (ms > 0 ? ms : 0);
    for (;;) {
        if (ht_job_should_stop(ctx))
            return 1;
        int64_t left = end - ht_mono_ms();
        if (left <= 0)
            return 0;
        if (left > SLEEP_SLICE_MS)
            left = SLEEP_SLICE_MS;
        struct timespec ts = {0, (long)left * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void ht_job_fail(ht_job_ctx_t *ctx, const char *code, const char *message, int retryable)
{
    free(ctx->fail_code);
    free(ctx->fail_msg);
    ctx->fail_code = strdup(code && *code ? code : "handler_failed");
    ctx->fail_msg = message ? strdup(message) : NULL;
    ctx->fail_retryable = retryable != 0;
    ctx->failed = 1;
}

const char *ht_job_id(const ht_job_ctx_t *ctx)
{
    return ctx->job->id;
}

int ht_job_attempt(const ht_job_ctx_t *ctx)
{
    return ctx->job->attempt;
}

const char *ht_job_type(const ht_job_ctx_t *ctx)
{
    return ctx->job->type;
}

char *ht_error_json(const char *code, const char *message)
{
    char *msg = ht_utf8_sanitize(message, strlen(message));
    char *c = ht_utf8_sanitize(code, strlen(code));
    json_t *err = msg && c ? json_pack("{s:s, s:s}", "code", c, "message", msg) : NULL;
    char *text = err ? json_dumps(err, JSON_COMPACT) : NULL;
    json_decref(err);
    free(msg);
    free(c);
    return text;
}

char *ht_job_ctx_error_json(const ht_job_ctx_t *ctx)
{
    if (!ctx->failed || !ctx->fail_code)
        return ht_error_json("handler_failed", "the handler failed without saying why");
    return ht_error_json(ctx->fail_code, ctx->fail_msg ? ctx->fail_msg : ctx->fail_code);
}

/* ---- files ---------------------------------------------------------------- */

/* Records the files' last failure under `code` and passes rc on. */
static int files_failed(ht_job_ctx_t *ctx, const char *code, int rc)
{
    ht_job_fail(ctx, code, ctx->files.err, ht_job_files_retryable(&ctx->files));
    return rc;
}

int ht_job_has_input(const ht_job_ctx_t *ctx, uint64_t *bytes)
{
    const ht_file_ref_t *in = &ctx->job->input;
    if (bytes)
        *bytes = in->name[0] ? in->bytes : 0;
    return in->name[0] != '\0';
}

const char *ht_job_input_content_type(const ht_job_ctx_t *ctx)
{
    return ctx->job->input.name[0] ? ctx->job->input.content_type : NULL;
}

const char *ht_job_input_sha256(const ht_job_ctx_t *ctx)
{
    return ctx->job->input.name[0] ? ctx->job->input.sha256 : NULL;
}

int ht_job_ctx_input_path(ht_job_ctx_t *ctx, const char **path)
{
    int rc = ht_job_files_input_path(&ctx->files, path);
    return rc < 0 ? files_failed(ctx, "input_unavailable", rc) : 0;
}

const char *ht_job_input_path(ht_job_ctx_t *ctx)
{
    const char *path;
    if (!ht_job_has_input(ctx, NULL)) {
        ht_job_fail(ctx, "no_input", "the job has no input file", 0);
        return NULL;
    }
    return ht_job_ctx_input_path(ctx, &path) < 0 ? NULL : path;
}

int ht_job_input_read(ht_job_ctx_t *ctx, ht_job_sink_fn sink, void *ud)
{
    if (!ht_job_has_input(ctx, NULL)) {
        ht_job_fail(ctx, "no_input", "the job has no input file", 0);
        return HT_ENOTFOUND;
    }
    int rc = ht_job_files_read(&ctx->files, sink, ud);
    if (rc < 0 && rc != HT_ECANCELED)
        return files_failed(ctx, "input_unavailable", rc);
    return rc;
}

int ht_job_output_type(ht_job_ctx_t *ctx, const char *content_type)
{
    int rc = ht_job_files_set_type(&ctx->files, content_type);
    return rc < 0 ? files_failed(ctx, "output_failed", rc) : 0;
}

int ht_job_ctx_output_path(ht_job_ctx_t *ctx, const char **path)
{
    *path = NULL;
    if (!ht_files_enabled())
        return 0;
    int rc = ht_job_files_output_path(&ctx->files, path);
    return rc < 0 ? files_failed(ctx, "output_failed", rc) : 0;
}

const char *ht_job_output_path(ht_job_ctx_t *ctx)
{
    const char *path;
    int rc = ht_job_files_output_path(&ctx->files, &path);
    return rc < 0 ? (files_failed(ctx, "output_failed", rc), NULL) : path;
}

int ht_job_output_write(ht_job_ctx_t *ctx, const void *buf, size_t len)
{
    int rc = ht_job_files_write(&ctx->files, buf, len);
    return rc < 0 ? files_failed(ctx, "output_failed", rc) : 0;
}

int ht_job_ctx_keep_output(ht_job_ctx_t *ctx, char *ref, size_t reflen)
{
    int rc = ht_job_files_keep(&ctx->files, ref, reflen);
    if (rc < 0) {
        ht_log(HT_LOG_WARN, "output not stored", "id", ctx->job->id, "error", ctx->files.err, NULL);
        return files_failed(ctx, "output_failed", rc);
    }
    return 0;
}

void ht_job_ctx_drop_output(ht_job_ctx_t *ctx)
{
    ht_job_files_drop(&ctx->files);
}
