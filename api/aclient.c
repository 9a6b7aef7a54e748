/* The api's Redis command client (see aclient.h): calls in flight and their
 * binding to requests, the single node, and the cluster's node table, slot
 * map and redirects.  Nothing in api/ but this file, aconn.c and pubsub.c
 * includes hiredis' async API. */
#include "api/aclient.h"

#include <hiredis/async.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/cluster.h"
#include "shared/cluster_reply.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/store.h" /* ht_store_error_is_unavailable */

#include "api/aconn.h"
#include "api/inflight.h"
#include "api/metrics_counters.h"

/* Cluster: nodes one thread may know at once (masters, seeds, redirect
 * targets; when the table is full, an entry nobody needs any more is
 * reused: see node_get), and redirects one call follows before it gives
 * up (a slot moving back and forth). */
#define NODES_MAX     64
#define REDIRECTS_MAX 5
#define GROUP_MAX     4 /* commands of one call: MULTI HMGET LRANGE EXEC */

struct ht_aclient {
    uv_loop_t *loop;
    uv_timer_t tick;
    ht_redis_url_t url;
    ht_aconn_t one; /* the single node (unused in a cluster) */
    size_t pending; /* calls sent and not yet answered, on every connection */
    int first_reported;
    void (*on_first)(void *data, int ready);
    void *first_data;
    /* cluster only */
    int cluster;
    uint64_t born;
    ht_aconn_t *nodes[NODES_MAX];
    size_t n_nodes;
    int16_t route[HT_CLUSTER_SLOTS]; /* slot -> index in nodes; -1: no master known */
    int have_map;
    size_t uncovered;   /* slots no master serves in the map */
    int stale;          /* a redirect or an error said the map changed */
    ht_aconn_t *asking; /* the connection a CLUSTER SLOTS is in flight on */
    int slots_warned;   /* one warning for a run of unreadable maps */
    int redir_warned;   /* one warning for a run of redirects not followed */
    int next_seed;
    /* Calls bound to requests wait here until the loop is about to poll
     * (the prepare handle), so that a request h2o disposed of meanwhile (a
     * stream reset arriving in the same read) never reaches Redis. */
    uv_prepare_t flush;
    h2o_linklist_t outbox;
    size_t n_staged;
    int closing; /* handles closed: 2 until both close callbacks ran */
};

/* ---- calls in flight -------------------------------------------------- */

/* The request side of a binding: lives in req->pool, points at the op. */
typedef struct op op_t;
typedef struct {
    op_t *op; /* NULL once the op has finished */
} op_link_t;

/* A call's commands as formatted, kept until it is answered: sent from the
 * outbox, and (cluster) resent after a redirect. */
typedef struct {
    char *cmd[GROUP_MAX]; /* RESP, from ht_argv_resp (malloc'd) */
    size_t len[GROUP_MAX];
    size_t n;
    int slot; /* cluster: the routing key's slot; -1 keyless */
    int redirects;
    int asked;                        /* an ASK was followed: a second one is not */
    char *inner_err;                  /* the first error answered inside MULTI ... EXEC */
    redisReply *inner[GROUP_MAX - 1]; /* all_replies: copies of the replies before the last */
    size_t n_inner;
} resend_t;

/* malloc'd by ht_aclient_send, freed by finish_op. */
struct op {
    ht_aclient_t *cl;
    ht_aconn_t *conn;        /* where it was sent */
    resend_t *rs;            /* the commands */
    op_link_t *link;         /* NULL when not bound to a request, or after dispose */
    int detached;            /* the request is gone: drop the callback */
    int staged;              /* in cl->outbox, not sent yet */
    h2o_linklist_t out;      /* in cl->outbox while staged */
    ht_inflight_hold_t hold; /* its place in the bounds (api/inflight.h) */
    const char *reqid;       /* the request id current when sent (in the request's pool) */
    ht_acall_t call;
};

static void resend_free(resend_t *rs);

/* h2o disposes of the request's pool (response done, or client gone).  A
 * call still in the outbox is dropped unsent. */
static void on_link_dispose(void *p)
{
    op_link_t *link = p;
    op_t *op = link->op;
    if (!op)
        return;
    if (op->staged) {
        h2o_linklist_unlink(&op->out);
        op->cl->n_staged--;
        ht_inflight_give(&op->hold);
        resend_free(op->rs);
        free(op);
        ht_metrics_add(HT_M_REDIS_DROPPED_UNSENT, 1);
        return;
    }
    op->detached = 1;
    op->link = NULL;
}

static void bind_to_request(op_t *op, h2o_req_t *req)
{
    op_link_t *link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_link_dispose);
    link->op = op;
    op->link = link;
}

/* A deep copy of a reply (hiredis frees its own once the callback
 * returns); NULL when out of memory. */
static redisReply *reply_dup(const redisReply *r)
{
    redisReply *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->type = r->type;
    c->integer = r->integer;
    if (r->str) {
        if (!(c->str = malloc(r->len + 1))) {
            free(c);
            return NULL;
        }
        memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }
    if (r->elements > 0 && r->element) {
        if (!(c->element = calloc(r->elements, sizeof(*c->element)))) {
            free(c->str);
            free(c);
            return NULL;
        }
        c->elements = r->elements;
        for (size_t i = 0; i < r->elements; i++) {
            if (r->element[i] && !(c->element[i] = reply_dup(r->element[i]))) {
                c->elements = i;
                break;
            }
        }
    }
    return c;
}

static void reply_free(redisReply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->elements; i++)
        reply_free(r->element[i]);
    free(r->element);
    free(r->str);
    free(r);
}

static void inner_clear(resend_t *rs)
{
    for (size_t i = 0; i < rs->n_inner; i++)
        reply_free(rs->inner[i]);
    rs->n_inner = 0;
}

static void resend_free(resend_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++)
        free(rs->cmd[i]);
    inner_clear(rs);
    free(rs->inner_err);
    free(rs);
}

/* Runs the call's finish (unless the request is gone) and frees the op. */
static void finish_op(op_t *op, int err, const redisReply *r)
{
    ht_inflight_give(&op->hold);
    if (op->link)
        op->link->op = NULL;
    if (err == HT_EREDIS)
        ht_metrics_add(HT_M_REDIS_UNAVAILABLE, 1);
    if (op->detached) {
        ht_log(HT_LOG_DEBUG, "reply dropped: its request is gone", NULL);
    } else if (op->reqid) {
        /* Log lines of the callback carry the request's id (shared/log.h). */
        char prev[HT_LOG_REQID_MAX + 1];
        const char *cur = ht_log_request_id();
        size_t n = cur ? strnlen(cur, HT_LOG_REQID_MAX) : 0;
        memcpy(prev, cur ? cur : "", n);
        prev[n] = '\0';
        ht_log_set_request_id(op->reqid);
        op->call.finish(&op->call, err, r);
        ht_log_set_request_id(prev);
    } else {
        op->call.finish(&op->call, err, r);
    }
    resend_free(op->rs);
    free(op);
}

/* ---- connections ------------------------------------------------------ */

static void cluster_settle(ht_aclient_t *cl);
static void refresh(ht_aclient_t *cl);

static void report_first(ht_aclient_t *cl, int ready)
{
    if (cl->first_reported)
        return;
    cl->first_reported = 1;
    if (cl->on_first)
        cl->on_first(cl->first_data, ready);
}

/* A connection's news for on_first: the single node's decides; a cluster's
 * are weighed together (cluster_settle). */
static void conn_settled(ht_aconn_t *c, int ready)
{
    ht_aclient_t *cl = c->data;
    if (cl->cluster)
        cluster_settle(cl);
    else
        report_first(cl, ready);
}

static void on_conn_ready(ht_aconn_t *c)
{
    ht_aclient_t *cl = c->data;
    if (cl->cluster)
        refresh(cl); /* when one is due: this may be the first node reached */
    conn_settled(c, 1);
}

static void on_conn_down(ht_aconn_t *c)
{
    conn_settled(c, 0);
}

static const ht_aconn_opts_t conn_opts = {
    .label = "redis",
    .select_db = 1,
    .on_ready = on_conn_ready,
    .on_down = on_conn_down,
};

/* ---- cluster: nodes and the slot map ---------------------------------- */

/* An entry of a full node table that nothing needs: not wanted, down, no
 * reply owed, no CLUSTER SLOTS in flight, no slot routed to it (over many
 * failovers and reshardings, old addresses pile up).  NULL when none. */
static ht_aconn_t *node_unused(ht_aclient_t *cl)
{
    for (size_t i = 0; i < cl->n_nodes; i++) {
        ht_aconn_t *c = cl->nodes[i];
        if (c->wanted || c->state != HT_ACONN_DOWN || c->ac || c->pending > 0 || cl->asking == c)
            continue;
        size_t slot = 0;
        while (slot < HT_CLUSTER_SLOTS && cl->route[slot] != (int16_t)i)
            slot++;
        if (slot == HT_CLUSTER_SLOTS)
            return c;
    }
    return NULL;
}

/* The connection to host:port, made (down, not wanted) when new; NULL when
 * NODES_MAX are in use, the host is too long, or out of memory. */
static ht_aconn_t *node_get(ht_aclient_t *cl, const char *host, int port)
{
    for (size_t i = 0; i < cl->n_nodes; i++) {
        if (cl->nodes[i]->port == port && strcmp(cl->nodes[i]->host, host) == 0)
            return cl->nodes[i];
    }
    /* A copy: `host` may be the very entry reused below. */
    char addr[HT_CLUSTER_HOST_MAX];
    size_t len = strlen(host);
    if (len >= sizeof(addr))
        return NULL;
    memcpy(addr, host, len + 1);
    ht_aconn_t *c = NULL;
    if (cl->n_nodes < NODES_MAX) {
        if (!(c = calloc(1, sizeof(*c))))
            return NULL;
        cl->nodes[cl->n_nodes++] = c;
    } else if (!(c = node_unused(cl))) {
        return NULL;
    }
    /* A reused entry keeps its index: route[] never names it. */
    ht_aconn_init(c, cl->loop, &cl->url, addr, port, &conn_opts, cl);
    c->wanted = 0;
    return c;
}

static int16_t node_index(const ht_aclient_t *cl, const ht_aconn_t *c)
{
    for (size_t i = 0; i < cl->n_nodes; i++) {
        if (cl->nodes[i] == c)
            return (int16_t)i;
    }
    return -1;
}

/* A ready connection to some master (keyless calls, CLUSTER SLOTS). */
static ht_aconn_t *any_ready(ht_aclient_t *cl)
{
    ht_aconn_t *other = NULL;
    for (size_t i = 0; i < cl->n_nodes; i++) {
        ht_aconn_t *c = cl->nodes[i];
        if (c->state == HT_ACONN_READY && c->wanted)
            return c;
        if (c->state == HT_ACONN_READY && !other)
            other = c;
    }
    return other;
}

/* The thread may serve once the map is known and every master reached or
 * given up on, or after HT_ACONN_CONNECT_TIMEOUT_MS whatever the state. */
static void cluster_settle(ht_aclient_t *cl)
{
    if (cl->first_reported)
        return;
    int settled = cl->have_map;
    for (size_t i = 0; i < cl->n_nodes; i++) {
        if (cl->nodes[i]->wanted && cl->nodes[i]->state == HT_ACONN_CONNECTING)
            settled = 0;
    }
    if (settled || uv_now(cl->loop) - cl->born >= HT_ACONN_CONNECT_TIMEOUT_MS)
        report_first(cl, ht_aclient_ready(cl));
}

/* The map of a CLUSTER SLOTS reply becomes the routing table; its masters
 * are the connections kept (the others close once idle). */
static void apply_map(ht_aclient_t *cl, const ht_cluster_map_t *map)
{
    int16_t idx[NODES_MAX];
    size_t n = map->n_nodes < NODES_MAX ? map->n_nodes : NODES_MAX;
    for (size_t i = 0; i < cl->n_nodes; i++)
        cl->nodes[i]->wanted = 0;
    for (size_t i = 0; i < n; i++) {
        ht_aconn_t *c = node_get(cl, map->nodes[i].host, map->nodes[i].port);
        idx[i] = c ? node_index(cl, c) : -1;
        if (c)
            c->wanted = 1;
    }
    int changed = !cl->have_map;
    cl->uncovered = 0;
    for (size_t slot = 0; slot < HT_CLUSTER_SLOTS; slot++) {
        int16_t o = map->owner[slot];
        int16_t to = o >= 0 && (size_t)o < n ? idx[o] : -1;
        changed |= cl->route[slot] != to;
        cl->route[slot] = to;
        cl->uncovered += to < 0;
    }
    cl->have_map = 1;
    cl->stale = 0;
    if (changed) {
        char masters[16], uncovered[16];
        snprintf(masters, sizeof(masters), "%zu", n);
        snprintf(uncovered, sizeof(uncovered), "%zu", cl->uncovered);
        ht_log(HT_LOG_INFO, "cluster slot map", "masters", masters, "uncovered_slots", uncovered,
               NULL);
    }
    for (size_t i = 0; i < cl->n_nodes; i++) {
        if (cl->nodes[i]->wanted)
            ht_aconn_connect(cl->nodes[i]); /* a new master: no need to wait for the tick */
    }
    cluster_settle(cl);
}

static void on_slots(redisAsyncContext *ac, void *reply, void *privdata)
{
    ht_aconn_t *c = privdata;
    ht_aclient_t *cl = c->data;
    const redisReply *r = reply;
    ht_aconn_answered(c);
    if (cl->asking == c)
        cl->asking = NULL;
    if (!r) {
        ht_aconn_lost(c, ac);
        return; /* asked again on the next tick */
    }
    ht_cluster_map_t map;
    int rc = r->type == REDIS_REPLY_ERROR ? HT_EPROTO : ht_cluster_map_from_reply(&map, r, c->host);
    if (rc < 0) {
        if (!cl->slots_warned)
            ht_log(HT_LOG_WARN, "cluster slot map unreadable", "detail",
                   r->type == REDIS_REPLY_ERROR ? r->str : ht_strerror(rc), "node", c->name, NULL);
        cl->slots_warned = 1;
        return;
    }
    cl->slots_warned = 0;
    apply_map(cl, &map);
    ht_cluster_map_clear(&map);
}

/* Asks for the slot map when it is due: missing, incomplete, said stale, or
 * naming a master we cannot reach.  One request at a time, on any ready
 * connection; with none, the URL's seeds are tried in turn, one more on
 * each call (each tick) until one answers. */
static void refresh(ht_aclient_t *cl)
{
    int due = !cl->have_map || cl->uncovered > 0 || cl->stale;
    for (size_t i = 0; i < cl->n_nodes && !due; i++)
        due = cl->nodes[i]->wanted && cl->nodes[i]->state != HT_ACONN_READY;
    if (!due || cl->asking)
        return;
    ht_aconn_t *c = any_ready(cl);
    if (!c) {
        int i = cl->next_seed;
        cl->next_seed = (i + 1) % cl->url.n_seeds;
        ht_aconn_t *seed = node_get(cl, cl->url.seeds[i].host, cl->url.seeds[i].port);
        if (seed) {
            seed->wanted = 1;
            ht_aconn_connect(seed);
        }
        return;
    }
    if (redisAsyncCommand(c->ac, on_slots, c, "CLUSTER SLOTS") != REDIS_OK)
        return;
    cl->asking = c;
    ht_aconn_sent(c);
}

/* ---- the client ------------------------------------------------------- */

static void on_tick(uv_timer_t *timer)
{
    ht_aclient_t *cl = timer->data;
    if (!cl->cluster) {
        if (cl->one.state == HT_ACONN_DOWN)
            report_first(cl, 0); /* the first connect failed at once */
        ht_aconn_tick(&cl->one);
        return;
    }
    for (size_t i = 0; i < cl->n_nodes; i++)
        ht_aconn_tick(cl->nodes[i]);
    refresh(cl);
    cluster_settle(cl);
}

int ht_aclient_new(ht_aclient_t **out, uv_loop_t *loop, const ht_redis_url_t *url,
                   void (*on_first)(void *data, int ready), void *data)
{
    *out = NULL;
    if (url->kind == HT_REDIS_CLUSTER && url->n_seeds < 1)
        return HT_EINVAL;
    ht_aclient_t *cl = calloc(1, sizeof(*cl));
    if (!cl)
        return HT_ENOMEM;
    cl->loop = loop;
    cl->url = *url;
    cl->on_first = on_first;
    cl->first_data = data;
    cl->cluster = url->kind == HT_REDIS_CLUSTER;
    cl->born = uv_now(loop);
    memset(cl->route, 0xff, sizeof(cl->route)); /* -1 everywhere */
    ht_aconn_init(&cl->one, loop, &cl->url, NULL, 0, &conn_opts, cl);
    uv_timer_init(loop, &cl->tick);
    cl->tick.data = cl;
    uv_timer_start(&cl->tick, on_tick, HT_ACONN_TICK_MS, HT_ACONN_TICK_MS);
    uv_prepare_init(loop, &cl->flush);
    cl->flush.data = cl;
    h2o_linklist_init_anchor(&cl->outbox);
    *out = cl;
    if (cl->cluster)
        refresh(cl); /* connects to the first seed */
    else
        ht_aconn_connect(&cl->one);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    ht_aclient_t *cl = h->data;
    if (--cl->closing > 0)
        return;
    for (size_t i = 0; i < cl->n_nodes; i++)
        free(cl->nodes[i]);
    free(cl);
}

static void finish_op(op_t *op, int err, const redisReply *r);

void ht_aclient_close(ht_aclient_t *cl)
{
    if (!cl)
        return;
    /* Calls not sent yet fail as the ones in flight do. */
    while (!h2o_linklist_is_empty(&cl->outbox)) {
        op_t *op = H2O_STRUCT_FROM_MEMBER(op_t, out, cl->outbox.next);
        h2o_linklist_unlink(&op->out);
        op->staged = 0;
        cl->n_staged--;
        finish_op(op, HT_EREDIS, NULL);
    }
    if (!cl->cluster)
        ht_aconn_close(&cl->one);
    for (size_t i = 0; i < cl->n_nodes; i++)
        ht_aconn_close(cl->nodes[i]);
    uv_timer_stop(&cl->tick);
    uv_prepare_stop(&cl->flush);
    cl->closing = 2;
    uv_close((uv_handle_t *)&cl->tick, on_handle_closed);
    uv_close((uv_handle_t *)&cl->flush, on_handle_closed);
}

int ht_aclient_ready(const ht_aclient_t *cl)
{
    if (cl->cluster)
        return cl->have_map && cl->uncovered == 0;
    return cl->one.state == HT_ACONN_READY;
}

size_t ht_aclient_pending(const ht_aclient_t *cl)
{
    return cl->pending + cl->n_staged;
}

/* ---- sending ---------------------------------------------------------- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void on_inner_reply(redisAsyncContext *ac, void *reply, void *privdata);

/* `op` is now in flight on `c`. */
static void count_sent(ht_aconn_t *c, op_t *op)
{
    op->conn = c;
    op->cl->pending++;
    ht_aconn_sent(c);
}

/* The op's kept commands to `c` (after ASKING when `asking`).  The replies
 * before the last go to on_inner_reply, which notes an error (a redirect
 * inside MULTI shows only as EXECABORT on EXEC) and, for all_replies, keeps
 * a copy.  A redirect target still connecting (`connecting_ok`) takes them
 * too: hiredis queues them until connected, and a connect that fails or
 * times out fails them (HT_EREDIS) as a lost connection would. */
static int send_kept(ht_aconn_t *c, op_t *op, int asking, int connecting_ok)
{
    resend_t *rs = op->rs;
    if (!c || !c->ac ||
        !(c->state == HT_ACONN_READY || (connecting_ok && c->state == HT_ACONN_CONNECTING)))
        return HT_EREDIS;
    if (asking && redisAsyncCommand(c->ac, NULL, NULL, "ASKING") != REDIS_OK)
        return HT_EREDIS;
    for (size_t i = 0; i < rs->n; i++) {
        redisCallbackFn *fn = i + 1 == rs->n ? on_reply : on_inner_reply;
        if (redisAsyncFormattedCommand(c->ac, fn, op, rs->cmd[i], rs->len[i]) != REDIS_OK)
            return HT_EREDIS; /* only while hiredis is closing the connection */
    }
    count_sent(c, op);
    return 0;
}

static int arg_is(const ht_argv_t *a, size_t i, const char *word)
{
    return i < a->n && a->len[i] == strlen(word) && strncasecmp(a->v[i], word, a->len[i]) == 0;
}

/* The slot a call is routed by (ht_cluster_key_index, the blocking
 * client's rule too), MULTI ... EXEC by the first command inside; -1 for a
 * keyless one. */
static int route_slot(const ht_argv_t *a, size_t n)
{
    const ht_argv_t *cmd = n > 1 && arg_is(&a[0], 0, "MULTI") ? &a[1] : &a[0];
    int k = ht_cluster_key_index(cmd->n, cmd->v, cmd->len);
    return k < 0 ? -1 : (int)ht_cluster_keyslot(cmd->v[k], cmd->len[k]);
}

/* Formats the commands into op->rs. */
static int keep_commands(ht_aclient_t *cl, op_t *op, ht_argv_t *a, size_t n)
{
    if (!(op->rs = calloc(1, sizeof(*op->rs))))
        return HT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        long len = ht_argv_resp(&a[i], &op->rs->cmd[i]);
        if (len < 0)
            return HT_ENOMEM;
        op->rs->len[i] = (size_t)len;
        op->rs->n = i + 1;
    }
    op->rs->slot = cl->cluster ? route_slot(a, n) : -1;
    return 0;
}

/* Sends a kept op: to the single node, or to the master of its slot (a
 * keyless one to any ready master). */
static int dispatch(ht_aclient_t *cl, op_t *op)
{
    if (!cl->cluster)
        return send_kept(&cl->one, op, 0, 0);
    int16_t i = op->rs->slot < 0 ? -1 : cl->route[op->rs->slot];
    ht_aconn_t *c = op->rs->slot < 0 ? any_ready(cl) : i < 0 ? NULL : cl->nodes[i];
    int err = send_kept(c, op, 0, 0);
    if (err && cl->have_map)
        cl->stale = 1; /* a master we cannot reach: maybe no master now */
    return err;
}

/* The loop is about to poll: every request that h2o disposed of since its
 * call was staged is gone from the outbox; send the rest.  Calls staged by
 * the callbacks of calls that fail here go out in the same pass. */
/* Holds or writes the held commands of every connection (see aconn.h). */
static void hold_writes(ht_aclient_t *cl, int hold)
{
    void (*fn)(ht_aconn_t *) = hold ? ht_aconn_hold_writes : ht_aconn_write_held;
    if (!cl->cluster)
        fn(&cl->one);
    for (size_t i = 0; i < cl->n_nodes; i++)
        fn(cl->nodes[i]);
}

static void on_flush(uv_prepare_t *h)
{
    ht_aclient_t *cl = h->data;
    for (int pass = 0; pass < 8 && !h2o_linklist_is_empty(&cl->outbox); pass++) {
        h2o_linklist_t batch;
        h2o_linklist_init_anchor(&batch);
        h2o_linklist_insert_list(&batch, &cl->outbox);
        hold_writes(cl, 1);
        while (!h2o_linklist_is_empty(&batch)) {
            op_t *op = H2O_STRUCT_FROM_MEMBER(op_t, out, batch.next);
            h2o_linklist_unlink(&op->out);
            op->staged = 0;
            cl->n_staged--;
            int err = dispatch(cl, op);
            if (err)
                finish_op(op, err, NULL);
        }
        hold_writes(cl, 0);
    }
    if (h2o_linklist_is_empty(&cl->outbox))
        uv_prepare_stop(&cl->flush);
}

void ht_aclient_send(ht_aclient_t *cl, h2o_req_t *req, ht_argv_t *cmds, size_t n,
                     const ht_acall_t *call)
{
    int err = n < 1 || n > GROUP_MAX ? HT_EINVAL : 0; /* a caller's bug, not a lack of memory */
    for (size_t i = 0; i < n; i++) {
        if (cmds[i].overflow)
            err = HT_EINVAL;
    }
    op_t *op = calloc(1, sizeof(*op));
    if (!op) {
        for (size_t i = 0; i < n; i++)
            ht_argv_clear(&cmds[i]);
        call->finish(call, HT_ENOMEM, NULL);
        return;
    }
    op->cl = cl;
    op->reqid = req && ht_log_request_id()
                    ? h2o_strdup(&req->pool, ht_log_request_id(), SIZE_MAX).base
                    : NULL;
    op->call = *call;
    if (!err)
        err = keep_commands(cl, op, cmds, n);
    for (size_t i = 0; i < n; i++)
        ht_argv_clear(&cmds[i]);
    if (!err && !req)
        err = dispatch(cl, op);
    if (err) {
        finish_op(op, err, NULL);
        return;
    }
    if (!req)
        return;
    /* Bound to a request: counted, and staged until the loop polls. */
    bind_to_request(op, req);
    ht_inflight_take(req, &op->hold);
    op->staged = 1;
    cl->n_staged++;
    h2o_linklist_insert(&cl->outbox, &op->out);
    uv_prepare_start(&cl->flush, on_flush);
}

/* ---- replies ---------------------------------------------------------- */

static void on_inner_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    const redisReply *r = reply;
    op_t *op = privdata;
    resend_t *rs = op->rs;
    if (r && r->type == REDIS_REPLY_ERROR && !rs->inner_err && op->cl->cluster)
        rs->inner_err = strdup(r->str); /* NULL when out of memory: EXECABORT then */
    if (r && op->call.all_replies && rs->n_inner < GROUP_MAX - 1) {
        redisReply *copy = reply_dup(r);
        if (copy)
            rs->inner[rs->n_inner++] = copy;
    }
}

/* Follows a MOVED or ASK: resends the op to the node named.  The op is
 * finished (HT_EREDIS) when that is not possible now. */
static void follow(op_t *op, const ht_redirect_t *rd)
{
    ht_aclient_t *cl = op->cl;
    resend_t *rs = op->rs;
    int ask = rd->kind == HT_REDIRECT_ASK;
    ht_aconn_t *to = node_get(cl, rd->host[0] ? rd->host : op->conn->host, rd->port);
    int err = HT_EREDIS;
    free(rs->inner_err);
    rs->inner_err = NULL;
    inner_clear(rs);
    if (!ask) {
        /* The slot is elsewhere for good: route there from now on. */
        cl->stale = 1;
        if (to && rd->slot < HT_CLUSTER_SLOTS) {
            to->wanted = 1;
            cl->route[rd->slot] = node_index(cl, to);
        }
    }
    if (++rs->redirects <= REDIRECTS_MAX && !(ask && rs->asked)) {
        rs->asked |= ask;
        /* A node new to us (an ASK target is no master of the map, so no
         * tick connects it): connect now, the resend queues behind it. */
        if (to)
            ht_aconn_connect(to);
        err = send_kept(to, op, ask, 1);
        ht_log(HT_LOG_DEBUG, ask ? "redis ASK followed" : "redis MOVED followed", "in",
               rs->n > 1 ? "MULTI" : "command", "node", to ? to->name : "?", NULL);
    }
    if (err) {
        /* One warning for a run of them (a node down in a failover would
         * otherwise log one per request). */
        ht_log(cl->redir_warned ? HT_LOG_DEBUG : HT_LOG_WARN, "redis cluster redirect not followed",
               "detail", to ? to->name : "too many nodes", NULL);
        cl->redir_warned = 1;
        finish_op(op, err, NULL);
    } else {
        cl->redir_warned = 0;
    }
    if (!ask)
        refresh(cl);
}

/* A cluster op's error reply (or the one inside its MULTI).  Returns 1 when
 * it took care of the op (resent or finished), 0 to let on_reply judge the
 * reply as for a single node. */
static int cluster_reply(op_t *op, const redisReply *r)
{
    ht_aclient_t *cl = op->cl;
    const char *err = op->rs->inner_err              ? op->rs->inner_err
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
        cl->stale = 1;
        if (act == HT_CLUSTER_ERR_DROP)
            ht_aconn_drop(op->conn, err);
        refresh(cl);
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
    const redisReply *r = reply;
    op->cl->pending--;
    ht_aconn_answered(op->conn);
    if (!r) {
        /* The connection is going away (hiredis fails what is pending). */
        ht_aconn_lost(op->conn, ac);
        finish_op(op, HT_EREDIS, NULL);
        return;
    }
    if (op->cl->cluster && cluster_reply(op, r))
        return;
    if (op->call.all_replies && op->rs->n > 1) {
        /* One array of every command's reply, as EXEC gives. */
        redisReply all = {.type = REDIS_REPLY_ARRAY};
        redisReply *el[GROUP_MAX];
        size_t k = op->rs->n_inner;
        if (k + 1 != op->rs->n) {
            finish_op(op, HT_ENOMEM, NULL);
            return;
        }
        memcpy(el, op->rs->inner, k * sizeof(*el));
        el[k] = (redisReply *)r;
        all.element = el;
        all.elements = k + 1;
        finish_op(op, 0, &all);
    } else if (r->type != REDIS_REPLY_ERROR) {
        finish_op(op, 0, r);
    } else if (ht_store_error_is_unavailable(r->str)) {
        /* Redis full (noeviction), unable to persist, still loading its
         * data after a restart, ...: unavailable for now, a 503 with
         * Retry-After (counted in finish_op). */
        ht_log(HT_LOG_WARN, "redis unavailable for now", "detail", r->str, NULL);
        finish_op(op, HT_EREDIS, NULL);
    } else if (ht_store_error_is_no_library(r->str)) {
        /* Redis emptied or replaced since the migrate: unavailable (503)
         * until an operator runs it; said at most every 10 s a thread. */
        static _Thread_local uint64_t said_at;
        uint64_t now = uv_now(op->conn->loop_);
        if (!said_at || now - said_at >= 10000) {
            said_at = now;
            ht_log(HT_LOG_ERROR, "redis has no hangtight function library: run `hangtight migrate`",
                   "detail", r->str, NULL);
        }
        finish_op(op, HT_EREDIS, NULL);
    } else if (op->call.own_errors) {
        finish_op(op, 0, r);
    } else {
        /* A bug or a keyspace problem worth a log line. */
        ht_log(HT_LOG_ERROR, "redis error reply", "detail", r->str, NULL);
        ht_metrics_add(HT_M_REDIS_ERROR_REPLY, 1);
        finish_op(op, HT_EPROTO, NULL);
    }
}
