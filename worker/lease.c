/* The lease thread: one per process, with its own Redis connection.  Every
 * beat it renews the lease of each held job that was last renewed more than
 * a third of its timeout_s ago (so a lease outlives several missed beats),
 * tells a slot to stop when its lease is lost, its time is up or its job
 * was canceled (ht_renew says so: the backstop for a missed cancel
 * message, see cancel.c).  It also does the queue's housekeeping that no
 * single process may own (so there is no scheduler or reaper to lose):
 *   - promotes due scheduled jobs (delays and retry backoff) about every
 *     100 ms, sooner when the next one is due sooner, never more often
 *     than every 20 ms;
 *   - requeues jobs whose lease ran out anywhere, about once a second;
 *   - trims expired jobs from the listing indexes, about once a second;
 *   - re-registers the worker's job types and its partition count once a
 *     minute;
 *   - fires the recurring schedules whose run has come (worker/schedules.c),
 *     about every 250 ms, sooner when the next run is sooner.
 * The housekeeping covers every partition served (shared/partition.h). */
#include <stdio.h>
#include <time.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/partition_store.h"
#include "shared/store.h"
#include "worker/job_ctx.h"
#include "worker/schedules.h"
#include "worker/worker.h"

#define BEAT_MS 250
#define REAP_EVERY_MS 1000
#define REAP_LIMIT 100
#define PROMOTE_EVERY_MS 100
#define PROMOTE_MIN_MS 20
#define PROMOTE_LIMIT 100
#define TRIM_EVERY_MS 1000
#define TRIM_LIMIT 500
#define REGISTER_EVERY_MS 60000
/* A handler that ignores its stop request keeps its lease this long past
 * its deadline (the exec handler needs up to its kill grace); after that the
 * lease is let go so the job can run elsewhere. */
#define OVERRUN_GRACE_MS 30000

static void renew_slot(ht_worker_t *w, ht_slot_t *slot, ht_store_t *store, int64_t now,
                       int force)
{
    pthread_mutex_lock(&slot->mu);
    int due = slot->busy &&
              (force || now - slot->renewed_ms >= slot->held.timeout_s * 1000 / 3) &&
              now < slot->deadline_ms + OVERRUN_GRACE_MS;
    if (slot->busy && now >= slot->deadline_ms)
        ht_stop_request(&slot->stop, HT_STOP_TIMEOUT);
    ht_job_t held = slot->held;
    pthread_mutex_unlock(&slot->mu);
    if (!due)
        return;

    ht_keys_t scratch;
    const ht_keys_t *k = ht_worker_keys_of(w, held.id, &scratch);
    int rc = k ? ht_store_renew(store, k, &held) : HT_EINVAL;
    const char *why = NULL;
    ht_log_level_t level = HT_LOG_WARN;
    pthread_mutex_lock(&slot->mu);
    if (slot->busy && slot->held.token == held.token) {
        if (rc == 0 || rc == HT_ECANCELED)
            slot->renewed_ms = now; /* still ours either way */
        if (rc == HT_ECANCELED && atomic_load(&slot->stop) == HT_STOP_NONE) {
            why = "cancel requested (seen on renewal); stopping the handler";
            level = HT_LOG_INFO;
            ht_stop_request(&slot->stop, HT_STOP_CANCELED);
        } else if (rc == HT_ESTALE) {
            why = "lease lost; stopping the handler";
            ht_stop_request(&slot->stop, HT_STOP_LEASE_LOST);
        }
    }
    pthread_mutex_unlock(&slot->mu);
    if (why)
        ht_log(level, why, "id", held.id, NULL);
    if (rc < 0 && rc != HT_ESTALE && rc != HT_ECANCELED)
        ht_log(HT_LOG_WARN, "lease not renewed", "id", held.id, "error",
               ht_store_errstr(store), NULL);
}

/* Promotes due scheduled jobs of every partition: n promoted (the most of
 * any one partition) and the earliest next due time.  Negative when Redis
 * failed everywhere. */
static int promote_all(ht_worker_t *w, ht_store_t *store, long long *next_due)
{
    int most = -1;
    *next_due = -1;
    for (size_t i = 0; i < w->parts.count; i++) {
        long long due = -1;
        int n = ht_store_promote(store, &w->parts.parts[i].keys, PROMOTE_LIMIT, &due);
        if (n > most)
            most = n;
        if (n >= 0 && due >= 0 && (*next_due < 0 || due < *next_due))
            *next_due = due;
    }
    return most;
}

/* Promotes due scheduled jobs.  Returns how long to wait before the next
 * call, in ms. */
static int64_t promote(ht_worker_t *w, ht_store_t *store)
{
    long long next_due = -1;
    int n = promote_all(w, store, &next_due);
    if (n < 0) {
        /* Redis trouble is reported by the renewals and the slots. */
        ht_log(HT_LOG_DEBUG, "promote failed", "error", ht_store_errstr(store), NULL);
        return PROMOTE_EVERY_MS;
    }
    if (n > 0) {
        char count[16];
        snprintf(count, sizeof(count), "%d", n);
        ht_log(HT_LOG_DEBUG, "promoted scheduled jobs", "count", count, NULL);
    }
    if (n >= PROMOTE_LIMIT)
        return PROMOTE_MIN_MS; /* more are due already */
    if (next_due < 0)
        return PROMOTE_EVERY_MS;
    /* next_due is on Redis' clock; ours is close enough to aim at it, and
     * the bounds keep a skewed clock from costing more than 100 ms. */
    int64_t wait = (int64_t)next_due - ht_now_ms();
    if (wait < PROMOTE_MIN_MS)
        return PROMOTE_MIN_MS;
    return wait > PROMOTE_EVERY_MS ? PROMOTE_EVERY_MS : wait;
}

static void housekeeping(ht_worker_t *w, ht_store_t *store, int64_t now, int64_t *next_reap,
                         int64_t *next_trim, int64_t *next_register)
{
    char count[16];
    if (now >= *next_reap) {
        int n = 0;
        for (size_t i = 0; i < w->parts.count; i++) {
            int got = ht_store_reap(store, &w->parts.parts[i].keys, REAP_LIMIT);
            n += got > 0 ? got : 0;
        }
        if (n > 0) {
            snprintf(count, sizeof(count), "%d", n);
            ht_log(HT_LOG_INFO, "requeued jobs whose lease ran out", "count", count, NULL);
        }
        *next_reap = now + REAP_EVERY_MS;
    }
    if (now >= *next_trim) {
        int n = 0, most = 0;
        for (size_t i = 0; i < w->parts.count; i++) {
            int got = ht_store_trim(store, &w->parts.parts[i].keys, TRIM_LIMIT);
            n += got > 0 ? got : 0;
            most = got > most ? got : most;
        }
        if (n > 0) {
            snprintf(count, sizeof(count), "%d", n);
            ht_log(HT_LOG_DEBUG, "trimmed expired jobs from the indexes", "count", count,
                   NULL);
        }
        /* A full batch means a backlog: come back sooner. */
        *next_trim = now + (most >= TRIM_LIMIT ? TRIM_EVERY_MS / 10 : TRIM_EVERY_MS);
    }
    if (now >= *next_register) {
        ht_worker_register_types(w, store); /* best effort: retried next minute */
        /* Our N stays recorded while we run (a Redis that lost its data, or
         * a premature `hangtight partitions --retire`, learns it again). */
        ht_parts_record(&w->parts, store);
        *next_register = now + REGISTER_EVERY_MS;
    }
}

static void *lease_main(void *arg)
{
    ht_worker_t *w = arg;
    ht_store_t *store = NULL;
    ht_store_open(&store, &w->url, HT_WORKER_REDIS_TIMEOUT_MS);
    int64_t next_beat = 0, next_promote = 0, next_reap = 0, next_trim = 0, next_sched = 0;
    int64_t next_register = ht_mono_ms() + REGISTER_EVERY_MS;
    while (store && !atomic_load(&w->lease_quit)) {
        int64_t now = ht_mono_ms();
        int force = atomic_exchange(&w->renew_all, 0);
        if (now >= next_beat || force) {
            for (long i = 0; i < w->concurrency; i++)
                renew_slot(w, &w->slots[i], store, now, force);
            next_beat = now + BEAT_MS;
        }
        if (now >= next_promote)
            next_promote = now + promote(w, store);
        housekeeping(w, store, now, &next_reap, &next_trim, &next_register);
        if (now >= next_sched)
            next_sched = ht_mono_ms() + ht_schedules_fire(store, &w->parts);

        /* Sleep until the next renewal beat, promotion or schedule run,
         * whichever is first. */
        now = ht_mono_ms();
        int64_t until = next_beat < next_promote ? next_beat : next_promote;
        until = next_sched < until ? next_sched : until;
        int64_t ms = until - now;
        if (ms < 1)
            ms = 1;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    ht_store_close(store);
    return NULL;
}

int ht_lease_start(ht_worker_t *w)
{
    int e = pthread_create(&w->lease_thread, NULL, lease_main, w);
    w->lease_started = e == 0;
    return -e;
}

void ht_lease_stop(ht_worker_t *w)
{
    if (!w->lease_started)
        return;
    atomic_store(&w->lease_quit, 1);
    pthread_join(w->lease_thread, NULL);
    w->lease_started = 0;
}
