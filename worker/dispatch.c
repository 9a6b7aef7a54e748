/* The dispatcher (dispatch.h): one thread that owns the process' claims
 * and outcomes, and one waiter thread for the submit signal.
 *
 * Each slot has a box here, guarded by the dispatcher's mutex: the outcome
 * it handed over (pending, sent, answered) and whether it waits for a job.
 * The dispatcher loops: when its previous call has returned it plans the
 * next one from what the boxes hold at that moment and sends it, so a call
 * carries one outcome at low load and every outcome that arrived during the
 * last round trip under load.  A call is one partition (its keys share one
 * hash tag): the pending outcomes of the first pending box's partition,
 * and as many claims as there are free slots (those waiting for a job, and
 * those whose outcome is in the call and want their next job), less the
 * jobs claimed and not taken yet.  With several partitions the claims ride
 * on an outcome's partition SAME_PARTITION_MAX calls in a row at most;
 * then, and when no outcome is pending, claims go to the partitions in
 * turn (from a random start, skipping those backing off after a failure),
 * so a busy partition never starves another.
 *
 * Gathering: a call is held back while a slot that took its job less than
 * GATHER_US ago still runs it, GATHER_US at most from the oldest outcome
 * pending, so that the outcomes of short jobs handed out by one call go
 * back together in the next instead of one call each; a slot that runs
 * longer is not waited for, and an outcome with no such slot running (a
 * lone job, slots idle) is sent at once.
 *
 * Idle: a call that claims fewer jobs than asked found its partition empty;
 * once as many such calls in a row as there are partitions were made, the
 * queues count as empty and claim-only calls stop.  The waiter then blocks
 * on one partition's signal list (a cluster cannot BLPOP keys of several
 * slots at once; the next partition each time, PARTITION_WAIT_MS each with
 * several, IDLE_WAIT_MS with one) while some slot waits for a job, and
 * after each wake-up or timeout the dispatcher claims again.  The waiter
 * has its own connection: the dispatcher's calls never queue behind a
 * blocked BLPOP.
 *
 * A call that fails (Redis away, a lost reply) is sent again, the same
 * outcomes with the same tokens, after the partition's backoff, until an
 * answer comes or OUTCOME_RETRY_MS passes from the hand-off: an outcome
 * Redis stored already is answered again as taken (ht_complete_many), and
 * the jobs the lost call claimed are leased to us and nobody runs them:
 * once the partition answers again, the dispatcher hands back every job
 * Redis has leased to this worker under a token no slot holds and newer
 * than every token its calls had claimed before the loss (sweep_orphans):
 * a job claimed earlier was given to a slot, and one its slot dropped (its
 * lease ran out) is the reaper's, its attempt counted.  One the sweep
 * misses comes back when its lease runs out (the reaper).
 *
 * Draining: no claims; slots waiting for a job are told there is none;
 * jobs claimed and not taken by a slot are handed back (ht_release). */
#include "worker/dispatch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"

#include "worker/job_ctx.h"

#define IDLE_WAIT_MS 1000
/* With several partitions, the wait on one partition's signal list. */
#define PARTITION_WAIT_MS 200
#define BACKOFF_MIN_MS    100
#define BACKOFF_MAX_MS    1000
/* How long an outcome is retried against an unreachable Redis before its
 * slot is told it is not known (the job's lease then runs out and it runs
 * again: at-least-once). */
#define OUTCOME_RETRY_MS 30000
/* With several partitions, claims in a row riding on an outcome's call. */
#define SAME_PARTITION_MAX 8
/* Tries to hand back one claimed job when draining. */
#define RELEASE_TRIES 5
/* How long a call waits for the outcomes of jobs taken just before
 * (see Gathering above), in microseconds. */
#define GATHER_US 200

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Doubles *backoff_ms from BACKOFF_MIN_MS up to BACKOFF_MAX_MS; returns it. */
static long next_backoff(long *backoff_ms)
{
    *backoff_ms = *backoff_ms ? *backoff_ms * 2 : BACKOFF_MIN_MS;
    if (*backoff_ms > BACKOFF_MAX_MS)
        *backoff_ms = BACKOFF_MAX_MS;
    return *backoff_ms;
}

/* A partition's Redis trouble: a failing master (one partition of several)
 * backs off alone, skipped by the claims meanwhile, while the others are
 * served.  Its failure and recovery are logged once each, not once per
 * call; so is each other kind of failure met meanwhile (Redis back but
 * refusing us, or without the function library: a new or emptied Redis
 * that needs `hangtight migrate`), and a kind that lasts is logged again
 * every TROUBLE_RELOG_MS: a worker that cannot claim always says why, and
 * one that flaps between two kinds says each once a minute. */
#define TROUBLE_RELOG_MS 60000
#define TROUBLE_KINDS    4
typedef struct {
    int failing;
    long backoff_ms;
    int64_t until_ms; /* skipped until then (monotonic) */
    int64_t since_ms; /* failing since then (wall clock) */
    struct {
        int rc;            /* a kind of failure (0: unused) */
        int64_t logged_ms; /* when it was logged last */
    } kinds[TROUBLE_KINDS];
} part_trouble_t;

/* 1 when failure `rc` is to be logged now (and notes that it is). */
static int trouble_to_log(part_trouble_t *pt, int rc, int64_t now)
{
    int slot = 0;
    for (int i = 0; i < TROUBLE_KINDS; i++) {
        if (pt->kinds[i].rc == rc) {
            if (now - pt->kinds[i].logged_ms < TROUBLE_RELOG_MS)
                return 0;
            slot = i;
            break;
        }
        if (pt->kinds[i].logged_ms < pt->kinds[slot].logged_ms)
            slot = i; /* the kind logged longest ago makes room */
    }
    pt->kinds[slot].rc = rc;
    pt->kinds[slot].logged_ms = now;
    return 1;
}

static void part_failed(part_trouble_t *pt, ht_store_t *store, const ht_keys_t *k, int several,
                        const char *what, int rc)
{
    int64_t now = ht_now_ms();
    int first = !pt->failing;
    if (first) {
        pt->since_ms = now;
        memset(pt->kinds, 0, sizeof(pt->kinds));
    }
    if (trouble_to_log(pt, rc, now)) {
        char for_s[24];
        snprintf(for_s, sizeof(for_s), "%lld", (long long)((now - pt->since_ms) / 1000));
        /* The "partition" pair only with several (a NULL key ends the list). */
        ht_log(HT_LOG_WARN,
               first ? "redis unavailable, retrying" : "redis still unavailable, retrying",
               "during", what, "error", ht_store_errstr(store), "for_s", for_s,
               several ? "partition" : NULL, k->base, NULL);
    }
    pt->failing = 1;
    pt->until_ms = ht_mono_ms() + next_backoff(&pt->backoff_ms);
}

static void part_ok(part_trouble_t *pt, const ht_keys_t *k, int several)
{
    if (pt->failing)
        ht_log(HT_LOG_INFO, "redis available again", several ? "partition" : NULL, k->base, NULL);
    pt->failing = 0;
    pt->backoff_ms = 0;
    pt->until_ms = 0;
}

/* The first partition from `from` not backing off, or `count` when every
 * one is (*soonest: when the first of them may be tried again). */
static size_t next_usable(const part_trouble_t *pt, size_t count, size_t from, int64_t now,
                          int64_t *soonest)
{
    *soonest = INT64_MAX;
    for (size_t n = 0; n < count; n++) {
        size_t i = (from + n) % count;
        if (pt[i].until_ms <= now)
            return i;
        if (pt[i].until_ms < *soonest)
            *soonest = pt[i].until_ms;
    }
    return count;
}

/* A random partition to start from, so workers do not all begin with the
 * same one. */
static size_t random_start(size_t count)
{
    unsigned r = 0;
    if (count <= 1 || getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        return 0;
    return r % count;
}

typedef enum { OUT_NONE, OUT_PENDING, OUT_SENT, OUT_ANSWERED } out_state_t;

/* One slot's box. */
typedef struct {
    pthread_cond_t cv; /* the slot waits here */
    out_state_t out;
    ht_settle_t *o;        /* the outcome handed over (the slot's, borrowed) */
    const ht_keys_t *keys; /* its partition's (the slot's, borrowed) */
    int part;              /* its index in st->parts, or -1: a partition not served */
    int next;              /* claim the slot's next job along with it */
    int lost;              /* a try's answer was lost */
    int64_t give_up_ms;    /* monotonic */
    int result;            /* once answered: 0, HT_ESTALE or -1 */
    int waiting;           /* the slot waits for a job */
    int has_job;
    ht_job_t job;               /* given to the slot, not taken yet */
    char cur_id[HT_ID_LEN + 1]; /* the job the slot took last ("": none) */
    uint64_t cur_token;
    int64_t took_us;    /* monotonic: when the slot took the job it runs (0: none) */
    int64_t pending_us; /* monotonic: when its outcome was handed over */
} box_t;

/* What one call carries. */
typedef struct {
    const ht_keys_t *keys;
    int tr;          /* the trouble entry of its partition */
    size_t n;        /* outcomes, of the boxes d->call_box[0..n) */
    size_t k;        /* claims */
    int64_t wake_ms; /* nothing to send: plan again then (INT64_MAX: when told) */
    int64_t wake_us; /* the same in microseconds, for a call held back (0: none) */
} plan_t;

struct ht_dispatch {
    ht_wstate_t *st;
    pthread_mutex_t mu; /* guards the boxes, spare, nspare and the flags */
    pthread_cond_t cv;  /* the dispatcher waits here (monotonic clock) */
    pthread_cond_t wcv; /* the waiter waits here */
    box_t *box;         /* st->concurrency of them */
    size_t nbox;
    ht_job_t *spare; /* claimed and not taken by a slot, oldest first */
    size_t nspare, spare_cap;
    int idle;     /* the queues count as empty: claim again once the waiter wakes */
    int draining; /* no more claims */
    int quit;     /* the threads leave */
    ht_wthread_t thread, waiter;
    /* The dispatcher thread's own. */
    ht_store_t *store;
    part_trouble_t *pt;  /* per partition, and one more for partitions not served */
    size_t cursor;       /* the next partition of the claims' turn */
    size_t empty;        /* calls in a row whose claims found their partition empty */
    size_t from;         /* the box the next plan looks at first */
    int streak;          /* calls in a row whose claims rode on an outcome's partition */
    int64_t answered_us; /* monotonic: when the last call's answers were handed out */
    int *orphans;        /* per partition: a call with claims lost its reply */
    uint64_t *top_token; /* per partition: the newest token its answered calls claimed */
    uint64_t *floor;     /* per partition: top_token when the first such call lost its reply */
    size_t *call_box;
    ht_settle_t *call_o;
    ht_job_t *call_jobs;
    ht_counted_t *call_waits;
    size_t *wake; /* boxes answered or given a job, woken once mu is let go */
    size_t nwake;
};

static int any_waiting(const ht_dispatch_t *d)
{
    for (size_t i = 0; i < d->nbox; i++)
        if (d->box[i].waiting && !d->box[i].has_job)
            return 1;
    return 0;
}

/* Notes that box `b` is to be woken (under mu): wake_boxes signals it once
 * mu is let go, so that the slot does not wake only to wait for mu. */
static void wake_later(ht_dispatch_t *d, box_t *b)
{
    size_t i = (size_t)(b - d->box);
    for (size_t n = 0; n < d->nwake; n++)
        if (d->wake[n] == i)
            return;
    d->wake[d->nwake++] = i;
}

/* Lets go of mu, wakes the boxes noted by wake_later, takes mu again.  A
 * box's state was changed under mu, and its slot checks it under mu before
 * it waits, so a signal sent without mu is not lost. */
static void wake_boxes(ht_dispatch_t *d)
{
    if (!d->nwake)
        return;
    size_t n = d->nwake;
    d->nwake = 0;
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; i < n; i++)
        pthread_cond_signal(&d->box[d->wake[i]].cv);
    pthread_mutex_lock(&d->mu);
}

/* Gives claimed jobs to the slots waiting for one. */
static void give_spares(ht_dispatch_t *d)
{
    for (size_t i = 0; i < d->nbox && d->nspare; i++) {
        box_t *b = &d->box[(d->from + i) % d->nbox];
        if (!b->waiting || b->has_job)
            continue;
        b->job = d->spare[0];
        b->has_job = 1;
        b->waiting = 0;
        memmove(d->spare, d->spare + 1, --d->nspare * sizeof(*d->spare));
        wake_later(d, b);
    }
}

/* A claim found its partition empty (or failed): after as many in a row as
 * there are partitions the queues count as empty. */
static void claim_empty(ht_dispatch_t *d)
{
    if (++d->empty < d->st->parts.count)
        return;
    d->empty = 0;
    d->idle = 1;
    pthread_cond_signal(&d->wcv);
}

/* The end of the hold on the outcomes pending, or 0 when they go now:
 * while a slot that took its job less than GATHER_US ago runs it (or was
 * given one, or answered and takes its next, by the last call), up to
 * GATHER_US after the oldest outcome pending (under mu). */
static int64_t gather_until(const ht_dispatch_t *d, int64_t now_us)
{
    if (d->draining || d->quit)
        return 0;
    int64_t oldest = INT64_MAX, last = 0;
    for (size_t i = 0; i < d->nbox; i++) {
        const box_t *b = &d->box[i];
        if (b->out == OUT_PENDING && b->pending_us < oldest)
            oldest = b->pending_us;
        int64_t t = b->took_us                             ? b->took_us
                    : b->has_job || b->out == OUT_ANSWERED ? d->answered_us
                                                           : 0;
        if (t && now_us - t < GATHER_US && t + GATHER_US > last)
            last = t + GATHER_US;
    }
    if (!last || oldest == INT64_MAX)
        return 0;
    if (oldest + GATHER_US < last)
        last = oldest + GATHER_US;
    return last > now_us ? last : 0;
}

/* Decides the next call (under mu).  Returns 1 with *p filled, or 0 when
 * there is nothing to send (p->wake_ms: when to look again). */
static int plan(ht_dispatch_t *d, plan_t *p)
{
    ht_wstate_t *st = d->st;
    size_t count = st->parts.count;
    int several = count > 1;
    int64_t now = ht_mono_ms();
    memset(p, 0, sizeof(*p));
    p->wake_ms = INT64_MAX;
    size_t free_slots = 0, first = d->nbox;
    for (size_t n = 0; n < d->nbox; n++) {
        size_t i = (d->from + n) % d->nbox;
        const box_t *b = &d->box[i];
        free_slots += b->waiting && !b->has_job;
        if (b->out != OUT_PENDING || first < d->nbox)
            continue;
        int64_t until = d->pt[b->part >= 0 ? (size_t)b->part : count].until_ms;
        if (until <= now)
            first = i;
        else if (until < p->wake_ms)
            p->wake_ms = until;
    }
    size_t room = d->spare_cap - d->nspare;
    /* Claims of their own for the free slots: when no outcome is pending,
     * and, with several partitions, after SAME_PARTITION_MAX calls in a row
     * whose claims rode on an outcome's partition (so that outcomes that
     * keep coming cannot hold them off). */
    int claims = !d->draining && !d->idle && free_slots > d->nspare;
    if (claims && (first == d->nbox || (several && d->streak >= SAME_PARTITION_MAX))) {
        int64_t soonest;
        size_t cur = next_usable(d->pt, count, d->cursor, now, &soonest);
        if (cur < count) {
            d->cursor = (cur + 1) % count;
            d->streak = 0;
            p->keys = &st->parts.parts[cur].keys;
            p->tr = (int)cur;
            p->k = free_slots - d->nspare;
        } else if (first == d->nbox) { /* every partition backing off */
            if (soonest < p->wake_ms)
                p->wake_ms = soonest;
            return 0;
        }
    }
    if (!p->keys && first < d->nbox) {
        int64_t hold = gather_until(d, ht_mono_us());
        if (hold) {
            p->wake_us = hold;
            return 0;
        }
        /* The outcomes of the first pending box's partition (one alone of
         * a partition not served), and the claims for the free slots. */
        const box_t *fb = &d->box[first];
        p->keys = fb->keys;
        p->tr = fb->part >= 0 ? fb->part : (int)count;
        size_t wanted = free_slots;
        for (size_t n = 0; n < d->nbox && p->n < HT_COMPLETE_MANY_MAX; n++) {
            size_t i = (first + n) % d->nbox;
            const box_t *b = &d->box[i];
            if (b->out != OUT_PENDING || b->part != fb->part || (fb->part < 0 && i != first))
                continue;
            d->call_box[p->n++] = i;
            wanted += b->next;
        }
        d->from = (first + 1) % d->nbox;
        int ride = !d->draining && fb->part >= 0 && (!several || d->streak < SAME_PARTITION_MAX);
        if (ride && wanted > d->nspare) {
            p->k = wanted - d->nspare;
            d->streak += several;
        }
    }
    if (!p->keys)
        return 0;
    if (p->k > room)
        p->k = room;
    if (p->k > HT_COMPLETE_MANY_MAX)
        p->k = HT_COMPLETE_MANY_MAX;
    return 1;
}

/* Sends the call of plan `p` (entered and left under mu, which is let go
 * for the call itself) and hands its answers out. */
static void send_call(ht_dispatch_t *d, const plan_t *p)
{
    ht_wstate_t *st = d->st;
    int several = st->parts.count > 1;
    for (size_t i = 0; i < p->n; i++) {
        box_t *b = &d->box[d->call_box[i]];
        b->out = OUT_SENT;
        d->call_o[i] = *b->o;
    }
    pthread_mutex_unlock(&d->mu);
    size_t got = 0;
    int rc = ht_store_complete_many(d->store, p->keys, &st->claimer, d->call_o, p->n, p->k,
                                    d->call_jobs, d->call_waits, &got);
    if (rc < 0)
        part_failed(&d->pt[p->tr], d->store, p->keys, several, p->n ? "complete" : "claim", rc);
    else
        part_ok(&d->pt[p->tr], p->keys, several);
    if (rc < 0 && p->k > 0 && p->tr < (int)st->parts.count && !d->orphans[p->tr]) {
        d->orphans[p->tr] = 1;
        d->floor[p->tr] = d->top_token[p->tr];
    }
    for (size_t i = 0; i < got; i++) {
        ht_counts_started(st->counts, p->keys->base, &d->call_jobs[i], d->call_waits[i].wait);
        if (p->tr >= (int)st->parts.count)
            continue;
        /* A token at or under the floor: the fencing counter started over
         * (an emptied or replaced Redis): every token is new again. */
        if (d->orphans[p->tr] && d->call_jobs[i].token <= d->floor[p->tr])
            d->floor[p->tr] = 0;
        if (d->call_jobs[i].token > d->top_token[p->tr])
            d->top_token[p->tr] = d->call_jobs[i].token;
    }
    pthread_mutex_lock(&d->mu);
    int64_t now = ht_mono_ms();
    for (size_t i = 0; i < p->n; i++) {
        box_t *b = &d->box[d->call_box[i]];
        if (rc < 0) {
            b->lost = 1;
            if (now < b->give_up_ms) {
                b->out = OUT_PENDING;
                continue;
            }
            ht_log(HT_LOG_ERROR, "outcome not stored; the job runs again when its lease ends", "id",
                   b->o->job->id, "error", ht_store_errstr(d->store), NULL);
            b->result = -1;
        } else {
            ht_settle_t *o = b->o;
            o->rc = d->call_o[i].rc;
            o->status = d->call_o[i].status;
            memcpy(o->run, d->call_o[i].run, sizeof(o->run));
            if (o->rc == 0)
                ht_counts_ended(st->counts, p->keys->base, o->job, o->status, o->run);
            b->result = o->rc == 0 ? 0 : b->lost ? -1 : HT_ESTALE;
        }
        b->out = OUT_ANSWERED;
        wake_later(d, b);
    }
    for (size_t i = 0; i < got; i++)
        d->spare[d->nspare++] = d->call_jobs[i];
    d->answered_us = ht_mono_us();
    if (p->k > 0) {
        if (got < p->k) {
            claim_empty(d);
        } else {
            d->empty = 0;
            d->idle = 0;
        }
    }
    give_spares(d);
    wake_boxes(d);
}

/* 1 when job `id` attempt `token` is one this process knows it claimed:
 * taken by a slot, given to one, or not given yet (under mu). */
static int known(const ht_dispatch_t *d, const char *id, uint64_t token)
{
    for (size_t i = 0; i < d->nbox; i++) {
        const box_t *b = &d->box[i];
        if ((b->cur_token == token && strcmp(b->cur_id, id) == 0) ||
            (b->has_job && b->job.token == token && strcmp(b->job.id, id) == 0))
            return 1;
    }
    for (size_t i = 0; i < d->nspare; i++)
        if (d->spare[i].token == token && strcmp(d->spare[i].id, id) == 0)
            return 1;
    return 0;
}

/* A call with claims whose reply was lost may have claimed jobs that Redis
 * leased to this worker and that nobody runs (a Redis that stopped
 * answering runs what it had read when it resumes).  Once partition `part`
 * answers again, its running jobs are read (at most ORPHANS_MAX), and each
 * one leased to this worker under a token no slot holds, newer than the
 * partition's floor, is handed back to the head of its queue without
 * counting the attempt (ht_release), rather than left until its lease runs
 * out.  Entered and left under mu, let go for the calls; the dispatcher
 * thread makes no other call meanwhile, so every job its calls claimed is
 * in a box or in spare. */
#define ORPHANS_MAX 10000
static void sweep_orphans(ht_dispatch_t *d, size_t part)
{
    const ht_keys_t *k = &d->st->parts.parts[part].keys;
    d->orphans[part] = 0;
    pthread_mutex_unlock(&d->mu);
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "ZRANGE");
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, "0");
    ht_argv_addll(&a, ORPHANS_MAX - 1);
    char **ids = NULL;
    size_t n = 0;
    if (ht_store_cmd_strings(d->store, &a, &ids, &n) < 0)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        if (strlen(ids[i]) > HT_ID_LEN)
            continue;
        char jobkey[HT_KEY_MAX];
        ht_keys_job(k, ids[i], jobkey);
        ht_argv_init(&a);
        ht_argv_add(&a, "HMGET");
        ht_argv_add(&a, jobkey);
        ht_argv_add(&a, "worker");
        ht_argv_add(&a, "token");
        char **v = NULL;
        size_t got = 0;
        if (ht_store_cmd_strings(d->store, &a, &v, &got) == 0 && got == 2 &&
            strcmp(v[0], d->st->id) == 0) {
            ht_job_t job;
            memset(&job, 0, sizeof(job));
            memcpy(job.id, ids[i], strlen(ids[i]) + 1);
            job.token = strtoull(v[1], NULL, 10);
            pthread_mutex_lock(&d->mu);
            /* At or under the floor: given to a slot before the loss. */
            int keep = job.token <= d->floor[part] || known(d, job.id, job.token);
            pthread_mutex_unlock(&d->mu);
            if (!keep && ht_store_release(d->store, k, &job) == 0)
                ht_log(HT_LOG_WARN, "a job claimed by a call whose reply was lost: handed back",
                       "id", job.id, NULL);
        }
        ht_store_strings_free(v);
    }
    ht_store_strings_free(ids);
    pthread_mutex_lock(&d->mu);
}

/* Hands the jobs claimed and not taken back to their queues (entered and
 * left under mu, let go for the calls). */
static void release_spares(ht_dispatch_t *d)
{
    while (d->nspare) {
        ht_job_t job = d->spare[--d->nspare];
        pthread_mutex_unlock(&d->mu);
        ht_keys_t scratch;
        const ht_keys_t *k = ht_wstate_keys_of(d->st, job.id, &scratch);
        int rc = HT_EINVAL;
        for (int i = 0; k && i < RELEASE_TRIES; i++) {
            if ((rc = ht_store_release(d->store, k, &job)) == 0 || rc == HT_ESTALE)
                break;
            sleep_ms(200);
        }
        if (rc == 0 || rc == HT_ESTALE)
            ht_log(HT_LOG_INFO, rc == 0 ? "job handed back" : "job already lost on hand-back", "id",
                   job.id, NULL);
        else
            ht_log(HT_LOG_ERROR, "job not handed back; it is requeued when its lease ends", "id",
                   job.id, "error", ht_store_errstr(d->store), NULL);
        ht_job_clear(&job);
        pthread_mutex_lock(&d->mu);
    }
}

static int outcomes_open(const ht_dispatch_t *d)
{
    for (size_t i = 0; i < d->nbox; i++)
        if (d->box[i].out == OUT_PENDING || d->box[i].out == OUT_SENT)
            return 1;
    return 0;
}

static void *dispatch_main(void *arg)
{
    ht_dispatch_t *d = arg;
    /* A failed open still yields a store that reconnects on the next call. */
    ht_store_open(&d->store, &d->st->url, HT_WORKER_REDIS_TIMEOUT_MS);
    pthread_mutex_lock(&d->mu);
    while (d->store) {
        if (d->draining && d->nspare)
            release_spares(d);
        if (d->quit && !outcomes_open(d))
            break;
        plan_t p;
        if (plan(d, &p)) {
            send_call(d, &p);
            /* A partition that answers again after a lost reply. */
            if (p.tr < (int)d->st->parts.count && d->orphans[p.tr] && !d->pt[p.tr].failing)
                sweep_orphans(d, (size_t)p.tr);
            continue;
        }
        int64_t wake_us = p.wake_ms == INT64_MAX ? INT64_MAX : p.wake_ms * 1000;
        if (p.wake_us && p.wake_us < wake_us)
            wake_us = p.wake_us;
        if (wake_us == INT64_MAX) {
            pthread_cond_wait(&d->cv, &d->mu);
        } else {
            struct timespec ts = {wake_us / 1000000, (wake_us % 1000000) * 1000L};
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        }
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* Blocks on the partitions' signal lists, one at a time, while the queues
 * count as empty and a slot waits for a job; each wake-up or timeout lets
 * the dispatcher claim again.  Its failures are not logged: the claims that
 * follow meet the same trouble and say so. */
static void *waiter_main(void *arg)
{
    ht_dispatch_t *d = arg;
    ht_wstate_t *st = d->st;
    size_t count = st->parts.count, wi = random_start(count);
    int wait_ms = count > 1 ? PARTITION_WAIT_MS : IDLE_WAIT_MS;
    long backoff_ms = 0;
    ht_store_t *store = NULL;
    ht_store_open(&store, &st->url, HT_WORKER_REDIS_TIMEOUT_MS);
    pthread_mutex_lock(&d->mu);
    while (store && !d->quit) {
        if (!d->idle || d->draining || !any_waiting(d)) {
            pthread_cond_wait(&d->wcv, &d->mu);
            continue;
        }
        pthread_mutex_unlock(&d->mu);
        const ht_keys_t *k = &st->parts.parts[wi].keys;
        wi = (wi + 1) % count;
        if (ht_store_wait_signal(store, k, wait_ms) < 0)
            sleep_ms(next_backoff(&backoff_ms));
        else
            backoff_ms = 0;
        pthread_mutex_lock(&d->mu);
        d->idle = 0;
        d->empty = 0;
        pthread_cond_signal(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
    ht_store_close(store);
    return NULL;
}

static void dispatch_free(ht_dispatch_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->box && i < d->nbox; i++) {
        pthread_cond_destroy(&d->box[i].cv);
        if (d->box[i].has_job)
            ht_job_clear(&d->box[i].job);
    }
    for (size_t i = 0; i < d->nspare; i++)
        ht_job_clear(&d->spare[i]);
    pthread_cond_destroy(&d->cv);
    pthread_cond_destroy(&d->wcv);
    pthread_mutex_destroy(&d->mu);
    ht_store_close(d->store);
    free(d->box);
    free(d->spare);
    free(d->pt);
    free(d->orphans);
    free(d->top_token);
    free(d->floor);
    free(d->call_box);
    free(d->call_o);
    free(d->call_jobs);
    free(d->call_waits);
    free(d->wake);
    free(d);
}

int ht_dispatch_start(ht_dispatch_t **out, ht_wstate_t *st)
{
    *out = NULL;
    ht_dispatch_t *d = calloc(1, sizeof(*d));
    if (!d)
        return HT_ENOMEM;
    d->st = st;
    d->nbox = (size_t)st->concurrency;
    /* Claims never outnumber the slots free when the call is planned; the
     * margin holds the jobs a draining slot gives back. */
    d->spare_cap = d->nbox + HT_COMPLETE_MANY_MAX;
    size_t per_call = d->nbox < HT_COMPLETE_MANY_MAX ? d->nbox : HT_COMPLETE_MANY_MAX;
    d->box = calloc(d->nbox, sizeof(*d->box));
    d->spare = calloc(d->spare_cap, sizeof(*d->spare));
    d->pt = calloc(st->parts.count + 1, sizeof(*d->pt));
    d->orphans = calloc(st->parts.count, sizeof(*d->orphans));
    d->top_token = calloc(st->parts.count, sizeof(*d->top_token));
    d->floor = calloc(st->parts.count, sizeof(*d->floor));
    d->call_box = calloc(per_call, sizeof(*d->call_box));
    d->call_o = calloc(per_call, sizeof(*d->call_o));
    d->call_jobs = calloc(per_call, sizeof(*d->call_jobs));
    d->call_waits = calloc(per_call, sizeof(*d->call_waits));
    d->wake = calloc(d->nbox, sizeof(*d->wake));
    pthread_condattr_t mono;
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, &mono);
    pthread_cond_init(&d->wcv, NULL);
    pthread_condattr_destroy(&mono);
    for (size_t i = 0; d->box && i < d->nbox; i++)
        pthread_cond_init(&d->box[i].cv, NULL);
    if (!d->box || !d->spare || !d->pt || !d->orphans || !d->top_token || !d->floor ||
        !d->call_box || !d->call_o || !d->call_jobs || !d->call_waits || !d->wake) {
        dispatch_free(d);
        return HT_ENOMEM;
    }
    d->cursor = random_start(st->parts.count);
    int rc = ht_wthread_start(&d->thread, dispatch_main, d);
    if (rc == 0 && (rc = ht_wthread_start(&d->waiter, waiter_main, d)) < 0)
        ht_dispatch_stop(d);
    else if (rc < 0)
        dispatch_free(d);
    else
        *out = d;
    return rc;
}

void ht_dispatch_drain(ht_dispatch_t *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->draining = 1;
    for (size_t i = 0; i < d->nbox; i++)
        pthread_cond_signal(&d->box[i].cv);
    pthread_cond_signal(&d->cv);
    pthread_cond_signal(&d->wcv);
    pthread_mutex_unlock(&d->mu);
}

void ht_dispatch_stop(ht_dispatch_t *d)
{
    if (!d)
        return;
    ht_dispatch_drain(d);
    pthread_mutex_lock(&d->mu);
    d->quit = 1;
    pthread_cond_signal(&d->cv);
    pthread_cond_signal(&d->wcv);
    pthread_mutex_unlock(&d->mu);
    ht_wthread_join(&d->waiter);
    ht_wthread_join(&d->thread);
    if (d->nspare && d->store) {
        pthread_mutex_lock(&d->mu);
        release_spares(d);
        pthread_mutex_unlock(&d->mu);
    }
    dispatch_free(d);
}

int ht_dispatch_settle(ht_dispatch_t *d, int slot, const ht_keys_t *k, ht_settle_t *o, int next)
{
    box_t *b = &d->box[slot];
    ht_wstate_t *st = d->st;
    pthread_mutex_lock(&d->mu);
    b->o = o;
    b->keys = k;
    b->part = -1;
    for (size_t i = 0; i < st->parts.count; i++)
        if (k == &st->parts.parts[i].keys)
            b->part = (int)i;
    b->next = next;
    b->lost = 0;
    b->give_up_ms = ht_mono_ms() + OUTCOME_RETRY_MS;
    /* The dispatcher is woken for the first outcome pending (it then holds
     * the call, or sends it) and for the one that ends the hold early; the
     * others wait for the call that is out or held. */
    int first = 1;
    for (size_t i = 0; i < d->nbox && first; i++)
        first = d->box[i].out != OUT_PENDING;
    b->took_us = 0;
    b->pending_us = ht_mono_us();
    b->out = OUT_PENDING;
    if (first || !gather_until(d, b->pending_us))
        pthread_cond_signal(&d->cv);
    while (b->out != OUT_ANSWERED)
        pthread_cond_wait(&b->cv, &d->mu);
    b->out = OUT_NONE;
    b->o = NULL;
    b->keys = NULL;
    int rc = b->result;
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int ht_dispatch_take(ht_dispatch_t *d, int slot, ht_job_t *job)
{
    box_t *b = &d->box[slot];
    int rc;
    pthread_mutex_lock(&d->mu);
    b->cur_id[0] = '\0';
    b->cur_token = 0;
    for (;;) {
        if (b->has_job) {
            b->has_job = 0;
            if (!d->draining) {
                *job = b->job;
                rc = 1;
                break;
            }
            /* Given as the drain began: the dispatcher hands it back. */
            d->spare[d->nspare++] = b->job;
            pthread_cond_signal(&d->cv);
        }
        if (d->draining) {
            rc = 0;
            break;
        }
        if (d->nspare) {
            *job = d->spare[0];
            memmove(d->spare, d->spare + 1, --d->nspare * sizeof(*d->spare));
            rc = 1;
            break;
        }
        if (!b->waiting) {
            b->waiting = 1;
            pthread_cond_signal(&d->cv);
            if (d->idle)
                pthread_cond_signal(&d->wcv);
        }
        pthread_cond_wait(&b->cv, &d->mu);
    }
    b->waiting = 0;
    if (rc == 1) {
        memcpy(b->cur_id, job->id, sizeof(b->cur_id));
        b->cur_token = job->token;
        b->took_us = ht_mono_us();
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}
