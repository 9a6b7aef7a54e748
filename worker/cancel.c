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
#include "worker/cancel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/log.h"
#include "shared/store.h"

#include "worker/job_ctx.h"

/* How long one wait for a message lasts: bounds how long a stop takes. */
#define LISTEN_SLICE_MS 500
#define RETRY_MIN_MS    100
#define RETRY_MAX_MS    2000

/* Opens a store and subscribes.  Returns the store or NULL (the reason is
 * logged on the first failure in a row only). */
static ht_store_t *subscribe(ht_wstate_t *st, int *failing)
{
    ht_store_t *s = NULL;
    int rc = ht_store_open(&s, &st->url, HT_WORKER_REDIS_TIMEOUT_MS);
    if (rc == 0) {
        /* Every partition's cancel channel (on a cluster, classic pub/sub
         * reaches every node, so one connection hears them all). */
        const char **channels = calloc(st->parts.count, sizeof(*channels));
        rc = channels ? 0 : HT_ENOMEM;
        for (size_t i = 0; channels && i < st->parts.count; i++)
            channels[i] = st->parts.parts[i].keys.cancel_channel;
        if (rc == 0)
            rc = ht_store_cancel_listen_many(s, channels, st->parts.count);
        free(channels);
    }
    if (rc == 0) {
        if (*failing)
            ht_log(HT_LOG_INFO, "listening for cancel requests again", NULL);
        *failing = 0;
        /* Catch what was published while we were away. */
        atomic_store(&st->renew_all, 1);
        return s;
    }
    if (!*failing)
        ht_log(HT_LOG_WARN, "cannot listen for cancel requests, retrying", "error",
               s ? ht_store_errstr(s) : ht_strerror(rc), NULL);
    *failing = 1;
    ht_store_close(s);
    return NULL;
}

static void on_cancel(ht_wstate_t *st, const char *id, uint64_t token)
{
    char tok[24];
    snprintf(tok, sizeof(tok), "%llu", (unsigned long long)token);
    if (ht_wstate_stop_attempt(st, id, token, HT_STOP_CANCELED))
        ht_log(HT_LOG_INFO, "cancel requested: stopping the handler", "id", id, "token", tok, NULL);
    else
        ht_log(HT_LOG_DEBUG, "cancel request for an attempt not run here", "id", id, "token", tok,
               NULL);
}

static void *cancel_main(void *arg)
{
    ht_cancel_t *c = arg;
    ht_store_t *store = NULL;
    int failing = 0;
    long retry_ms = RETRY_MIN_MS;
    while (!ht_wthread_quitting(&c->thread)) {
        if (!store) {
            store = subscribe(c->st, &failing);
            if (!store) {
                ht_wthread_nap(&c->thread, retry_ms);
                retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
                continue;
            }
            retry_ms = RETRY_MIN_MS;
        }
        char id[HT_ID_LEN + 1];
        uint64_t token = 0;
        int rc = ht_store_cancel_next(store, LISTEN_SLICE_MS, id, &token);
        if (rc == 1) {
            on_cancel(c->st, id, token);
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

int ht_cancel_start(ht_cancel_t *c)
{
    return ht_wthread_start(&c->thread, cancel_main, c);
}

void ht_cancel_stop(ht_cancel_t *c)
{
    ht_wthread_stop(&c->thread);
}
