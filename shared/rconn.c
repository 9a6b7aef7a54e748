/* One node or a Redis Cluster behind one blocking API (see rconn.h).
 *
 * A node_t is one address and its hiredis context (NULL while closed).  A
 * single node has exactly one; a cluster gets one per address it has talked
 * to (masters of the map, seeds, redirect targets), found by host:port and
 * kept for the life of the rconn, so a map refresh never closes a context
 * that still works.  Which node serves a slot is the map's business
 * (shared/cluster.h); a command is sent where the map says, and the map is
 * reloaded whenever a node says it was wrong (MOVED) or a node fails. */
#include "shared/rconn.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "shared/cluster.h"
#include "shared/cluster_reply.h"
#include "shared/error.h"

/* MOVED and ASK answers followed for one command before giving up: a slot
 * migrating while the map is refreshed takes two or three. */
#define MAX_REDIRECTS 5

/* Cluster, during a failover: a node whose connect just failed is not
 * tried again for DOWN_MS (its commands fail at once with HT_EREDIS rather
 * than each waiting a whole connect timeout), and a stale map is asked for
 * at most once per REFRESH_MIN_MS; until a refresh succeeds commands keep
 * the last map (the nodes that are alive still serve their slots).  A
 * single node keeps its old behaviour: every call connects again. */
#define DOWN_MS        1000
#define REFRESH_MIN_MS 150

typedef struct {
    char host[HT_CLUSTER_HOST_MAX]; /* or the socket path of a unix:// URL */
    int port;                       /* 0 for a unix socket */
    redisContext *ctx;
    int64_t down_until; /* cluster: mono_ms() before which no connect is tried */
} node_t;

struct ht_rconn {
    ht_redis_url_t url;
    int timeout_ms;
    int cluster;
    node_t **nodes; /* every address known; nodes[0] is the node of a single-node URL */
    size_t n_nodes;
    ht_cluster_map_t map; /* cluster: masters and slot owners */
    int map_ok;           /* cluster: 0 = reload the map before routing */
    int64_t refreshed_at; /* cluster: mono_ms() when the last reload ended */
    redisContext *sub;    /* the subscriber connection, when subscribed */
    char err[512];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

static void set_err(ht_rconn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(ht_rconn_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

/* "host:port", "[v6]:port", or the socket path (port 0). */
static void addr_name(const char *host, int port, char *out, size_t len)
{
    if (port)
        snprintf(out, len, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    else
        snprintf(out, len, "%s", host);
}

/* ---- nodes -------------------------------------------------------------- */

static void node_drop(node_t *n)
{
    if (n->ctx) {
        redisFree(n->ctx);
        n->ctx = NULL;
    }
}

/* Drops a context whose command failed, with a reset instead of a FIN
 * (SO_LINGER 0).  A Redis that stopped answering without closing (stopped,
 * paused, swapping) may still run the command when it resumes: the reset
 * removes a connection it has not accepted yet (with what was sent on it),
 * but Linux still hands Redis the unread bytes of an accepted one.  A claim
 * run that late holds its job only until the lease runs out, like a claim
 * whose reply was lost (the reaper requeues it). */
static void node_abort(node_t *n)
{
    if (n->ctx && n->ctx->fd >= 0) {
        struct linger off = {.l_onoff = 1, .l_linger = 0};
        setsockopt(n->ctx->fd, SOL_SOCKET, SO_LINGER, &off, sizeof off);
    }
    node_drop(n);
}

/* The node at host:port, added when new.  NULL on ENOMEM. */
static node_t *node_get(ht_rconn_t *c, const char *host, int port)
{
    for (size_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i]->port == port && strcmp(c->nodes[i]->host, host) == 0)
            return c->nodes[i];
    node_t **grown = realloc(c->nodes, (c->n_nodes + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    c->nodes = grown;
    node_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    c->nodes[c->n_nodes++] = n;
    return n;
}

/* A new context on `n`, logged in (AUTH; SELECT on a single node).  NULL
 * with c->err set on failure. */
static redisContext *connect_to(ht_rconn_t *c, const node_t *n)
{
    char name[HT_CLUSTER_HOST_MAX + 8];
    addr_name(n->host, n->port, name, sizeof name);
    struct timeval tv = tv_ms(c->timeout_ms);
    redisContext *ctx = n->port ? redisConnectWithTimeout(n->host, n->port, tv)
                                : redisConnectUnixWithTimeout(n->host, tv);
    if (!ctx) {
        set_err(c, "redis: out of memory");
        return NULL;
    }
    if (ctx->err) {
        set_err(c, "cannot connect to redis at %s: %s", name, ctx->errstr);
        redisFree(ctx);
        return NULL;
    }
    redisSetTimeout(ctx, tv);
    /* A peer that vanished (its address black-holed, its host gone) is
     * noticed on an idle connection too, the subscriber's above all. */
    redisEnableKeepAlive(ctx);
    ht_argv_t cmds[2];
    size_t n_cmds = ht_redis_login_cmds(&c->url, !c->cluster, cmds);
    int ok = 1;
    for (size_t i = 0; i < n_cmds; i++) {
        redisReply *r = ok ? redisCommandArgv(ctx, (int)cmds[i].n, cmds[i].v, cmds[i].len) : NULL;
        if (ok && (!r || r->type == REDIS_REPLY_ERROR)) {
            set_err(c, "redis at %s refused %s: %s", name, cmds[i].v[0], r ? r->str : ctx->errstr);
            ok = 0;
        }
        freeReplyObject(r);
        ht_argv_clear(&cmds[i]);
    }
    if (!ok) {
        redisFree(ctx);
        return NULL;
    }
    return ctx;
}

/* Sends `a` on node `n` (connecting first), preceded by ASKING when
 * `asking`, and returns the reply.  A failure drops the node's context and
 * marks the map stale: NULL with *rc = HT_EREDIS (a command that cannot be
 * formatted, out of memory: NULL with *rc = HT_ENOMEM, nothing sent). */
static redisReply *send_on(ht_rconn_t *c, node_t *n, const ht_argv_t *a, int reply_ms, int asking,
                           int *rc)
{
    *rc = HT_EREDIS;
    if (!n->ctx && c->cluster && n->down_until > mono_ms()) {
        char name[HT_CLUSTER_HOST_MAX + 8];
        addr_name(n->host, n->port, name, sizeof name);
        set_err(c, "redis at %s is down (a connect failed less than %d ms ago)", name, DOWN_MS);
        c->map_ok = 0;
        return NULL;
    }
    if (!n->ctx && !(n->ctx = connect_to(c, n))) {
        if (c->cluster)
            n->down_until = mono_ms() + DOWN_MS;
        c->map_ok = 0;
        return NULL;
    }
    if (reply_ms > 0)
        redisSetTimeout(n->ctx, tv_ms(reply_ms));
    /* Both queued first: ASKING and the command travel in one write.  The
     * command goes in RESP made by ht_argv_resp (hiredis' own formatting
     * costs more instructions than the rest of a call's client side). */
    char *cmd = NULL;
    long len = ht_argv_resp(a, &cmd);
    if (len < 0) {
        set_err(c, "%s", "out of memory");
        *rc = HT_ENOMEM;
        return NULL;
    }
    int ok = (!asking || redisAppendCommand(n->ctx, "ASKING") == REDIS_OK) &&
             redisAppendFormattedCommand(n->ctx, cmd, (size_t)len) == REDIS_OK;
    free(cmd);
    redisReply *r = NULL;
    void *ask_reply = NULL;
    ok = ok && (!asking || redisGetReply(n->ctx, &ask_reply) == REDIS_OK) &&
         redisGetReply(n->ctx, (void **)&r) == REDIS_OK && r;
    int timed_out = !ok && n->ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    freeReplyObject(ask_reply);
    if (!ok) {
        char name[HT_CLUSTER_HOST_MAX + 8];
        addr_name(n->host, n->port, name, sizeof name);
        if (timed_out)
            set_err(c, "redis at %s: no reply within %d ms", name,
                    reply_ms > 0 ? reply_ms : c->timeout_ms);
        else
            set_err(c, "redis connection lost (%s): %s", name,
                    n->ctx->errstr[0] ? n->ctx->errstr : "no reply");
        freeReplyObject(r);
        node_abort(n);
        c->map_ok = 0;
        return NULL;
    }
    if (reply_ms > 0)
        redisSetTimeout(n->ctx, tv_ms(c->timeout_ms));
    *rc = 0;
    return r;
}

/* ---- the slot map ------------------------------------------------------- */

/* Asks `n` for CLUSTER SLOTS and takes its map when it serves some slots.
 * Returns 0, HT_EINVAL (not a cluster node) or HT_EREDIS. */
static int map_from(ht_rconn_t *c, node_t *n)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "CLUSTER");
    ht_argv_add(&a, "SLOTS");
    int rc;
    redisReply *r = send_on(c, n, &a, 0, 0, &rc);
    ht_argv_clear(&a);
    if (!r)
        return rc;
    char name[HT_CLUSTER_HOST_MAX + 8];
    addr_name(n->host, n->port, name, sizeof name);
    ht_cluster_map_t map;
    if (r->type == REDIS_REPLY_ERROR) {
        set_err(c, "redis at %s refused CLUSTER SLOTS: %s", name, r->str);
        rc = strstr(r->str, "cluster support disabled") ? HT_EINVAL : HT_EREDIS;
    } else if ((rc = ht_cluster_map_from_reply(&map, r, n->host)) < 0) {
        set_err(c, "redis at %s: unreadable CLUSTER SLOTS answer", name);
        rc = HT_EREDIS;
    } else if (map.n_nodes == 0) {
        set_err(c, "redis at %s serves no slots yet (cluster not created?)", name);
        ht_cluster_map_clear(&map);
        rc = HT_EREDIS;
    } else {
        ht_cluster_map_clear(&c->map);
        c->map = map;
        c->map_ok = 1;
    }
    freeReplyObject(r);
    return rc;
}

static int is_seed(const ht_rconn_t *c, const node_t *n)
{
    for (int i = 0; i < c->url.n_seeds; i++)
        if (c->url.seeds[i].port == n->port && strcmp(c->url.seeds[i].host, n->host) == 0)
            return 1;
    return 0;
}

/* Reloads the map from the first node that answers: those already
 * connected (no connect needed, and alive a moment ago), then the seeds in
 * the URL's order, then every other node known. */
static int map_refresh(ht_rconn_t *c)
{
    int rc = HT_EREDIS;
    for (size_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i]->ctx && (rc = map_from(c, c->nodes[i])) == 0)
            return 0;
    for (int i = 0; i < c->url.n_seeds; i++) {
        node_t *n = node_get(c, c->url.seeds[i].host, c->url.seeds[i].port);
        if (!n)
            return HT_ENOMEM;
        if (!n->ctx && (rc = map_from(c, n)) == 0)
            return 0;
    }
    for (size_t i = 0; i < c->n_nodes; i++)
        if (!c->nodes[i]->ctx && !is_seed(c, c->nodes[i]) && (rc = map_from(c, c->nodes[i])) == 0)
            return 0;
    return rc;
}

/* Reloads a stale map, at most once per REFRESH_MIN_MS.  Returns 0 when
 * there is a map to route with: the new one, or the last one while the
 * reload fails (a failover under way: the live masters still serve). */
static int map_update(ht_rconn_t *c)
{
    if (c->map_ok || (c->map.n_nodes > 0 && mono_ms() - c->refreshed_at < REFRESH_MIN_MS))
        return 0;
    int rc = map_refresh(c);
    c->refreshed_at = mono_ms();
    return rc < 0 && c->map.n_nodes == 0 ? rc : 0;
}

/* The node serving `slot` (-1: any master), the map reloaded first if
 * stale (map_update).  NULL with *rc set when no master serves it. */
static node_t *node_for_slot(ht_rconn_t *c, int slot, int *rc)
{
    if ((*rc = map_update(c)) < 0)
        return NULL;
    int owner = slot < 0 ? 0 : c->map.owner[slot];
    if (owner < 0 || (size_t)owner >= c->map.n_nodes) {
        set_err(c, "no redis cluster master serves slot %d now", slot);
        c->map_ok = 0;
        *rc = HT_EREDIS;
        return NULL;
    }
    node_t *n = node_get(c, c->map.nodes[owner].host, c->map.nodes[owner].port);
    if (!n)
        *rc = HT_ENOMEM;
    return n;
}

/* ---- commands ----------------------------------------------------------- */

int ht_rconn_open(ht_rconn_t **out, const ht_redis_url_t *url, int timeout_ms)
{
    ht_rconn_t *c = calloc(1, sizeof *c);
    *out = c;
    if (!c)
        return HT_ENOMEM;
    c->url = *url;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    c->cluster = url->kind == HT_REDIS_CLUSTER;
    if (c->cluster)
        return map_refresh(c);
    node_t *n =
        url->kind == HT_REDIS_UNIX ? node_get(c, url->path, 0) : node_get(c, url->host, url->port);
    if (!n)
        return HT_ENOMEM;
    n->ctx = connect_to(c, n);
    return n->ctx ? 0 : HT_EREDIS;
}

void ht_rconn_close(ht_rconn_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_nodes; i++) {
        node_drop(c->nodes[i]);
        free(c->nodes[i]);
    }
    free(c->nodes);
    ht_cluster_map_clear(&c->map);
    if (c->sub)
        redisFree(c->sub);
    free(c);
}

const char *ht_rconn_errstr(const ht_rconn_t *c)
{
    return c && c->err[0] ? c->err : "no error";
}

redisReply *ht_rconn_call(ht_rconn_t *c, const ht_argv_t *a, int reply_ms, int *rc)
{
    if (a->overflow || a->n == 0) {
        set_err(c, "internal error: too many command arguments");
        *rc = HT_EINVAL;
        return NULL;
    }
    if (!c->cluster) {
        if (c->n_nodes == 0) { /* the open ran out of memory */
            *rc = HT_ENOMEM;
            return NULL;
        }
        return send_on(c, c->nodes[0], a, reply_ms, 0, rc);
    }

    int k = ht_cluster_key_index(a->n, a->v, a->len);
    int slot = k < 0 ? -1 : (int)ht_cluster_keyslot(a->v[k], a->len[k]);
    node_t *n = NULL; /* set by a redirect: where to send next */
    int asking = 0;
    for (int hops = 0; hops <= MAX_REDIRECTS; hops++) {
        if (!n && !(n = node_for_slot(c, slot, rc)))
            return NULL;
        redisReply *r = send_on(c, n, a, reply_ms, asking, rc);
        if (!r || r->type != REDIS_REPLY_ERROR)
            return r;
        ht_redirect_t to;
        ht_redirect_kind_t kind = ht_cluster_parse_redirect(r->str, r->len, &to);
        if (kind == HT_REDIRECT_NONE) {
            ht_cluster_err_action_t act = ht_cluster_error_action(r->str);
            if (act == HT_CLUSTER_ERR_DROP)
                node_drop(n);
            if (act != HT_CLUSTER_ERR_NONE)
                c->map_ok = 0;
            return r; /* the caller judges the error (store.c: HT_EREDIS) */
        }
        freeReplyObject(r);
        if (kind == HT_REDIRECT_MOVED) {
            c->map_ok = 0;
            map_update(c); /* best effort: the redirect itself says where to go */
        }
        /* ":port" (an empty host) is the node we asked, on another port. */
        if (!(n = node_get(c, to.host[0] ? to.host : n->host, to.port))) {
            *rc = HT_ENOMEM;
            return NULL;
        }
        asking = kind == HT_REDIRECT_ASK;
    }
    set_err(c, "redis cluster: more than %d redirects for one command (slot %d)", MAX_REDIRECTS,
            slot);
    c->map_ok = 0;
    *rc = HT_EREDIS;
    return NULL;
}

int ht_rconn_masters(ht_rconn_t *c)
{
    if (!c->cluster)
        return c->n_nodes ? 1 : HT_ENOMEM;
    int rc;
    if (!c->map_ok && (rc = map_refresh(c)) < 0)
        return rc;
    return (int)c->map.n_nodes;
}

redisReply *ht_rconn_call_master(ht_rconn_t *c, int i, const ht_argv_t *a, int *rc)
{
    size_t masters = c->cluster ? c->map.n_nodes : c->n_nodes > 0;
    if (i < 0 || (size_t)i >= masters) { /* the map shrank since ht_rconn_masters() */
        set_err(c, "internal error: no redis master %d (%zu known)", i, masters);
        *rc = c->cluster || c->n_nodes ? HT_EINVAL : HT_ENOMEM;
        return NULL;
    }
    node_t *n = c->cluster ? node_get(c, c->map.nodes[i].host, c->map.nodes[i].port) : c->nodes[0];
    if (!n) {
        *rc = HT_ENOMEM;
        return NULL;
    }
    return send_on(c, n, a, 0, 0, rc);
}

void ht_rconn_master_name(const ht_rconn_t *c, int i, char *out, size_t len)
{
    if (i < 0 || (size_t)i >= (c->cluster ? c->map.n_nodes : c->n_nodes > 0))
        snprintf(out, len, "?");
    else if (c->cluster)
        addr_name(c->map.nodes[i].host, c->map.nodes[i].port, out, len);
    else
        addr_name(c->nodes[0]->host, c->nodes[0]->port, out, len);
}

/* ---- pub/sub ------------------------------------------------------------ */

/* One SUBSCRIBE naming all n channels on `ctx`, and its n confirmations
 * read (Redis writes them back to back: no message comes in between, and
 * one round trip however many partitions).  Returns 1 when all came. */
static int subscribe_on(ht_rconn_t *c, redisContext *ctx, const node_t *n,
                        const char *const *channels, size_t n_channels)
{
    const char **argv = malloc((n_channels + 1) * sizeof *argv);
    size_t *lens = malloc((n_channels + 1) * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        set_err(c, "redis: out of memory");
        return 0;
    }
    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    for (size_t i = 0; i < n_channels; i++) {
        argv[i + 1] = channels[i];
        lens[i + 1] = strlen(channels[i]);
    }
    redisReply *r = redisCommandArgv(ctx, (int)n_channels + 1, argv, lens);
    free(argv);
    free(lens);
    size_t confirmed = 0;
    while (r && r->type == REDIS_REPLY_ARRAY && ++confirmed < n_channels) {
        freeReplyObject(r);
        r = NULL;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK)
            r = NULL;
    }
    if (confirmed < n_channels) {
        char name[HT_CLUSTER_HOST_MAX + 8];
        addr_name(n->host, n->port, name, sizeof name);
        set_err(c, "redis at %s refused SUBSCRIBE: %s", name,
                r && r->type == REDIS_REPLY_ERROR ? r->str
                : ctx->errstr[0]                  ? ctx->errstr
                                                  : "unexpected reply");
    }
    freeReplyObject(r);
    return confirmed == n_channels;
}

int ht_rconn_subscribe_many(ht_rconn_t *c, const char *const *channels, size_t n)
{
    if (n == 0 || n > INT_MAX - 1)
        return HT_EINVAL;
    if (c->sub) {
        redisFree(c->sub);
        c->sub = NULL;
    }
    if (c->cluster)
        map_update(c); /* best effort: the nodes known so far may do */
    /* A cluster: the masters of the map, then every other address known. */
    if (c->cluster)
        for (size_t i = 0; i < c->map.n_nodes; i++)
            if (!node_get(c, c->map.nodes[i].host, c->map.nodes[i].port))
                return HT_ENOMEM;
    /* A node's connected context becomes the subscriber (a listener's
     * rconn is used for nothing else: no second idle connection); a later
     * command on that node would simply connect again. */
    for (size_t pass = 0; pass < 2 && !c->sub; pass++) {
        for (size_t i = 0; i < c->n_nodes && !c->sub; i++) {
            node_t *node = c->nodes[i];
            if (pass == 0 && !node->ctx)
                continue; /* first those connected already */
            redisContext *ctx = node->ctx ? node->ctx : connect_to(c, node);
            node->ctx = NULL;
            if (!ctx)
                continue;
            if (subscribe_on(c, ctx, node, channels, n))
                c->sub = ctx;
            else
                redisFree(ctx);
        }
    }
    return c->sub ? 0 : HT_EREDIS;
}

int ht_rconn_next_message(ht_rconn_t *c, int timeout_ms, redisReply **out)
{
    *out = NULL;
    if (!c->sub)
        return HT_EREDIS;
    /* Wait on the socket ourselves: a hiredis read timeout would leave the
     * context unusable, and a quiet channel is the normal case. */
    void *r = NULL;
    if (redisReaderGetReply(c->sub->reader, &r) != REDIS_OK)
        goto broken;
    if (!r) {
        struct pollfd pfd = {.fd = c->sub->fd, .events = POLLIN};
        int n = poll(&pfd, 1, timeout_ms);
        if (n == 0 || (n < 0 && errno == EINTR))
            return 0;
        if (n < 0 || redisBufferRead(c->sub) != REDIS_OK ||
            redisReaderGetReply(c->sub->reader, &r) != REDIS_OK)
            goto broken;
        if (!r)
            return 0; /* a partial message: the rest comes with the next call */
    }
    *out = r;
    return 1;

broken:
    set_err(c, "redis connection lost (subscriber): %s",
            c->sub->errstr[0] ? c->sub->errstr : "read error");
    redisFree(c->sub);
    c->sub = NULL;
    return HT_EREDIS;
}
