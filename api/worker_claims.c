/* Claims of the HTTP worker API (see worker_claims.h): a claim's sweep
 * over the partitions, the thread's waiters and its waker. */
#include "api/worker_claims.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/log.h"

#include "api/aclient.h"
#include "api/metrics_counters.h"
#include "api/parts.h"
#include "api/remote_workers.h"
#include "api/wait.h"

/* The waker's block on one partition's signal list: alone, or each of
 * several in turn. */
#define WAKE_MS      1000
#define WAKE_PART_MS 200
/* Every so often the held claims' workers count as seen (their records:
 * api/remote_workers.h). */
#define SEEN_EVERY_MS 5000

typedef struct claim claim_t;

/* malloc'd, not in the request's pool: the timer must outlive the request
 * until libuv closes it, and a call in flight must find the claim.
 * References: the request (until h2o disposes of it), the timer (until its
 * close callback), a claim call in flight. */
struct claim {
    ht_claims_t *c;
    h2o_req_t *req; /* NULL once h2o disposed of it */
    ht_claim_cb cb;
    void *data;
    char *worker_id;
    char *key; /* the worker key's name, NULL when open */
    char **types;
    size_t n_types;
    char *type_list; /* the types as ht_claim takes them */
    uint64_t sig;    /* the types' hash: who a sweep's empty answer spares */
    long wait_ms;
    uv_timer_t timer; /* the deadline */
    int refs;
    int answered;
    int expired;  /* answer (nothing) once the call in flight returns */
    int trying;   /* a sweep of the partitions in flight */
    int in_sweep; /* that sweep is the thread's (the waiters'), not its first */
    size_t part, left;
    int listed; /* in the waiters */
    claim_t *prev, *next;
};

struct ht_claims {
    ht_api_thread_t *t;
    ht_remotes_t *remotes;
    claim_t *head, *tail; /* the waiters, oldest first */
    size_t n_listed, n_alive;
    unsigned rr; /* where the next claim's sweep starts */
    /* The waker. */
    ht_aclient_t *waker; /* made on the first held claim */
    uv_timer_t rest;
    int waking, resting, rest_open, failing;
    unsigned wake_part;
    /* The waiters' sweep in progress. */
    int sweeping;
    claim_t *sweep_next; /* the waiter to try after the current one */
    uint64_t *empty;     /* types that found nothing in this sweep */
    size_t n_empty, cap_empty;
    int foreign; /* a job of a type not asked for was handed back */
    uint64_t seen_at;
    int closing;
};

static void kick(ht_claims_t *c);
static void sweep_next(ht_claims_t *c);

size_t ht_claims_held(const ht_claims_t *c)
{
    return c ? c->n_listed : 0;
}

char *ht_claims_type_list(const char *const *types, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(types[i]) + 1;
    char *out = malloc(len), *p = out;
    for (size_t i = 0; out && i < n; i++) {
        size_t l = strlen(types[i]);
        if (i)
            *p++ = ' ';
        memcpy(p, types[i], l);
        p += l;
    }
    if (out)
        *p = '\0';
    return out;
}

int ht_claims_type_in(const char *type, const char *const *types, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(type, types[mid]);
        if (cmp == 0)
            return 1;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

static size_t part_count(const ht_claims_t *c)
{
    return c->t->cfg->parts ? c->t->cfg->parts->count : 1;
}

static const ht_keys_t *part_keys(const ht_claims_t *c, size_t i)
{
    return c->t->cfg->parts ? &c->t->cfg->parts->parts[i].keys : &c->t->keys;
}

/* ---- a claim's memory ------------------------------------------------------ */

static void maybe_free_claims(ht_claims_t *c)
{
    if (c->closing && c->n_alive == 0 && !c->rest_open && !c->waker) {
        free(c->empty);
        free(c);
    }
}

/* Frees a claim and what it owns (its types, names and key). */
static void claim_free(claim_t *cl)
{
    for (size_t i = 0; i < cl->n_types; i++)
        free(cl->types[i]);
    free(cl->types);
    free(cl->type_list);
    free(cl->worker_id);
    free(cl->key);
    free(cl);
}

static void unref(claim_t *cl)
{
    if (--cl->refs > 0)
        return;
    ht_claims_t *c = cl->c;
    claim_free(cl);
    c->n_alive--;
    maybe_free_claims(c);
}

static void on_timer_closed(uv_handle_t *h)
{
    unref(h->data);
}

static void list_add(claim_t *cl)
{
    ht_claims_t *c = cl->c;
    cl->prev = c->tail;
    cl->next = NULL;
    if (c->tail)
        c->tail->next = cl;
    else
        c->head = cl;
    c->tail = cl;
    cl->listed = 1;
    c->n_listed++;
    ht_metrics_add(HT_M_HELD_CLAIM, 1);
}

static void unlist(claim_t *cl)
{
    ht_claims_t *c = cl->c;
    if (!cl->listed)
        return;
    if (c->sweep_next == cl)
        c->sweep_next = cl->next;
    if (cl->prev)
        cl->prev->next = cl->next;
    else
        c->head = cl->next;
    if (cl->next)
        cl->next->prev = cl->prev;
    else
        c->tail = cl->prev;
    cl->prev = cl->next = NULL;
    cl->listed = 0;
    c->n_listed--;
    ht_metrics_add(HT_M_HELD_CLAIM, -1);
}

/* The answer (once): the job, nothing (NULL), or an error. */
static void answer(claim_t *cl, int err, const ht_astore_claimed_t *claimed)
{
    unlist(cl);
    uv_timer_stop(&cl->timer);
    cl->answered = 1;
    cl->expired = 0;
    cl->cb(cl->data, cl->req, err, claimed);
}

/* h2o disposes of the request: answered and sent, or the client is gone. */
static void on_request_disposed(void *p)
{
    claim_t *cl = *(claim_t **)p;
    unlist(cl);
    cl->req = NULL;
    uv_timer_stop(&cl->timer);
    uv_close((uv_handle_t *)&cl->timer, on_timer_closed);
    unref(cl);
}

/* ---- handing back ------------------------------------------------------------ */

static void on_released(void *data, int err, long long value)
{
    (void)data;
    if (err || value != 1)
        ht_log(HT_LOG_WARN, "claimed job not handed back; it runs again when its lease ends",
               "error", err ? ht_strerror(err) : "no longer held", NULL);
}

void ht_claims_hand_back(ht_claims_t *c, const ht_astore_claimed_t *claimed)
{
    ht_keys_t scratch;
    const ht_keys_t *k = ht_api_keys_of(c->t, claimed->job.id, &scratch);
    ht_log(HT_LOG_DEBUG, "claimed job handed back", "id", claimed->job.id, "type",
           claimed->job.type, NULL);
    ht_astore_release(c->t->store, k, claimed->job.id, claimed->job.token, claimed->job.priority,
                      on_released, NULL);
}

/* ---- a claim's sweep of the partitions ---------------------------------------- */

static void try_part(claim_t *cl);

/* One claim call: ht_claim of the types asked (the caller checks the type
 * of what comes back all the same).  The one place that asks Redis for a
 * job. */
static void claim_call(claim_t *cl, const ht_keys_t *k, ht_astore_claim_cb cb)
{
    ht_api_thread_t *t = cl->c->t;
    ht_astore_claim(t->store, NULL, k, cl->worker_id, t->cfg->lease_ms, t->cfg->grace_ms,
                    cl->type_list, cb, cl);
}

/* The sweep of `cl` ends: with a job (answered), nothing, or an error. */
static void tried(claim_t *cl, int err, const ht_astore_claimed_t *claimed)
{
    ht_claims_t *c = cl->c;
    int in_sweep = cl->in_sweep;
    cl->trying = 0;
    cl->in_sweep = 0;
    if (cl->req && !cl->answered) {
        if (claimed)
            answer(cl, 0, claimed);
        else if (err && !cl->listed)
            answer(cl, err, NULL); /* its first sweep: Redis failed it */
        else if (cl->expired || c->closing || cl->wait_ms <= 0)
            answer(cl, 0, NULL);
        else if (!cl->listed) {
            list_add(cl); /* it waits now */
            kick(c);
        }
        /* else it waits on: nothing came, or Redis failed this sweep */
    }
    if (in_sweep) {
        if (!claimed && !err) {
            if (c->n_empty == c->cap_empty) {
                size_t cap = c->cap_empty ? c->cap_empty * 2 : 8;
                uint64_t *e = realloc(c->empty, cap * sizeof(*e));
                if (e) {
                    c->empty = e;
                    c->cap_empty = cap;
                }
            }
            if (c->n_empty < c->cap_empty)
                c->empty[c->n_empty++] = cl->sig;
        }
        if (err)
            c->sweep_next = NULL; /* Redis trouble: the sweep ends here */
        sweep_next(c);
    }
    unref(cl); /* the call's */
}

static void on_claimed(void *data, int err, const ht_astore_claimed_t *claimed)
{
    claim_t *cl = data;
    ht_claims_t *c = cl->c;
    if (err) {
        tried(cl, err, NULL);
        return;
    }
    if (claimed && (!cl->req || cl->answered)) {
        ht_claims_hand_back(c, claimed); /* its client left meanwhile */
        tried(cl, 0, NULL);
        return;
    }
    if (claimed &&
        !ht_claims_type_in(claimed->job.type, (const char *const *)cl->types, cl->n_types)) {
        /* Another worker's type at the head of this partition's queue. */
        ht_claims_hand_back(c, claimed);
        c->foreign = 1;
        claimed = NULL;
    }
    if (claimed) {
        tried(cl, 0, claimed);
        return;
    }
    if (cl->left == 0) {
        tried(cl, 0, NULL);
        return;
    }
    try_part(cl);
}

static void try_part(claim_t *cl)
{
    ht_claims_t *c = cl->c;
    size_t count = part_count(c);
    const ht_keys_t *k = part_keys(c, cl->part);
    cl->part = (cl->part + 1) % count;
    cl->left--;
    claim_call(cl, k, on_claimed);
}

/* Starts a sweep of every partition for `cl`; its end is tried(). */
static void try_claim(claim_t *cl, int in_sweep)
{
    ht_claims_t *c = cl->c;
    size_t count = part_count(c);
    cl->trying = 1;
    cl->in_sweep = in_sweep;
    cl->left = count;
    cl->part = c->rr++ % count;
    cl->refs++; /* the call's */
    try_part(cl);
}

/* ---- the waiters' sweep ---------------------------------------------------- */

static int found_empty(const ht_claims_t *c, uint64_t sig)
{
    for (size_t i = 0; i < c->n_empty; i++)
        if (c->empty[i] == sig)
            return 1;
    return 0;
}

static void rest(ht_claims_t *c, long ms);

/* The waiters' workers count as seen (a held claim is a live worker). */
static void note_seen(ht_claims_t *c)
{
    uint64_t now = uv_now(&c->t->loop);
    if (now - c->seen_at < SEEN_EVERY_MS)
        return;
    c->seen_at = now;
    for (claim_t *cl = c->head; cl; cl = cl->next)
        ht_remotes_seen(c->remotes, cl->worker_id, cl->key, (const char *const *)cl->types,
                        cl->n_types);
}

/* Tries the next waiter of the sweep: one whose client is still there and
 * whose types did not come back empty in this sweep. */
static void sweep_next(ht_claims_t *c)
{
    while (c->sweep_next) {
        claim_t *cl = c->sweep_next;
        c->sweep_next = cl->next;
        if (cl->trying || cl->answered || !cl->req || found_empty(c, cl->sig))
            continue;
        if (ht_wait_client_gone(cl->req)) {
            ht_log(HT_LOG_DEBUG, "held claim: client gone", "worker", cl->worker_id, NULL);
            cl->req->http1_is_persistent = 0; /* h2o closes after its (failing) write */
            answer(cl, 0, NULL);
            continue;
        }
        try_claim(cl, 1);
        return;
    }
    c->sweeping = 0;
    if (c->closing)
        return;
    if (c->foreign) {
        rest(c, WAKE_MS); /* the hand-back's own token would wake us at once */
        return;
    }
    kick(c);
}

static void sweep(ht_claims_t *c)
{
    if (c->sweeping || c->closing)
        return;
    c->sweeping = 1;
    c->n_empty = 0;
    c->foreign = 0;
    c->sweep_next = c->head;
    note_seen(c);
    sweep_next(c);
}

/* ---- the waker ----------------------------------------------------------------- */

static void on_rest(uv_timer_t *timer)
{
    ht_claims_t *c = timer->data;
    c->resting = 0;
    sweep(c);
}

static void rest(ht_claims_t *c, long ms)
{
    c->resting = 1;
    uv_timer_start(&c->rest, on_rest, (uint64_t)ms, 0);
}

static void on_signal(void *data, int err, long long got)
{
    ht_claims_t *c = data;
    (void)got;
    c->waking = 0;
    if (c->closing) {
        maybe_free_claims(c);
        return;
    }
    if (err) {
        if (!c->failing)
            ht_log(HT_LOG_WARN, "held claims: redis wake-ups failing; looking every second",
                   "error", ht_strerror(err), NULL);
        c->failing = 1;
        rest(c, WAKE_MS);
        return;
    }
    if (c->failing)
        ht_log(HT_LOG_INFO, "held claims: redis wake-ups work again", NULL);
    c->failing = 0;
    sweep(c);
}

/* Blocks on the next partition's signal list while claims are held. */
static void kick(ht_claims_t *c)
{
    if (c->closing || c->waking || c->resting || c->sweeping || c->n_listed == 0)
        return;
    if (!c->waker && ht_aclient_new(&c->waker, &c->t->loop, &c->t->cfg->redis, NULL, NULL) < 0)
        c->waker = NULL;
    if (!c->waker || !ht_aclient_ready(c->waker)) {
        rest(c, WAKE_PART_MS); /* connecting: sweeps go on meanwhile */
        return;
    }
    size_t count = part_count(c);
    const ht_keys_t *k = part_keys(c, c->wake_part++ % count);
    c->waking = 1;
    ht_astore_wait_signal(c->waker, k, count > 1 ? WAKE_PART_MS : WAKE_MS, on_signal, c);
}

/* ---- claims ------------------------------------------------------------------ */

static void on_deadline(uv_timer_t *timer)
{
    claim_t *cl = timer->data;
    if (cl->answered || !cl->req)
        return;
    if (cl->trying)
        cl->expired = 1; /* answered when its sweep ends */
    else
        answer(cl, 0, NULL);
}

int ht_claims_start(ht_claims_t *c, h2o_req_t *req, const ht_claim_ask_t *ask, ht_claim_cb cb,
                    void *data)
{
    if (c->n_alive >= HT_CLAIMS_MAX_PER_THREAD)
        return -EBUSY;
    claim_t *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return HT_ENOMEM;
    cl->c = c;
    cl->req = req;
    cl->cb = cb;
    cl->data = data;
    cl->wait_ms = ask->wait_ms;
    cl->worker_id = strdup(ask->worker_id);
    cl->types = calloc(ask->n_types ? ask->n_types : 1, sizeof(*cl->types));
    int ok = cl->worker_id && cl->types;
    for (size_t i = 0; ok && i < ask->n_types; i++) {
        ok = (cl->types[i] = strdup(ask->types[i])) != NULL;
        cl->n_types += ok;
    }
    if (ok && ask->key)
        ok = (cl->key = strdup(ask->key)) != NULL;
    if (ok)
        ok = (cl->type_list = ht_claims_type_list(ask->types, ask->n_types)) != NULL;
    if (!ok) {
        claim_free(cl);
        return HT_ENOMEM;
    }
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < cl->n_types; i++)
        for (const char *p = cl->types[i];; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
            if (!*p)
                break;
        }
    cl->sig = h;
    c->n_alive++;
    cl->refs = 2; /* the request and the timer */
    uv_timer_init(&c->t->loop, &cl->timer);
    cl->timer.data = cl;
    claim_t **link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_request_disposed);
    *link = cl;
    if (cl->wait_ms > 0)
        uv_timer_start(&cl->timer, on_deadline, (uint64_t)cl->wait_ms, 0);
    try_claim(cl, 0);
    return 0;
}

int ht_claims_new(ht_claims_t **out, ht_api_thread_t *t, ht_remotes_t *remotes)
{
    ht_claims_t *c = calloc(1, sizeof(*c));
    if (!c)
        return HT_ENOMEM;
    c->t = t;
    c->remotes = remotes;
    uv_timer_init(&t->loop, &c->rest);
    c->rest.data = c;
    c->rest_open = 1;
    *out = c;
    return 0;
}

void ht_claims_release_all(ht_claims_t *c)
{
    if (!c)
        return;
    c->closing = 1; /* nothing waits any more: every sweep answers */
    for (claim_t *cl = c->head, *next; cl; cl = next) {
        next = cl->next;
        if (cl->trying) {
            cl->expired = 1;
            continue;
        }
        /* Tell HTTP/1 clients to reconnect (to another instance). */
        if (cl->req->version < 0x200)
            cl->req->http1_is_persistent = 0;
        answer(cl, 0, NULL);
    }
}

static void on_rest_closed(uv_handle_t *h)
{
    ht_claims_t *c = h->data;
    c->rest_open = 0;
    maybe_free_claims(c);
}

void ht_claims_close(ht_claims_t *c)
{
    if (!c)
        return;
    c->closing = 1;
    if (c->waker) {
        /* Fails a BLPOP in flight now: on_signal sees closing. */
        ht_aclient_t *w = c->waker;
        ht_aclient_close(w);
        c->waker = NULL;
    }
    uv_timer_stop(&c->rest);
    uv_close((uv_handle_t *)&c->rest, on_rest_closed);
}
