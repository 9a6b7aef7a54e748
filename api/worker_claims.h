/* Claims of the HTTP worker API (POST /v1/worker/claim): a job for a
 * remote worker now, or its request held until one comes (a long poll that
 * costs a small struct and a timer, never a thread).
 *
 * A claim sweeps the partitions served (shared/partition.h) from a start
 * that turns per thread, one FCALL ht_claim each, until one answers a job,
 * as a hangtight-worker's slot does (worker/loop.c).  Priorities hold
 * within a partition (ht_claim takes high before default before low).
 * Nothing anywhere, and a wait asked for: the claim joins the thread's
 * waiters, oldest first, and the thread's waker, a Redis connection of its
 * own, blocks on the partitions' submit signal lists (BLPOP
 * "ht:{Q}:signal", which a submit, a retry, a requeue and a promotion
 * push to; a cluster cannot BLPOP keys of several slots at once, so with
 * several partitions each in turn, for WAKE_PART_MS each, else for
 * WAKE_MS).  When it returns, token or not, the waiters sweep again,
 * oldest first, and those that find a job are answered.  A waiter whose
 * sweep found nothing spares the others of the same types that sweep.
 * So what held claims cost Redis is per thread and does not grow with their
 * number: while any is held, one BLPOP and one sweep per distinct set of
 * types about every WAKE_MS (and a sweep per token: per job made
 * runnable); none while none is.
 *
 * No job is lost to a client that left: a claim's call is not tied to its
 * request, and a job it brings back for a request gone meanwhile goes back
 * to the head of its queue at once (ht_release: its attempt not counted).
 * HTTP/1 clients that hang up while held are looked for before every sweep
 * (their TCP state, api/wait.h) and dropped; HTTP/2 ones h2o drops itself.
 *
 * The types: ht_claim takes only jobs of the types asked for.  A claimed
 * job of another type all the same (a library that claims any type, during
 * a rolling upgrade) is handed back the same way and the sweep goes on;
 * the waker then rests WAKE_MS before the next sweep instead of waking on
 * the token the hand-back made. */
#ifndef HT_API_WORKER_CLAIMS_H
#define HT_API_WORKER_CLAIMS_H

#include <h2o.h>
#include <stddef.h>

#include "api/store.h"
#include "api/thread.h"

/* Claims one api thread holds at most (more: 503). */
#define HT_CLAIMS_MAX_PER_THREAD 10000

typedef struct ht_claims ht_claims_t;

/* The thread's claims; the waker's connection is made on the first held
 * claim.  The workers of held claims count as seen in `remotes` (borrowed;
 * must outlive the claims).  Returns 0 or HT_ENOMEM. */
struct ht_remotes;
int ht_claims_new(ht_claims_t **out, ht_api_thread_t *t, struct ht_remotes *remotes);

/* Answers every held claim now, with nothing (the server stops); claims
 * with a call in flight are answered when it returns. */
void ht_claims_release_all(ht_claims_t *c);

/* Closes the waker and its timer; the memory is freed once libuv has
 * closed them and every claim is gone (call after ht_claims_release_all,
 * once the thread's requests are gone). */
void ht_claims_close(ht_claims_t *c);

/* Claims held (waiting) on this thread now. */
size_t ht_claims_held(const ht_claims_t *c);

typedef struct {
    const char *const *types; /* sorted, no duplicates; copied */
    size_t n_types;
    const char *worker_id; /* "http:<name>" (api/remote_workers.h); copied */
    const char *key;       /* the worker key's name, NULL when open; copied */
    long wait_ms;          /* 0: answer at once */
} ht_claim_ask_t;

/* The answer: `claimed` (borrowed, valid only during the call) is a job now
 * held for the caller's worker, which the callback must send; NULL with err
 * 0 when none came within the wait; err < 0 when Redis failed the claim
 * (503).  Called exactly once, unless h2o disposes of `req` first. */
typedef void (*ht_claim_cb)(void *data, h2o_req_t *req, int err,
                            const ht_astore_claimed_t *claimed);

/* Starts the claim of `req`.  `data` must live as long as the request.
 * Returns 0, or without starting (cb never called): -EBUSY (this thread's
 * limit) or HT_ENOMEM. */
int ht_claims_start(ht_claims_t *c, h2o_req_t *req, const ht_claim_ask_t *ask, ht_claim_cb cb,
                    void *data);

/* 1 when `type` is one of the sorted types[n]. */
int ht_claims_type_in(const char *type, const char *const *types, size_t n);

/* types[n] as ht_claim takes them: one string, the names separated by
 * spaces, malloc'ed (NULL: out of memory). */
char *ht_claims_type_list(const char *const *types, size_t n);

/* Hands a claimed job no request will take back to the head of its queue,
 * its attempt not counted (ht_release). */
void ht_claims_hand_back(ht_claims_t *c, const ht_astore_claimed_t *claimed);

#endif
