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
 *     minute, and drops the records of workers gone for STALE_MS;
 *   - publishes the worker's record (HT_KEY_WORKERS: its persistent
 *     handlers' processes, for /metrics) every PUBLISH_EVERY_MS.
 * The housekeeping covers every partition served (shared/partition.h). */
#include "worker/lease.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/partition_store.h"
#include "shared/store.h"

#include "worker/job_ctx.h"
#include "worker/registry.h"

#define BEAT_MS           250
#define REAP_EVERY_MS     1000
#define REAP_LIMIT        100
#define PROMOTE_EVERY_MS  100
#define PROMOTE_MIN_MS    20
#define PROMOTE_LIMIT     100
#define TRIM_EVERY_MS     1000
#define TRIM_LIMIT        500
#define REGISTER_EVERY_MS 60000
#define REGISTER_BATCH    20 /* types per HSET: the argv vector has a bound */
#define PUBLISH_EVERY_MS  5000
/* A worker record not refreshed for this long is a dead worker's. */
#define STALE_MS  600000
#define POOLS_MAX 256
/* A handler that ignores its stop request keeps its lease this long past
 * its deadline (the exec handler needs up to its kill grace); after that the
 * lease is let go so the job can run elsewhere. */
#define OVERRUN_GRACE_MS 30000

static void renew_slot(ht_wstate_t *st, ht_slot_t *slot, ht_store_t *store, int64_t now, int force)
{
    pthread_mutex_lock(&slot->mu);
    int due = slot->busy && !slot->settling &&
              (force || now - slot->renewed_ms >= slot->held.timeout_s * 1000 / 3) &&
              now < slot->deadline_ms + OVERRUN_GRACE_MS;
    if (slot->busy && now >= slot->deadline_ms)
        ht_stop_request(&slot->stop, HT_STOP_TIMEOUT);
    ht_job_t held = slot->held;
    pthread_mutex_unlock(&slot->mu);
    if (!due)
        return;

    ht_keys_t scratch;
    const ht_keys_t *k = ht_wstate_keys_of(st, held.id, &scratch);
    int rc = k ? ht_store_renew(store, k, &held) : HT_EINVAL;
    const char *why = NULL;
    ht_log_level_t level = HT_LOG_WARN;
    pthread_mutex_lock(&slot->mu);
    if (slot->busy && !slot->settling && slot->held.token == held.token) {
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
        ht_log(HT_LOG_WARN, "lease not renewed", "id", held.id, "error", ht_store_errstr(store),
               NULL);
}

/* Promotes due scheduled jobs of every partition: n promoted (the most of
 * any one partition) and the earliest next due time.  Negative when Redis
 * failed everywhere. */
static int promote_all(ht_wstate_t *st, ht_store_t *store, long long *next_due)
{
    int most = -1;
    *next_due = -1;
    for (size_t i = 0; i < st->parts.count; i++) {
        long long due = -1;
        int n = ht_store_promote(store, &st->parts.parts[i].keys, PROMOTE_LIMIT, &due);
        if (n > most)
            most = n;
        if (n >= 0 && due >= 0 && (*next_due < 0 || due < *next_due))
            *next_due = due;
    }
    return most;
}

/* Promotes due scheduled jobs.  Returns how long to wait before the next
 * call, in ms. */
static int64_t promote(ht_wstate_t *st, ht_store_t *store)
{
    long long next_due = -1;
    int n = promote_all(st, store, &next_due);
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

/* The worker's record in HT_KEY_WORKERS: a new string or NULL. */
static char *worker_record(const ht_lease_t *l)
{
    ht_pool_figures_t f[POOLS_MAX];
    size_t n = ht_pools_figures(l->pools, f, POOLS_MAX);
    json_t *handlers = json_object();
    for (size_t i = 0; handlers && i < n && i < POOLS_MAX; i++)
        json_object_set_new(
            handlers, f[i].type,
            json_pack("{s:I, s:I, s:I, s:I, s:b}", "processes", (json_int_t)f[i].processes,
                      "running", (json_int_t)f[i].running, "busy", (json_int_t)f[i].busy,
                      "restarts", (json_int_t)f[i].restarts, "failing", f[i].failing));
    json_t *rec =
        handlers ? json_pack("{s:s, s:I, s:I, s:o}", "id", l->st->id, "at", (json_int_t)ht_now_ms(),
                             "concurrency", (json_int_t)l->st->concurrency, "handlers", handlers)
                 : NULL;
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    return text;
}

static int publish(const ht_lease_t *l, ht_store_t *s)
{
    char *rec = worker_record(l);
    if (!rec)
        return HT_ENOMEM;
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HSET");
    ht_argv_add(&a, HT_KEY_WORKERS);
    ht_argv_add(&a, l->st->id);
    ht_argv_add(&a, rec);
    long long ignored;
    int rc = ht_store_cmd_int(s, &a, &ignored);
    free(rec);
    return rc;
}

static void unpublish(const ht_lease_t *l, ht_store_t *s)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HDEL");
    ht_argv_add(&a, HT_KEY_WORKERS);
    ht_argv_add(&a, l->st->id);
    long long ignored;
    ht_store_cmd_int(s, &a, &ignored);
}

/* Drops the records of workers that stopped refreshing them long ago
 * (killed, machine gone): any worker does it, nothing grows. */
static void prune_workers(ht_store_t *s)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGETALL");
    ht_argv_add(&a, HT_KEY_WORKERS);
    char **v = NULL;
    size_t n = 0;
    if (ht_store_cmd_strings(s, &a, &v, &n) < 0)
        return;
    int64_t now = ht_now_ms();
    for (size_t i = 0; i + 1 < n; i += 2) {
        json_t *rec = json_loads(v[i + 1], 0, NULL);
        json_int_t at = json_integer_value(json_object_get(rec, "at"));
        json_decref(rec);
        if (now - at < STALE_MS)
            continue;
        ht_argv_init(&a);
        ht_argv_add(&a, "HDEL");
        ht_argv_add(&a, HT_KEY_WORKERS);
        ht_argv_add(&a, v[i]);
        long long ignored;
        ht_store_cmd_int(s, &a, &ignored);
    }
    ht_store_strings_free(v);
}

int ht_lease_register(const ht_lease_t *l, ht_store_t *s)
{
    size_t n;
    const char *const *types = ht_registry_names(&n);
    for (size_t i = 0; i < n; i += REGISTER_BATCH) {
        size_t batch = n - i < REGISTER_BATCH ? n - i : REGISTER_BATCH;
        int rc = ht_store_register_types(s, types + i, batch, l->st->id);
        if (rc < 0)
            return rc;
    }
    return publish(l, s);
}

static void housekeeping(ht_lease_t *l, ht_store_t *store, int64_t now, int64_t *next_reap,
                         int64_t *next_trim, int64_t *next_register)
{
    ht_wstate_t *st = l->st;
    char count[16];
    if (now >= *next_reap) {
        int n = 0;
        for (size_t i = 0; i < st->parts.count; i++) {
            int got = ht_store_reap(store, &st->parts.parts[i].keys, REAP_LIMIT);
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
        for (size_t i = 0; i < st->parts.count; i++) {
            int got = ht_store_trim(store, &st->parts.parts[i].keys, TRIM_LIMIT);
            n += got > 0 ? got : 0;
            most = got > most ? got : most;
        }
        if (n > 0) {
            snprintf(count, sizeof(count), "%d", n);
            ht_log(HT_LOG_DEBUG, "trimmed expired jobs from the indexes", "count", count, NULL);
        }
        /* A full batch means a backlog: come back sooner. */
        *next_trim = now + (most >= TRIM_LIMIT ? TRIM_EVERY_MS / 10 : TRIM_EVERY_MS);
    }
    if (now >= *next_register) {
        ht_lease_register(l, store); /* best effort: retried next minute */
        prune_workers(store);
        /* Our N stays recorded while we run (a Redis that lost its data, or
         * a premature `hangtight partitions --retire`, learns it again). */
        ht_parts_record(&st->parts, store);
        *next_register = now + REGISTER_EVERY_MS;
    }
}

static void *lease_main(void *arg)
{
    ht_lease_t *l = arg;
    ht_wstate_t *st = l->st;
    ht_store_t *store = NULL;
    ht_store_open(&store, &st->url, HT_WORKER_REDIS_TIMEOUT_MS);
    int64_t next_beat = 0, next_promote = 0, next_reap = 0, next_trim = 0;
    int64_t next_register = ht_mono_ms() + REGISTER_EVERY_MS;
    int64_t next_publish = ht_mono_ms() + PUBLISH_EVERY_MS;
    while (store && !ht_wthread_quitting(&l->thread)) {
        int64_t now = ht_mono_ms();
        int force = atomic_exchange(&st->renew_all, 0);
        if (now >= next_beat || force) {
            for (long i = 0; i < st->concurrency; i++)
                renew_slot(st, &st->slots[i], store, now, force);
            next_beat = now + BEAT_MS;
        }
        if (now >= next_promote)
            next_promote = now + promote(st, store);
        housekeeping(l, store, now, &next_reap, &next_trim, &next_register);
        if (now >= next_publish) {
            publish(l, store); /* best effort: again in a few seconds */
            next_publish = now + PUBLISH_EVERY_MS;
        }

        /* Sleep until the next renewal beat or promotion, whichever is first. */
        now = ht_mono_ms();
        int64_t until = next_beat < next_promote ? next_beat : next_promote;
        int64_t ms = until - now;
        if (ms < 1)
            ms = 1;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (store)
        unpublish(l, store);
    ht_store_close(store);
    return NULL;
}

int ht_lease_start(ht_lease_t *l)
{
    return ht_wthread_start(&l->thread, lease_main, l);
}

void ht_lease_stop(ht_lease_t *l)
{
    ht_wthread_stop(&l->thread);
}
