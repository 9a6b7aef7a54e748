/* One async Redis connection and its state machine (see aconn.h). */
#include "api/aconn.h"

#include <errno.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/argv.h"
#include "shared/error.h"
#include "shared/log.h"

/* The log fields naming the node, last before the NULL: a connection with
 * no name (a single node) ends the list there. */
#define NODE_FIELD(c) (c)->name[0] ? "node" : NULL, (c)->name

static int seeds_mode(const ht_aconn_t *c)
{
    return c->port == 0 && c->url_->kind == HT_REDIS_CLUSTER;
}

static void name_seed(ht_aconn_t *c)
{
    snprintf(c->name, sizeof(c->name), "%s:%d", c->url_->seeds[c->seed_].host,
             c->url_->seeds[c->seed_].port);
}

int ht_aconn_init(ht_aconn_t *c, uv_loop_t *loop, const ht_redis_url_t *url, const char *host,
                  int port, const ht_aconn_opts_t *opts, void *data)
{
    memset(c, 0, sizeof(*c));
    if (host) {
        size_t len = strlen(host);
        if (len >= sizeof(c->host))
            return HT_EINVAL;
        memcpy(c->host, host, len + 1);
        c->port = port;
        snprintf(c->name, sizeof(c->name), "%s:%d", host, port);
    }
    c->loop_ = loop;
    c->url_ = url;
    c->opts_ = opts;
    c->data = data;
    c->wanted = 1;
    c->outage_logged_ = opts->quiet_start;
    c->state = HT_ACONN_DOWN;
    c->state_since_ = uv_now(loop);
    if (seeds_mode(c))
        name_seed(c);
    return 0;
}

/* "<label> <what>" for a log line. */
static const char *msg(const ht_aconn_t *c, const char *what, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s", c->opts_->label, what);
    return buf;
}

static void set_state(ht_aconn_t *c, ht_aconn_state_t st)
{
    c->state = st;
    c->state_since_ = uv_now(c->loop_);
}

/* An attempt or a connection ended (`why` NULL: on purpose, not logged as
 * an outage).  on_down fires when c was connecting or ready. */
static void mark_down(ht_aconn_t *c, const char *why, int hook)
{
    char buf[64];
    ht_aconn_state_t was = c->state;
    ht_log(HT_LOG_DEBUG, msg(c, "down", buf, sizeof(buf)), "detail", why ? why : "closed",
           NODE_FIELD(c), NULL);
    if (was == HT_ACONN_READY || !c->outage_logged_) {
        if (why)
            ht_log(HT_LOG_WARN, msg(c, "unavailable", buf, sizeof(buf)), "detail", why,
                   NODE_FIELD(c), NULL);
        c->outage_logged_ = 1;
    }
    set_state(c, HT_ACONN_DOWN);
    if (seeds_mode(c)) { /* another node next time */
        c->seed_ = (c->seed_ + 1) % c->url_->n_seeds;
        name_seed(c);
    }
    if (hook && was != HT_ACONN_DOWN && c->opts_->on_down)
        c->opts_->on_down(c);
}

static void drop(ht_aconn_t *c, const char *why, int hook)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    mark_down(c, why, hook);
    if (ac) {
        ac->data = NULL; /* tells on_connect/on_disconnect it is no longer ours */
        redisAsyncFree(ac);
    }
}

void ht_aconn_drop(ht_aconn_t *c, const char *why)
{
    drop(c, why, 1);
}

void ht_aconn_close(ht_aconn_t *c)
{
    c->wanted = 0;
    c->outage_logged_ = 1; /* a deliberate close is not an outage to report */
    drop(c, NULL, 0);
}

void ht_aconn_lost(ht_aconn_t *c, const redisAsyncContext *ac)
{
    if (c->ac != ac || !ac)
        return;
    c->ac = NULL; /* hiredis frees the context */
    mark_down(c, ac->errstr[0] ? ac->errstr : "connection lost", 1);
}

/* The connection is [ready] once Redis answered the PING queued behind the
 * login: a TCP connect alone proves nothing (a stopped Redis still accepts
 * connections into its backlog). */
static void on_first_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    ht_aconn_t *c = ac->data;
    if (!c || c->ac != ac || !reply || c->state != HT_ACONN_CONNECTING)
        return;
    set_state(c, HT_ACONN_READY);
    if (c->outage_logged_ && (c->ever_ready_ || !c->opts_->quiet_start)) {
        char buf[64];
        ht_log(HT_LOG_INFO, msg(c, "connected", buf, sizeof(buf)), NODE_FIELD(c), NULL);
    }
    c->outage_logged_ = 0;
    c->ever_ready_ = 1;
    if (c->opts_->on_ready)
        c->opts_->on_ready(c);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    ht_aconn_t *c = ac->data;
    if (!c)
        return;
    if (status != REDIS_OK) {
        c->ac = NULL; /* hiredis frees the context when we return */
        mark_down(c, ac->errstr[0] ? ac->errstr : "connect failed", 1);
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    ht_aconn_t *c = ac->data;
    if (!c || c->ac != ac)
        return;
    c->ac = NULL; /* hiredis frees the context when we return */
    mark_down(c, ac->errstr[0] ? ac->errstr : "connection closed", 1);
}

/* AUTH and SELECT answers: a refusal makes the connection useless. */
static void on_login_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)privdata;
    const redisReply *r = reply;
    ht_aconn_t *c = ac->data;
    if (!c || c->ac != ac || !r || r->type != REDIS_REPLY_ERROR)
        return;
    ht_log(HT_LOG_ERROR, "redis refused login", "detail", r->str, NODE_FIELD(c), NULL);
    drop(c, NULL, 1);
}

void ht_aconn_connect(ht_aconn_t *c)
{
    if (c->state != HT_ACONN_DOWN)
        return;
    const ht_redis_url_t *url = c->url_;
    redisAsyncContext *ac;
    if (c->port > 0)
        ac = redisAsyncConnect(c->host, c->port);
    else if (url->kind == HT_REDIS_UNIX)
        ac = redisAsyncConnectUnix(url->path);
    else if (seeds_mode(c))
        ac = redisAsyncConnect(url->seeds[c->seed_].host, url->seeds[c->seed_].port);
    else
        ac = redisAsyncConnect(url->host, url->port);
    if (!ac) {
        mark_down(c, "out of memory", 0);
        return;
    }
    if (ac->err) {
        mark_down(c, ac->errstr, 0);
        redisAsyncFree(ac);
        return;
    }
    if (redisLibuvAttach(ac, c->loop_) != REDIS_OK) {
        mark_down(c, "cannot attach to the event loop", 0);
        redisAsyncFree(ac);
        return;
    }
    ac->data = c;
    if (c->opts_->keepalive && url->kind != HT_REDIS_UNIX)
        redisEnableKeepAlive(&ac->c);
    ht_argv_t cmds[2];
    size_t n = ht_redis_login_cmds(url, c->opts_->select_db, cmds);
    for (size_t i = 0; i < n; i++) {
        redisAsyncCommandArgv(ac, on_login_reply, NULL, (int)cmds[i].n, cmds[i].v, cmds[i].len);
        ht_argv_clear(&cmds[i]);
    }
    redisAsyncCommand(ac, on_first_reply, NULL, "PING");
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    set_state(c, HT_ACONN_CONNECTING);
    char buf[64];
    ht_log(HT_LOG_DEBUG, msg(c, "connecting", buf, sizeof(buf)), NODE_FIELD(c), NULL);
}

/* The error pending on the connection's socket, 0 when none: how we learn
 * of a refused connect or a reset connection, which hiredis' libuv adapter
 * (it ignores poll errors) never reports. */
static int socket_error(const ht_aconn_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (!c->ac || c->ac->c.fd < 0)
        return 0;
    if (getsockopt(c->ac->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

void ht_aconn_tick(ht_aconn_t *c)
{
    int err = c->state == HT_ACONN_DOWN ? 0 : socket_error(c);
    if (err) {
        char buf[128];
        drop(c, strerror_r(err, buf, sizeof(buf)), 1); /* and retry at once, below */
    }
    uint64_t now = uv_now(c->loop_);
    switch (c->state) {
    case HT_ACONN_DOWN:
        if (c->wanted)
            ht_aconn_connect(c);
        break;
    case HT_ACONN_CONNECTING:
        if (now - c->state_since_ >= HT_ACONN_CONNECT_TIMEOUT_MS)
            drop(c, "connect timed out", 1);
        break;
    case HT_ACONN_READY:
        if (c->pending > 0 && now - c->last_progress_ >= HT_ACONN_REPLY_TIMEOUT_MS) {
            /* libuv runs timers before it polls: after a loop iteration
             * longer than the timeout (a burst of thousands of requests),
             * the replies may be sitting unread in the socket.  Read them
             * first; only silence after that means a dead connection. */
            redisAsyncHandleRead(c->ac);
            if (c->state == HT_ACONN_READY && c->pending > 0 &&
                uv_now(c->loop_) - c->last_progress_ >= HT_ACONN_REPLY_TIMEOUT_MS)
                drop(c, "reply overdue: connection presumed dead", 1);
        } else if (!c->wanted && c->pending == 0) {
            c->outage_logged_ = 1; /* closed because unneeded, not lost */
            drop(c, NULL, 1);
        }
        break;
    }
}

void ht_aconn_sent(ht_aconn_t *c)
{
    if (c->pending++ == 0)
        c->last_progress_ = uv_now(c->loop_);
}

void ht_aconn_answered(ht_aconn_t *c)
{
    if (c->pending > 0)
        c->pending--;
    c->last_progress_ = uv_now(c->loop_);
}
