/* The cancel listener: one thread per worker process, with its own Redis
 * connection subscribed to the queue's cancel channel.  ht_cancel (the
 * api's DELETE of a running job) publishes "<id> <token>"; the slot running
 * that attempt, if it is in this process, is told to stop with
 * HT_STOP_CANCELED at once, and settles the job as canceled (loop.c).
 *
 * Pub/sub is fire-and-forget: a message published while we are not
 * subscribed (Redis restarting, reconnecting) is lost.  The lease thread
 * catches it anyway, because ht_renew answers "cancel requested" for such a
 * job; after every (re)subscription we ask it to renew every held job at
 * once, so the gap is only as long as the outage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/error.h"
#include "shared/log.h"
#include "shared/store.h"
#include "worker/job_ctx.h"
#include "worker/worker.h"

/* How long one wait for a message lasts: bounds how long a stop takes. */
#define LISTEN_SLICE_MS 500
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

int ht_worker_stop_attempt(ht_worker_t *w, const char *id, uint64_t token, ht_stop_reason_t why)
{
    int found = 0;
    for (long i = 0; i < w->concurrency && !found; i++) {
        ht_slot_t *slot = &w->slots[i];
        pthread_mutex_lock(&slot->mu);
        if (slot->busy && slot->held.token == token && strcmp(slot->held.id, id) == 0) {
            ht_stop_request(&slot->stop, why);
            found = 1;
        }
        pthread_mutex_unlock(&slot->mu);
    }
    return found;
}

/* Sleeps up to ms in short slices, returning early when told to quit. */
static void nap(ht_worker_t *w, long ms)
{
    while (ms > 0 && !atomic_load(&w->cancel_quit)) {
        long slice = ms < 100 ? ms : 100;
        struct timespec ts = {0, slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* Opens a store and subscribes.  Returns the store or NULL (the reason is
 * logged on the first failure in a row only). */
static ht_store_t *subscribe(ht_worker_t *w, int *failing)
{
    ht_store_t *s = NULL;
    int rc = ht_store_open(&s, &w->url, HT_WORKER_REDIS_TIMEOUT_MS);
    if (rc == 0) {
        /* Every partition's cancel channel (on a cluster, classic pub/sub
         * reaches every node, so one connection hears them all). */
        const char **channels = calloc(w->parts.count, sizeof(*channels));
        rc = channels ? 0 : HT_ENOMEM;
        for (size_t i = 0; channels && i < w->parts.count; i++)
            channels[i] = w->parts.parts[i].keys.cancel_channel;
        if (rc == 0)
            rc = ht_store_cancel_listen_many(s, channels, w->parts.count);
        free(channels);
    }
    if (rc == 0) {
        if (*failing)
            ht_log(HT_LOG_INFO, "listening for cancel requests again", NULL);
        *failing = 0;
        /* Catch what was published while we were away. */
        atomic_store(&w->renew_all, 1);
        return s;
    }
    if (!*failing)
        ht_log(HT_LOG_WARN, "cannot listen for cancel requests, retrying", "error",
               s ? ht_store_errstr(s) : ht_strerror(rc), NULL);
    *failing = 1;
    ht_store_close(s);
    return NULL;
}

static void on_cancel(ht_worker_t *w, const char *id, uint64_t token)
{
    char tok[24];
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)token);
    if (ht_worker_stop_attempt(w, id, token, HT_STOP_CANCELED))
        ht_log(HT_LOG_INFO, "cancel requested: stopping the handler", "id", id, "token", tok,
               NULL);
    else
        ht_log(HT_LOG_DEBUG, "cancel request for an attempt not run here", "id", id, "token",
               tok, NULL);
}

static void *cancel_main(void *arg)
{
    ht_worker_t *w = arg;
    ht_store_t *store = NULL;
    int failing = 0;
    long retry_ms = RETRY_MIN_MS;
    while (!atomic_load(&w->cancel_quit)) {
        if (!store) {
            store = subscribe(w, &failing);
            if (!store) {
                nap(w, retry_ms);
                retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
                continue;
            }
            retry_ms = RETRY_MIN_MS;
        }
        char id[HT_ID_LEN + 1];
        uint64_t token = 0;
        int rc = ht_store_cancel_next(store, LISTEN_SLICE_MS, id, &token);
        if (rc == 1) {
            on_cancel(w, id, token);
        } else if (rc < 0) {
            ht_log(HT_LOG_WARN, "cancel subscription lost, resubscribing", "error",
                   ht_store_errstr(store), NULL);
            failing = 1;
            ht_store_close(store);
            store = NULL;
        }
    }
    ht_store_close(store);
    return NULL;
}

int ht_cancel_start(ht_worker_t *w)
{
    int e = pthread_create(&w->cancel_thread, NULL, cancel_main, w);
    w->cancel_started = e == 0;
    return -e;
}

void ht_cancel_stop(ht_worker_t *w)
{
    if (!w->cancel_started)
        return;
    atomic_store(&w->cancel_quit, 1);
    pthread_join(w->cancel_thread, NULL);
    w->cancel_started = 0;
}
