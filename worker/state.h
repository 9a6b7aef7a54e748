/* What the worker's threads share: the worker's identity, its Redis and
 * partitions, the slot table and two flags.  worker.c fills it before any
 * thread starts; each part (loop.c, lease.c, cancel.c, webhook.c) gets a
 * pointer to it plus its own options, and none of them knows worker.c.
 * Internal to worker/; the public API is handler.h.
 *
 * Threads and what they share:
 *   main    parses options, connects, starts the others, waits for
 *           signals, drains; sets `draining` and, after the drain timeout,
 *           a DRAIN stop on every busy slot.
 *   slot    takes a job from the dispatcher, runs its handler, hands the
 *           outcome back; owns its ht_store_t (the handler's progress, the
 *           hand-back on a drain) and the ht_job_t it runs; publishes a
 *           shallow copy in `held` (under `mu`) for the lease thread and the
 *           drain (loop.c).
 *   dispatch claims for the slots and stores their outcomes, several in one
 *           call, on its own connection; its waiter thread blocks on the
 *           submit signal while the queues are empty (dispatch.c).
 *   lease   renews the leases of `held` jobs, reaps expired ones, promotes
 *           due scheduled jobs, trims expired ones from the indexes,
 *           registers the worker, sends the slots' `counts`, and sets a
 *           slot's stop reason when its lease is lost, its time is up or
 *           its job was canceled.
 *   cancel  listens for cancel requests (pub/sub, cancel.c) and sets the
 *           stop reason of the slot holding the named attempt.
 *   webhook delivers the callbacks of finished jobs (webhook.c).
 *   handlers supervises the persistent handler processes (pool.c).
 *
 * Partitions (shared/partition.h): every thread serves every partition in
 * `parts` (its own N's and those of every N recorded in Redis at start);
 * a job's calls use the keys of its id's partition. */
#ifndef HT_WORKER_STATE_H
#define HT_WORKER_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/partition.h"
#include "shared/redis_url.h"
#include "shared/store.h"

#include "worker/counts.h"
#include "worker/job_ctx.h"
#include "worker/thread.h"

#define HT_WORKER_ID_MAX 160
/* Bounds every Redis reply except the BLPOP wait. */
#define HT_WORKER_REDIS_TIMEOUT_MS 5000

typedef struct ht_wstate ht_wstate_t;
typedef struct ht_dispatch ht_dispatch_t;

/* One concurrent job: its thread (loop.c) and what others may see of it. */
typedef struct {
    ht_wstate_t *st;
    int index;
    ht_wthread_t thread;
    pthread_mutex_t mu;  /* guards busy, settling, held, renewed_ms, lease_gone, deadline_ms */
    int busy;            /* a job is held */
    int settling;        /* its outcome is being stored: not renewed (it may be done) */
    ht_job_t held;       /* shallow copy: id, token, priority, timeout_s only */
    int64_t renewed_ms;  /* monotonic time the last renewal that held was sent (or the job taken) */
    int lease_gone;      /* the lease is lost or past its deadline: renewals stop */
    int64_t deadline_ms; /* monotonic end of the attempt's timeout_s */
    atomic_int stop;     /* ht_stop_reason_t for the job being run */
    atomic_int exited;   /* the thread has left its loop */
} ht_slot_t;

struct ht_wstate {
    char id[HT_WORKER_ID_MAX]; /* hostname:pid:random */
    ht_redis_url_t url;
    ht_parts_t parts; /* every partition served (read-only once started) */
    long concurrency;
    ht_claimer_t claimer; /* our claims: id, HANGTIGHT_LEASE_MS, HANGTIGHT_TIMEOUT_GRACE_MS */
    long retry_base_ms;   /* backoff of failed attempts (shared/backoff.h) */
    long retry_max_ms;
    ht_slot_t *slots;        /* concurrency of them */
    ht_dispatch_t *dispatch; /* the slots' claims and outcomes (dispatch.h) */
    atomic_int draining;     /* slots stop claiming */
    atomic_int renew_all;    /* the lease thread renews every held job now */
    /* The dispatcher counts the claims and outcomes; the lease thread sends
     * the counts every counts_every_ms (HANGTIGHT_COUNTS_EVERY_MS). */
    ht_counts_t *counts;
    long counts_every_ms;
};

/* The keys of the partition holding job `id` (shared/partition.h);
 * `scratch` holds them when the id's partition is not served.  NULL (and
 * logged) for an id that names no partition: ids come from Redis and are
 * valid, but a damaged one must not act on another partition's keys. */
const ht_keys_t *ht_wstate_keys_of(const ht_wstate_t *st, const char *id, ht_keys_t *scratch);

/* Asks the slot running attempt `token` of job `id` to stop with reason
 * `why`.  Returns 1 when this process runs that attempt, else 0. */
int ht_wstate_stop_attempt(ht_wstate_t *st, const char *id, uint64_t token, ht_stop_reason_t why);

/* Asks every busy slot to stop with reason `why`. */
void ht_wstate_stop_busy(ht_wstate_t *st, ht_stop_reason_t why);

/* 1 when every started slot thread has left its loop. */
int ht_wstate_all_exited(const ht_wstate_t *st);

#endif
