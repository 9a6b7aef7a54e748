/* The lease thread: one per process, with its own Redis connection.  About
 * every third of the lease (--lease-ms) it renews the lease of every held
 * job, all those of one partition in one call (ht_renew_many), and tells a
 * slot to stop when its lease is lost, its job was canceled (the backstop
 * for a missed cancel message, see cancel.c) or Redis ended its attempt as
 * timed out.  Every beat it also stops the handlers whose timeout_s is up
 * and those whose lease ran out without a renewal (Redis unreachable for
 * longer than the lease: the job runs elsewhere, its outcome would be
 * refused).  Renewals come from here only, never from the handlers, so a
 * busy handler keeps its lease.  It also does the queue's housekeeping that
 * no single process may own (so there is no scheduler or reaper to lose):
 *   - promotes due scheduled jobs (delays and retry backoff) about every
 *     100 ms, sooner when the next one is due sooner, never more often
 *     than every 20 ms;
 *   - requeues jobs whose lease ran out anywhere, about once a second;
 *   - trims expired jobs from the listing indexes, about once a second;
 *   - re-registers the worker's job types and its partition count once a
 *     minute.
 * The housekeeping covers every partition served (shared/partition.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/partition_store.h"
#include "shared/store.h"

#include "worker/job_ctx.h"
#include "worker/worker.h"

#define BEAT_MS           250
#define REAP_EVERY_MS     1000
#define REAP_LIMIT        100
#define PROMOTE_EVERY_MS  100
#define PROMOTE_MIN_MS    20
#define PROMOTE_LIMIT     100
#define TRIM_EVERY_MS     1000
#define TRIM_LIMIT        500
#define REGISTER_EVERY_MS 60000

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
    if (slot->busy && slot->held.token == r->held.token && !slot->lease_gone) {
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
static int renew_batch(ht_worker_t *w, ht_store_t *store, renewer_t *r, const renewal_t *rs,
                       size_t n)
{
    for (size_t i = 0; i < n; i++)
        r->held[i] = rs[i].held;
    int64_t sent = ht_mono_ms();
    int rc = ht_store_renew_many(store, rs[0].keys, w->lease_ms, r->held, n, r->answers);
    for (size_t i = 0; rc == 0 && i < n; i++)
        apply(&rs[i], r->answers[i], sent);
    return rc;
}

/* The held jobs whose lease is still ours, into r->all; returns how many. */
static size_t collect(ht_worker_t *w, renewer_t *r)
{
    size_t n = 0;
    for (long i = 0; i < w->concurrency; i++) {
        ht_slot_t *slot = &w->slots[i];
        pthread_mutex_lock(&slot->mu);
        if (slot->busy && !slot->lease_gone) {
            renewal_t *e = &r->all[n++];
            e->slot = slot;
            memcpy(e->held.id, slot->held.id, sizeof(e->held.id));
            e->held.token = slot->held.token;
        }
        pthread_mutex_unlock(&slot->mu);
    }
    for (size_t i = 0; i < n; i++)
        r->all[i].keys = ht_worker_keys_of(w, r->all[i].held.id, &r->scratch[i]);
    return n;
}

/* One renewal round: every held job, one call per partition (a job of a
 * partition not served, made under an N recorded after we started, in a
 * call of its own).  Returns 0, or the last Redis failure's code. */
static int renew_all(ht_worker_t *w, ht_store_t *store, renewer_t *r)
{
    size_t n = collect(w, r);
    int rc = 0, got;
    for (size_t p = 0; p < w->parts.count; p++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (r->all[i].keys == &w->parts.parts[p].keys)
                r->part[m++] = r->all[i];
        if (m && (got = renew_batch(w, store, r, r->part, m)) < 0)
            rc = got;
    }
    for (size_t i = 0; i < n; i++)
        if (r->all[i].keys == &r->scratch[i] && (got = renew_batch(w, store, r, &r->all[i], 1)) < 0)
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
static int check_slots(ht_worker_t *w, int64_t now)
{
    int gone = 0;
    for (long i = 0; i < w->concurrency; i++) {
        ht_slot_t *slot = &w->slots[i];
        pthread_mutex_lock(&slot->mu);
        if (slot->busy && now >= slot->deadline_ms)
            ht_stop_request(&slot->stop, HT_STOP_TIMEOUT);
        if (slot->busy && !slot->lease_gone && now >= slot->renewed_ms + w->lease_ms) {
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
            ht_log(HT_LOG_DEBUG, "trimmed expired jobs from the indexes", "count", count, NULL);
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
    renewer_t r;
    if (renewer_init(&r, (size_t)w->concurrency) < 0) {
        ht_log(HT_LOG_ERROR, "lease thread cannot start: out of memory", NULL);
        renewer_clear(&r);
        return NULL;
    }
    ht_store_open(&store, &w->url, HT_WORKER_REDIS_TIMEOUT_MS);
    int64_t next_beat = 0, next_renew = 0, next_promote = 0, next_reap = 0, next_trim = 0;
    int64_t next_register = ht_mono_ms() + REGISTER_EVERY_MS;
    while (store && !atomic_load(&w->lease_quit)) {
        int64_t now = ht_mono_ms();
        int force = atomic_exchange(&w->renew_all, 0);
        if (now >= next_renew || force) {
            renewed(&r, store, renew_all(w, store, &r));
            next_renew = now + w->lease_ms / 3;
        }
        now = ht_mono_ms();
        if (now >= next_beat) {
            int gone = check_slots(w, now);
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
            next_promote = now + promote(w, store);
        housekeeping(w, store, now, &next_reap, &next_trim, &next_register);

        /* Sleep until the next beat, renewal or promotion, whichever is first. */
        now = ht_mono_ms();
        int64_t until = next_beat < next_promote ? next_beat : next_promote;
        until = next_renew < until ? next_renew : until;
        int64_t ms = until - now;
        if (ms < 1)
            ms = 1;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    ht_store_close(store);
    renewer_clear(&r);
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
