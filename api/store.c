/* The api's async Redis glue: hiredis async on the thread's libuv loop, the
 * reconnect state machine drawn in store.h (per connection), the cluster
 * routing of issue 10, and one small function per Redis command the api
 * sends.  Nothing else in api/ includes hiredis but pubsub.c, the thread's
 * subscriber connection, and redis_async.c, which opens the connections.
 *
 * A single node (redis://, unix://) is one connection, `one`; every call goes
 * there, formatted and sent by hiredis as it always was.
 *
 * A cluster (redis+cluster://) is one connection per master, each with the
 * same state machine, and a slot -> connection table built from CLUSTER
 * SLOTS (asked of any ready connection, else of the URL's seeds in turn).
 * A call goes to the master of its routing key's slot (see route()); its
 * formatted commands are kept until it is answered, so that a MOVED (the
 * slot has a new owner: remember it, refresh the map, resend there) or an
 * ASK (a migration under way: ASKING + resend there, once) can be followed
 * without the caller noticing.  READONLY or MASTERDOWN (the node is no
 * master now) drop that connection; those and CLUSTERDOWN / TRYAGAIN fail
 * the call as unavailable (503, clients retry) and mark the map stale.  The
 * map is asked for again on every tick while it is stale, incomplete, or
 * names a master we cannot reach (a failover under way), so a promoted
 * replica is found within a tick of the cluster promoting it. */
#include "api/store.h"
#include "api/redis_async.h"

#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "shared/argv.h"
#include "shared/cluster.h"
#include "shared/cluster_reply.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/store.h" /* ht_store_error_is_unavailable */

#include "api/metrics_counters.h"

/* How often the timer looks at the connection; a lost Redis is retried at
 * this pace.  A connect with no answer is abandoned after CONNECT_TIMEOUT_MS
 * (hiredis async has no connect timeout of its own, and its libuv adapter
 * ignores poll errors, so a refused or black-holed connect would otherwise
 * hang).  A reply overdue by REPLY_TIMEOUT_MS means the connection is dead
 * even if no error was seen: every command the api sends is O(1). */
#define TICK_MS            500
#define CONNECT_TIMEOUT_MS 2000
#define REPLY_TIMEOUT_MS   3000

/* Cluster: nodes one thread may know at once (masters, seeds, redirect
 * targets; when the table is full, an entry nobody needs any more is
 * reused: see node_get), and redirects one call follows before it gives
 * up (a slot moving back and forth). */
#define NODES_MAX     64
#define REDIRECTS_MAX 5
#define GROUP_MAX     4 /* commands of one call: MULTI HGETALL LRANGE EXEC */

typedef enum { ST_DOWN, ST_CONNECTING, ST_READY } state_t;

/* One connection to one Redis, with the state machine of store.h. */
typedef struct conn {
    ht_astore_t *s;
    redisAsyncContext *ac; /* NULL while down */
    state_t state;
    uint64_t state_since;   /* uv_now() when the state was entered */
    uint64_t last_progress; /* uv_now() of the last reply, or of sending into an idle pipe */
    size_t pending;         /* replies owed on this connection */
    int outage_logged;      /* one warning per outage, not one per retry */
    int wanted;             /* kept connected: the single node, a master, the seed asked */
    int port;               /* cluster: the node's address */
    char host[HT_CLUSTER_HOST_MAX];
    char name[HT_CLUSTER_HOST_MAX + 8]; /* "host:port" in log lines; "" for a single node */
} conn_t;

/* The log fields naming a cluster node, last before the NULL: for a single
 * node the NULL key ends the list there, so its lines stay as they were. */
#define NODE_FIELD(c) (c)->name[0] ? "node" : NULL, (c)->name

struct ht_astore {
    uv_loop_t *loop;
    uv_timer_t tick;
    ht_redis_url_t url;
    conn_t one;     /* the single node (unused in a cluster) */
    size_t pending; /* calls sent and not yet answered, on every connection */
    int first_reported;
    void (*on_first)(void *data, int ready);
    void *first_data;
    /* cluster only */
    int cluster;
    uint64_t born;
    conn_t *nodes[NODES_MAX];
    size_t n_nodes;
    int16_t route[HT_CLUSTER_SLOTS]; /* slot -> index in nodes; -1: no master known */
    int have_map;
    size_t uncovered; /* slots no master serves in the map */
    int stale;        /* a redirect or an error said the map changed */
    conn_t *asking;   /* the connection a CLUSTER SLOTS is in flight on */
    int slots_warned; /* one warning for a run of unreadable maps */
    int redir_warned; /* one warning for a run of redirects not followed */
    int next_seed;
};

/* ---- calls in flight -------------------------------------------------- */

typedef struct op op_t;

/* Turns the reply into the caller's callback.  `r` is NULL when err != 0. */
typedef void (*finish_fn)(op_t *op, int err, const redisReply *r);

/* The request side of a binding: lives in req->pool, points at the op. */
typedef struct {
    op_t *op; /* NULL once the op has finished */
} op_link_t;

/* Cluster: a call's commands as sent, for resending after a redirect. */
typedef struct {
    char *cmd[GROUP_MAX]; /* RESP, from redisFormatCommandArgv */
    size_t len[GROUP_MAX];
    size_t n;
    int redirects;
    int asked;       /* an ASK was followed: a second one is not */
    char *inner_err; /* the first error answered inside MULTI ... EXEC */
} resend_t;

struct op {
    ht_astore_t *s;
    conn_t *conn;    /* where it was sent */
    resend_t *rs;    /* cluster only */
    op_link_t *link; /* NULL when not bound to a request, or after dispose */
    int detached;    /* the request is gone: drop the callback */
    int own_errors;  /* error replies go to finish (with err 0): it knows them */
    const char *reqid; /* the request id current when sent (in the request's pool) */
    finish_fn finish;
    union {
        ht_astore_submit_cb submit;
        ht_astore_job_cb job;
        ht_astore_int_cb integer;
        ht_astore_strings_cb strings;
        ht_astore_job_log_cb job_log;
        ht_astore_word_cb word;
        ht_astore_list_cb list;
        ht_astore_stats_cb stats;
    } cb;
    void *data;
    char log_from[HT_LOG_ID_MAX]; /* ht_astore_job_log: the list log is cut here */
};

/* h2o disposes of the request's pool (response done, or client gone). */
static void on_link_dispose(void *p)
{
    op_link_t *link = p;
    if (link->op) {
        link->op->detached = 1;
        link->op->link = NULL;
    }
}

static void bind_to_request(op_t *op, h2o_req_t *req)
{
    op_link_t *link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_link_dispose);
    link->op = op;
    op->link = link;
}

static void resend_free(resend_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        redisFreeCommand(rs->cmd[i]);
    free(rs->inner_err);
    free(rs);
}

/* Fires the callback (unless the request is gone) and frees the op. */
static void finish_op(op_t *op, int err, const redisReply *r)
{
    if (op->link)
        op->link->op = NULL;
    if (err == HT_EREDIS)
        ht_metrics_add(HT_M_REDIS_UNAVAILABLE, 1);
    if (op->detached) {
        ht_log(HT_LOG_DEBUG, "reply dropped: its request is gone", NULL);
    } else if (op->reqid) {
        /* Log lines of the callback carry the request's id (shared/log.h). */
        char prev[HT_LOG_REQID_MAX + 1];
        snprintf(prev, sizeof(prev), "%s", ht_log_request_id() ? ht_log_request_id() : "");
        ht_log_set_request_id(op->reqid);
        op->finish(op, err, r);
        ht_log_set_request_id(prev);
    } else {
        op->finish(op, err, r);
    }
    resend_free(op->rs);
    free(op);
}

/* ---- one connection --------------------------------------------------- */

static void cluster_settle(ht_astore_t *s);
static void refresh(ht_astore_t *s);

static void report_first(ht_astore_t *s, int ready)
{
    if (s->first_reported)
        return;
    s->first_reported = 1;
    if (s->on_first)
        s->on_first(s->first_data, ready);
}

/* A connection's news for on_first: the single node's decides; a cluster's
 * are weighed together (cluster_settle). */
static void conn_settled(conn_t *c, int ready)
{
    if (c->s->cluster)
        cluster_settle(c->s);
    else
        report_first(c->s, ready);
}

static void set_state(conn_t *c, state_t st)
{
    c->state = st;
    c->state_since = uv_now(c->s->loop);
}

static void mark_down(conn_t *c, const char *why)
{
    ht_log(HT_LOG_DEBUG, "redis down", "detail", why ? why : "closed", NODE_FIELD(c), NULL);
    if (c->state == ST_READY || !c->outage_logged) {
        if (why)
            ht_log(HT_LOG_WARN, "redis unavailable", "detail", why, NODE_FIELD(c), NULL);
        c->outage_logged = 1;
    }
    set_state(c, ST_DOWN);
}

/* Closes the connection from our side; pending callbacks fire now with
 * HT_EREDIS (hiredis calls them with a NULL reply; from inside one of this
 * connection's callbacks, once it returns). */
static void drop(conn_t *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    mark_down(c, why);
    if (ac) {
        ac->data = NULL; /* tells on_connect/on_disconnect it is no longer ours */
        redisAsyncFree(ac);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    conn_t *c = ac->data;
    if (!c)
        return;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees the context when we return */
        mark_down(c, ac->errstr[0] ? ac->errstr : "connect failed");
        conn_settled(c, 0);
        return;
    }
    set_state(c, ST_READY);
    if (c->outage_logged)
        ht_log(HT_LOG_INFO, "redis connected", NODE_FIELD(c), NULL);
    c->outage_logged = 0;
    if (c->s->cluster)
        refresh(c->s); /* when one is due: this may be the first node reached */
    conn_settled(c, 1);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    conn_t *c = ac->data;
    if (!c || c->ac != ac)
        return;
    c->ac = NULL; /* hiredis frees the context when we return */
    mark_down(c, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* AUTH and SELECT answers: a refusal makes the connection useless. */
static void on_login_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    redisReply *r = reply;
    conn_t *c = ac->data;
    if (!c || !r || r->type != REDIS_REPLY_ERROR)
        return;
    ht_log(HT_LOG_ERROR, "redis refused login", "detail", r->str, NODE_FIELD(c), NULL);
    drop(c, NULL);
}

static void connect_now(conn_t *c)
{
    ht_astore_t *s = c->s;
    const ht_redis_url_t *url = &s->url;
    ht_redis_url_t node;
    if (s->cluster) { /* the URL's password, this node's address */
        node = s->url;
        snprintf(node.host, sizeof(node.host), "%s", c->host);
        node.port = c->port;
        url = &node;
    }
    const char *err = NULL;
    redisAsyncContext *ac = ht_redis_async_connect(url, s->loop, c, 1, on_login_reply, &err);
    if (!ac) {
        mark_down(c, err);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    set_state(c, ST_CONNECTING);
    ht_log(HT_LOG_DEBUG, "redis connecting", NODE_FIELD(c), NULL);
}

/* The error pending on the connection's socket, 0 when none.  hiredis'
 * libuv adapter ignores poll errors (libuv reports a refused connect or a
 * reset connection as a poll error and stops the handle), so hiredis never
 * learns of them; this is how we do. */
static int socket_error(const conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (!c->ac || c->ac->c.fd < 0)
        return 0;
    if (getsockopt(c->ac->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

static void conn_tick(conn_t *c)
{
    uint64_t now = uv_now(c->s->loop);
    int err = c->state == ST_DOWN ? 0 : socket_error(c);
    if (err)
        drop(c, strerror(err)); /* and retry at once, below */
    switch (c->state) {
    case ST_DOWN:
        conn_settled(c, 0);
        if (c->wanted)
            connect_now(c);
        break;
    case ST_CONNECTING:
        if (now - c->state_since >= CONNECT_TIMEOUT_MS) {
            drop(c, "connect timed out");
            conn_settled(c, 0);
        }
        break;
    case ST_READY:
        if (c->pending > 0 && now - c->last_progress >= REPLY_TIMEOUT_MS) {
            /* libuv runs timers before it polls: after a loop iteration
             * longer than the timeout (a burst of thousands of requests),
             * the replies may be sitting unread in the socket.  Read them
             * first; only silence after that means a dead connection. */
            redisAsyncHandleRead(c->ac);
            if (c->state == ST_READY && c->pending > 0 &&
                uv_now(c->s->loop) - c->last_progress >= REPLY_TIMEOUT_MS)
                drop(c, "reply overdue: connection presumed dead");
        } else if (!c->wanted && c->pending == 0) {
            /* A cluster node that is no master now (or a seed done with). */
            c->outage_logged = 1;
            drop(c, NULL);
        }
        break;
    }
}

static void conn_init(conn_t *c, ht_astore_t *s)
{
    c->s = s;
    c->wanted = 1;
    set_state(c, ST_DOWN);
}

/* ---- cluster: nodes and the slot map ---------------------------------- */

/* An entry of a full node table that nothing needs: not wanted, down, no
 * reply owed, no CLUSTER SLOTS in flight, no slot routed to it (over many
 * failovers and reshardings, old addresses pile up).  NULL when none. */
static conn_t *node_unused(ht_astore_t *s)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        conn_t *c = s->nodes[i];
        if (c->wanted || c->state != ST_DOWN || c->ac || c->pending > 0 || s->asking == c)
            continue;
        size_t slot = 0;
        while (slot < HT_CLUSTER_SLOTS && s->route[slot] != (int16_t)i)
            slot++;
        if (slot == HT_CLUSTER_SLOTS)
            return c;
    }
    return NULL;
}

/* The connection to host:port, made (down, not wanted) when new; NULL when
 * NODES_MAX are in use or out of memory. */
static conn_t *node_get(ht_astore_t *s, const char *host, int port)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (s->nodes[i]->port == port && strcmp(s->nodes[i]->host, host) == 0)
            return s->nodes[i];
    }
    /* A copy: `host` may be the very entry reused below. */
    char addr[HT_CLUSTER_HOST_MAX];
    size_t len = strlen(host);
    if (len >= sizeof(addr))
        return NULL;
    memcpy(addr, host, len + 1);
    conn_t *c = NULL;
    if (s->n_nodes < NODES_MAX) {
        if (!(c = calloc(1, sizeof(*c))))
            return NULL;
        s->nodes[s->n_nodes++] = c;
    } else if ((c = node_unused(s))) {
        memset(c, 0, sizeof(*c)); /* same index: route[] never names it */
    } else {
        return NULL;
    }
    conn_init(c, s);
    c->wanted = 0;
    memcpy(c->host, addr, len + 1);
    c->port = port;
    snprintf(c->name, sizeof(c->name), "%s:%d", addr, port);
    return c;
}

static int16_t node_index(const ht_astore_t *s, const conn_t *c)
{
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (s->nodes[i] == c)
            return (int16_t)i;
    }
    return -1;
}

/* A ready connection to some master (keyless calls, CLUSTER SLOTS). */
static conn_t *any_ready(ht_astore_t *s)
{
    conn_t *other = NULL;
    for (size_t i = 0; i < s->n_nodes; i++) {
        conn_t *c = s->nodes[i];
        if (c->state == ST_READY && c->wanted)
            return c;
        if (c->state == ST_READY && !other)
            other = c;
    }
    return other;
}

/* The thread may serve once the map is known and every master reached or
 * given up on, or after CONNECT_TIMEOUT_MS whatever the state. */
static void cluster_settle(ht_astore_t *s)
{
    if (s->first_reported)
        return;
    int settled = s->have_map;
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (s->nodes[i]->wanted && s->nodes[i]->state == ST_CONNECTING)
            settled = 0;
    }
    if (settled || uv_now(s->loop) - s->born >= CONNECT_TIMEOUT_MS)
        report_first(s, ht_astore_ready(s));
}

/* The map of a CLUSTER SLOTS reply becomes the routing table; its masters
 * are the connections kept (the others close once idle). */
static void apply_map(ht_astore_t *s, const ht_cluster_map_t *map)
{
    int16_t idx[NODES_MAX];
    size_t n = map->n_nodes < NODES_MAX ? map->n_nodes : NODES_MAX;
    for (size_t i = 0; i < s->n_nodes; i++)
        s->nodes[i]->wanted = 0;
    for (size_t i = 0; i < n; i++) {
        conn_t *c = node_get(s, map->nodes[i].host, map->nodes[i].port);
        idx[i] = c ? node_index(s, c) : -1;
        if (c)
            c->wanted = 1;
    }
    int changed = !s->have_map;
    s->uncovered = 0;
    for (size_t slot = 0; slot < HT_CLUSTER_SLOTS; slot++) {
        int16_t o = map->owner[slot];
        int16_t to = o >= 0 && (size_t)o < n ? idx[o] : -1;
        changed |= s->route[slot] != to;
        s->route[slot] = to;
        s->uncovered += to < 0;
    }
    s->have_map = 1;
    s->stale = 0;
    if (changed) {
        char masters[16], uncovered[16];
        snprintf(masters, sizeof(masters), "%zu", n);
        snprintf(uncovered, sizeof(uncovered), "%zu", s->uncovered);
        ht_log(HT_LOG_INFO, "cluster slot map", "masters", masters, "uncovered_slots", uncovered,
               NULL);
    }
    for (size_t i = 0; i < s->n_nodes; i++) {
        if (s->nodes[i]->wanted && s->nodes[i]->state == ST_DOWN)
            connect_now(s->nodes[i]); /* a new master: no need to wait for the tick */
    }
    cluster_settle(s);
}

static void on_slots(redisAsyncContext *ac, void *reply, void *privdata)
{
    conn_t *c = privdata;
    ht_astore_t *s = c->s;
    const redisReply *r = reply;
    c->pending--;
    c->last_progress = uv_now(s->loop);
    if (s->asking == c)
        s->asking = NULL;
    if (!r) {
        if (c->ac == ac) {
            c->ac = NULL;
            mark_down(c, ac->errstr[0] ? ac->errstr : "connection lost");
        }
        return; /* asked again on the next tick */
    }
    ht_cluster_map_t map;
    int rc = r->type == REDIS_REPLY_ERROR ? HT_EPROTO : ht_cluster_map_from_reply(&map, r, c->host);
    if (rc < 0) {
        if (!s->slots_warned)
            ht_log(HT_LOG_WARN, "cluster slot map unreadable", "detail",
                   r->type == REDIS_REPLY_ERROR ? r->str : ht_strerror(rc), NODE_FIELD(c), NULL);
        s->slots_warned = 1;
        return;
    }
    s->slots_warned = 0;
    apply_map(s, &map);
    ht_cluster_map_clear(&map);
}

/* Asks for the slot map when it is due: missing, incomplete, said stale, or
 * naming a master we cannot reach.  One request at a time, on any ready
 * connection; with none, the URL's seeds are tried in turn, one more on
 * each call (each tick) until one answers. */
static void refresh(ht_astore_t *s)
{
    int due = !s->have_map || s->uncovered > 0 || s->stale;
    for (size_t i = 0; i < s->n_nodes && !due; i++)
        due = s->nodes[i]->wanted && s->nodes[i]->state != ST_READY;
    if (!due || s->asking)
        return;
    conn_t *c = any_ready(s);
    if (!c) {
        int i = s->next_seed;
        s->next_seed = (i + 1) % s->url.n_seeds;
        conn_t *seed = node_get(s, s->url.seeds[i].host, s->url.seeds[i].port);
        if (seed) {
            seed->wanted = 1;
            if (seed->state == ST_DOWN)
                connect_now(seed);
        }
        return;
    }
    if (redisAsyncCommand(c->ac, on_slots, c, "CLUSTER SLOTS") != REDIS_OK)
        return;
    s->asking = c;
    if (c->pending++ == 0)
        c->last_progress = uv_now(s->loop);
}

/* ---- the store -------------------------------------------------------- */

static void on_tick(uv_timer_t *timer)
{
    ht_astore_t *s = timer->data;
    if (!s->cluster) {
        conn_tick(&s->one);
        return;
    }
    for (size_t i = 0; i < s->n_nodes; i++)
        conn_tick(s->nodes[i]);
    refresh(s);
    cluster_settle(s);
}

int ht_astore_new(ht_astore_t **out, uv_loop_t *loop, const ht_redis_url_t *url,
                  void (*on_first)(void *data, int ready), void *data)
{
    *out = NULL;
    if (url->kind == HT_REDIS_CLUSTER && url->n_seeds < 1)
        return HT_EINVAL;
    ht_astore_t *s = calloc(1, sizeof(*s));
    if (!s)
        return HT_ENOMEM;
    s->loop = loop;
    s->url = *url;
    s->on_first = on_first;
    s->first_data = data;
    s->cluster = url->kind == HT_REDIS_CLUSTER;
    s->born = uv_now(loop);
    memset(s->route, 0xff, sizeof(s->route)); /* -1 everywhere */
    conn_init(&s->one, s);
    uv_timer_init(loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    *out = s;
    if (s->cluster)
        refresh(s); /* connects to the first seed */
    else
        connect_now(&s->one);
    return 0;
}

static void on_tick_closed(uv_handle_t *h)
{
    ht_astore_t *s = h->data;
    for (size_t i = 0; i < s->n_nodes; i++)
        free(s->nodes[i]);
    free(s);
}

void ht_astore_close(ht_astore_t *s)
{
    if (!s)
        return;
    /* A deliberate close is not an outage to report. */
    if (!s->cluster) {
        s->one.outage_logged = 1;
        drop(&s->one, NULL);
    }
    for (size_t i = 0; i < s->n_nodes; i++) {
        s->nodes[i]->outage_logged = 1;
        s->nodes[i]->wanted = 0;
        drop(s->nodes[i], NULL);
    }
    uv_timer_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, on_tick_closed);
}

int ht_astore_ready(const ht_astore_t *s)
{
    if (s->cluster)
        return s->have_map && s->uncovered == 0;
    return s->one.state == ST_READY;
}

size_t ht_astore_pending(const ht_astore_t *s)
{
    return s->pending;
}

/* ---- sending ---------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void on_inner_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* `op` is now in flight on `c`. */
static void count_sent(conn_t *c, op_t *op)
{
    op->conn = c;
    c->s->pending++;
    if (c->pending++ == 0)
        c->last_progress = uv_now(c->s->loop);
}

/* Single node: the n commands of `a` back to back, the last one's reply to
 * on_reply (the others' are dropped: MULTI ... EXEC). */
static int send_argv(conn_t *c, op_t *op, ht_argv_t *a, size_t n)
{
    if (c->state != ST_READY || !c->ac)
        return HT_EREDIS;
    for (size_t i = 0; i < n; i++) {
        redisCallbackFn *fn = i + 1 == n ? on_reply : NULL;
        if (redisAsyncCommandArgv(c->ac, fn, fn ? op : NULL, (int)a[i].n, a[i].v, a[i].len) !=
            REDIS_OK)
            return HT_EREDIS; /* only while hiredis is closing the connection */
    }
    count_sent(c, op);
    return 0;
}

/* Cluster: the op's kept commands to `c` (after ASKING when `asking`).
 * The replies before the last go to on_inner_reply, which notes an error
 * (a redirect inside MULTI shows only as EXECABORT on EXEC).  A redirect
 * target still connecting (`connecting_ok`) takes them too: hiredis queues
 * them until connected, and a connect that fails or times out fails them
 * (HT_EREDIS) as a lost connection would. */
static int send_kept(conn_t *c, op_t *op, int asking, int connecting_ok)
{
    resend_t *rs = op->rs;
    if (!c || !c->ac || !(c->state == ST_READY || (connecting_ok && c->state == ST_CONNECTING)))
        return HT_EREDIS;
    if (asking && redisAsyncCommand(c->ac, NULL, NULL, "ASKING") != REDIS_OK)
        return HT_EREDIS;
    for (size_t i = 0; i < rs->n; i++) {
        redisCallbackFn *fn = i + 1 == rs->n ? on_reply : on_inner_reply;
        if (redisAsyncFormattedCommand(c->ac, fn, op, rs->cmd[i], rs->len[i]) != REDIS_OK)
            return HT_EREDIS;
    }
    count_sent(c, op);
    return 0;
}

static int arg_is(const ht_argv_t *a, size_t i, const char *word)
{
    return i < a->n && a->len[i] == strlen(word) && strncasecmp(a->v[i], word, a->len[i]) == 0;
}

/* The master a call goes to (the routing rule of issue 10, shared with the
 * blocking client: ht_cluster_key_index), MULTI ... EXEC by the first command
 * inside; a keyless one goes to any ready master.  NULL when the slot has
 * no known master. */
static conn_t *route(ht_astore_t *s, const ht_argv_t *a, size_t n)
{
    const ht_argv_t *cmd = n > 1 && arg_is(&a[0], 0, "MULTI") ? &a[1] : &a[0];
    int k = ht_cluster_key_index(cmd->n, cmd->v, cmd->len);
    if (k < 0)
        return any_ready(s);
    int16_t i = s->route[ht_cluster_keyslot(cmd->v[k], cmd->len[k])];
    return i < 0 ? NULL : s->nodes[i];
}

/* Cluster: keeps the commands for resending, routes, sends. */
static int send_routed(ht_astore_t *s, op_t *op, ht_argv_t *a, size_t n)
{
    if (n > GROUP_MAX)
        return HT_EINVAL; /* a caller's bug, not a lack of memory */
    if (!(op->rs = calloc(1, sizeof(*op->rs))))
        return HT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int len = redisFormatCommandArgv(&op->rs->cmd[i], (int)a[i].n, a[i].v, a[i].len);
        if (len < 0)
            return HT_ENOMEM;
        op->rs->len[i] = (size_t)len;
        op->rs->n = i + 1;
    }
    conn_t *c = route(s, a, n);
    int err = send_kept(c, op, 0, 0);
    if (err && s->have_map)
        s->stale = 1; /* a master we cannot reach: maybe no master now */
    return err;
}

static void clear_all(ht_argv_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ht_argv_clear(&a[i]);
}

/* Sends the n commands of `a` (cleared here) back to back and arranges for
 * `proto`'s callback to fire exactly once, with the reply of the last one
 * (the others' replies are dropped: used for MULTI ... EXEC). */
static void send_calls(ht_astore_t *s, h2o_req_t *req, ht_argv_t *a, size_t n, const op_t *proto)
{
    op_t *op = malloc(sizeof(*op));
    if (!op) {
        op_t tmp = *proto;
        clear_all(a, n);
        tmp.finish(&tmp, HT_ENOMEM, NULL);
        return;
    }
    *op = *proto;
    op->s = s;
    op->conn = NULL;
    op->rs = NULL;
    op->link = NULL;
    op->detached = 0;
    op->reqid = req && ht_log_request_id()
                    ? h2o_strdup(&req->pool, ht_log_request_id(), SIZE_MAX).base
                    : NULL;
    int err = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i].overflow)
            err = HT_EINVAL;
    }
    if (!err)
        err = s->cluster ? send_routed(s, op, a, n) : send_argv(&s->one, op, a, n);
    clear_all(a, n);
    if (err) {
        finish_op(op, err, NULL);
        return;
    }
    if (req)
        bind_to_request(op, req);
}

/* Sends one command (see send_calls). */
static void send_call(ht_astore_t *s, h2o_req_t *req, ht_argv_t *a, const op_t *proto)
{
    send_calls(s, req, a, 1, proto);
}

/* ---- cluster replies: redirects and lost masters ---------------------- */

static void on_inner_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    const redisReply *r = reply;
    op_t *op = privdata;
    if (r && r->type == REDIS_REPLY_ERROR && !op->rs->inner_err)
        op->rs->inner_err = strdup(r->str); /* NULL when out of memory: EXECABORT then */
}

/* Follows a MOVED or ASK: resends the op to the node named.  The op is
 * finished (HT_EREDIS) when that is not possible now. */
static void follow(op_t *op, const ht_redirect_t *rd)
{
    ht_astore_t *s = op->s;
    resend_t *rs = op->rs;
    int ask = rd->kind == HT_REDIRECT_ASK;
    conn_t *to = node_get(s, rd->host[0] ? rd->host : op->conn->host, rd->port);
    int err = HT_EREDIS;
    free(rs->inner_err);
    rs->inner_err = NULL;
    if (!ask) {
        /* The slot is elsewhere for good: route there from now on. */
        s->stale = 1;
        if (to && rd->slot < HT_CLUSTER_SLOTS) {
            to->wanted = 1;
            s->route[rd->slot] = node_index(s, to);
        }
    }
    if (++rs->redirects <= REDIRECTS_MAX && !(ask && rs->asked)) {
        rs->asked |= ask;
        /* A node new to us (an ASK target is no master of the map, so no
         * tick connects it): connect now, the resend queues behind it. */
        if (to && to->state == ST_DOWN)
            connect_now(to);
        err = send_kept(to, op, ask, 1);
        ht_log(HT_LOG_DEBUG, ask ? "redis ASK followed" : "redis MOVED followed", "in",
               rs->n > 1 ? "MULTI" : "command", "node", to ? to->name : "?", NULL);
    }
    if (err) {
        /* One warning for a run of them (a node down in a failover would
         * otherwise log one per request), like outage_logged. */
        ht_log(s->redir_warned ? HT_LOG_DEBUG : HT_LOG_WARN, "redis cluster redirect not followed",
               "detail", to ? to->name : "too many nodes", NULL);
        s->redir_warned = 1;
        finish_op(op, err, NULL);
    } else {
        s->redir_warned = 0;
    }
    if (!ask)
        refresh(s);
}

/* A cluster op's error reply (or the one inside its MULTI).  Returns 1 when
 * it took care of the op (resent or finished), 0 to let on_reply judge the
 * reply as for a single node. */
static int cluster_reply(op_t *op, const redisReply *r)
{
    ht_astore_t *s = op->s;
    const char *err = op->rs->inner_err ? op->rs->inner_err
                      : r->type == REDIS_REPLY_ERROR ? r->str
                                                     : NULL;
    ht_redirect_t rd;
    if (!err)
        return 0;
    if (ht_cluster_parse_redirect(err, strlen(err), &rd) != HT_REDIRECT_NONE) {
        follow(op, &rd);
        return 1;
    }
    if (!ht_store_error_is_unavailable(err) && !op->rs->inner_err)
        return 0;
    /* A node answering READONLY or MASTERDOWN is no master now: drop it
     * (its other calls fail too, as they would).  CLUSTERDOWN and TRYAGAIN
     * say nothing against the connection; OOM, LOADING, ... nothing against
     * the map either (no CLUSTER SLOTS after every reply of a full Redis). */
    ht_cluster_err_action_t act = ht_cluster_error_action(err);
    if (act != HT_CLUSTER_ERR_NONE) {
        s->stale = 1;
        if (act == HT_CLUSTER_ERR_DROP)
            drop(op->conn, err);
        refresh(s);
    }
    if (!op->rs->inner_err)
        return 0; /* on_reply logs it and answers unavailable */
    ht_log(HT_LOG_WARN, "redis error inside a transaction", "detail", err, NULL);
    if (!ht_store_error_is_unavailable(err))
        ht_metrics_add(HT_M_REDIS_ERROR_REPLY, 1); /* as on_reply counts EXECABORT */
    finish_op(op, ht_store_error_is_unavailable(err) ? HT_EREDIS : HT_EPROTO, NULL);
    return 1;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    op_t *op = privdata;
    conn_t *c = op->conn;
    ht_astore_t *s = op->s;
    redisReply *r = reply;
    c->pending--;
    s->pending--;
    c->last_progress = uv_now(s->loop);
    if (!r) {
        /* The connection is going away (hiredis fails what is pending). */
        if (c->ac == ac) {
            c->ac = NULL;
            mark_down(c, ac->errstr[0] ? ac->errstr : "connection lost");
        }
        finish_op(op, HT_EREDIS, NULL);
        return;
    }
    if (op->rs && cluster_reply(op, r))
        return;
    /* Redis full (noeviction), unable to persist, still loading its data
     * after a restart, ...: unavailable for now, a 503 with Retry-After. */
    if (r->type == REDIS_REPLY_ERROR && ht_store_error_is_unavailable(r->str)) {
        ht_log(HT_LOG_WARN, "redis unavailable for now", "detail", r->str, NULL);
        finish_op(op, HT_EREDIS, NULL); /* counted there, as unavailable */
        return;
    }
    if (r->type == REDIS_REPLY_ERROR && op->own_errors) {
        finish_op(op, 0, r);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* Expected refusals (EXISTS) are decided by the finish function;
         * anything else is a bug or a keyspace problem worth a log line. */
        if (strncmp(r->str, "EXISTS", 6) == 0) {
            finish_op(op, HT_EEXIST, NULL);
            return;
        }
        ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
        ht_metrics_add(HT_M_REDIS_ERROR_REPLY, 1);
        finish_op(op, HT_EPROTO, NULL);
        return;
    }
    finish_op(op, 0, r);
}

/* ---- replies into callbacks ------------------------------------------- */

static int reply_ll(const redisReply *r, long long *out)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }
    if (r->type == REDIS_REPLY_STRING) {
        char *end;
        long long v = strtoll(r->str, &end, 10);
        if (end == r->str || *end != '\0')
            return HT_EPROTO;
        *out = v;
        return 0;
    }
    return HT_EPROTO;
}

/* ht_submit answers {version, created_at, status, id, replayed}, or an
 * error: IDEMMISMATCH (the key was used with another body) or EXISTS (the
 * id is taken: a bug or a broken random source, never expected). */
static void finish_submit(op_t *op, int err, const redisReply *r)
{
    ht_astore_submitted_t res;
    long long version = 0, created_at = 0, replayed = 0;
    memset(&res, 0, sizeof(res));
    if (!err && r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "IDEMMISMATCH", 12) == 0) {
            err = HT_EEXIST;
        } else {
            ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
            err = HT_EPROTO;
        }
    } else if (!err) {
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
            reply_ll(r->element[4], &replayed) < 0 || r->element[3]->type != REDIS_REPLY_STRING)
            err = HT_EPROTO;
        else if (!replayed && (reply_ll(r->element[0], &version) < 0 ||
                               reply_ll(r->element[1], &created_at) < 0 ||
                               r->element[2]->type != REDIS_REPLY_STRING ||
                               ht_job_status_parse(r->element[2]->str, &res.status) < 0))
            err = HT_EPROTO;
    }
    if (!err) {
        res.replayed = replayed != 0;
        res.id = r->element[3]->str;
        res.version = (uint64_t)version;
        res.created_at = created_at;
    }
    op->cb.submit(op->data, err, err ? NULL : &res);
}

void ht_astore_submit(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                      const char *tenant, const ht_job_request_t *jr, const char *payload_json,
                      const char *metadata_json, const ht_astore_submit_opts_t *opts,
                      ht_astore_submit_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_submit", 3, 0);
    ht_argv_add(&a, jobkey);
    ht_argv_add(&a, k->wait[jr->priority]);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, id);
    ht_argv_add(&a, k->channel);
    ht_argv_addf(&a, "%lld", (long long)opts->run_at_ms);
    ht_argv_add(&a, opts->idem_key ? opts->idem_key : "");
    ht_argv_add(&a, opts->idem_key && opts->idem_hash ? opts->idem_hash : "");
    ht_argv_add(&a, "type");
    ht_argv_add(&a, jr->type);
    ht_argv_add(&a, "queue");
    ht_argv_add(&a, k->queue);
    ht_argv_add(&a, "tenant");
    ht_argv_add(&a, tenant);
    ht_argv_add(&a, "priority");
    ht_argv_add(&a, ht_priority_name(jr->priority));
    ht_argv_add(&a, "payload");
    ht_argv_add(&a, payload_json);
    if (metadata_json) {
        ht_argv_add(&a, "metadata");
        ht_argv_add(&a, metadata_json);
    }
    ht_argv_add(&a, "max_attempts");
    ht_argv_addf(&a, "%d", jr->max_attempts);
    ht_argv_add(&a, "timeout_s");
    ht_argv_addf(&a, "%ld", jr->timeout_s);
    ht_argv_add(&a, "ttl_s");
    ht_argv_addf(&a, "%ld", jr->ttl_s);
    ht_argv_add(&a, "failed_ttl_s");
    ht_argv_addf(&a, "%ld", opts->failed_ttl_s);
    if (jr->callback_url) {
        ht_argv_add(&a, "callback_url");
        ht_argv_add(&a, jr->callback_url);
    }
    if (opts->input) {
        ht_argv_add(&a, "input");
        ht_argv_add(&a, opts->input);
    }
    op_t proto = {.finish = finish_submit, .cb.submit = cb, .data = data, .own_errors = 1};
    send_call(s, req, &a, &proto);
}

/* An HGETALL reply into `job` (which the caller clears either way). */
static int job_from_reply(const redisReply *r, ht_job_t *job)
{
    const char **strs = NULL;
    size_t *lens = NULL;
    int err = 0;
    memset(job, 0, sizeof(*job));
    if (r->type != REDIS_REPLY_ARRAY)
        return HT_EPROTO;
    if (r->elements == 0)
        return HT_ENOTFOUND; /* HGETALL of a missing key: never stored, or expired */
    strs = calloc(r->elements, sizeof(*strs));
    lens = calloc(r->elements, sizeof(*lens));
    if (!strs || !lens)
        err = HT_ENOMEM;
    for (size_t i = 0; !err && i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            err = HT_EPROTO;
            break;
        }
        strs[i] = r->element[i]->str;
        lens[i] = r->element[i]->len;
    }
    if (!err && ht_job_from_hash(job, r->elements, strs, lens) < 0) {
        ht_log(HT_LOG_ERROR, "stored job is malformed", NULL);
        err = HT_EPROTO;
    }
    free(strs);
    free(lens);
    return err;
}

static void finish_job(op_t *op, int err, const redisReply *r)
{
    ht_job_t job;
    memset(&job, 0, sizeof(job));
    if (!err)
        err = job_from_reply(r, &job);
    op->cb.job(op->data, err, err ? NULL : &job);
    ht_job_clear(&job);
}

void ht_astore_get(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                   ht_astore_job_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGETALL");
    ht_argv_add(&a, jobkey);
    op_t proto = {.finish = finish_job, .cb.job = cb, .data = data};
    send_call(s, req, &a, &proto);
}

/* An LRANGE of the list log (0008) into a malloc'd array: the entries
 * from log id `from` on (inclusive; all when NULL, which LRANGE already
 * cut to the newest), unreadable ones skipped with a log line. */
static int list_log_from_reply(const redisReply *r, const char *from, ht_log_entry_t **out,
                               size_t *n)
{
    *out = NULL;
    *n = 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return HT_EPROTO;
    if (r->elements == 0)
        return 0;
    ht_log_entry_t *es = calloc(r->elements, sizeof(*es));
    if (!es)
        return HT_ENOMEM;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || ht_log_entry_parse_compact(&es[*n], e->str) < 0)
            ht_log(HT_LOG_WARN, "unreadable job log entry skipped", NULL);
        else if (!from || ht_log_id_cmp(es[*n].id, from) >= 0)
            (*n)++;
    }
    *out = es;
    return 0;
}

/* EXEC answers [HGETALL reply, LRANGE reply].  0007's stream log is not
 * read: a job changed last before migration 0008 has an empty list, so its
 * stream shows as its current document (see ht_astore_job_log). */
static void finish_job_log(op_t *op, int err, const redisReply *r)
{
    ht_job_t job;
    ht_log_entry_t *entries = NULL;
    size_t n = 0;
    memset(&job, 0, sizeof(job));
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                 r->element[1]->type != REDIS_REPLY_ARRAY))
        err = HT_EPROTO; /* nil: the transaction was aborted */
    if (!err)
        err = job_from_reply(r->element[0], &job);
    if (!err)
        err = list_log_from_reply(r->element[1], op->log_from[0] ? op->log_from : NULL,
                                  &entries, &n);
    op->cb.job_log(op->data, err, err ? NULL : &job, err ? 0 : n, err ? NULL : entries);
    ht_job_clear(&job);
    free(entries);
}

void ht_astore_job_log(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                       const char *from, ht_astore_job_log_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX], listkey[HT_KEY_MAX + 8];
    ht_keys_job(k, id, jobkey);
    snprintf(listkey, sizeof(listkey), "%s:ev", jobkey);
    ht_argv_t a[4];
    for (size_t i = 0; i < 4; i++)
        ht_argv_init(&a[i]);
    ht_argv_add(&a[0], "MULTI");
    ht_argv_add(&a[1], "HGETALL");
    ht_argv_add(&a[1], jobkey);
    /* The whole list (at most ~100 short entries, filtered on arrival) or
     * its newest entry.  No fallback read of 0007's stream "<job>:log" in
     * the same transaction: on a cluster whose slot is migrating, a
     * transaction naming a key that exists nowhere is refused (TRYAGAIN). */
    ht_argv_add(&a[2], "LRANGE");
    ht_argv_add(&a[2], listkey);
    ht_argv_add(&a[2], from ? "0" : "-1");
    ht_argv_add(&a[2], "-1");
    ht_argv_add(&a[3], "EXEC");
    op_t proto = {.finish = finish_job_log, .cb.job_log = cb, .data = data};
    snprintf(proto.log_from, sizeof(proto.log_from), "%s", from ? from : "");
    send_calls(s, req, a, 4, &proto);
}

/* Integer or numeric-string replies; nil counts as 0 (an unset version). */
static void finish_int(op_t *op, int err, const redisReply *r)
{
    long long v = 0;
    if (!err && r->type != REDIS_REPLY_NIL && reply_ll(r, &v) < 0)
        err = HT_EPROTO;
    op->cb.integer(op->data, err, err ? 0 : v);
}

void ht_astore_schema_version(ht_astore_t *s, h2o_req_t *req, ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGET");
    ht_argv_add(&a, HT_KEY_SCHEMA);
    ht_argv_add(&a, "version");
    op_t proto = {.finish = finish_int, .cb.integer = cb, .data = data};
    send_call(s, req, &a, &proto);
}

void ht_astore_rate(ht_astore_t *s, h2o_req_t *req, const char *rate_key, double per_s,
                    long burst, ht_astore_int_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_rate", 1, 0);
    ht_argv_add(&a, rate_key);
    ht_argv_addf(&a, "%.6g", per_s);
    ht_argv_addf(&a, "%ld", burst);
    op_t proto = {.finish = finish_int, .cb.integer = cb, .data = data};
    send_call(s, req, &a, &proto);
}

void ht_astore_type_exists(ht_astore_t *s, h2o_req_t *req, const char *type, ht_astore_int_cb cb,
                           void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HEXISTS");
    ht_argv_add(&a, HT_KEY_TYPES);
    ht_argv_add(&a, type);
    op_t proto = {.finish = finish_int, .cb.integer = cb, .data = data};
    send_call(s, req, &a, &proto);
}

static void finish_strings(op_t *op, int err, const redisReply *r)
{
    const char **strs = NULL;
    size_t n = 0;
    if (!err && r->type != REDIS_REPLY_ARRAY)
        err = HT_EPROTO;
    if (!err && r->elements > 0 && !(strs = calloc(r->elements, sizeof(*strs))))
        err = HT_ENOMEM;
    for (size_t i = 0; !err && i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            err = HT_EPROTO;
            break;
        }
        strs[n++] = r->element[i]->str;
    }
    op->cb.strings(op->data, err, err ? 0 : n, err ? NULL : strs);
    free(strs);
}

void ht_astore_types(ht_astore_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HKEYS");
    ht_argv_add(&a, HT_KEY_TYPES);
    op_t proto = {.finish = finish_strings, .cb.strings = cb, .data = data};
    send_call(s, req, &a, &proto);
}

/* ---- lifecycle: cancel, retry, listing, statistics -------------------- */

/* A status word; nil is "no such job". */
static void finish_word(op_t *op, int err, const redisReply *r)
{
    if (!err && r->type == REDIS_REPLY_NIL)
        err = HT_ENOTFOUND;
    else if (!err && r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
        err = HT_EPROTO;
    op->cb.word(op->data, err, err ? NULL : r->str);
}

void ht_astore_cancel(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                      const char *tenant, ht_astore_word_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_cancel", 1, 0);
    ht_argv_add(&a, jobkey);
    ht_argv_add(&a, id);
    ht_argv_add(&a, k->channel);
    ht_argv_add(&a, k->cancel_channel);
    ht_argv_add(&a, tenant);
    op_t proto = {.finish = finish_word, .cb.word = cb, .data = data};
    send_call(s, req, &a, &proto);
}

void ht_astore_retry(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                     const char *tenant, ht_astore_word_cb cb, void *data)
{
    char jobkey[HT_KEY_MAX];
    ht_keys_job(k, id, jobkey);
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_retry", 2, 0);
    ht_argv_add(&a, jobkey);
    ht_argv_add(&a, k->signal);
    ht_argv_add(&a, id);
    ht_argv_add(&a, k->channel);
    ht_argv_add(&a, tenant);
    op_t proto = {.finish = finish_word, .cb.word = cb, .data = data};
    send_call(s, req, &a, &proto);
}

/* ht_list answers {next cursor, job, job, ...}, each job a flat HGETALL
 * array, or a BADCURSOR error. */
static void finish_list(op_t *op, int err, const redisReply *r)
{
    ht_job_t *jobs = NULL;
    size_t n = 0;
    if (!err && r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "BADCURSOR", 9) == 0) {
            err = HT_EINVAL;
        } else {
            ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
            err = HT_EPROTO;
        }
    } else if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
                        r->element[0]->type != REDIS_REPLY_STRING)) {
        err = HT_EPROTO;
    }
    if (!err && r->elements > 1 && !(jobs = calloc(r->elements - 1, sizeof(*jobs))))
        err = HT_ENOMEM;
    for (size_t i = 1; !err && i < r->elements; i++) {
        int rc = job_from_reply(r->element[i], &jobs[n]);
        if (rc == 0) {
            n++;
        } else {
            ht_job_clear(&jobs[n]);
            ht_log(HT_LOG_WARN, "unreadable job skipped in a listing", "detail", ht_strerror(rc),
                   NULL);
        }
    }
    op->cb.list(op->data, err, err ? NULL : r->element[0]->str, err ? 0 : n, err ? NULL : jobs);
    for (size_t i = 0; i < n; i++)
        ht_job_clear(&jobs[i]);
    free(jobs);
}

void ht_astore_list(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *index,
                    int limit, const char *cursor, const char *type, ht_astore_list_cb cb,
                    void *data)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_list", 1, 1);
    ht_argv_add(&a, index);
    ht_argv_add(&a, k->base);
    ht_argv_addf(&a, "%d", limit);
    ht_argv_add(&a, cursor ? cursor : "");
    ht_argv_add(&a, type ? type : "");
    op_t proto = {.finish = finish_list, .cb.list = cb, .data = data, .own_errors = 1};
    send_call(s, req, &a, &proto);
}

/* ht_queue_stats answers a flat name, value array. */
static void finish_stats(op_t *op, int err, const redisReply *r)
{
    const char **names = NULL;
    long long *values = NULL;
    size_t n = 0;
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0))
        err = HT_EPROTO;
    if (!err && r->elements > 0 &&
        (!(names = calloc(r->elements / 2, sizeof(*names))) ||
         !(values = calloc(r->elements / 2, sizeof(*values)))))
        err = HT_ENOMEM;
    for (size_t i = 0; !err && i + 1 < r->elements; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING || reply_ll(r->element[i + 1], &values[n]))
            err = HT_EPROTO;
        else
            names[n++] = r->element[i]->str;
    }
    op->cb.stats(op->data, err, err ? 0 : n, err ? NULL : names, err ? NULL : values);
    free(names);
    free(values);
}

void ht_astore_queue_stats(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k,
                           const char *tenant, ht_astore_stats_cb cb, void *data)
{
    char prefix[HT_KEY_MAX];
    if (ht_keys_tenant(k, tenant, NULL, prefix) < 0) {
        cb(data, HT_EINVAL, 0, NULL, NULL);
        return;
    }
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_queue_stats", 3, 1);
    ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
    ht_argv_add(&a, prefix);
    op_t proto = {.finish = finish_stats, .cb.stats = cb, .data = data};
    send_call(s, req, &a, &proto);
}

void ht_astore_metrics(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k,
                       ht_astore_stats_cb cb, void *data)
{
    static const char *const own[] = {"metrics", "hist:wait", "hist:run"};
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_metrics", 9, 1);
    ht_argv_add(&a, k->wait[HT_PRIO_HIGH]);
    ht_argv_add(&a, k->wait[HT_PRIO_DEFAULT]);
    ht_argv_add(&a, k->wait[HT_PRIO_LOW]);
    ht_argv_add(&a, k->scheduled);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->tenants);
    for (size_t i = 0; i < 3; i++)
        ht_argv_addf(&a, "%s%s", k->base, own[i]);
    ht_argv_add(&a, k->base);
    op_t proto = {.finish = finish_stats, .cb.stats = cb, .data = data};
    send_call(s, req, &a, &proto);
}
