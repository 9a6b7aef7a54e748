/* The worker's counters: summed in the process, sent once a second per
 * partition (counts.h says what and the rule that keeps them exact).
 *
 * Slot threads add to `live` under `mu`; the lease thread takes `live`
 * whole (a swap under the lock) and sums it into each partition's `carry`,
 * which only it touches.  A partition's carry becomes its frozen batch
 * (`sent`, with the next seq) when it has none; the frozen batch is sent
 * until Redis has it. */
#include "worker/counts.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/keys.h"
#include "shared/log.h"

#define BUCKETS 128

/* One counter: `n` more on `field` of the key base + `key`. */
typedef struct entry {
    struct entry *next;
    long long n;
    const char *key, *field; /* inside str, after the base */
    char str[];              /* "base\0key\0field\0" */
} entry_t;

typedef struct {
    entry_t *b[BUCKETS];
    size_t n;
} table_t;

/* One partition's counters on their way out (the lease thread's). */
typedef struct {
    char base[HT_KEY_MAX];
    uint64_t seq;     /* the last batch's */
    table_t carry;    /* summed since the frozen batch was made */
    table_t frozen;   /* the batch being sent (owns the strings of sent) */
    ht_count_t *sent; /* frozen as the call's triples; NULL: no batch */
    size_t nsent;
} dest_t;

struct ht_counts {
    pthread_mutex_t mu; /* guards live and lost */
    table_t live;
    long long lost; /* counters not kept (out of memory), logged at the next flush */
    char *worker_id;
    dest_t *dests;
    size_t ndests;
    int failing; /* the last flush failed (logged once until one succeeds) */
};

static size_t hash3(const char *a, const char *b, const char *c)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return (size_t)(h % BUCKETS);
}

static entry_t *find(const table_t *t, size_t h, const char *base, const char *key,
                     const char *field)
{
    for (entry_t *e = t->b[h]; e; e = e->next)
        if (strcmp(e->field, field) == 0 && strcmp(e->key, key) == 0 && strcmp(e->str, base) == 0)
            return e;
    return NULL;
}

/* Adds n to (base, key, field).  Returns 0 or HT_ENOMEM. */
static int table_add(table_t *t, const char *base, const char *key, const char *field, long long n)
{
    size_t h = hash3(base, key, field);
    entry_t *e = find(t, h, base, key, field);
    if (e) {
        e->n += n;
        return 0;
    }
    size_t lb = strlen(base) + 1, lk = strlen(key) + 1, lf = strlen(field) + 1;
    if (!(e = malloc(sizeof(*e) + lb + lk + lf)))
        return HT_ENOMEM;
    memcpy(e->str, base, lb);
    memcpy(e->str + lb, key, lk);
    memcpy(e->str + lb + lk, field, lf);
    e->key = e->str + lb;
    e->field = e->str + lb + lk;
    e->n = n;
    e->next = t->b[h];
    t->b[h] = e;
    t->n++;
    return 0;
}

/* Moves entry e into t, summed with the same counter if t has it. */
static void table_take(table_t *t, entry_t *e)
{
    size_t h = hash3(e->str, e->key, e->field);
    entry_t *same = find(t, h, e->str, e->key, e->field);
    if (same) {
        same->n += e->n;
        free(e);
        return;
    }
    e->next = t->b[h];
    t->b[h] = e;
    t->n++;
}

static void table_free(table_t *t)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        for (entry_t *e = t->b[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    memset(t, 0, sizeof(*t));
}

int ht_counts_new(ht_counts_t **out, const char *worker_id)
{
    ht_counts_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->worker_id = strdup(worker_id))) {
        free(c);
        return HT_ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

static void dest_unfreeze(dest_t *d)
{
    table_free(&d->frozen);
    free(d->sent);
    d->sent = NULL;
    d->nsent = 0;
}

void ht_counts_free(ht_counts_t *c)
{
    if (!c)
        return;
    table_free(&c->live);
    for (size_t i = 0; i < c->ndests; i++) {
        table_free(&c->dests[i].carry);
        dest_unfreeze(&c->dests[i]);
    }
    free(c->dests);
    free(c->worker_id);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* "<bucket> <ms>" -> the bucket (into le[HT_COUNTED_MAX]) and ms.
 * Returns 0, or -1 for anything else. */
static int observation(const char *text, char *le, long long *ms)
{
    const char *sp = strchr(text, ' ');
    char *end;
    if (!sp || sp == text || (size_t)(sp - text) >= HT_COUNTED_MAX)
        return -1;
    long long v = strtoll(sp + 1, &end, 10);
    if (end == sp + 1 || *end || v < 0)
        return -1;
    memcpy(le, text, (size_t)(sp - text));
    le[sp - text] = '\0';
    *ms = v;
    return 0;
}

/* Counts under the lock; the ones that find no memory are counted lost. */
static void add(ht_counts_t *c, const char *base, const char *key, const char *field, long long n)
{
    if (table_add(&c->live, base, key, field, n) < 0)
        c->lost++;
}

static void observe(ht_counts_t *c, const char *base, const char *hist, const char *text)
{
    char le[HT_COUNTED_MAX];
    long long ms;
    if (!text || !*text)
        return;
    if (observation(text, le, &ms) < 0) {
        c->lost++;
        return;
    }
    add(c, base, hist, le, 1);
    add(c, base, hist, "sum_ms", ms);
}

void ht_counts_started(ht_counts_t *c, const char *base, const ht_job_t *job,
                       const char *counted_wait)
{
    char field[HT_TYPE_MAX + 32];
    snprintf(field, sizeof(field), "jobs:started:%s", job->type ? job->type : "unknown");
    pthread_mutex_lock(&c->mu);
    add(c, base, "metrics", field, 1);
    observe(c, base, "hist:wait", counted_wait);
    pthread_mutex_unlock(&c->mu);
}

void ht_counts_ended(ht_counts_t *c, const char *base, const ht_job_t *job, ht_job_status_t status,
                     const char *counted_run)
{
    const char *what = status == HT_JOB_QUEUED || status == HT_JOB_SCHEDULED
                           ? "retried"
                           : ht_job_status_name(status);
    char field[HT_TYPE_MAX + 32], stats[HT_TENANT_MAX + 16];
    snprintf(field, sizeof(field), "jobs:%s:%s", what, job->type ? job->type : "unknown");
    snprintf(stats, sizeof(stats), "t:%s:stats",
             job->tenant && *job->tenant ? job->tenant : "default");
    pthread_mutex_lock(&c->mu);
    add(c, base, stats, what, 1);
    add(c, base, "metrics", field, 1);
    observe(c, base, "hist:run", counted_run);
    pthread_mutex_unlock(&c->mu);
}

/* The partition of `base` among the destinations, added when new (NULL
 * when out of memory). */
static dest_t *dest_of(ht_counts_t *c, const char *base)
{
    for (size_t i = 0; i < c->ndests; i++)
        if (strcmp(c->dests[i].base, base) == 0)
            return &c->dests[i];
    dest_t *d = realloc(c->dests, (c->ndests + 1) * sizeof(*d));
    if (!d)
        return NULL;
    c->dests = d;
    d = &c->dests[c->ndests++];
    memset(d, 0, sizeof(*d));
    snprintf(d->base, sizeof(d->base), "%s", base);
    return d;
}

/* The carry becomes the frozen batch, with the next seq.  Returns 0 or
 * HT_ENOMEM (the carry is then left as it is, for the next flush). */
static int freeze(dest_t *d)
{
    ht_count_t *sent = calloc(d->carry.n, sizeof(*sent));
    if (!sent)
        return HT_ENOMEM;
    d->frozen = d->carry;
    memset(&d->carry, 0, sizeof(d->carry));
    size_t n = 0;
    for (size_t i = 0; i < BUCKETS; i++) {
        for (entry_t *e = d->frozen.b[i]; e; e = e->next) {
            sent[n].key = e->key;
            sent[n].field = e->field;
            sent[n].n = e->n;
            n++;
        }
    }
    d->sent = sent;
    d->nsent = n;
    d->seq++;
    return 0;
}

/* Sends the partition's frozen batch, then its carry.  Returns 0 or the
 * negative code of the call that failed. */
static int send_dest(ht_counts_t *c, ht_store_t *store, dest_t *d)
{
    for (int round = 0; round < 2; round++) {
        if (!d->sent && d->carry.n && freeze(d) < 0)
            return HT_ENOMEM;
        if (!d->sent)
            return 0;
        int rc = ht_store_count_add(store, d->base, c->worker_id, d->seq, d->sent, d->nsent);
        if (rc == HT_EPROTO || rc == HT_EINVAL) {
            /* Refused by Redis: sending it again cannot change that. */
            char n[24];
            snprintf(n, sizeof(n), "%zu", d->nsent);
            ht_log(HT_LOG_ERROR, "counters refused by redis: dropped", "partition", d->base,
                   "counters", n, "error", ht_store_errstr(store), NULL);
        } else if (rc < 0) {
            return rc;
        }
        dest_unfreeze(d);
    }
    return 0;
}

int ht_counts_flush(ht_counts_t *c, ht_store_t *store)
{
    table_t taken;
    pthread_mutex_lock(&c->mu);
    taken = c->live;
    memset(&c->live, 0, sizeof(c->live));
    long long lost = c->lost;
    c->lost = 0;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < BUCKETS; i++) {
        for (entry_t *e = taken.b[i], *next; e; e = next) {
            next = e->next;
            dest_t *d = dest_of(c, e->str);
            if (d) {
                table_take(&d->carry, e);
            } else {
                lost++;
                free(e);
            }
        }
    }
    if (lost > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%lld", lost);
        ht_log(HT_LOG_ERROR, "counters lost: out of memory or a malformed observation", "counters",
               n, NULL);
    }
    int rc = 0;
    for (size_t i = 0; i < c->ndests; i++) {
        int drc = send_dest(c, store, &c->dests[i]);
        if (drc < 0 && rc == 0)
            rc = drc;
    }
    if (rc < 0 && !c->failing)
        ht_log(HT_LOG_WARN, "counters not sent: kept and sent again", "error",
               ht_store_errstr(store), NULL);
    else if (rc == 0 && c->failing)
        ht_log(HT_LOG_INFO, "counters sent again", NULL);
    c->failing = rc < 0;
    return rc;
}
