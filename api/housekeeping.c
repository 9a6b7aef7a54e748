/* The queue's housekeeping while remote workers use the api (see
 * housekeeping.h): one timer, each step one call per partition, a step's
 * calls all answered before the next step of any kind starts. */
#include "api/housekeeping.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/housekeeping.h"
#include "shared/log.h"

#include "api/remote_workers.h"
#include "api/store.h"

#define PRUNE_EVERY_MS 60000 /* or half the TTL, when shorter */
/* While no remote worker called: how often to look again. */
#define IDLE_CHECK_MS 500

static _Atomic int64_t last_touch_ms;

void ht_housekeeping_touch(void)
{
    atomic_store_explicit(&last_touch_ms, ht_now_ms(), memory_order_relaxed);
}

typedef enum { STEP_PROMOTE, STEP_REAP, STEP_TRIM, STEP_PRUNE, STEP__COUNT } step_t;

struct ht_housekeeping {
    uv_timer_t timer;
    ht_api_thread_t *t;
    int64_t next[STEP__COUNT]; /* when each step runs next (ms) */
    step_t running;            /* the step whose calls are in flight */
    int inflight;              /* its calls not yet answered */
    /* The step's figures, added over partitions. */
    long long count;
    long long due; /* promote: the soonest next due (ms), or -1 */
    int full;      /* a partition's batch was full: more to do */
    int step_err;  /* a call of the step failed */
    int failing;   /* a step failed (logged once until one succeeds) */
    int closing, timer_open;
};

static void schedule(ht_housekeeping_t *h);

static int64_t ttl_ms(const ht_housekeeping_t *h)
{
    return (int64_t)h->t->cfg->worker_ttl_s * 1000;
}

static int64_t prune_every_ms(const ht_housekeeping_t *h)
{
    return ttl_ms(h) / 2 < PRUNE_EVERY_MS ? ttl_ms(h) / 2 : PRUNE_EVERY_MS;
}

static void maybe_free(ht_housekeeping_t *h)
{
    if (h->closing && !h->timer_open && h->inflight == 0)
        free(h);
}

static const ht_parts_t *parts_of(const ht_housekeeping_t *h)
{
    return h->t->cfg->parts;
}

/* Every served partition's keys, or the thread's one key set. */
static size_t part_count(const ht_housekeeping_t *h)
{
    return parts_of(h) ? parts_of(h)->count : 1;
}

static const ht_keys_t *part_keys(const ht_housekeeping_t *h, size_t i)
{
    return parts_of(h) ? &parts_of(h)->parts[i].keys : &h->t->keys;
}

static void failed(ht_housekeeping_t *h, int err)
{
    if (!h->failing)
        ht_log(HT_LOG_WARN, "housekeeping for remote workers failed; retried", "error",
               ht_strerror(err), NULL);
    h->failing = 1;
    h->step_err = 1;
}

/* A step's last call answered: its figures, its next time. */
static void step_done(ht_housekeeping_t *h)
{
    int64_t now = ht_now_ms();
    char count[24];
    snprintf(count, sizeof(count), "%lld", h->count);
    if (!h->step_err && h->failing) {
        ht_log(HT_LOG_INFO, "housekeeping for remote workers works again", NULL);
        h->failing = 0;
    }
    switch (h->running) {
    case STEP_PROMOTE: {
        int64_t wait = HT_PROMOTE_EVERY_MS;
        if (h->full)
            wait = HT_PROMOTE_MIN_MS; /* more are due already */
        else if (h->due >= 0 && h->due - now < wait)
            wait = h->due - now < HT_PROMOTE_MIN_MS ? HT_PROMOTE_MIN_MS : h->due - now;
        h->next[STEP_PROMOTE] = now + wait;
        break;
    }
    case STEP_REAP:
        if (h->count > 0)
            ht_log(HT_LOG_INFO, "requeued jobs whose lease ran out", "count", count, NULL);
        h->next[STEP_REAP] = now + HT_REAP_EVERY_MS;
        break;
    case STEP_TRIM:
        h->next[STEP_TRIM] = now + (h->full ? HT_TRIM_EVERY_MS / 10 : HT_TRIM_EVERY_MS);
        break;
    case STEP_PRUNE:
        if (h->count > 0)
            ht_log(HT_LOG_INFO, "forgot remote workers not seen for HANGTIGHT_WORKER_TTL_S",
                   "entries", count, NULL);
        h->next[STEP_PRUNE] = now + prune_every_ms(h);
        break;
    case STEP__COUNT:
        break;
    }
}

/* One call of the running step answered. */
static void answered(ht_housekeeping_t *h, int err)
{
    if (err)
        failed(h, err);
    if (--h->inflight > 0)
        return;
    if (h->closing) {
        maybe_free(h);
        return;
    }
    step_done(h);
    schedule(h);
}

static void on_count(void *data, int err, long long value)
{
    ht_housekeeping_t *h = data;
    if (!err) {
        h->count += value;
        if ((h->running == STEP_REAP && value >= HT_REAP_LIMIT) ||
            (h->running == STEP_TRIM && value >= HT_TRIM_LIMIT))
            h->full = 1;
    }
    answered(h, err);
}

static void on_promoted(void *data, int err, long long n, long long next_due)
{
    ht_housekeeping_t *h = data;
    if (!err) {
        h->count += n;
        h->full |= n >= HT_PROMOTE_LIMIT;
        if (next_due >= 0 && (h->due < 0 || next_due < h->due))
            h->due = next_due;
    }
    answered(h, err);
}

/* The remote workers' records not written for the TTL go. */
static void on_records(void *data, int err, size_t n, const char *const *kv)
{
    ht_housekeeping_t *h = data;
    int64_t cutoff = ht_now_ms() - ttl_ms(h);
    for (size_t i = 0; !err && !h->closing && i + 1 < n; i += 2) {
        json_t *rec = json_loads(kv[i + 1], 0, NULL);
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        json_int_t at = json_integer_value(json_object_get(rec, "at"));
        if (kind && strcmp(kind, "http") == 0 && at < cutoff) {
            h->inflight++;
            ht_astore_worker_forget(h->t->store, kv[i], on_count, h);
        }
        json_decref(rec);
    }
    answered(h, err);
}

static void start(ht_housekeeping_t *h, step_t step)
{
    ht_aclient_t *s = h->t->store;
    h->running = step;
    h->count = 0;
    h->due = -1;
    h->full = 0;
    h->step_err = 0;
    size_t n = part_count(h);
    /* Counted before sending: a call may answer before it returns. */
    h->inflight = step == STEP_PRUNE ? 2 : (int)n;
    if (step == STEP_PRUNE) {
        ht_astore_types_remote(s, "", (long long)ttl_ms(h), NULL, 0, on_count, h);
        ht_astore_workers_all(s, NULL, on_records, h);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const ht_keys_t *k = part_keys(h, i);
        if (step == STEP_PROMOTE)
            ht_astore_promote(s, k, HT_PROMOTE_LIMIT, on_promoted, h);
        else if (step == STEP_REAP)
            ht_astore_reap(s, k, HT_REAP_LIMIT, on_count, h);
        else
            ht_astore_trim(s, k, HT_TRIM_LIMIT, on_count, h);
    }
}

/* Twice the TTL: the remote workers' entries that the last call left are
 * pruned once they are a TTL old. */
static int active(const ht_housekeeping_t *h, int64_t now)
{
    int64_t last = atomic_load_explicit(&last_touch_ms, memory_order_relaxed);
    return last > 0 && now - last < 2 * ttl_ms(h);
}

static void on_tick(uv_timer_t *timer)
{
    ht_housekeeping_t *h = timer->data;
    if (h->closing || h->inflight > 0)
        return; /* the last answer schedules the next tick */
    int64_t now = ht_now_ms();
    if (!active(h, now)) {
        uv_timer_start(&h->timer, on_tick, IDLE_CHECK_MS, 0);
        return;
    }
    if (!ht_aclient_ready(h->t->store)) {
        uv_timer_start(&h->timer, on_tick, IDLE_CHECK_MS, 0);
        return;
    }
    step_t due = STEP__COUNT;
    for (int i = 0; i < STEP__COUNT; i++)
        if (now >= h->next[i] && (due == STEP__COUNT || h->next[i] < h->next[due]))
            due = (step_t)i;
    if (due == STEP__COUNT) {
        schedule(h);
        return;
    }
    start(h, due);
}

/* The next tick: when the soonest step is due (at least 1 ms away). */
static void schedule(ht_housekeeping_t *h)
{
    int64_t now = ht_now_ms(), soonest = now + IDLE_CHECK_MS;
    for (int i = 0; i < STEP__COUNT; i++)
        if (h->next[i] < soonest)
            soonest = h->next[i];
    uv_timer_start(&h->timer, on_tick, soonest > now ? (uint64_t)(soonest - now) : 1, 0);
}

int ht_housekeeping_new(ht_housekeeping_t **out, ht_api_thread_t *t)
{
    ht_housekeeping_t *h = calloc(1, sizeof(*h));
    if (!h)
        return HT_ENOMEM;
    h->t = t;
    uv_timer_init(&t->loop, &h->timer);
    h->timer.data = h;
    h->timer_open = 1;
    uv_timer_start(&h->timer, on_tick, IDLE_CHECK_MS, 0);
    *out = h;
    return 0;
}

static void on_timer_closed(uv_handle_t *handle)
{
    ht_housekeeping_t *h = handle->data;
    h->timer_open = 0;
    maybe_free(h);
}

void ht_housekeeping_close(ht_housekeeping_t *h)
{
    if (!h)
        return;
    h->closing = 1;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
