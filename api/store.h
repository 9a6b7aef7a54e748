/* The Redis commands of the api: every read and write of the keyspace the
 * api makes, as one call per command on the thread's Redis client
 * (api/aclient.h, which connects, routes over a cluster, and answers each
 * call exactly once).  The blocking twin for worker and CLI is
 * shared/store.h, over the same keys and functions of the function library.
 *
 * Callbacks: every call's callback fires exactly once, possibly before the
 * call returns (a call made while Redis is not ready fails synchronously),
 * with err 0 on success or a negative code: HT_EREDIS (unavailable: not
 * connected, connection lost, reply overdue, Redis full or failing over;
 * callers answer 503), HT_EPROTO (Redis answered an error or an unexpected
 * shape; logged), HT_ENOMEM, HT_ENOTFOUND, HT_EEXIST, HT_EINVAL (as each
 * call says).  Pointers passed to a callback are borrowed, valid only
 * during the callback; everything a call is given is copied before it
 * returns.
 *
 * Request binding: a call given an h2o request is tied to it.  When h2o
 * disposes of the request first (an HTTP/2 client resets the stream or
 * closes the connection), the callback is dropped instead of fired, because
 * everything it could touch lived in that request's pool.  Calls given NULL
 * (timers, housekeeping) always fire. */
#ifndef HT_API_STORE_H
#define HT_API_STORE_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/schedule.h"

#include "api/aclient.h"
#include "api/event_format.h"

/* ---- calls ------------------------------------------------------------ */

/* A job's `watch` mark (docs/keyspace.md) that never lapses: the last
 * millisecond of the year 9999. */
#define HT_WATCH_ALWAYS "253402300799999"

/* What a submit adds to the validated request. */
typedef struct {
    int64_t run_at_ms;     /* when the job may run (ms); 0 = now */
    long failed_ttl_s;     /* how long the job is kept if it fails */
    int watched_always;    /* log and publish its every change (HANGTIGHT_LOG_EVERY_JOB) */
    const char *idem_key;  /* full idempotency key name (ht_keys_idem), NULL = none */
    const char *idem_hash; /* hex SHA-256 of the request body, with idem_key */
    const char *input;     /* the job's input file, stored (ht_file_ref_format); NULL = none */
    /* Durable submits: WAIT wait_replicas wait_timeout_ms right after the
     * FCALL, on the same connection (0: no WAIT). */
    long wait_replicas;
    long wait_timeout_ms;
} ht_astore_submit_opts_t;

/* What ht_submit did.  `id` is valid only during the callback. */
typedef struct {
    int replayed;           /* 1: the idempotency key was used before, same body */
    const char *id;         /* the stored job: the new one, or the first request's */
    uint64_t version;       /* new job only */
    int64_t created_at;     /* new job only (ms, Redis clock) */
    ht_job_status_t status; /* new job only: queued or scheduled */
    ht_priority_t priority; /* new job only: the priority applied (the tenant's max_priority) */
    long long max_queued;   /* HT_ELIMIT only: the partition's share of the tenant's cap */
    long replicas;          /* replicas that acknowledged it (WAIT); -1: no WAIT asked */
} ht_astore_submitted_t;

/* FCALL ht_submit: stores a new job `id` from the validated request, queued
 * or (run_at in the future) scheduled; with opts->wait_replicas, followed by
 * WAIT on the same connection (res->replicas says how many acknowledged;
 * Redis blocks that connection meanwhile, so durable submits go on a client
 * of their own).  `payload_json` and `metadata_json`
 * (NULL when none) are the request's JSON as text, encoded once by the
 * caller and stored as given.  `res` is NULL unless err is 0 or HT_ELIMIT.
 * HT_EEXIST: the idempotency key was used with another body (nothing
 * stored).  HT_ELIMIT: the tenant has its max_queued jobs waiting in the
 * partition (res->max_queued; nothing stored). */
typedef void (*ht_astore_submit_cb)(void *data, int err, const ht_astore_submitted_t *res);
void ht_astore_submit(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                      const char *tenant, const ht_job_request_t *jr, const char *payload_json,
                      const char *metadata_json, const ht_astore_submit_opts_t *opts,
                      ht_astore_submit_cb cb, void *data);

/* One job as its document needs it: HMGET of the document's fields
 * (shared/job.h ht_job_doc_fields; job->payload stays NULL).  `job` is
 * borrowed, valid only during the callback (NULL unless err is 0);
 * HT_ENOTFOUND when there is no such job. */
typedef void (*ht_astore_job_cb)(void *data, int err, const ht_job_t *job);
void ht_astore_get(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                   ht_astore_job_cb cb, void *data);

/* A watcher's read (FCALL ht_watch): the job as ht_astore_get reads it,
 * and, in the same atomic step, the job marked watched for `watch_ms` more
 * milliseconds, so that its changes from then on are logged and published
 * (api/pubsub.h).  Sync waits, long polls and event streams read this way
 * while they hold their request; a plain poll does not (docs/keyspace.md,
 * "Watching").  HT_ENOTFOUND when there is no such job. */
void ht_astore_watch(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                     long watch_ms, ht_astore_job_cb cb, void *data);

/* ht_astore_watch that also reads the job's event log (the list "<job
 * key>:ev"), for the event stream.  With `from` (a valid log id), the log's
 * entries from that id on, inclusive, oldest first: the caller sees whether
 * that entry is still there (the log is capped, so old entries go, and a
 * change made while nobody watched drops it).  With `from` NULL, none.  `job` and `entries` are
 * borrowed, valid only during the callback (NULL unless err is 0; n may be 0: a job with no log).
 * HT_ENOTFOUND when there is no such job. */
typedef void (*ht_astore_job_log_cb)(void *data, int err, const ht_job_t *job, size_t n,
                                     const ht_event_entry_t *entries);
void ht_astore_watch_log(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                         long watch_ms, const char *from, ht_astore_job_log_cb cb, void *data);

/* Calls answering one integer. */
typedef void (*ht_astore_int_cb)(void *data, int err, long long value);

/* The keyspace version recorded by `hangtight migrate` (0 when none). */
void ht_astore_schema_version(ht_aclient_t *s, h2o_req_t *req, ht_astore_int_cb cb, void *data);

/* 1 when some worker registered `type` in HT_KEY_TYPES, else 0. */
void ht_astore_type_exists(ht_aclient_t *s, h2o_req_t *req, const char *type, ht_astore_int_cb cb,
                           void *data);

/* Every type registered in HT_KEY_TYPES.  `types` is borrowed, valid only
 * during the callback. */
typedef void (*ht_astore_strings_cb)(void *data, int err, size_t n, const char *const *types);
void ht_astore_types(ht_aclient_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data);

/* Every worker's record in HT_KEY_WORKERS (JSON text each, as the workers
 * wrote them), for GET /metrics.  Borrowed, valid only during the
 * callback. */
void ht_astore_workers(ht_aclient_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data);

/* Calls answering one status word.  `word` is borrowed, valid only during
 * the callback; HT_ENOTFOUND when Redis answered nil (no such job). */
typedef void (*ht_astore_word_cb)(void *data, int err, const char *word);

/* FCALL ht_cancel: 'canceled' (was queued or scheduled), 'requested' (running:
 * its worker is told), 'finished' (too late). */
void ht_astore_cancel(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                      const char *tenant, ht_astore_word_cb cb, void *data);

/* FCALL ht_retry: 'queued' (it was failed or canceled; back on its
 * priority's wait list), 'conflict' (any other status), HT_ENOTFOUND.
 * Cancel and retry answer HT_ENOTFOUND for a job of another tenant. */
void ht_astore_retry(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                     const char *tenant, ht_astore_word_cb cb, void *data);

/* FCALL ht_rate on `rate_key` (ht_keys_rate): value 0 when the request is
 * allowed (and counted), else the ms until one would be. */
void ht_astore_rate(ht_aclient_t *s, h2o_req_t *req, const char *rate_key, double per_s, long burst,
                    ht_astore_int_cb cb, void *data);

/* FCALL_RO ht_list over `index` (ht_keys_tenant "jobs", or
 * ht_keys_tenant_status): up to `limit` jobs, newest first, from `cursor` ("" = the newest), of
 * `type` ("" = any), each read as ht_astore_get reads one (no payload).  `next` is "" at the end.
 * `jobs` and `next` are borrowed, valid only during the callback; jobs that cannot be read are
 * skipped (logged). HT_EINVAL: the cursor is not one Redis made. */
typedef void (*ht_astore_list_cb)(void *data, int err, const char *next, size_t n,
                                  const ht_job_t *jobs);
void ht_astore_list(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *index,
                    int limit, const char *cursor, const char *type, ht_astore_list_cb cb,
                    void *data);

/* FCALL_RO ht_queue_stats: n (name, value) pairs in the order Redis gives
 * them (queued:high, queued:default, queued:low: every tenant's queued
 * jobs; paused and paused:<type>; then `tenant`'s jobs, or every tenant's
 * when `tenant` is NULL: scheduled, running, succeeded, failed, canceled,
 * then the <total>_total counters).  Borrowed, valid only during the
 * callback. */
typedef void (*ht_astore_stats_cb)(void *data, int err, size_t n, const char *const *names,
                                   const long long *values);
void ht_astore_queue_stats(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *tenant,
                           ht_astore_stats_cb cb, void *data);

/* FCALL_RO ht_metrics: the queue's job counters, gauges and histograms for
 * GET /metrics, as (name, value) pairs (named by the function library's
 * ht_metrics).  Borrowed, valid only during the callback. */
void ht_astore_metrics(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, ht_astore_stats_cb cb,
                       void *data);

/* ---- batch submit and schedules --------------------------------------- */

/* One job of a batch: what ht_astore_submit takes for one job. */
typedef struct {
    const char *id;
    const ht_job_request_t *jr;
    const char *payload_json;  /* as for ht_astore_submit */
    const char *metadata_json; /* NULL when none */
    ht_astore_submit_opts_t opts;
} ht_astore_submit_item_t;

/* What became of one job of a batch: err 0 with `res` (as ht_astore_submit
 * answers), HT_EEXIST (its idempotency key was used with another body), or
 * HT_EPROTO with `refusal` the error Redis gave for it. */
typedef struct {
    int err;
    ht_astore_submitted_t res;
    const char *refusal; /* NULL unless err is HT_EPROTO */
} ht_astore_submit_outcome_t;

/* FCALL ht_submit_many: stores the n jobs of `items` (all of partition
 * `k`, all of `tenant`) in one call, in order, as ht_submit would one by
 * one; a job refused does not stop the others.  out[n] (valid only during
 * the callback, NULL unless err is 0) says what became of each. */
typedef void (*ht_astore_submit_many_cb)(void *data, int err, size_t n,
                                         const ht_astore_submit_outcome_t *out);
void ht_astore_submit_many(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *tenant,
                           size_t n, const ht_astore_submit_item_t *items,
                           ht_astore_submit_many_cb cb, void *data);

/* A new schedule (ht_astore_sched_create). */
typedef struct {
    const char *id; /* an id of partition k (ht_id_new_in) */
    const char *tenant;
    const ht_schedule_request_t *r;
    int64_t next_run_ms;                      /* its first run */
    long failed_ttl_s;                        /* of the jobs it makes, as for a submit */
    const char *payload_json, *metadata_json; /* of the template, as for ht_astore_submit */
} ht_astore_sched_new_t;

/* Calls answering one schedule: `sched` is borrowed, valid only during the
 * callback (NULL unless err is 0). */
typedef void (*ht_astore_sched_cb)(void *data, int err, const ht_schedule_t *sched);

/* FCALL ht_sched_create: stores it and its first run.  HT_ELIMIT when the
 * tenant has HT_SCHEDULES_PER_TENANT_MAX schedules in this partition. */
void ht_astore_sched_create(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k,
                            const ht_astore_sched_new_t *n, ht_astore_sched_cb cb, void *data);

/* HGETALL of one schedule; HT_ENOTFOUND when there is none (the caller
 * checks the tenant). */
void ht_astore_sched_get(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                         ht_astore_sched_cb cb, void *data);

/* FCALL_RO ht_sched_list: up to `limit` of `tenant`'s schedules in
 * partition k, oldest first, after `cursor` ("" = from the oldest; else
 * "<created_at>:<id>" of the last one seen).  `next` is "" at the end;
 * `scheds` and `next` are borrowed, valid only during the callback.
 * HT_EINVAL: a malformed cursor. */
typedef void (*ht_astore_sched_list_cb)(void *data, int err, const char *next, size_t n,
                                        const ht_schedule_t *scheds);
void ht_astore_sched_list(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *tenant,
                          int limit, const char *cursor, ht_astore_sched_list_cb cb, void *data);

/* FCALL ht_sched_delete: value 1, or 0 when there is no such schedule of
 * `tenant`. */
void ht_astore_sched_delete(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                            const char *tenant, ht_astore_int_cb cb, void *data);

/* FCALL ht_sched_pause, ht_sched_resume (from next_run_ms on): the
 * schedule as it is now; HT_ENOTFOUND when there is no such schedule of
 * `tenant`. */
void ht_astore_sched_pause(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                           const char *tenant, ht_astore_sched_cb cb, void *data);
void ht_astore_sched_resume(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                            const char *tenant, int64_t next_run_ms, ht_astore_sched_cb cb,
                            void *data);

/* ---- operator settings: pause, caps, weights (api/operator.c) ---------- */

/* FCALL ht_limits on partition `k`: sets each of the n fields of its
 * limits ("paused", "py:<type>", "tq:<tenant>", "tr:<tenant>",
 * "tp:<tenant>", "tw:<tenant>", "yr:<type>": shared/library.lua) to its
 * value, "" deleting it, and wakes the partition's idle workers.  value 1,
 * or HT_EPROTO for a value the library refuses (BADLIMIT: the caller
 * validates first), HT_EINVAL when the fields do not fit one call. */
void ht_astore_limits_apply(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k,
                            const char *const *fields, const char *const *values, size_t n,
                            ht_astore_int_cb cb, void *data);

/* The operator's settings as set (HT_KEY_LIMITS): field `field`
 * ("tenant:<name>", "type:<name>") set to `json`, or deleted when `json`
 * is NULL.  value: what HSET or HDEL answered. */
void ht_astore_limits_record(ht_aclient_t *s, h2o_req_t *req, const char *field, const char *json,
                             ht_astore_int_cb cb, void *data);

/* HGETALL of HT_KEY_LIMITS: field, JSON text, field, ... Borrowed, valid
 * only during the callback. */
void ht_astore_limits_read(ht_aclient_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data);

/* ---- tenant webhook signing secrets (shared/tenant_secret.h) ----------- */

/* FCALL ht_whsec_create on `tenant`'s secrets (ht_keys_whsec): secret `id`
 * with its sealed key becomes the tenant's current one, and every other
 * live one ends rotation_ms from now.  value: the new secret's created_at
 * (ms, Redis clock), or 0 when `most` are live already (nothing stored). */
void ht_astore_whsec_create(ht_aclient_t *s, h2o_req_t *req, const char *tenant, const char *id,
                            const char *sealed, long long rotation_ms, int most,
                            ht_astore_int_cb cb, void *data);

/* FCALL ht_whsec_revoke: 'revoked', 'current' (refused: the current secret
 * goes only once a newer one is made), or HT_ENOTFOUND (no live secret of
 * that id). */
void ht_astore_whsec_revoke(ht_aclient_t *s, h2o_req_t *req, const char *tenant, const char *id,
                            ht_astore_word_cb cb, void *data);

/* FCALL_RO ht_whsec_list: its reply's strings, to read with
 * ht_tsecret_parse_list() (Redis' time, then each live secret). */
void ht_astore_whsec_list(ht_aclient_t *s, h2o_req_t *req, const char *tenant,
                          ht_astore_strings_cb cb, void *data);

/* ---- the HTTP worker API (api/worker_api.c) ---------------------------- */

/* A job as ht_claim answers it (with its token and started_at), and its
 * attempt's deadline_at (ms; 0 for a job stored without one). */
typedef struct {
    ht_job_t job;
    int64_t deadline_at;
} ht_astore_claimed_t;

/* FCALL ht_claim on partition `k` for remote worker `worker_id`, with the
 * lease terms of ht_claim (lease_ms, grace_ms).  `claimed` is NULL when the
 * partition's queues were empty (err 0); borrowed, valid only during the
 * callback. */
typedef void (*ht_astore_claim_cb)(void *data, int err, const ht_astore_claimed_t *claimed);
void ht_astore_claim(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *worker_id,
                     long lease_ms, long grace_ms, const char *types, ht_astore_claim_cb cb,
                     void *data);

/* BLPOP of partition k's submit signal list for up to timeout_ms: value 1
 * (a token taken: a job may be waiting), 0 (none came).  Blocks the
 * connection: only for a client of its own. */
void ht_astore_wait_signal(ht_aclient_t *s, const ht_keys_t *k, long timeout_ms,
                           ht_astore_int_cb cb, void *data);

/* The lease of held job `id` renewed for lease_ms (FCALL ht_renew_many of
 * one pair), after its progress (FCALL ht_progress, in the same
 * transaction) when `progress` is 1: percent (-1: none) and message (NULL:
 * none).  value: the renewal's answer (shared/store.h ht_lease_answer_t:
 * 1 renewed, 2 renewed but a cancel was requested, 3 past its deadline_at,
 * 0 not held). */
void ht_astore_renew(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                     uint64_t token, long lease_ms, int progress, int percent, const char *message,
                     ht_astore_int_cb cb, void *data);

/* What a held job's outcome needs to know first (HMGET). */
typedef struct {
    int exists; /* 0: no such job (the rest is unset) */
    int held;   /* running, with this token */
    ht_priority_t priority;
    int attempt, max_attempts;
    int cancel_requested;
} ht_astore_hold_t;
typedef void (*ht_astore_hold_cb)(void *data, int err, const ht_astore_hold_t *hold);
void ht_astore_hold_state(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                          uint64_t token, ht_astore_hold_cb cb, void *data);

/* An outcome of a held job for FCALL ht_complete.  Strings are borrowed
 * until the call returns. */
typedef struct {
    const char *id;
    uint64_t token;
    const char *outcome;    /* "succeeded", "failed", "canceled" */
    const char *body;       /* the result or the error, JSON text; NULL when canceled */
    int retryable;          /* failed: retried while attempts are left */
    long retry_delay_ms;    /* failed and retried: scheduled this much later */
    ht_priority_t priority; /* the job's: a retry joins its wait list */
    /* Claim the next job of the same partition in the same call for this
     * worker (NULL: no), with these lease terms. */
    const char *next_worker;
    const char *next_types; /* the types it takes, separated by spaces */
    long lease_ms, grace_ms;
    /* The output file the attempt left, already stored (ht_file_ref_format
     * text; NULL: none): kept only when the outcome is succeeded. */
    const char *output;
} ht_astore_outcome_t;

/* FCALL ht_complete and HGETALL of the job after it, in one transaction.
 * `status` is the job's new status, or NULL when the token no longer held
 * it (nothing stored); `job` is the job after (NULL: there is no such job);
 * `next` the job claimed along (NULL: none, or not asked).  All borrowed,
 * valid only during the callback. */
typedef void (*ht_astore_outcome_cb)(void *data, int err, const char *status, const ht_job_t *job,
                                     const ht_astore_claimed_t *next);
void ht_astore_outcome(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k,
                       const ht_astore_outcome_t *o, ht_astore_outcome_cb cb, void *data);

/* FCALL ht_release: a claimed job nobody took goes back to the head of its
 * wait list, the attempt not counted.  value: 1, or 0 (not held). */
void ht_astore_release(ht_aclient_t *s, const ht_keys_t *k, const char *id, uint64_t token,
                       ht_priority_t priority, ht_astore_int_cb cb, void *data);

/* FCALL ht_types_remote: remote worker `worker_id` serves types[n] (n may
 * be 0: only drop the remote entries not written for ttl_ms).  value: how
 * many were dropped. */
void ht_astore_types_remote(ht_aclient_t *s, const char *worker_id, long long ttl_ms,
                            const char *const *types, size_t n, ht_astore_int_cb cb, void *data);

/* HSET of worker `id`'s record (JSON text) in HT_KEY_WORKERS; HDEL of it. */
void ht_astore_worker_record(ht_aclient_t *s, const char *id, const char *record,
                             ht_astore_int_cb cb, void *data);
void ht_astore_worker_forget(ht_aclient_t *s, const char *id, ht_astore_int_cb cb, void *data);

/* HGETALL of HT_KEY_WORKERS: id, record, id, record, ...  Borrowed, valid
 * only during the callback. */
void ht_astore_workers_all(ht_aclient_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data);

/* FCALL_RO ht_workers_held on partition `k`: the jobs held now by each
 * worker whose id starts with `prefix`, as (worker id, count) pairs. */
void ht_astore_workers_held(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *prefix,
                            ht_astore_stats_cb cb, void *data);

/* The queue's housekeeping on partition `k` (what every hangtight-worker
 * does too): FCALL ht_reap (value: jobs requeued or ended), ht_trim (value:
 * ids dropped from the indexes) and ht_promote (n promoted, and when the
 * next scheduled job is due, ms on Redis' clock, or -1). */
void ht_astore_reap(ht_aclient_t *s, const ht_keys_t *k, int limit, ht_astore_int_cb cb,
                    void *data);
void ht_astore_trim(ht_aclient_t *s, const ht_keys_t *k, int limit, ht_astore_int_cb cb,
                    void *data);
typedef void (*ht_astore_promote_cb)(void *data, int err, long long n, long long next_due);
void ht_astore_promote(ht_aclient_t *s, const ht_keys_t *k, int limit, ht_astore_promote_cb cb,
                       void *data);

#endif
