/* The lease thread: one per process, with its own Redis connection.  About
 * every third of the lease (--lease-ms) it renews the lease of every held
 * job, all those of one partition in one call (ht_renew_many), and tells a
 * slot to stop when its lease is lost, its job was canceled (the backstop
 * for a missed cancel message, see cancel.c) or Redis ended its attempt as
 * timed out.  Every beat it also stops the handlers whose timeout_s is up
 * and those whose lease ran out without a renewal (Redis unreachable for
 * longer than the lease: the job runs elsewhere).  Renewals come from here
 * only, never from the handlers, so a busy handler keeps its lease; a job
 * whose outcome is being stored (`settling`) is left alone.  It also does
 * the queue's housekeeping that no single process may own (so there is no
 * scheduler or reaper to lose):
 *   - promotes due scheduled jobs (delays and retry backoff) about every
 *     100 ms, sooner when the next one is due sooner, never more often
 *     than every 20 ms;
 *   - requeues jobs whose lease ran out anywhere, about once a second;
 *   - trims expired jobs from the listing indexes, about once a second;
 *   - re-registers the worker's job types and its partition count once a
 *     minute, and drops the records of workers gone for STALE_MS;
 *   - publishes the worker's record (HT_KEY_WORKERS: its persistent
 *     handlers' processes, for /metrics) every PUBLISH_EVERY_MS;
 *   - fires the recurring schedules whose run has come (worker/schedules.c),
 *     about every 250 ms, sooner when the next run is sooner.
 * It sends the counters the dispatcher counted (worker/counts.h) every
 * --counts-every-ms, and once more on its way out, after the slots and the dispatcher stopped
 * (retried for up to COUNTS_LAST_MS while Redis is away).
 * The housekeeping covers every partition served (shared/partition.h). */
#include "worker/lease.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/housekeeping.h"
#include "shared/log.h"
#include "shared/migrations.h"
#include "shared/partition_store.h"
#include "shared/store.h"

#include "worker/job_ctx.h"
#include "worker/registry.h"
#include "worker/schedules.h"

#define BEAT_MS           250
#define REGISTER_EVERY_MS 60000
#define REGISTER_BATCH    20 /* types per HSET: the argv vector has a bound */
#define PUBLISH_EVERY_MS  5000
/* A worker record not refreshed for this long is a dead worker's. */
#define STALE_MS  600000
#define POOLS_MAX 256
/* How long the last counts are retried on the way out while Redis is away. */
#define COUNTS_LAST_MS 10000
/* One held job of a renewal round: its slot and what is sent. */
typedef struct {
    ht_slot_t *slot;
    const ht_keys_t *keys; /* its partition's (NULL: an id that names none) */
    ht_held_t held;
} renewal_t;

/* The renewal rounds' memory (concurrency entries each), made once. */
typedef struct {
    renewal_t *all, *part;
    ht_keys_t *scratch; /* keys of partitions not served, per entry of all */
    ht_held_t *held;
    ht_lease_answer_t *answers;
    int failing; /* the last round failed (logged once until one succeeds) */
} renewer_t;

static int renewer_init(renewer_t *r, size_t n)
{
    memset(r, 0, sizeof(*r));
    r->all = calloc(n, sizeof(*r->all));
    r->part = calloc(n, sizeof(*r->part));
    r->scratch = calloc(n, sizeof(*r->scratch));
    r->held = calloc(n, sizeof(*r->held));
    r->answers = calloc(n, sizeof(*r->answers));
    return r->all && r->part && r->scratch && r->held && r->answers ? 0 : HT_ENOMEM;
}

static void renewer_clear(renewer_t *r)
{
    free(r->all);
    free(r->part);
    free(r->scratch);
    free(r->held);
    free(r->answers);
}

/* Applies a renewal's answer to the slot, if it still runs that attempt. */
static void apply(const renewal_t *r, ht_lease_answer_t answer, int64_t sent_ms)
{
    ht_slot_t *slot = r->slot;
    const char *why = NULL;
    ht_log_level_t level = HT_LOG_WARN;
    pthread_mutex_lock(&slot->mu);
    if (slot->busy && !slot->settling && slot->held.token == r->held.token && !slot->lease_gone) {
        switch (answer) {
        case HT_LEASE_CANCELED:
            if (atomic_load(&slot->stop) == HT_STOP_NONE) {
                why = "cancel requested (seen on renewal); stopping the handler";
                level = HT_LOG_INFO;
            }
            ht_stop_request(&slot->stop, HT_STOP_CANCELED);
            slot->renewed_ms = sent_ms; /* renewed all the same */
            break;
        case HT_LEASE_RENEWED:
            slot->renewed_ms = sent_ms;
            break;
        case HT_LEASE_PAST_DEADLINE:
            why = "attempt past its timeout_s and grace: redis ends it as timed out; stopping "
                  "the handler";
            ht_stop_request(&slot->stop, HT_STOP_TIMEOUT);
            slot->lease_gone = 1;
            break;
        case HT_LEASE_LOST:
            why = "lease lost; stopping the handler";
            ht_stop_request(&slot->stop, HT_STOP_LEASE_LOST);
            slot->lease_gone = 1;
            break;
        }
    }
    pthread_mutex_unlock(&slot->mu);
    if (why)
        ht_log(level, why, "id", r->held.id, NULL);
}

/* Renews rs[0..n) (all of one partition) in one call.  Returns 0 or the
 * store's negative code. */
static int renew_batch(ht_wstate_t *st, ht_store_t *store, renewer_t *r, const renewal_t *rs,
                       size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->held[i] = rs[i].held;
    int64_t sent = ht_mono_ms();
    int rc = ht_store_renew_many(store, rs[0].keys, st->claimer.lease_ms, r->held, n, r->answers);
    for (size_t i = 0; rc == 0 && i < n; i++)
        apply(&rs[i], r->answers[i], sent);
    return rc;
}

/* The held jobs whose lease is still ours, into r->all; returns how many. */
static size_t collect(ht_wstate_t *st, renewer_t *r)
{
    size_t n = 0;
    for (long i = 0; i < st->concurrency; i++) {
        ht_slot_t *slot = &st->slots[i];
        pthread_mutex_lock(&slot->mu);
        if (slot->busy && !slot->settling && !slot->lease_gone) {
            renewal_t *e = &r->all[n++];
            e->slot = slot;
            memcpy(e->held.id, slot->held.id, sizeof(e->held.id));
            e->held.token = slot->held.token;
        }
        pthread_mutex_unlock(&slot->mu);
    }
    for (size_t i = 0; i < n; i++)
        r->all[i].keys = ht_wstate_keys_of(st, r->all[i].held.id, &r->scratch[i]);
    return n;
}

/* One renewal round: every held job, one call per partition (a job of a
 * partition not served, made under an N recorded after we started, in a
 * call of its own).  Returns 0, or the last Redis failure's code. */
static int renew_all(ht_wstate_t *st, ht_store_t *store, renewer_t *r)
{
    size_t n = collect(st, r);
    int rc = 0, got;
    for (size_t p = 0; p < st->parts.count; p++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (r->all[i].keys == &st->parts.parts[p].keys)
                r->part[m++] = r->all[i];
        if (m && (got = renew_batch(st, store, r, r->part, m)) < 0)
            rc = got;
    }
    for (size_t i = 0; i < n; i++)
        if (r->all[i].keys == &r->scratch[i] &&
            (got = renew_batch(st, store, r, &r->all[i], 1)) < 0)
            rc = got;
    return rc;
}

/* Logs a round's failure once, and the first round that works again. */
static void renewed(renewer_t *r, ht_store_t *store, int rc)
{
    if (rc < 0 && !r->failing)
        ht_log(HT_LOG_WARN, "leases not renewed, retrying", "error", ht_store_errstr(store), NULL);
    else if (rc == 0 && r->failing)
        ht_log(HT_LOG_INFO, "leases renewed again", NULL);
    r->failing = rc < 0;
}

/* Every beat: stops the handlers whose timeout_s is up, and those whose
 * lease ran out without a renewal (it is surely gone in Redis: the job runs
 * again elsewhere).  Returns how many were told their lease is gone. */
static int check_slots(ht_wstate_t *st, int64_t now)
{
    int gone = 0;
    for (long i = 0; i < st->concurrency; i++) {
        ht_slot_t *slot = &st->slots[i];
        pthread_mutex_lock(&slot->mu);
        if (slot->busy && now >= slot->deadline_ms)
            ht_stop_request(&slot->stop, HT_STOP_TIMEOUT);
        if (slot->busy && !slot->settling && !slot->lease_gone &&
            now >= slot->renewed_ms + st->claimer.lease_ms) {
            slot->lease_gone = 1;
            ht_stop_request(&slot->stop, HT_STOP_LEASE_LOST);
            gone++;
        }
        pthread_mutex_unlock(&slot->mu);
    }
    return gone;
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
        int n = ht_store_promote(store, &st->parts.parts[i].keys, HT_PROMOTE_LIMIT, &due);
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
        return HT_PROMOTE_EVERY_MS;
    }
    if (n > 0) {
        char count[16];
        snprintf(count, sizeof(count), "%d", n);
        ht_log(HT_LOG_DEBUG, "promoted scheduled jobs", "count", count, NULL);
    }
    if (n >= HT_PROMOTE_LIMIT)
        return HT_PROMOTE_MIN_MS; /* more are due already */
    if (next_due < 0)
        return HT_PROMOTE_EVERY_MS;
    /* next_due is on Redis' clock; ours is close enough to aim at it, and
     * the bounds keep a skewed clock from costing more than 100 ms. */
    int64_t wait = (int64_t)next_due - ht_now_ms();
    if (wait < HT_PROMOTE_MIN_MS)
        return HT_PROMOTE_MIN_MS;
    return wait > HT_PROMOTE_EVERY_MS ? HT_PROMOTE_EVERY_MS : wait;
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
        handlers ? json_pack("{s:s, s:I, s:i, s:I, s:o}", "id", l->st->id, "at",
                             (json_int_t)ht_now_ms(), "schema", ht_schema_required(), "concurrency",
                             (json_int_t)l->st->concurrency, "handlers", handlers)
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
    char **v = NULL;
    int64_t *at = NULL;
    size_t n = 0;
    if (ht_store_worker_records(s, &v, &at, &n) < 0)
        return;
    int64_t now = ht_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (at[i] >= 0 && now - at[i] < STALE_MS)
            continue;
        ht_argv_t a;
        ht_argv_init(&a);
        ht_argv_add(&a, "HDEL");
        ht_argv_add(&a, HT_KEY_WORKERS);
        ht_argv_add(&a, v[2 * i]);
        long long ignored;
        ht_store_cmd_int(s, &a, &ignored);
    }
    free(at);
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
            int got = ht_store_reap(store, &st->parts.parts[i].keys, HT_REAP_LIMIT);
            n += got > 0 ? got : 0;
        }
        if (n > 0) {
            snprintf(count, sizeof(count), "%d", n);
            ht_log(HT_LOG_INFO, "requeued jobs whose lease ran out", "count", count, NULL);
        }
        *next_reap = now + HT_REAP_EVERY_MS;
    }
    if (now >= *next_trim) {
        int n = 0, most = 0;
        for (size_t i = 0; i < st->parts.count; i++) {
            int got = ht_store_trim(store, &st->parts.parts[i].keys, HT_TRIM_LIMIT);
            n += got > 0 ? got : 0;
            most = got > most ? got : most;
        }
        if (n > 0) {
            snprintf(count, sizeof(count), "%d", n);
            ht_log(HT_LOG_DEBUG, "trimmed expired jobs from the indexes", "count", count, NULL);
        }
        /* A full batch means a backlog: come back sooner. */
        *next_trim = now + (most >= HT_TRIM_LIMIT ? HT_TRIM_EVERY_MS / 10 : HT_TRIM_EVERY_MS);
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
    renewer_t r;
    if (renewer_init(&r, (size_t)st->concurrency) < 0) {
        ht_log(HT_LOG_ERROR, "lease thread cannot start: out of memory", NULL);
        renewer_clear(&r);
        return NULL;
    }
    ht_store_open(&store, &st->url, HT_WORKER_REDIS_TIMEOUT_MS);
    int64_t next_beat = 0, next_renew = 0, next_promote = 0, next_reap = 0, next_trim = 0,
            next_sched = 0, next_counts = ht_mono_ms() + st->counts_every_ms;
    int64_t next_register = ht_mono_ms() + REGISTER_EVERY_MS;
    int64_t next_publish = ht_mono_ms() + PUBLISH_EVERY_MS;
    while (store && !ht_wthread_quitting(&l->thread)) {
        int64_t now = ht_mono_ms();
        int force = atomic_exchange(&st->renew_all, 0);
        if (now >= next_renew || force) {
            renewed(&r, store, renew_all(st, store, &r));
            next_renew = now + st->claimer.lease_ms / 3;
        }
        now = ht_mono_ms();
        if (now >= next_beat) {
            int gone = check_slots(st, now);
            if (gone > 0) {
                char count[16];
                snprintf(count, sizeof(count), "%d", gone);
                ht_log(HT_LOG_WARN,
                       "lease ran out without a renewal (redis unreachable?); stopping handlers: "
                       "their jobs run again elsewhere",
                       "count", count, NULL);
            }
            next_beat = now + BEAT_MS;
        }
        if (now >= next_promote)
            next_promote = now + promote(st, store);
        housekeeping(l, store, now, &next_reap, &next_trim, &next_register);
        if (now >= next_publish) {
            publish(l, store); /* best effort: again in a few seconds */
            next_publish = now + PUBLISH_EVERY_MS;
        }
        if (now >= next_sched)
            next_sched = ht_mono_ms() + ht_schedules_fire(store, &st->parts);
        if (now >= next_counts) {
            ht_counts_flush(st->counts, store);
            next_counts = ht_mono_ms() + st->counts_every_ms;
        }

        /* Sleep until the next beat, renewal, promotion or schedule run,
         * whichever is first. */
        now = ht_mono_ms();
        int64_t until = next_beat < next_promote ? next_beat : next_promote;
        until = next_renew < until ? next_renew : until;
        until = next_sched < until ? next_sched : until;
        until = next_counts < until ? next_counts : until;
        int64_t ms = until - now;
        if (ms < 1)
            ms = 1;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (store) {
        int64_t give_up = ht_mono_ms() + COUNTS_LAST_MS;
        int crc;
        while ((crc = ht_counts_flush(st->counts, store)) < 0 && ht_mono_ms() < give_up)
            nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
        if (crc < 0)
            ht_log(HT_LOG_ERROR, "counters not sent before exit: lost", "error",
                   ht_store_errstr(store), NULL);
        unpublish(l, store);
    }
    ht_store_close(store);
    renewer_clear(&r);
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
