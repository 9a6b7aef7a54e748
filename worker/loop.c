/* The claim loop: one thread per slot, each with its own Redis connection.
 * claim -> run the handler -> store the outcome; storing the outcome also
 * claims the slot's next job in the same call (ht_store_complete_next: one
 * Redis round trip per job while there is work); when every queue is empty,
 * block on the submit signal for up to a second (so a drain is noticed
 * quickly).  Redis errors are logged once, backed off and retried: a worker
 * never exits because Redis went away.  The claims and outcomes are made
 * with "the caller counts": the slot counts what they answer in the
 * process (counts.h), and the lease thread sends the sums. */
#include "worker/loop.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shared/backoff.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/store.h"

#include "worker/job_ctx.h"
#include "worker/registry.h"

#define IDLE_WAIT_MS 1000
/* With several partitions, the wait on one partition's signal list. */
#define PARTITION_WAIT_MS 200
#define BACKOFF_MIN_MS    100
#define BACKOFF_MAX_MS    1000
/* How long a finished job's outcome is retried against an unreachable
 * Redis before the slot gives up and lets the lease run out (the job is then
 * run again: at-least-once). */
#define OUTCOME_RETRY_MS 30000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Redis trouble bookkeeping: log the first failure and the recovery, not
 * every retry. */
typedef struct {
    int failing;
    long backoff_ms;
} trouble_t;

/* Doubles *backoff_ms from BACKOFF_MIN_MS up to BACKOFF_MAX_MS; returns it. */
static long next_backoff(long *backoff_ms)
{
    *backoff_ms = *backoff_ms ? *backoff_ms * 2 : BACKOFF_MIN_MS;
    if (*backoff_ms > BACKOFF_MAX_MS)
        *backoff_ms = BACKOFF_MAX_MS;
    return *backoff_ms;
}

static void trouble(trouble_t *t, ht_store_t *store, const char *what)
{
    if (!t->failing)
        ht_log(HT_LOG_WARN, "redis unavailable, retrying", "during", what, "error",
               ht_store_errstr(store), NULL);
    t->failing = 1;
    sleep_ms(next_backoff(&t->backoff_ms));
}

static void recovered(trouble_t *t)
{
    if (t->failing)
        ht_log(HT_LOG_INFO, "redis available again", NULL);
    t->failing = 0;
    t->backoff_ms = 0;
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

/* The job claimed along with an outcome: `got` says whether `job` holds one;
 * `empty` that a claim was made and found every queue empty; `allow` (set by
 * the loop) whether to ask for one at all. */
typedef struct {
    ht_job_t job;
    int got;
    int empty;
    int allow;
} next_t;

/* With several partitions, an outcome's call claims from the partition of
 * the job it finishes (one hash tag per call): after this many such claims
 * in a row the slot goes back to its rotation, so a busy partition cannot
 * starve the others. */
#define SAME_PARTITION_MAX 8

/* Stores the outcome, retrying while Redis is away.  `json` is the result
 * or error text (owned by the caller; NULL when canceled), `output` the
 * reference of the output file the attempt left (NULL or "": none).  A
 * retryable failure with attempts left waits a full-jitter backoff
 * (shared/backoff.h) before its next attempt.  The same call claims the slot's
 * next job into `nx` unless the worker is draining.  Returns 0 when stored,
 * HT_ESTALE when the first answer said the attempt no longer holds the job
 * (nothing of it was taken), or -1 when it is not known (a try whose answer
 * was lost may have been taken). */
static int store_outcome(ht_slot_t *slot, ht_store_t *store, const ht_job_t *job,
                         ht_outcome_t outcome, const char *json, int retryable, const char *output,
                         next_t *nx)
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
    int64_t give_up = ht_mono_ms() + OUTCOME_RETRY_MS;
    trouble_t t = {0};
    for (;;) {
        int want = nx->allow && !nx->got && !atomic_load(&slot->st->draining);
        ht_counted_t counted;
        ht_job_status_t status;
        int rc = ht_store_complete_next(store, k, job, outcome, json, retryable, delay_ms, output,
                                        &slot->st->claimer, want ? &nx->job : NULL,
                                        want ? &nx->got : NULL, &counted, &status);
        if (rc == 0 || rc == HT_ESTALE)
            nx->empty = want && !nx->got;
        if (rc == 0)
            ht_counts_ended(slot->st->counts, k->base, job, status, counted.run);
        if ((rc == 0 || rc == HT_ESTALE) && want && nx->got)
            ht_counts_started(slot->st->counts, k->base, &nx->job, counted.wait);
        if (rc == 0) {
            recovered(&t);
            log_outcome(job, outcome, json, retryable, delay_ms);
            return 0;
        }
        if (rc == HT_ESTALE) {
            ht_log(HT_LOG_WARN, "outcome dropped: the attempt no longer holds the job", "id",
                   job->id, "outcome", outcome_name(outcome), NULL);
            return t.failing ? -1 : HT_ESTALE;
        }
        /* Retried even when the lease thread presumes the lease lost (no
         * renewal for a whole lease): until a reaper takes the job, Redis
         * still takes the outcome, and fencing refuses it after. */
        if (ht_mono_ms() >= give_up) {
            ht_log(HT_LOG_ERROR, "outcome not stored; the job runs again when its lease ends", "id",
                   job->id, "error", ht_store_errstr(store), NULL);
            return -1;
        }
        trouble(&t, store, "complete");
    }
}

static void hand_back(ht_slot_t *slot, ht_store_t *store, const ht_job_t *job)
{
    settling(slot);
    ht_keys_t scratch;
    const ht_keys_t *k = ht_wstate_keys_of(slot->st, job->id, &scratch);
    for (int i = 0; k && i < 5; i++) {
        int rc = ht_store_release(store, k, job);
        if (rc == 0 || rc == HT_ESTALE) {
            ht_log(HT_LOG_INFO, rc == 0 ? "job handed back" : "job already lost on hand-back", "id",
                   job->id, NULL);
            return;
        }
        sleep_ms(200);
    }
    ht_log(HT_LOG_ERROR, "job not handed back; it is requeued when its lease ends", "id", job->id,
           "error", ht_store_errstr(store), NULL);
}

static void fail_now(ht_slot_t *slot, ht_store_t *store, const ht_job_t *job, const char *code,
                     const char *message, int retryable, next_t *nx)
{
    char *json = ht_error_json(code, message);
    store_outcome(slot, store, job, HT_OUTCOME_FAILED, json, retryable, NULL, nx);
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
                   int hrc, json_t *result, next_t *nx)
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
            fail_now(slot, store, job, "timeout", ctx->fail_msg, 1, nx);
            return;
        }
        snprintf(msg, sizeof(msg), "the attempt ran past its timeout_s of %ld s",
                 slot->held.timeout_s);
        fail_now(slot, store, job, "timeout", msg, 1, nx);
        return;
    case HT_STOP_CANCELED:
        if (hrc != HT_HANDLER_OK) {
            store_outcome(slot, store, job, HT_OUTCOME_CANCELED, NULL, 0, NULL, nx);
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
            fail_now(slot, store, job, "internal", "the result could not be encoded", 1, nx);
            return;
        }
        const char *body = ctx->result_text ? ctx->result_text : text ? text : "null";
        if (store_outcome(slot, store, job, HT_OUTCOME_SUCCEEDED, body, 0, output, nx) == HT_ESTALE)
            ht_job_ctx_drop_output(ctx);
        free(text);
        return;
    }
    char *err = ht_job_ctx_error_json(ctx);
    store_outcome(slot, store, job, HT_OUTCOME_FAILED, err ? err : "{\"code\":\"handler_failed\"}",
                  ctx->failed ? ctx->fail_retryable : 1, NULL, nx);
    free(err);
}

static void run_job(ht_slot_t *slot, ht_store_t *store, const ht_job_t *job, next_t *nx)
{
    ht_wstate_t *st = slot->st;
    long timeout_s = job->timeout_s > 0 ? job->timeout_s : HT_TIMEOUT_S_DEFAULT;
    hold(slot, job, timeout_s);
    char attempt[16];
    snprintf(attempt, sizeof(attempt), "%d", job->attempt);
    ht_log(HT_LOG_INFO, "job started", "id", job->id, "type", job->type, "attempt", attempt, NULL);

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
        fail_now(slot, store, job, "unknown_type", msg, 0, nx);
    } else if (!e->raw_payload && !(payload = json_loads(job->payload ? job->payload : "{}",
                                                         JSON_DECODE_ANY, &jerr))) {
        fail_now(slot, store, job, "invalid_payload", "the stored payload is not JSON", 0, nx);
    } else {
        ht_job_ctx_t ctx;
        ht_job_ctx_init(&ctx, job, e->data, store, keys, &slot->stop, slot->deadline_ms);
        json_t *result = NULL;
        int hrc = e->fn(&ctx, payload, &result);
        settle(slot, store, job, &ctx, hrc, result, nx);
        json_decref(result);
        ht_job_ctx_clear(&ctx);
    }
    json_decref(payload);
    unhold(slot);
}

/* A partition's Redis trouble, per slot: a failing master (one partition
 * of several) backs off alone, skipped by the sweeps meanwhile, while the
 * slot keeps claiming from the others.  Its failure and recovery are
 * logged once each, not once per sweep; so is each other kind of failure
 * met meanwhile (Redis back but refusing us, or without the function
 * library: a new or emptied Redis that needs `hangtight migrate`), and a
 * kind that lasts is logged again every TROUBLE_RELOG_MS: a worker that
 * cannot claim always says why, and one that flaps between two kinds says
 * each once a minute. */
#define TROUBLE_RELOG_MS 60000
#define TROUBLE_KINDS    4
typedef struct {
    int failing;
    long backoff_ms;
    int64_t until_ms; /* skipped until then */
    int64_t since_ms; /* failing since then */
    struct {
        int rc;            /* a kind of failure (0: unused) */
        int64_t logged_ms; /* when it was logged last */
    } kinds[TROUBLE_KINDS];
} part_trouble_t;

/* 1 when failure `rc` is to be logged now (and notes that it is). */
static int trouble_to_log(part_trouble_t *pt, int rc, int64_t now)
{
    int slot = 0;
    for (int i = 0; i < TROUBLE_KINDS; i++) {
        if (pt->kinds[i].rc == rc) {
            if (now - pt->kinds[i].logged_ms < TROUBLE_RELOG_MS)
                return 0;
            slot = i;
            break;
        }
        if (pt->kinds[i].logged_ms < pt->kinds[slot].logged_ms)
            slot = i; /* the kind logged longest ago makes room */
    }
    pt->kinds[slot].rc = rc;
    pt->kinds[slot].logged_ms = now;
    return 1;
}

static void part_failed(part_trouble_t *pt, ht_store_t *store, const ht_keys_t *k, int several,
                        const char *what, int rc)
{
    int64_t now = ht_now_ms();
    int first = !pt->failing;
    if (first) {
        pt->since_ms = now;
        memset(pt->kinds, 0, sizeof(pt->kinds));
    }
    if (trouble_to_log(pt, rc, now)) {
        char for_s[24];
        snprintf(for_s, sizeof(for_s), "%lld", (long long)((now - pt->since_ms) / 1000));
        /* The "partition" pair only with several (a NULL key ends the list). */
        ht_log(HT_LOG_WARN,
               first ? "redis unavailable, retrying" : "redis still unavailable, retrying",
               "during", what, "error", ht_store_errstr(store), "for_s", for_s,
               several ? "partition" : NULL, k->base, NULL);
    }
    pt->failing = 1;
    pt->until_ms = now + next_backoff(&pt->backoff_ms);
}

static void part_ok(part_trouble_t *pt, const ht_keys_t *k, int several)
{
    if (pt->failing)
        ht_log(HT_LOG_INFO, "redis available again", several ? "partition" : NULL, k->base, NULL);
    pt->failing = 0;
    pt->backoff_ms = 0;
    pt->until_ms = 0;
}

/* The first partition from `from` not backing off, or `count` when every
 * one is (*soonest: when the first of them may be tried again). */
static size_t next_usable(const part_trouble_t *pt, size_t count, size_t from, int64_t now,
                          int64_t *soonest)
{
    *soonest = INT64_MAX;
    for (size_t n = 0; n < count; n++) {
        size_t i = (from + n) % count;
        if (pt[i].until_ms <= now)
            return i;
        if (pt[i].until_ms < *soonest)
            *soonest = pt[i].until_ms;
    }
    return count;
}

/* A random partition to start from, so slots (and workers) do not all
 * begin with the same one. */
static size_t random_start(size_t count)
{
    unsigned r = 0;
    if (count <= 1 || getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        return 0;
    return r % count;
}

/* Claims across partitions (shared/partition.h), fairly: the slot tries
 * the partitions in turn from a random start, and after each try (a claim
 * or an empty partition) moves to the next, so a busy partition never
 * starves another.  When a whole sweep found nothing it waits on ONE
 * partition's signal list (a cluster cannot BLPOP keys of several slots at
 * once), the next one each time, for a short while when there are several
 * (a job submitted elsewhere meanwhile waits at most that long), then
 * sweeps again.  One partition: claim, BLPOP for IDLE_WAIT_MS, as always. */
static void *slot_main(void *arg)
{
    ht_slot_t *slot = arg;
    ht_wstate_t *st = slot->st;
    ht_store_t *store = NULL;
    size_t count = st->parts.count, part = random_start(count), empty = 0, waits = part;
    int several = count > 1;
    part_trouble_t *pt = calloc(count, sizeof(*pt));
    if (!pt) {
        ht_log(HT_LOG_ERROR, "slot cannot start: out of memory", NULL);
        atomic_store(&slot->exited, 1);
        return NULL;
    }
    int wait_ms = count > 1 ? PARTITION_WAIT_MS : IDLE_WAIT_MS;
    /* A failed open still yields a store that reconnects on the next call. */
    ht_store_open(&store, &st->url, HT_WORKER_REDIS_TIMEOUT_MS);
    /* nx: the job claimed along with the last outcome, run next without a
     * claim of its own. */
    next_t nx;
    memset(&nx, 0, sizeof(nx));
    int streak = 0; /* jobs in a row claimed along with an outcome */
    while (store && !atomic_load(&st->draining)) {
        ht_job_t job;
        int rc = 1;
        streak = nx.got ? streak + 1 : 0;
        if (nx.got) {
            job = nx.job;
        } else if (nx.empty) {
            /* The outcome's call just found its partition's queues empty:
             * that counts as this turn's empty claim. */
            memset(&job, 0, sizeof(job));
            rc = 0;
        } else {
            memset(&job, 0, sizeof(job));
            int64_t now = ht_now_ms(), soonest;
            size_t cur = next_usable(pt, count, part, now, &soonest);
            if (cur == count) { /* every partition backing off */
                sleep_ms((long)(soonest - now));
                continue;
            }
            const ht_keys_t *k = &st->parts.parts[cur].keys;
            part = (cur + 1) % count;
            ht_counted_t counted;
            rc = ht_store_claim(store, k, &st->claimer, &job, &counted);
            if (rc == 1)
                ht_counts_started(st->counts, k->base, &job, counted.wait);
            if (rc < 0)
                part_failed(&pt[cur], store, k, several, "claim", rc);
            else
                part_ok(&pt[cur], k, several);
        }
        memset(&nx, 0, sizeof(nx));
        nx.allow = count == 1 || streak < SAME_PARTITION_MAX;
        if (rc == 1)
            run_job(slot, store, &job, &nx);
        ht_job_clear(&job);
        /* A failed partition yields nothing this turn either: the sweep
         * goes on, and ends in a wait as an empty one does. */
        empty = rc <= 0 ? empty + 1 : 0;
        if (rc <= 0 && empty >= count) {
            empty = 0;
            int64_t soonest;
            size_t wi = next_usable(pt, count, waits, ht_now_ms(), &soonest);
            if (wi < count) {
                const ht_keys_t *k = &st->parts.parts[wi].keys;
                waits = (wi + 1) % count;
                int wrc = ht_store_wait_signal(store, k, wait_ms);
                if (wrc < 0)
                    part_failed(&pt[wi], store, k, several, "claim", wrc);
                else
                    part_ok(&pt[wi], k, several);
            }
        }
    }
    free(pt);
    /* Claimed as the drain began: it goes back to the head of its queue,
     * unrun, as the job of a slot stopped by the drain would. */
    if (nx.got)
        hand_back(slot, store, &nx.job);
    ht_job_clear(&nx.job);
    ht_store_close(store);
    atomic_store(&slot->exited, 1);
    return NULL;
}

int ht_slot_start(ht_slot_t *slot)
{
    return ht_wthread_start(&slot->thread, slot_main, slot);
}
