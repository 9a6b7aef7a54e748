/* The worker process: its options, its slots (one thread per concurrent
 * job, loop.c) and its lease thread (lease.c), wired together and drained
 * by worker.c.  Internal to worker/; the public API is handler.h.
 *
 * Threads and what they share:
 *   main   parses options, connects, starts the others, waits for signals,
 *          drains; sets `draining` and, after the drain timeout, a DRAIN
 *          stop on every busy slot.
 *   slot   claims, runs a handler, completes; owns its ht_store_t and the
 *          ht_job_t it claimed; publishes a shallow copy in `held` (under
 *          `mu`) for the lease thread and the drain.
 *   lease  renews the leases of `held` jobs, reaps expired ones, promotes
 *          due scheduled jobs, trims expired ones from the indexes, and sets
 *          a slot's stop reason when its lease is lost, its time is up or
 *          its job was canceled.
 *   cancel listens for cancel requests (pub/sub, cancel.c) and sets the
 *          stop reason of the slot holding the named attempt.
 *   webhook delivers the callbacks of finished jobs (webhook.c); shares
 *          nothing with the others but the options and keys.
 *
 * Partitions (shared/partition.h): every thread serves every partition in
 * `parts` (its own N's and those of every N recorded in Redis at start);
 * a job's calls use the keys of its id's partition. */
#ifndef HT_WORKER_WORKER_H
#define HT_WORKER_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/log.h"
#include "shared/partition.h"
#include "shared/redis_url.h"
#include "shared/store.h"

#include "worker/handlers_config.h"
#include "worker/job_ctx.h"
#include "worker/webhook.h"

#define HT_WORKER_ID_MAX 160
/* Bounds every Redis reply except the BLPOP wait. */
#define HT_WORKER_REDIS_TIMEOUT_MS 5000

typedef struct ht_worker ht_worker_t;

typedef struct {
    ht_worker_t *w;
    int index;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;  /* guards busy, held, renewed_ms, lease_gone, deadline_ms */
    int busy;            /* a job is held */
    ht_job_t held;       /* shallow copy: id, token, priority, timeout_s only */
    int64_t renewed_ms;  /* monotonic time the last renewal that held was sent (or the job taken) */
    int lease_gone;      /* the lease is lost or past its deadline: renewals stop */
    int64_t deadline_ms; /* monotonic end of the attempt's timeout_s */
    atomic_int stop;     /* ht_stop_reason_t for the job being run */
    atomic_int exited;   /* the thread has left its loop */
} ht_slot_t;

struct ht_worker {
    long concurrency;
    long drain_timeout_s;
    long retry_base_ms; /* backoff of failed attempts (backoff.h) */
    long retry_max_ms;
    const char *redis_url;
    const char *handlers_path;
    const char *log_level;
    const char *webhook_secret; /* "whsec_..." list; NULL: deliveries unsigned */
    long webhook_retry_base_ms;
    long webhook_max_attempts;
    long webhook_timeout_ms;   /* total per attempt; connect at most 5 s of it */
    int webhook_allow_private; /* skip the address check (development, tests) */
    int allow_eviction;        /* start on a Redis that may evict keys (warn only) */
    ht_webhook_secrets_t webhook_secrets;

    long partitions;       /* HANGTIGHT_PARTITIONS: this process' N */
    long lease_ms;         /* HANGTIGHT_LEASE_MS: a claimed job's lease */
    long timeout_grace_ms; /* HANGTIGHT_TIMEOUT_GRACE_MS: see ht_claimer_t */
    ht_claimer_t claimer;  /* the id, lease and grace of our claims */

    ht_redis_url_t url;
    ht_parts_t parts;          /* every partition served (read-only once started) */
    char id[HT_WORKER_ID_MAX]; /* hostname:pid:random */
    ht_handlers_config_t handlers;

    atomic_int draining;    /* slots stop claiming */
    atomic_int lease_quit;  /* the lease thread exits */
    atomic_int renew_all;   /* the lease thread renews every held job now */
    atomic_int cancel_quit; /* the cancel thread exits */
    ht_slot_t *slots;
    pthread_t lease_thread;
    int lease_started;
    pthread_t cancel_thread;
    int cancel_started;
    atomic_int webhook_quit; /* the webhook thread exits */
    pthread_t webhook_thread;
    int webhook_started;
};

/* The keys of the partition holding job `id` (shared/partition.h);
 * `scratch` holds them when the id's partition is not served.  NULL (and
 * logged) for an id that names no partition: ids come from Redis and are
 * valid, but a damaged one must not act on another partition's keys. */
static inline const ht_keys_t *ht_worker_keys_of(const ht_worker_t *w, const char *id,
                                                 ht_keys_t *scratch)
{
    const ht_keys_t *k = ht_parts_keys_of(&w->parts, id, scratch);
    if (!k)
        ht_log(HT_LOG_ERROR, "a job id that names no partition: left alone", "id", id, NULL);
    return k;
}

/* Records the types this worker serves in HT_KEY_TYPES (at start, and
 * again every minute from the lease thread so that a Redis that lost its
 * data learns them again).  Returns 0 or a negative code. */
int ht_worker_register_types(const ht_worker_t *w, ht_store_t *s);

/* Starts the slot's thread (loop.c).  Returns 0 or a negative errno. */
int ht_slot_start(ht_slot_t *slot);

/* Starts and stops the lease thread (lease.c).  ht_lease_stop() joins it. */
int ht_lease_start(ht_worker_t *w);
void ht_lease_stop(ht_worker_t *w);

/* Starts and stops the cancel listener (cancel.c).  ht_cancel_stop() joins
 * it (within about half a second, or a connect timeout). */
int ht_cancel_start(ht_worker_t *w);
void ht_cancel_stop(ht_worker_t *w);

/* Asks the slot running attempt `token` of job `id` to stop with reason
 * `why`.  Returns 1 when this process runs that attempt, else 0. */
int ht_worker_stop_attempt(ht_worker_t *w, const char *id, uint64_t token, ht_stop_reason_t why);

#endif
