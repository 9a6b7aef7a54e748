/* The lease thread: one per process, with its own Redis connection.  Every
 * beat it renews the lease of each held job that was last renewed more than
 * a third of its timeout_s ago (so a lease outlives several missed beats),
 * tells a slot to stop when its lease is lost or its time is up, and about
 * once a second requeues jobs whose lease ran out anywhere (every worker
 * process reaps, so there is no single reaper to lose).  Once a minute it
 * also re-registers the worker's job types. */
#include <stdio.h>
#include <time.h>

#include "shared/error.h"
#include "shared/log.h"
#include "shared/store.h"
#include "worker/job_ctx.h"
#include "worker/worker.h"

#define BEAT_MS 250
#define REAP_EVERY_MS 1000
#define REAP_LIMIT 100
#define REGISTER_EVERY_MS 60000
/* A handler that ignores its stop request keeps its lease this long past
 * its deadline (the exec handler needs up to its kill grace); after that the
 * lease is let go so the job can run elsewhere. */
#define OVERRUN_GRACE_MS 30000

static void renew_slot(ht_worker_t *w, ht_slot_t *slot, ht_store_t *store, int64_t now)
{
    pthread_mutex_lock(&slot->mu);
    int due = slot->busy && now - slot->renewed_ms >= slot->held.timeout_s * 1000 / 3 &&
              now < slot->deadline_ms + OVERRUN_GRACE_MS;
    if (slot->busy && now >= slot->deadline_ms)
        ht_stop_request(&slot->stop, HT_STOP_TIMEOUT);
    ht_job_t held = slot->held;
    pthread_mutex_unlock(&slot->mu);
    if (!due)
        return;

    int rc = ht_store_renew(store, &w->keys, &held);
    pthread_mutex_lock(&slot->mu);
    if (slot->busy && slot->held.token == held.token) {
        if (rc == 0) {
            slot->renewed_ms = now;
        } else if (rc == HT_ESTALE) {
            ht_log(HT_LOG_WARN, "lease lost; stopping the handler", "id", held.id, NULL);
            ht_stop_request(&slot->stop, HT_STOP_LEASE_LOST);
        }
    }
    pthread_mutex_unlock(&slot->mu);
    if (rc < 0 && rc != HT_ESTALE)
        ht_log(HT_LOG_WARN, "lease not renewed", "id", held.id, "error",
               ht_store_errstr(store), NULL);
}

static void *lease_main(void *arg)
{
    ht_worker_t *w = arg;
    ht_store_t *store = NULL;
    ht_store_open(&store, &w->url, HT_WORKER_REDIS_TIMEOUT_MS);
    int64_t next_reap = 0, next_register = ht_mono_ms() + REGISTER_EVERY_MS;
    while (store && !atomic_load(&w->lease_quit)) {
        int64_t now = ht_mono_ms();
        for (long i = 0; i < w->concurrency; i++)
            renew_slot(w, &w->slots[i], store, now);
        if (now >= next_reap) {
            int n = ht_store_reap(store, &w->keys, REAP_LIMIT);
            if (n > 0) {
                char count[16];
                snprintf(count, sizeof(count), "%d", n);
                ht_log(HT_LOG_INFO, "requeued jobs whose lease ran out", "count", count, NULL);
            }
            next_reap = now + REAP_EVERY_MS;
        }
        if (now >= next_register) {
            ht_worker_register_types(w, store); /* best effort: retried next minute */
            next_register = now + REGISTER_EVERY_MS;
        }
        struct timespec ts = {0, BEAT_MS * 1000000L};
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
