/* The blocking Redis store used by the worker and the CLI (the api has its
 * own non-blocking twin in api/store.c over the same functions and keys).
 * All Redis access of these processes goes through here.
 *
 * One ht_store_t per thread.  A call that loses the connection returns
 * HT_EREDIS; the next call reconnects, so callers just retry later.  The
 * URL may name one node or a Redis Cluster (shared/rconn.h routes each
 * call to the master of its keys' slot). */
#ifndef HT_STORE_H
#define HT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/argv.h"
#include "shared/job.h"
#include "shared/keys.h"
#include "shared/migrations.h"
#include "shared/redis_url.h"

typedef struct ht_store ht_store_t;

/* Creates a store for `url`, connecting at once.  `timeout_ms` bounds connect
 * and every reply except ht_store_wait_signal()'s.  Returns 0 or a negative
 * code; *out is set either way (so ht_store_errstr() explains a failed
 * connect) and must be ht_store_close()d. */
int ht_store_open(ht_store_t **out, const ht_redis_url_t *url, int timeout_ms);
void ht_store_close(ht_store_t *s);

/* The detail of the last failure (Redis' message or a connect error). */
const char *ht_store_errstr(const ht_store_t *s);

/* *version = the keyspace version recorded by migrate (0 when none). */
int ht_store_schema_version(ht_store_t *s, int *version);

/* 0 when the keyspace is at least ht_schema_required() and every master has
 * the function library, HT_ESCHEMA when not (ht_store_errstr() says by how
 * much, or which master, and what to run). */
int ht_store_check_schema(ht_store_t *s);

/* 1 when a Redis error reply means "unavailable for now, try again later"
 * rather than a bug: full (OOM), cannot persist (MISCONF), loading its
 * data after a restart (LOADING), busy with a script, a replica or a
 * failover (READONLY, MASTERDOWN, TRYAGAIN, CLUSTERDOWN, UNBLOCKED: a
 * blocked BLPOP on a master that became a replica).  Callers answer
 * these like a lost connection (HT_EREDIS: 503, retry). */
int ht_store_error_is_unavailable(const char *redis_error);

/* 1 when a Redis error reply says the function library is missing (a
 * Redis emptied or replaced since `hangtight migrate`): callers answer
 * unavailable and say to run migrate. */
int ht_store_error_is_no_library(const char *redis_error);

/* Refuses a Redis whose maxmemory-policy may evict keys (an evicted job
 * key is a job lost without a trace): HT_EINVAL with ht_store_errstr()
 * saying why, unless `allow`, which logs a loud warning instead.  0 under
 * noeviction, or when the policy cannot be read (a warning is logged).
 * Every master of a cluster is checked. */
int ht_store_check_eviction(ht_store_t *s, int allow);

/* What ht_store_migrate() did. */
typedef struct {
    int from, to; /* the recorded keyspace version before and after */
    int masters;  /* masters of the Redis (1 for one node) */
    int loaded;   /* masters the library was loaded on */
} ht_migrate_result_t;

/* Brings the keyspace to ks->schema (ks: ht_keyspace, shared/migrations.h):
 * runs the data steps numbered above the recorded version, in order, those
 * marked before-library first, then loads the library on every master
 * that does not hold it as it is (none, or another text: a master added to
 * a cluster, a fix of the library), then runs the after-library steps and
 * records the version.  Run again, it only compares the libraries.
 * HT_ESCHEMA when the keyspace is newer than ks->schema (nothing done). */
int ht_store_migrate(ht_store_t *s, const ht_keyspace_t *ks, ht_migrate_result_t *res);

/* Records that this worker serves `types` (see HT_KEY_TYPES). */
int ht_store_register_types(ht_store_t *s, const char *const *types, size_t n,
                            const char *worker_id);

/* Who claims jobs, and on what terms (ht_claim in shared/library.lua): a
 * claimed job is owned for lease_ms without a renewal
 * (ht_store_renew_many), and never past started_at + timeout_s + grace_ms,
 * its deadline_at (the backstop for a handler that does not stop).  Only
 * jobs of `types` are claimed: the type names separated by spaces
 * ("echo sleep video.transcode"); "" claims nothing. */
typedef struct {
    const char *worker_id;
    long lease_ms;
    long grace_ms;
    const char *types;
} ht_claimer_t;

/* The observations a claim or a completion made with "the caller counts"
 * leaves to its caller (shared/library.lua, ht_count_add): each is
 * "<bucket> <ms>" (the histogram's bucket field and the milliseconds), or
 * "" when there is none.  The events are the caller's to infer: a claimed
 * job is one start, a stored outcome its status's event. */
#define HT_COUNTED_MAX 48
typedef struct {
    char wait[HT_COUNTED_MAX]; /* the claimed job's first start of its life: its wait */
    char run[HT_COUNTED_MAX];  /* the stored outcome's attempt: its run time */
} ht_counted_t;

/* Claims the next queued job of who->types: highest priority first, then
 * the types least recently served, tenants in turn within a type, FIFO
 * within a tenant (docs/fairness.md); nothing while the queue is paused,
 * nothing of a paused type or of one at its running cap.  Returns 1 with
 * *job filled (owned by the caller, ht_job_clear()), 0 when nothing is
 * claimable, or a negative code.  `counted` NULL: Redis counts the start;
 * otherwise the caller counts it, and counted->wait is set when the call
 * returns 1. */
int ht_store_claim(ht_store_t *s, const ht_keys_t *k, const ht_claimer_t *who, ht_job_t *job,
                   ht_counted_t *counted);

/* Blocks up to timeout_ms for a wake-up token pushed on submit.  Returns 1
 * when woken, 0 on timeout, or a negative code. */
int ht_store_wait_signal(ht_store_t *s, const ht_keys_t *k, int timeout_ms);

/* One held job to renew: its id and the token of the attempt held. */
typedef struct {
    char id[HT_ID_LEN + 1];
    uint64_t token;
} ht_held_t;

/* What a renewal says of one held job. */
typedef enum {
    HT_LEASE_LOST = 0,          /* no longer ours: reaped, finished, or another attempt owns it */
    HT_LEASE_RENEWED = 1,       /* owned for lease_ms more (never past its deadline_at) */
    HT_LEASE_CANCELED = 2,      /* renewed, but a cancel was requested: stop the handler */
    HT_LEASE_PAST_DEADLINE = 3, /* not renewed: past timeout_s + grace; the reaper ends it */
} ht_lease_answer_t;

/* Renews the leases of n held jobs of partition `k` (n >= 1) for lease_ms,
 * in one Redis call (ht_renew_many), and fills answers[n] in order.
 * Returns 0 or a negative code (then no answer is set). */
int ht_store_renew_many(ht_store_t *s, const ht_keys_t *k, long lease_ms, const ht_held_t *held,
                        size_t n, ht_lease_answer_t *answers);

/* Publishes progress; pct -1 means none, msg may be NULL.  Returns 0,
 * HT_ESTALE, or a negative code. */
int ht_store_progress(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job, int pct,
                      const char *msg);

typedef enum { HT_OUTCOME_SUCCEEDED, HT_OUTCOME_FAILED, HT_OUTCOME_CANCELED } ht_outcome_t;

/* Stores the outcome of the held attempt: `json` is the result (succeeded),
 * the error object {"code", "message"} (failed), or NULL (canceled).  A
 * retryable failure with attempts left is scheduled again retry_delay_ms
 * from now (0: queued at once).  `output` is NULL, or the stored reference
 * (ht_file_ref_format) of the output file the attempt left, already in the
 * blob store under "<tenant>/<id>/<name>": it becomes the job's output when
 * the outcome is succeeded and taken.  Returns 0, HT_ESTALE (the outcome was
 * dropped: a later attempt owns the job; the caller deletes that output),
 * or a negative code.
 *
 * Then, in the same call (one round trip per job), the
 * claim ht_store_claim would make for `who` when `next` is not NULL:
 * *got is 1 with *next filled (owned by the caller, ht_job_clear()) or 0
 * when nothing is claimable; the next job is claimed whether or not the
 * outcome was taken (HT_ESTALE), and never when the call fails.
 *
 * `counted` NULL: Redis counts the outcome and the claim; otherwise the
 * caller counts them: counted->run is set when the call returns 0 (the
 * outcome was taken: *status_out says which status it made), and
 * counted->wait when *got is 1.  A stale outcome counts nothing; a success
 * or final failure this attempt stored already, by a call whose reply was
 * lost, is answered again as taken (0, with its run). */
int ht_store_complete_next(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job,
                           ht_outcome_t outcome, const char *json, int retryable,
                           long retry_delay_ms, const char *output, const ht_claimer_t *who,
                           ht_job_t *next, int *got, ht_counted_t *counted,
                           ht_job_status_t *status_out);

/* One outcome of a batch for ht_store_complete_many: what
 * ht_store_complete_next takes for it (job, outcome, json, retryable,
 * retry_delay_ms, output: borrowed for the call), and its answer: `rc` 0
 * (taken: `status` says which status it made, `run` its run observation or
 * "") or HT_ESTALE (dropped: the attempt no longer holds the job). */
typedef struct {
    const ht_job_t *job;
    ht_outcome_t outcome;
    const char *json;
    int retryable;
    long retry_delay_ms;
    const char *output;
    int rc;
    ht_job_status_t status;
    char run[HT_COUNTED_MAX];
} ht_settle_t;

/* The most outcomes, and the most claims, of one ht_store_complete_many. */
#define HT_COMPLETE_MANY_MAX 256

/* Stores the outcomes o[0..n) of attempts held by who->worker_id, every
 * job of partition `k`, then claims up to `want` jobs for `who` as `want`
 * ht_store_claim calls would, all in one call (ht_complete_many), the
 * caller counting (n and want at most HT_COMPLETE_MANY_MAX; n 0: claims
 * only; want 0: settles only).  Each outcome is answered in o[i] as
 * ht_store_complete_next answers it with `counted`; the claimed jobs are
 * jobs[0..*got) (owned by the caller, ht_job_clear()) with their wait
 * observations in waits[0..*got).  Returns 0, or a negative code (then
 * nothing is answered and nothing is claimed; the outcomes may have been
 * taken: sending them again is answered as taken). */
int ht_store_complete_many(ht_store_t *s, const ht_keys_t *k, const ht_claimer_t *who,
                           ht_settle_t *o, size_t n, size_t want, ht_job_t *jobs,
                           ht_counted_t *waits, size_t *got);

/* One counter of a batch for ht_store_count_add: `n` more on field `field`
 * of the partition's key `key` (the part after the partition's base:
 * "metrics", "hist:wait", "hist:run" or "t:<tenant>:stats").  Both strings
 * are borrowed for the call. */
typedef struct {
    const char *key;
    const char *field;
    long long n;
} ht_count_t;

/* Adds n counters of the partition whose keys start with `base`
 * ("ht:{Q}:", ht_keys_t's base) in one call (ht_count_add), as batch `seq`
 * of worker `worker_id` (seq > 0 grows with each new batch to this
 * partition; a batch sent again after a failure keeps its seq and its
 * counters, and Redis applies it once).  Returns 1 when applied, 0 when
 * Redis had applied it already, or a negative code. */
int ht_store_count_add(ht_store_t *s, const char *base, const char *worker_id, uint64_t seq,
                       const ht_count_t *counts, size_t n);

/* Hands a held job back to the head of its queue without counting the
 * attempt (worker draining).  Returns 0, HT_ESTALE, or a negative code. */
int ht_store_release(ht_store_t *s, const ht_keys_t *k, const ht_job_t *job);

/* Requeues (or fails) up to `limit` jobs whose lease ran out.  Returns the
 * number handled or a negative code. */
int ht_store_reap(ht_store_t *s, const ht_keys_t *k, int limit);

/* Moves up to `limit` due scheduled jobs to their queues.  Returns the
 * number moved (and *next_due_ms = when the next one is due, ms on Redis'
 * clock, or -1 when none is scheduled) or a negative code. */
int ht_store_promote(ht_store_t *s, const ht_keys_t *k, int limit, long long *next_due_ms);

/* Removes up to `limit` expired jobs from the listing indexes.  Returns the
 * number removed or a negative code. */
int ht_store_trim(ht_store_t *s, const ht_keys_t *k, int limit);

/* Pops up to `limit` blob keys of expired jobs off the queue's gone list
 * (ht_trim fills it; the api's sweeper deletes them): *keys (NULL-ended,
 * ht_store_strings_free) holds *n of them.  Returns 0 or a negative code. */
int ht_store_blobs_gone(ht_store_t *s, const ht_keys_t *k, int limit, char ***keys, size_t *n);

/* 1 when the key `key` exists, 0 when not, or a negative code. */
int ht_store_exists(ht_store_t *s, const char *key);

/* Takes the lease `key` for ttl_s seconds unless another holder has it
 * (SET NX EX): 1 when taken, 0 when held, or a negative code. */
int ht_store_take_lease(ht_store_t *s, const char *key, const char *owner, long ttl_s);

/* Waits up to timeout_ms for the next cancel request.  Returns 1 with the
 * job's id and the token of the attempt to stop, 0 on timeout, or a
 * negative code (the subscription is then gone: reopen). */
int ht_store_cancel_next(ht_store_t *s, int timeout_ms, char id[HT_ID_LEN + 1], uint64_t *token);

/* One due webhook delivery (see ht_store_delivery_claim). */
typedef struct {
    char id[HT_ID_LEN + 1]; /* the job */
    char cb_id[64];         /* the webhook-id of the event: "msg_<job id>_<n>" */
    int attempts;           /* attempts made so far */
} ht_delivery_t;

/* Claims up to `limit` due webhook deliveries into out[limit], each for
 * lease_ms (a delivery not settled by then is claimed again by someone).
 * Returns the number claimed or a negative code. */
int ht_store_delivery_claim(ht_store_t *s, const ht_keys_t *k, long lease_ms, int limit,
                            ht_delivery_t *out);

/* Records one attempt of delivery `d`: outcome "delivered", "failed" (both
 * end it; the job then starts expiring) or "retry" (due again at
 * next_due_ms, Unix ms), with last_status the HTTP status or an error word.
 * Returns 1, 0 when the delivery was superseded (a newer event of the job,
 * or the job is gone: drop it), or a negative code. */
int ht_store_delivery_done(ht_store_t *s, const ht_keys_t *k, const ht_delivery_t *d,
                           const char *outcome, const char *last_status, long long next_due_ms);

/* One schedule whose next run has come (ht_store_sched_due): its id, that
 * run, and how it runs as stored ("" for what it does not have; see
 * ht_schedule_when_parse, shared/schedule.h). */
typedef struct {
    char id[HT_ID_LEN + 1];
    long long due_ms;
    char cron[260];
    char every_s[24], anchor[24];
    char tz[72];
    char seconds[4], catch_up[8];
} ht_sched_due_t;

/* Reads up to `limit` schedules of partition `k` whose next run has come
 * into out[limit].  Returns how many (0..limit) with *now_ms (Redis'
 * clock) and *next_due_ms (when the next of the others comes, -1 when
 * none), or a negative code. */
int ht_store_sched_due(ht_store_t *s, const ht_keys_t *k, int limit, ht_sched_due_t *out,
                       long long *now_ms, long long *next_due_ms);

/* Fires the run of schedule `id` due at `due_ms`, if no one else did: a
 * job `job_id` (an id of partition `k`) for run tick_ms (0: no job this
 * time), then the schedule's next run next_ms (0: none, it stops).
 * `problem` (NULL or a message) records why the schedule cannot run on.
 * Returns 1 when this call fired it (*made 1 when a job was made; when the
 * submit was refused, *made 0 and refusal[256] says why), 0 when the run
 * was no longer due (another worker fired it, or it was paused, deleted),
 * or a negative code. */
int ht_store_sched_fire(ht_store_t *s, const ht_keys_t *k, const char *id, long long due_ms,
                        long long tick_ms, long long next_ms, const char *job_id,
                        const char *problem, int *made, char refusal[256]);

/* Reads one job.  Returns 0, HT_ENOTFOUND, or a negative code. */
int ht_store_get(ht_store_t *s, const ht_keys_t *k, const char *id, ht_job_t *job);

/* Turns `s` into a listener of cancel requests on n >= 1 channels (one
 * per partition; one SUBSCRIBE, on the store's own connection): afterwards
 * only ht_store_cancel_next() may be called on it.  Returns 0 or a negative
 * code (then close the store and open a new one to try again). */
int ht_store_cancel_listen_many(ht_store_t *s, const char *const *channels, size_t n);

/* Plain commands, for the few reads and writes outside the function
 * library (the partition set, the CLI's partition report).  `a` is
 * cleared.  An integer reply into *out; an array of strings (a nil reply
 * counts as none) into *out (NULL-terminated, *n of them, each and the
 * array to free: ht_store_strings_free). */
int ht_store_cmd_int(ht_store_t *s, ht_argv_t *a, long long *out);
int ht_store_cmd_strings(ht_store_t *s, ht_argv_t *a, char ***out, size_t *n);
void ht_store_strings_free(char **v);

/* The records of ht:workers (docs/keyspace.md): *v holds HGETALL's id,
 * record pairs (to free with ht_store_strings_free), *at the ms of each
 * record's last write, (*v)[2 * i]'s at (*at)[i] (-1: none or unreadable;
 * to free), *n the records.  0, or a negative code (nothing to free). */
int ht_store_worker_records(ht_store_t *s, char ***v, int64_t **at, size_t *n);

#endif
