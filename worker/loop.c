/* The slots: one thread per concurrent job.  A slot takes its next job
 * from the dispatcher (dispatch.h), runs the job's handler, and hands the
 * outcome back to the dispatcher, which stores it and claims the slot's
 * next job in one call with the other slots' (ht_complete_many).  The
 * slot's own Redis connection serves its handler (progress) and the
 * hand-back of a job stopped by the drain. */
#include "worker/loop.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/backoff.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/store.h"

#include "worker/dispatch.h"
#include "worker/job_ctx.h"
#include "worker/registry.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void hold(ht_slot_t *slot, const ht_job_t *job, long timeout_s)
{
    int64_t now = ht_mono_ms();
    pthread_mutex_lock(&slot->mu);
    atomic_store(&slot->stop, HT_STOP_NONE);
    memset(&slot->held, 0, sizeof(slot->held));
    memcpy(slot->held.id, job->id, sizeof(slot->held.id));
    slot->held.token = job->token;
    slot->held.priority = job->priority;
    slot->held.timeout_s = timeout_s;
    slot->renewed_ms = now;
    slot->lease_gone = 0;
    slot->deadline_ms = now + timeout_s * 1000;
    slot->busy = 1;
    slot->settling = 0;
    pthread_mutex_unlock(&slot->mu);
}

/* The held job's outcome goes to Redis now: the lease thread leaves it
 * alone (a renewal racing the outcome would find the job done and take it
 * for a lost lease). */
static void settling(ht_slot_t *slot)
{
    pthread_mutex_lock(&slot->mu);
    slot->settling = 1;
    pthread_mutex_unlock(&slot->mu);
}

static void unsettle(ht_slot_t *slot)
{
    pthread_mutex_lock(&slot->mu);
    slot->settling = 0;
    pthread_mutex_unlock(&slot->mu);
}

static void unhold(ht_slot_t *slot)
{
    pthread_mutex_lock(&slot->mu);
    slot->busy = 0;
    pthread_mutex_unlock(&slot->mu);
}

static const char *outcome_name(ht_outcome_t outcome)
{
    switch (outcome) {
    case HT_OUTCOME_SUCCEEDED:
        return "succeeded";
    case HT_OUTCOME_FAILED:
        return "failed";
    case HT_OUTCOME_CANCELED:
        return "canceled";
    }
    return "?";
}

static void log_outcome(const ht_job_t *job, ht_outcome_t outcome, const char *json, int retryable,
                        long delay_ms)
{
    if (!ht_log_enabled(HT_LOG_INFO))
        return;
    char attempt[16], delay[24];
    snprintf(attempt, sizeof(attempt), "%d", job->attempt);
    snprintf(delay, sizeof(delay), "%ld", delay_ms);
    if (outcome == HT_OUTCOME_FAILED)
        ht_log(HT_LOG_INFO, "attempt failed", "id", job->id, "type", job->type, "attempt", attempt,
               "retryable", retryable ? "true" : "false", "retry_delay_ms", delay, "error", json,
               NULL);
    else
        ht_log(HT_LOG_INFO, outcome == HT_OUTCOME_SUCCEEDED ? "job succeeded" : "job canceled",
               "id", job->id, "type", job->type, "attempt", attempt, NULL);
}

/* Stores the outcome through the dispatcher.  `json` is the result or error
 * text (owned by the caller; NULL when canceled), `output` the reference of
 * the output file the attempt left (NULL or "": none).  A retryable failure
 * with attempts left waits a full-jitter backoff (shared/backoff.h) before
 * its next attempt.  The same call claims the slot's next job unless the
 * worker is draining.  Returns 0 when stored, HT_ESTALE when the first
 * answer said the attempt no longer holds the job (nothing of it was
 * taken), or -1 when it is not known (a try whose answer was lost may have
 * been taken). */
static int store_outcome(ht_slot_t *slot, const ht_job_t *job, ht_outcome_t outcome,
                         const char *json, int retryable, const char *output)
{
    ht_keys_t scratch;
    const ht_keys_t *k = ht_wstate_keys_of(slot->st, job->id, &scratch);
    if (!k)
        return -1;
    settling(slot);
    long delay_ms = 0;
    if (outcome == HT_OUTCOME_FAILED && retryable && job->attempt < job->max_attempts)
        delay_ms = ht_backoff_delay_ms(slot->st->retry_base_ms, slot->st->retry_max_ms,
                                       job->attempt, NULL, NULL);
    ht_settle_t o;
    memset(&o, 0, sizeof(o));
    o.job = job;
    o.outcome = outcome;
    o.json = json;
    o.retryable = retryable;
    o.retry_delay_ms = delay_ms;
    o.output = output;
    int rc = ht_dispatch_settle(slot->st->dispatch, slot->index, k, &o,
                                !atomic_load(&slot->st->draining));
    if (rc == 0)
        log_outcome(job, outcome, json, retryable, delay_ms);
    else if (rc == HT_ESTALE)
        ht_log(HT_LOG_WARN, "outcome dropped: the attempt no longer holds the job", "id", job->id,
               "outcome", outcome_name(outcome), NULL);
    return rc;
}

/* Between tries the slot is not settling: the lease thread renews the job
 * while a try that found the slot's idle connection dead (Redis restarted
 * since its last use) waits out its reply timeout and the next reconnects. */
static void hand_back(ht_slot_t *slot, ht_store_t *store, const ht_job_t *job)
{
    ht_keys_t scratch;
    const ht_keys_t *k = ht_wstate_keys_of(slot->st, job->id, &scratch);
    for (int i = 0; k && i < 5; i++) {
        settling(slot);
        int rc = ht_store_release(store, k, job);
        if (rc == 0 || rc == HT_ESTALE) {
            ht_log(HT_LOG_INFO, rc == 0 ? "job handed back" : "job already lost on hand-back", "id",
                   job->id, NULL);
            return;
        }
        unsettle(slot);
        sleep_ms(200);
    }
    ht_log(HT_LOG_ERROR, "job not handed back; it is requeued when its lease ends", "id", job->id,
           "error", ht_store_errstr(store), NULL);
}

static void fail_now(ht_slot_t *slot, const ht_job_t *job, const char *code, const char *message,
                     int retryable)
{
    char *json = ht_error_json(code, message);
    store_outcome(slot, job, HT_OUTCOME_FAILED, json, retryable, NULL);
    free(json);
}

/* Decides what the attempt amounts to once the handler has returned.
 *
 * Cancel racing completion: a cancel that arrives while the handler is
 * finishing is settled here by one rule.  A handler that returned
 * HT_HANDLER_OK has done the work, so its result is stored and the job ends
 * succeeded; any other return (stopped, or failed, which a stop often
 * causes) ends the job canceled, never retried.  Whatever reaches Redis
 * first wins there too: ht_complete only accepts the outcome of the attempt
 * that holds the job, once, and ht_cancel of a finished job answers
 * "finished" (409), so the job ends in exactly one terminal state. */
static void settle(ht_slot_t *slot, ht_store_t *store, const ht_job_t *job, ht_job_ctx_t *ctx,
                   int hrc, json_t *result)
{
    if (ht_mono_ms() >= ctx->deadline_ms)
        ht_stop_request(&slot->stop, HT_STOP_TIMEOUT);
    char msg[128];
    switch ((ht_stop_reason_t)atomic_load(&slot->stop)) {
    case HT_STOP_LEASE_LOST:
        /* A handler that finished anyway has done the work: its outcome is
         * sent, and Redis takes it only if no later attempt owns the job. */
        if (hrc != HT_HANDLER_OK) {
            ht_log(HT_LOG_WARN, "lease lost: outcome dropped", "id", job->id, NULL);
            return;
        }
        break;
    case HT_STOP_DRAIN:
        /* A handler that finished anyway has done the work: keep it. */
        if (hrc == HT_HANDLER_STOPPED) {
            hand_back(slot, store, job);
            return;
        }
        break;
    case HT_STOP_TIMEOUT:
        /* A handler that knows more about what it was waiting for says so. */
        if (hrc == HT_HANDLER_FAIL && ctx->failed && ctx->fail_code &&
            strcmp(ctx->fail_code, "timeout") == 0 && ctx->fail_msg) {
            fail_now(slot, job, "timeout", ctx->fail_msg, 1);
            return;
        }
        snprintf(msg, sizeof(msg), "the attempt ran past its timeout_s of %ld s",
                 slot->held.timeout_s);
        fail_now(slot, job, "timeout", msg, 1);
        return;
    case HT_STOP_CANCELED:
        if (hrc != HT_HANDLER_OK) {
            store_outcome(slot, job, HT_OUTCOME_CANCELED, NULL, 0, NULL);
            return;
        }
        break;
    case HT_STOP_NONE:
        break;
    }
    ht_job_ctx_flush_progress(ctx);
    /* The output file goes into the store before the outcome names it;
     * one that cannot be stored fails the attempt (files.h). */
    char output[HT_JOB_FILES_REF_MAX];
    if (hrc == HT_HANDLER_OK && ht_job_ctx_keep_output(ctx, output, sizeof(output)) < 0)
        hrc = HT_HANDLER_FAIL;
    if (hrc == HT_HANDLER_OK) {
        char *text = NULL;
        if (!ctx->result_text && result &&
            !(text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY))) {
            ht_job_ctx_drop_output(ctx);
            fail_now(slot, job, "internal", "the result could not be encoded", 1);
            return;
        }
        const char *body = ctx->result_text ? ctx->result_text : text ? text : "null";
        if (store_outcome(slot, job, HT_OUTCOME_SUCCEEDED, body, 0, output) == HT_ESTALE)
            ht_job_ctx_drop_output(ctx);
        free(text);
        return;
    }
    char *err = ht_job_ctx_error_json(ctx);
    store_outcome(slot, job, HT_OUTCOME_FAILED, err ? err : "{\"code\":\"handler_failed\"}",
                  ctx->failed ? ctx->fail_retryable : 1, NULL);
    free(err);
}

static void run_job(ht_slot_t *slot, ht_store_t *store, const ht_job_t *job)
{
    ht_wstate_t *st = slot->st;
    long timeout_s = job->timeout_s > 0 ? job->timeout_s : HT_TIMEOUT_S_DEFAULT;
    hold(slot, job, timeout_s);
    if (ht_log_enabled(HT_LOG_INFO)) {
        char attempt[16];
        snprintf(attempt, sizeof(attempt), "%d", job->attempt);
        ht_log(HT_LOG_INFO, "job started", "id", job->id, "type", job->type, "attempt", attempt,
               NULL);
    }

    const ht_handler_entry_t *e = ht_registry_find(job->type);
    json_error_t jerr;
    json_t *payload = NULL;
    ht_keys_t scratch;
    const ht_keys_t *keys = ht_wstate_keys_of(st, job->id, &scratch);
    if (!keys) {
        /* logged; not run: no outcome can be stored for it */
    } else if (!e) {
        char msg[HT_TYPE_MAX + HT_WORKER_ID_MAX + 64];
        snprintf(msg, sizeof(msg), "no handler for type %s on worker %s", job->type, st->id);
        fail_now(slot, job, "unknown_type", msg, 0);
    } else if (!e->raw_payload && !(payload = json_loads(job->payload ? job->payload : "{}",
                                                         JSON_DECODE_ANY, &jerr))) {
        fail_now(slot, job, "invalid_payload", "the stored payload is not JSON", 0);
    } else {
        ht_job_ctx_t ctx;
        ht_job_ctx_init(&ctx, job, e->data, store, keys, &slot->stop, slot->deadline_ms);
        json_t *result = NULL;
        int hrc = e->fn(&ctx, payload, &result);
        settle(slot, store, job, &ctx, hrc, result);
        json_decref(result);
        ht_job_ctx_clear(&ctx);
    }
    json_decref(payload);
    unhold(slot);
}

static void *slot_main(void *arg)
{
    ht_slot_t *slot = arg;
    ht_wstate_t *st = slot->st;
    ht_store_t *store = NULL;
    /* A failed open still yields a store that reconnects on the next call. */
    ht_store_open(&store, &st->url, HT_WORKER_REDIS_TIMEOUT_MS);
    ht_job_t job;
    while (store && !atomic_load(&st->draining) &&
           ht_dispatch_take(st->dispatch, slot->index, &job) == 1) {
        run_job(slot, store, &job);
        ht_job_clear(&job);
    }
    ht_store_close(store);
    atomic_store(&slot->exited, 1);
    return NULL;
}

int ht_slot_start(ht_slot_t *slot)
{
    return ht_wthread_start(&slot->thread, slot_main, slot);
}
