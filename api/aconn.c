/* One async Redis connection and its state machine (see aconn.h). */
#include "api/aconn.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- replies built in one block per connection -----------------------
 * hiredis' stock reply functions make one allocation per reply, per
 * element and per string, and hiredis frees each reply once its callback
 * returned, before it parses the next.  So a connection's reply objects
 * are carved from one block it keeps, and freeing a reply empties the
 * block; the objects of a reply the block cannot hold come from the heap,
 * freed with it.  Under AddressSanitizer the unused part of the block is
 * poisoned, so a reply read after its callback is still reported. */

#define REPLY_BLOCK 4096

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct spill {
    struct spill *next;
    _Alignas(max_align_t) unsigned char mem[];
} spill_t;

typedef struct {
    size_t used;
    spill_t *spill; /* heap objects of the reply being built */
    _Alignas(max_align_t) unsigned char mem[REPLY_BLOCK];
} rblock_t;

/* A reply object and the block it came from (freeObject has only the
 * reply). */
typedef struct {
    rblock_t *block;
    redisReply r;
} robj_t;

static void *rblock_alloc(rblock_t *b, size_t size)
{
    size_t need = (size + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    if (need <= REPLY_BLOCK - b->used) {
        void *p = b->mem + b->used;
        b->used += need;
        UNPOISON(p, size);
        return p;
    }
    spill_t *sp = malloc(sizeof(*sp) + size);
    if (!sp)
        return NULL;
    sp->next = b->spill;
    b->spill = sp;
    return sp->mem;
}

static void rblock_reset(rblock_t *b)
{
    while (b->spill) {
        spill_t *next = b->spill->next;
        free(b->spill);
        b->spill = next;
    }
    b->used = 0;
    POISON(b->mem, REPLY_BLOCK);
}

/* A new object of `type`, linked into its parent array as hiredis'
 * own functions do. */
static redisReply *robj_new(const redisReadTask *task, int type)
{
    rblock_t *b = task->privdata;
    robj_t *o = rblock_alloc(b, sizeof(*o));
    if (!o)
        return NULL;
    memset(o, 0, sizeof(*o));
    o->block = b;
    o->r.type = type;
    if (task->parent) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = &o->r;
    }
    return &o->r;
}

static void *r_string(const redisReadTask *task, char *str, size_t len)
{
    char *copy = rblock_alloc(task->privdata, len + 1);
    if (!copy)
        return NULL;
    redisReply *r = robj_new(task, task->type);
    if (!r)
        return NULL;
    memcpy(copy, str, len);
    copy[len] = '\0';
    r->str = copy;
    r->len = len;
    return r;
}

static void *r_array(const redisReadTask *task, int elements)
{
    redisReply **el = NULL;
    if (elements > 0 && !(el = rblock_alloc(task->privdata, (size_t)elements * sizeof(*el))))
        return NULL;
    if (el)
        memset(el, 0, (size_t)elements * sizeof(*el));
    redisReply *r = robj_new(task, REDIS_REPLY_ARRAY);
    if (!r)
        return NULL;
    r->element = el;
    r->elements = (size_t)(elements > 0 ? elements : 0);
    return r;
}

static void *r_integer(const redisReadTask *task, long long value)
{
    redisReply *r = robj_new(task, REDIS_REPLY_INTEGER);
    if (r)
        r->integer = value;
    return r;
}

static void *r_nil(const redisReadTask *task)
{
    return robj_new(task, REDIS_REPLY_NIL);
}

/* hiredis frees only whole replies: the block empties. */
static void r_free(void *reply)
{
    robj_t *o = (robj_t *)((char *)reply - offsetof(robj_t, r));
    rblock_reset(o->block);
}

static redisReplyObjectFunctions reply_fns = {r_string, r_array, r_integer, r_nil, r_free};

redisReader *ht_aconn_reader_new(void)
{
    rblock_t *b = calloc(1, sizeof(*b));
    redisReader *r = b ? redisReaderCreateWithFunctions(&reply_fns) : NULL;
    if (!r) {
        free(b);
        return NULL;
    }
    POISON(b->mem, REPLY_BLOCK);
    r->privdata = b;
    return r;
}

void ht_aconn_reader_free(redisReader *r)
{
    if (!r)
        return;
    rblock_t *b = r->privdata;
    redisReaderFree(r); /* frees a reply half read: the block empties */
    UNPOISON(b->mem, REPLY_BLOCK);
    free(b);
}

/* ---- hiredis' event hooks ---------------------------------------------
 * hiredis asks for read and write interest around every command and every
 * read; its stock libuv adapter restarts the poll handle each time, which
 * costs an epoll_ctl system call or two per request.  These hooks restart
 * it only when the interest changes (reading stays on while connected),
 * and a connection whose writes are held (ht_aconn_hold_writes) writes its
 * commands at once when released, asking for writability only when the
 * socket would block. */

typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    uv_poll_t poll;
    int want;  /* UV_READABLE | UV_WRITABLE, as hiredis asked */
    int armed; /* what the poll handle watches */
    int hold;  /* writes held: a wish to write is noted, not armed */
    int held;  /* a write was wished while held */
    rblock_t replies;
} ev_t;

static void on_poll(uv_poll_t *h, int status, int events)
{
    ev_t *ev = h->data;
    if (status != 0) /* the tick learns of socket errors (socket_error) */
        return;
    if (ev->ac && (events & UV_READABLE))
        redisAsyncHandleRead(ev->ac);
    if (ev->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(ev->ac);
}

static void ev_arm(ev_t *ev)
{
    if (!ev->ac || ev->armed == ev->want)
        return;
    ev->armed = ev->want;
    if (ev->want)
        uv_poll_start(&ev->poll, ev->want, on_poll);
    else
        uv_poll_stop(&ev->poll);
}

static void ev_add_read(void *p)
{
    ev_t *ev = p;
    ev->want |= UV_READABLE;
    ev_arm(ev);
}

static void ev_del_read(void *p)
{
    ev_t *ev = p;
    ev->want &= ~UV_READABLE;
    ev_arm(ev);
}

static void ev_add_write(void *p)
{
    ev_t *ev = p;
    if (ev->hold) {
        ev->held = 1;
        return;
    }
    ev->want |= UV_WRITABLE;
    ev_arm(ev);
}

static void ev_del_write(void *p)
{
    ev_t *ev = p;
    ev->held = 0;
    ev->want &= ~UV_WRITABLE;
    ev_arm(ev);
}

static void ev_closed(uv_handle_t *h)
{
    ev_t *ev = h->data;
    rblock_reset(&ev->replies);
    UNPOISON(ev->replies.mem, REPLY_BLOCK);
    free(ev);
}

static void ev_cleanup(void *p)
{
    ev_t *ev = p;
    ev->ac = NULL;
    uv_close((uv_handle_t *)&ev->poll, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    if (ac->ev.data)
        return HT_EINVAL;
    ev_t *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return HT_ENOMEM;
    if (uv_poll_init(loop, &ev->poll, ac->c.fd) != 0) {
        free(ev);
        return HT_EINVAL;
    }
    ev->poll.data = ev;
    ev->ac = ac;
    POISON(ev->replies.mem, REPLY_BLOCK);
    ac->c.reader->fn = &reply_fns;
    ac->c.reader->privdata = &ev->replies;
    ac->ev.data = ev;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

void ht_aconn_hold_writes(ht_aconn_t *c)
{
    if (c->ac && c->ac->ev.data)
        ((ev_t *)c->ac->ev.data)->hold = 1;
}

void ht_aconn_write_held(ht_aconn_t *c)
{
    if (!c->ac || !c->ac->ev.data)
        return;
    ev_t *ev = c->ac->ev.data;
    ev->hold = 0;
    if (!ev->held)
        return;
    ev->held = 0;
    if (c->state == HT_ACONN_READY && (c->ac->c.flags & REDIS_CONNECTED))
        redisAsyncHandleWrite(c->ac); /* asks for writability if it would block */
    else
        ev_add_write(ev); /* still connecting: written once writable */
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
    if (ev_attach(ac, c->loop_) != 0) {
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
