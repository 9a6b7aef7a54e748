/* Job change notifications for one api thread (see pubsub.h): a hiredis
 * async connection in subscribe mode on the thread's loop, a table of the
 * watched jobs, and the fan-out to their watchers.
 *
 * Each watched job is a channel entry with a subscription state:
 *
 *     [none] --first watch, connected--> [pending] --"subscribe"--> [active]
 *       ^                                    |                         |
 *       |                                    +--- last watch leaves ---+
 *       |                                                 v
 *       +------ "unsubscribe" (and no watch) ------- [leaving]
 *               "unsubscribe" with watches: SUBSCRIBE again -> [pending]
 *
 * A SUBSCRIBE is never sent while an UNSUBSCRIBE of the same channel is in
 * flight (a watch arriving then waits in [leaving]), so whether Redis holds
 * the subscription is always what the state says.  Every entry goes back to
 * [none] when the connection is lost, and is subscribed again on reconnect.
 * Watches hear "ready" when their entry becomes active; a watch added to an
 * active entry hears it on the next loop turn (never from ht_watch_add).
 *
 * Connection: api/aconn.h (login, reconnect, timeouts), with the
 * (un)subscribes not yet confirmed as its replies owed.  hiredis 0.14.1
 * calls the callback given with SUBSCRIBE for that channel's confirmation,
 * for every message on it and for its unsubscribe confirmation; ours is one
 * function that finds the entry by the channel's name.
 *
 * Cluster: classic PUBLISH reaches every node of a Redis Cluster, so one
 * connection to any node hears every job's events.  It goes to the URL's
 * seeds in turn (each lost connection or failed connect moves on to the
 * next seed), and the reconnect subscribes everything again as above. */
#include "api/pubsub.h"

#include <h2o/linklist.h>
#include <h2o/memory.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/argv.h"
#include "shared/error.h"
#include "shared/log.h"

#include "api/aconn.h"
#include "api/event_format.h"

#define BUCKETS_MIN 64

typedef enum { SUB_NONE, SUB_PENDING, SUB_ACTIVE, SUB_LEAVING } sub_t;

/* One watched job. */
typedef struct chan {
    struct chan *next;      /* in its hash bucket */
    h2o_linklist_t watches; /* ht_watch_t.link */
    size_t n_watches;
    sub_t sub;
    int busy; /* callbacks running for it: not freed meanwhile */
    char id[];
} chan_t;

struct ht_watch {
    ht_pubsub_t *ps;
    chan_t *chan;
    h2o_linklist_t link;       /* in chan->watches */
    h2o_linklist_t ready_link; /* in ps->ready_queue while a "ready" is owed */
    ht_watch_cb cb;
    void *data;
};

struct ht_pubsub {
    uv_loop_t *loop;
    uv_timer_t tick;
    uv_timer_t soon; /* delivers owed "ready"s on the next loop turn */
    ht_redis_url_t url;
    ht_aconn_t conn;             /* its replies owed: (un)subscribes not yet confirmed */
    char prefix[HT_KEY_MAX + 1]; /* "ht:{default}:events:" */
    size_t prefix_len;
    const ht_parts_t *parts; /* several partitions: channels by the id's partition */
    chan_t **buckets;
    size_t n_buckets, n_chans, n_watches;
    h2o_linklist_t ready_queue; /* ht_watch_t.ready_link */
    int handles_open;           /* timers not yet closed (ht_pubsub_close) */
};

/* ---- the table of watched jobs ---------------------------------------- */

static size_t hash_id(const char *id)
{
    size_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return h;
}

static chan_t **bucket_of(ht_pubsub_t *ps, const char *id)
{
    return &ps->buckets[hash_id(id) & (ps->n_buckets - 1)];
}

static chan_t *chan_find(ht_pubsub_t *ps, const char *id, size_t len)
{
    char key[HT_KEY_MAX];
    if (len >= sizeof(key))
        return NULL;
    memcpy(key, id, len);
    key[len] = '\0';
    for (chan_t *c = *bucket_of(ps, key); c; c = c->next) {
        if (strcmp(c->id, key) == 0)
            return c;
    }
    return NULL;
}

/* Doubles the buckets when the table is full; failing to is harmless. */
static void maybe_grow(ht_pubsub_t *ps)
{
    if (ps->n_chans < ps->n_buckets)
        return;
    size_t n = ps->n_buckets * 2;
    chan_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    chan_t **old = ps->buckets;
    size_t old_n = ps->n_buckets;
    ps->buckets = b;
    ps->n_buckets = n;
    for (size_t i = 0; i < old_n; i++) {
        for (chan_t *c = old[i], *next; c; c = next) {
            next = c->next;
            chan_t **slot = bucket_of(ps, c->id);
            c->next = *slot;
            *slot = c;
        }
    }
    free(old);
}

static chan_t *chan_new(ht_pubsub_t *ps, const char *id)
{
    size_t len = strlen(id);
    chan_t *c = calloc(1, sizeof(*c) + len + 1);
    if (!c)
        return NULL;
    memcpy(c->id, id, len + 1);
    h2o_linklist_init_anchor(&c->watches);
    maybe_grow(ps);
    chan_t **slot = bucket_of(ps, id);
    c->next = *slot;
    *slot = c;
    ps->n_chans++;
    return c;
}

/* Frees `c` once nothing needs it: no watch, no subscription, no callback
 * running for it. */
static void chan_maybe_free(ht_pubsub_t *ps, chan_t *c)
{
    if (c->n_watches > 0 || c->sub != SUB_NONE || c->busy > 0)
        return;
    for (chan_t **p = bucket_of(ps, c->id); *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    ps->n_chans--;
    free(c);
}

/* ---- subscribing ------------------------------------------------------ */

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* Sends "SUBSCRIBE|UNSUBSCRIBE <prefix><id>".  Returns 0 or HT_EREDIS. */
static int send_sub(ht_pubsub_t *ps, chan_t *c, const char *verb)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, verb);
    if (ps->parts) { /* the channel of the job's partition (api/parts.h) */
        ht_keys_t scratch;
        const ht_keys_t *k = ht_parts_keys_of(ps->parts, c->id, &scratch);
        ht_argv_addf(&a, "%s:%s", k ? k->channel : "", c->id);
    } else {
        ht_argv_addf(&a, "%s%s", ps->prefix, c->id);
    }
    /* UNSUBSCRIBE takes no callback: its confirmation goes to SUBSCRIBE's. */
    int sub = verb[0] == 'S';
    int rc = a.overflow ? HT_EINVAL
             : redisAsyncCommandArgv(ps->conn.ac, sub ? on_sub_reply : NULL, sub ? ps : NULL,
                                     (int)a.n, a.v, a.len) == REDIS_OK
                 ? 0
                 : HT_EREDIS;
    ht_argv_clear(&a);
    if (rc == 0)
        ht_aconn_sent(&ps->conn);
    return rc;
}

static void subscribe(ht_pubsub_t *ps, chan_t *c)
{
    if (ps->conn.state != HT_ACONN_READY || !ps->conn.ac || c->sub != SUB_NONE || c->n_watches == 0)
        return;
    if (send_sub(ps, c, "SUBSCRIBE") == 0) {
        c->sub = SUB_PENDING;
        ht_log(HT_LOG_DEBUG, "job subscribed", "id", c->id, NULL);
    }
    /* On failure the connection is going away: the reconnect subscribes. */
}

/* The last watch of `c` left. */
static void unsubscribe(ht_pubsub_t *ps, chan_t *c)
{
    if (c->sub != SUB_PENDING && c->sub != SUB_ACTIVE)
        return;
    if (ps->conn.ac && send_sub(ps, c, "UNSUBSCRIBE") == 0) {
        c->sub = SUB_LEAVING;
        ht_log(HT_LOG_DEBUG, "job unsubscribed", "id", c->id, NULL);
        return;
    }
    c->sub = SUB_NONE; /* the connection is going away, and the subscription with it */
}

/* ---- delivering ------------------------------------------------------- */

/* Calls every watch of `c` with `ev` (NULL: "ready").  Callbacks may add
 * and remove watches, of this job or others: the watches still to call sit
 * on a local list, and `c` stays allocated meanwhile. */
static void deliver(ht_pubsub_t *ps, chan_t *c, const ht_job_event_t *ev)
{
    h2o_linklist_t todo;
    h2o_linklist_init_anchor(&todo);
    h2o_linklist_insert_list(&todo, &c->watches);
    c->busy++;
    while (!h2o_linklist_is_empty(&todo)) {
        ht_watch_t *w = H2O_STRUCT_FROM_MEMBER(ht_watch_t, link, todo.next);
        h2o_linklist_unlink(&w->link);
        h2o_linklist_insert(&c->watches, &w->link);
        if (!ev && h2o_linklist_is_linked(&w->ready_link))
            h2o_linklist_unlink(&w->ready_link); /* owed "ready" paid now */
        w->cb(w->data, ev);
    }
    c->busy--;
    chan_maybe_free(ps, c);
}

/* The "ready"s owed to watches added to already active jobs. */
static void on_soon(uv_timer_t *timer)
{
    ht_pubsub_t *ps = timer->data;
    h2o_linklist_t todo;
    h2o_linklist_init_anchor(&todo);
    h2o_linklist_insert_list(&todo, &ps->ready_queue);
    while (!h2o_linklist_is_empty(&todo)) {
        ht_watch_t *w = H2O_STRUCT_FROM_MEMBER(ht_watch_t, ready_link, todo.next);
        h2o_linklist_unlink(&w->ready_link);
        chan_t *c = w->chan;
        if (c->sub != SUB_ACTIVE)
            continue; /* lost meanwhile: the resubscription says "ready" */
        c->busy++;
        w->cb(w->data, NULL);
        c->busy--;
        chan_maybe_free(ps, c);
    }
}

static void owe_ready(ht_pubsub_t *ps, ht_watch_t *w)
{
    h2o_linklist_insert(&ps->ready_queue, &w->ready_link);
    if (!uv_is_active((uv_handle_t *)&ps->soon))
        uv_timer_start(&ps->soon, on_soon, 0, 0);
}

static void on_message(ht_pubsub_t *ps, chan_t *c, const redisReply *payload)
{
    ht_event_note_t note;
    if (c->sub != SUB_ACTIVE)
        return; /* [leaving]: its watchers are gone or not yet told "ready" */
    if (payload->type != REDIS_REPLY_STRING ||
        ht_event_note_parse(&note, payload->str, payload->len) < 0) {
        ht_log(HT_LOG_WARN, "unreadable job event ignored", "id", c->id, NULL);
        return;
    }
    ht_job_event_t ev = {.id = c->id,
                         .version = note.version,
                         .status = note.status,
                         .log_id = note.event_id,
                         .progress = note.progress};
    deliver(ps, c, &ev);
}

static void on_confirmed(ht_pubsub_t *ps, chan_t *c, int subscribed)
{
    ht_aconn_answered(&ps->conn);
    if (!c)
        return;
    if (subscribed) {
        if (c->sub != SUB_PENDING)
            return; /* [leaving]: an UNSUBSCRIBE follows it */
        c->sub = SUB_ACTIVE;
        deliver(ps, c, NULL);
        return;
    }
    if (c->sub != SUB_LEAVING)
        return;
    c->sub = SUB_NONE;
    if (c->n_watches > 0)
        subscribe(ps, c); /* watched again while leaving */
    chan_maybe_free(ps, c);
}

/* Every reply on a subscribed channel: ["subscribe", channel, count],
 * ["message", channel, payload], ["unsubscribe", channel, count].  NULL when
 * hiredis drops the connection. */
static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ht_pubsub_t *ps = privdata;
    const redisReply *r = reply;
    if (!r || ps->conn.ac != ac)
        return;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str, *name = r->element[1]->str;
    size_t len = r->element[1]->len;
    chan_t *c = NULL;
    if (ps->parts) { /* "<partition's channel base>:<id>" */
        if (len > HT_ID_LEN + 1 && name[len - HT_ID_LEN - 1] == ':')
            c = chan_find(ps, name + len - HT_ID_LEN, HT_ID_LEN);
    } else if (len > ps->prefix_len && memcmp(name, ps->prefix, ps->prefix_len) == 0) {
        c = chan_find(ps, name + ps->prefix_len, len - ps->prefix_len);
    }
    if (strcmp(kind, "message") == 0) {
        if (c)
            on_message(ps, c, r->element[2]);
    } else if (strcmp(kind, "subscribe") == 0) {
        on_confirmed(ps, c, 1);
    } else if (strcmp(kind, "unsubscribe") == 0) {
        on_confirmed(ps, c, 0);
    }
}

/* ---- connection ------------------------------------------------------- */

/* The connection is gone: so is every subscription, and every confirmation
 * owed. */
static void on_conn_down(ht_aconn_t *conn)
{
    ht_pubsub_t *ps = conn->data;
    conn->pending = 0;
    for (size_t i = 0; i < ps->n_buckets; i++) {
        for (chan_t *c = ps->buckets[i], *next; c; c = next) {
            next = c->next;
            c->sub = SUB_NONE;
            chan_maybe_free(ps, c);
        }
    }
}

static void on_conn_ready(ht_aconn_t *conn)
{
    ht_pubsub_t *ps = conn->data;
    for (size_t i = 0; i < ps->n_buckets; i++) {
        for (chan_t *c = ps->buckets[i]; c; c = c->next)
            subscribe(ps, c);
    }
}

/* Pub/sub ignores the database number, so no SELECT.  A subscriber is
 * silent for long stretches: TCP keepalive notices a dead peer.  The
 * command client (api/aclient.h) reports a Redis unreachable at startup. */
static const ht_aconn_opts_t conn_opts = {
    .label = "redis pub/sub",
    .keepalive = 1,
    .quiet_start = 1,
    .on_ready = on_conn_ready,
    .on_down = on_conn_down,
};

static void on_tick(uv_timer_t *timer)
{
    ht_pubsub_t *ps = timer->data;
    ht_aconn_tick(&ps->conn);
}

/* ---- the interface ---------------------------------------------------- */

int ht_pubsub_new(ht_pubsub_t **out, uv_loop_t *loop, const ht_redis_url_t *url, const ht_keys_t *k)
{
    *out = NULL;
    if (url->kind == HT_REDIS_CLUSTER && url->n_seeds < 1)
        return HT_EINVAL;
    ht_pubsub_t *ps = calloc(1, sizeof(*ps));
    if (!ps || !(ps->buckets = calloc(BUCKETS_MIN, sizeof(*ps->buckets)))) {
        free(ps);
        return HT_ENOMEM;
    }
    ps->n_buckets = BUCKETS_MIN;
    ps->loop = loop;
    ps->url = *url;
    ps->prefix_len = (size_t)snprintf(ps->prefix, sizeof(ps->prefix), "%s:", k->channel);
    h2o_linklist_init_anchor(&ps->ready_queue);
    uv_timer_init(loop, &ps->tick);
    uv_timer_init(loop, &ps->soon);
    ps->tick.data = ps->soon.data = ps;
    ps->handles_open = 2;
    ht_aconn_init(&ps->conn, loop, &ps->url, NULL, 0, &conn_opts, ps);
    uv_timer_start(&ps->tick, on_tick, HT_ACONN_TICK_MS, HT_ACONN_TICK_MS);
    ht_aconn_connect(&ps->conn);
    *out = ps;
    return 0;
}

void ht_pubsub_set_parts(ht_pubsub_t *ps, const ht_parts_t *parts)
{
    ps->parts = parts && parts->count > 1 ? parts : NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
    ht_pubsub_t *ps = h->data;
    if (--ps->handles_open > 0)
        return;
    free(ps->buckets);
    free(ps);
}

void ht_pubsub_close(ht_pubsub_t *ps)
{
    if (!ps)
        return;
    /* Watches first, so that the connection's teardown finds nothing to
     * call; every entry goes with them. */
    for (size_t i = 0; i < ps->n_buckets; i++) {
        for (chan_t *c = ps->buckets[i], *next; c; c = next) {
            next = c->next;
            while (!h2o_linklist_is_empty(&c->watches)) {
                ht_watch_t *w = H2O_STRUCT_FROM_MEMBER(ht_watch_t, link, c->watches.next);
                h2o_linklist_unlink(&w->link);
                free(w);
            }
            free(c);
        }
        ps->buckets[i] = NULL;
    }
    ps->n_chans = ps->n_watches = 0;
    h2o_linklist_init_anchor(&ps->ready_queue);
    ht_aconn_close(&ps->conn);
    uv_timer_stop(&ps->tick);
    uv_timer_stop(&ps->soon);
    uv_close((uv_handle_t *)&ps->tick, on_handle_closed);
    uv_close((uv_handle_t *)&ps->soon, on_handle_closed);
}

ht_watch_t *ht_watch_add(ht_pubsub_t *ps, const char *id, ht_watch_cb cb, void *data)
{
    ht_watch_t *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    chan_t *c = chan_find(ps, id, strlen(id));
    if (!c && !(c = chan_new(ps, id))) {
        free(w);
        return NULL;
    }
    w->ps = ps;
    w->chan = c;
    w->cb = cb;
    w->data = data;
    h2o_linklist_insert(&c->watches, &w->link);
    c->n_watches++;
    ps->n_watches++;
    switch (c->sub) {
    case SUB_NONE:
        subscribe(ps, c); /* "ready" when confirmed (or after the reconnect) */
        break;
    case SUB_ACTIVE:
        owe_ready(ps, w);
        break;
    case SUB_PENDING:
    case SUB_LEAVING:
        break; /* "ready" when (re)subscribed */
    }
    return w;
}

void ht_watch_remove(ht_watch_t *w)
{
    if (!w)
        return;
    ht_pubsub_t *ps = w->ps;
    chan_t *c = w->chan;
    h2o_linklist_unlink(&w->link);
    if (h2o_linklist_is_linked(&w->ready_link))
        h2o_linklist_unlink(&w->ready_link);
    free(w);
    c->n_watches--;
    ps->n_watches--;
    if (c->n_watches == 0)
        unsubscribe(ps, c);
    chan_maybe_free(ps, c);
}

size_t ht_pubsub_watch_count(const ht_pubsub_t *ps)
{
    return ps->n_watches;
}
