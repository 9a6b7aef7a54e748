/* Held requests (see wait.h): the plan, the waiter's state machine, the
 * 102 heartbeats written to the socket behind h2o's back, and the list of
 * this thread's waiters (for the limit and for shutdown). */
#include "api/wait.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/error.h"
#include "shared/log.h"
#include "shared/query.h"

#include "api/metrics_counters.h"
#include "api/parts.h"
#include "api/store.h"
#include "api/thread.h"

/* ---- the plan ------------------------------------------------------------ */

/* The first "name=" of the query counts, as in Prefer (shared/query.h
 * decodes it; a malformed query string is the handler's 400, answered by
 * ht_http_query_or_reply before it comes here). */
static void query_param(h2o_req_t *req, h2o_iovec_t query, const char *name, long *out)
{
    char *scratch = h2o_mem_alloc_pool(&req->pool, query.len + 2);
    const char *v;
    long secs;
    if (ht_query_get(query.base, query.len, name, scratch, &v) == 1 &&
        ht_prefer_seconds(v, strlen(v), &secs) == 0)
        *out = secs;
}

void ht_wait_prefer_of(h2o_req_t *req, ht_prefer_t *out)
{
    ht_prefer_init(out);
    for (ssize_t i = -1;
         (i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("prefer"), i)) != -1;)
        ht_prefer_parse(out, req->headers.entries[i].value.base, req->headers.entries[i].value.len);
    if (req->query_at == SIZE_MAX || req->query_at >= req->path.len)
        return;
    h2o_iovec_t query =
        h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    if (out->wait_s < 0)
        query_param(req, query, "wait", &out->wait_s);
    if (out->heartbeat_s < 0)
        query_param(req, query, "heartbeat", &out->heartbeat_s);
}

void ht_wait_plan(ht_wait_plan_t *out, const ht_prefer_t *prefer, long max_wait_s,
                  long default_heartbeat_ms, int http_version)
{
    memset(out, 0, sizeof(*out));
    out->respond_async = prefer->respond_async;
    out->heartbeat_s = -1;
    out->max_beats = -1;
    long wait_s = prefer->wait_s > max_wait_s ? max_wait_s : prefer->wait_s;
    if (wait_s <= 0)
        return; /* not asked, wait=0, or holding disabled by the cap */
    out->wait_s = wait_s;
    out->wait_ms = wait_s * 1000;

    int http1 = http_version >= 0x100 && http_version < 0x200;
    long hb_ms = default_heartbeat_ms;
    if (prefer->heartbeat_s == 0) {
        hb_ms = 0;
    } else if (prefer->heartbeat_s > 0) {
        long s = prefer->heartbeat_s;
        s = s < HT_WAIT_HEARTBEAT_MIN_S ? HT_WAIT_HEARTBEAT_MIN_S : s;
        s = s > HT_WAIT_HEARTBEAT_MAX_S ? HT_WAIT_HEARTBEAT_MAX_S : s;
        hb_ms = s * 1000;
    }
    if (http_version == 0x101) {
        out->heartbeat_ms = hb_ms;
        if (prefer->heartbeat_s >= 0)
            out->heartbeat_s = hb_ms / 1000;
    }
    /* HTTP/1 without 102s still looks for a client that hung up, at the
     * default pace; HTTP/2 needs nothing (h2o keeps reading there). */
    if (http1)
        out->check_ms = out->heartbeat_ms > 0 ? out->heartbeat_ms : default_heartbeat_ms;
}

/* Clients that mistake a 102 for the final answer, by User-Agent prefix
 * (case-sensitive, as the clients send it), and the 102s each may get when
 * it asked for no heartbeat itself.  Only clients tried here belong in it
 * (tests/integration/test_clients.sh, docs/http-api.md's client table). */
static const struct {
    const char *prefix;
    int max_beats;
} client_policy[] = {
    {"Python-urllib/", 0},   /* urllib.request: the first 102 is its answer */
    {"python-requests/", 0}, /* requests (urllib3 on http.client): the same */
    {"python-urllib3/", 0},  /* urllib3 alone: the same */
    {"Go-http-client/", 4},  /* net/http: "too many 1xx informational responses" on the 5th */
};

void ht_wait_plan_client(ht_wait_plan_t *plan, const ht_prefer_t *prefer, const char *ua,
                         size_t len)
{
    if (!ua || prefer->heartbeat_s >= 0)
        return; /* no name to go by, or the client chose its heartbeat */
    for (size_t i = 0; i < sizeof(client_policy) / sizeof(client_policy[0]); i++) {
        size_t plen = strlen(client_policy[i].prefix);
        if (len < plen || memcmp(ua, client_policy[i].prefix, plen) != 0)
            continue;
        plan->max_beats = client_policy[i].max_beats;
        if (plan->max_beats == 0)
            plan->heartbeat_ms = 0; /* check_ms keeps looking for a client gone */
        return;
    }
}

void ht_wait_plan_client_of(ht_wait_plan_t *plan, const ht_prefer_t *prefer, h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_USER_AGENT, -1);
    if (i < 0)
        ht_wait_plan_client(plan, prefer, NULL, 0);
    else
        ht_wait_plan_client(plan, prefer, req->headers.entries[i].value.base,
                            req->headers.entries[i].value.len);
}

size_t ht_wait_applied(const ht_wait_plan_t *plan, int held, int async_answer, char *buf,
                       size_t len)
{
    /* The longest: "respond-async, wait=2147483648, heartbeat=60". */
    char all[96] = "";
    size_t n = 0;
    if (len == 0)
        return 0;
    if (!(plan->respond_async && async_answer) && !(held && plan->wait_s > 0)) {
        buf[0] = '\0'; /* the common case: nothing applied */
        return 0;
    }
    /* respond-async is applied whenever the answer is a 202 */
    if (plan->respond_async && async_answer)
        n = (size_t)snprintf(all, sizeof(all), "respond-async");
    if (held && plan->wait_s > 0) {
        n += (size_t)snprintf(all + n, sizeof(all) - n, "%swait=%ld", n ? ", " : "", plan->wait_s);
        if (plan->heartbeat_s >= 0)
            snprintf(all + n, sizeof(all) - n, ", heartbeat=%ld", plan->heartbeat_s);
    }
    snprintf(buf, len, "%s", all);
    return strlen(buf);
}

/* ---- what ends a wait ---------------------------------------------------- */

int ht_wait_event_needs_read(ht_wait_mode_t mode, uint64_t version, const ht_job_event_t *ev)
{
    if (!ev)
        return 1; /* "ready": something may have been missed */
    if (mode == HT_WAIT_TERMINAL)
        return ht_job_status_terminal(ev->status);
    return ev->version != version;
}

int ht_wait_job_done(ht_wait_mode_t mode, uint64_t version, const ht_job_t *job)
{
    if (mode == HT_WAIT_TERMINAL)
        return ht_job_status_terminal(job->status);
    return job->version != version;
}

/* ---- the waiter ------------------------------------------------------------ */

typedef enum {
    W_HOLDING,   /* waiting for the job, the deadline, or the client to go */
    W_DUE,       /* the answer is due; it waits for a 102 write to complete */
    W_ANSWERING, /* answered, or reading the job for the answer */
    W_DISPOSED,  /* h2o disposed of the request */
} wstate_t;

typedef struct waiter waiter_t;

/* malloc'd, not in the request's pool: the timer handle must outlive the
 * request until libuv closes it, and a 102 write in flight must find it.
 * References: the request (until h2o disposes of it), the timer (until its
 * close callback), a 102 write (until its callback or the socket's close). */
struct waiter {
    ht_api_thread_t *t;
    h2o_req_t *req; /* NULL once disposed */
    char id[HT_ID_LEN + 1];
    ht_wait_mode_t mode;
    uint64_t version;
    long heartbeat_ms, check_ms;
    int max_beats, beats; /* the plan's cap on 102s (-1: none), 102s written */
    ht_wait_answer_cb cb;
    void *data;
    wstate_t state;
    ht_wait_end_t due_end;
    int refs;
    ht_watch_t *watch;
    uv_timer_t timer;
    uint64_t deadline, next_beat, stall_at; /* uv_now() ms */
    int reading, reread;
    uint64_t retry_at; /* uv_now() ms of the next read after Redis trouble; 0: none */
    long retry_ms;     /* the wait before the read after the next failed one */
    /* a 102 in flight: the socket and what h2o had in sock->data */
    int writing;
    h2o_socket_t *sock;
    void *sock_data;
    void (*sock_close_cb)(void *); /* the socket's on_close hook, lent to us meanwhile */
    void *sock_close_data;
    waiter_t *prev, *next; /* this thread's list, while holding */
};

/* This thread's held requests.  Each api thread runs one loop, so a
 * thread-local list needs no lock. */
static __thread waiter_t *held_head;
static __thread size_t held_count;

static const char heartbeat_text[] = "HTTP/1.1 102 Processing\r\n\r\n";

int ht_wait_has_room(void)
{
    return held_count < HT_WAIT_MAX_PER_THREAD;
}

static void unref(waiter_t *w)
{
    if (--w->refs > 0)
        return;
    ht_log(HT_LOG_DEBUG, "held request freed", "id", w->id, NULL);
    free(w);
}

static void on_timer_closed(uv_handle_t *h)
{
    unref(h->data);
}

static void unlist(waiter_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (held_head == w)
        held_head = w->next;
    else
        return; /* not listed */
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    held_count--;
    ht_metrics_add(w->mode == HT_WAIT_TERMINAL ? HT_M_HELD_SYNC : HT_M_HELD_POLL, -1);
}

/* Stops everything that could start more work: the watch, the timer, the
 * place in the thread's list. */
static void stop_holding(waiter_t *w)
{
    if (w->watch) {
        ht_watch_remove(w->watch);
        w->watch = NULL;
    }
    uv_timer_stop(&w->timer);
    unlist(w);
}

static void answer(waiter_t *w, ht_wait_end_t end, int err, const ht_job_t *job)
{
    w->state = W_ANSWERING;
    /* The timer's reference keeps w alive even if h2o disposes of the
     * request inside the callback. */
    w->cb(w->data, w->req, end, err, job);
}

static void on_final_read(void *data, int err, const ht_job_t *job)
{
    waiter_t *w = data;
    if (w->state != W_ANSWERING)
        return;
    if (err == 0 && ht_wait_job_done(w->mode, w->version, job))
        w->cb(w->data, w->req, HT_WAIT_DONE, 0, job);
    else
        w->cb(w->data, w->req, err == HT_ENOTFOUND ? HT_WAIT_DONE : HT_WAIT_TIMEOUT, err, job);
}

/* The answer is due and no write is in flight: answer now, or read the job
 * first when the answer needs a document we do not have. */
static void finish(waiter_t *w, ht_wait_end_t end, int err, const ht_job_t *job)
{
    if (end == HT_WAIT_ABORTED || job || err) {
        answer(w, end, err, job);
        return;
    }
    w->state = W_ANSWERING;
    ht_keys_t scratch;
    ht_astore_get(w->t->store, w->req, ht_api_keys_of(w->t, w->id, &scratch), w->id, on_final_read,
                  w);
}

static void on_timer(uv_timer_t *timer);

static void schedule(waiter_t *w)
{
    uint64_t now = uv_now(w->timer.loop), at;
    if (w->state == W_DUE) {
        at = w->stall_at;
    } else {
        at = w->deadline;
        if (w->check_ms > 0 && w->next_beat < at)
            at = w->next_beat;
        if (w->retry_at && w->retry_at < at)
            at = w->retry_at;
    }
    uv_timer_start(&w->timer, on_timer, at > now ? at - now : 0, 0);
}

/* Ends the wait with `end`: now, or once the 102 in flight is written. */
static void deliver(waiter_t *w, ht_wait_end_t end, int err, const ht_job_t *job)
{
    if (w->state != W_HOLDING)
        return;
    stop_holding(w);
    if (w->writing) {
        w->state = W_DUE;
        w->due_end = end;
        w->stall_at = uv_now(w->timer.loop) + HT_WAIT_STALL_MS;
        schedule(w);
        return;
    }
    finish(w, end, err, job);
}

/* ---- reading the job on notifications ------------------------------------- */

static void check(waiter_t *w);

static void on_check_read(void *data, int err, const ht_job_t *job)
{
    waiter_t *w = data;
    w->reading = 0;
    if (w->state != W_HOLDING)
        return;
    if (err == 0 && ht_wait_job_done(w->mode, w->version, job)) {
        deliver(w, HT_WAIT_DONE, 0, job);
        return;
    }
    if (err == HT_ENOTFOUND) {
        deliver(w, HT_WAIT_DONE, err, NULL); /* expired while we waited */
        return;
    }
    if (w->reread) {
        w->reread = 0;
        check(w);
        return;
    }
    if (err == 0) {
        w->retry_at = 0;
        w->retry_ms = 0;
        return;
    }
    /* Redis trouble: the notification that asked for this read may be the
     * last (a job that changed while the thread's command connection was
     * away, told by a subscriber that came back first), so read again
     * later, sooner than the deadline, backing off while the trouble
     * lasts. */
    w->retry_ms = w->retry_ms ? w->retry_ms * 2 : HT_WAIT_RETRY_MIN_MS;
    if (w->retry_ms > HT_WAIT_RETRY_MAX_MS)
        w->retry_ms = HT_WAIT_RETRY_MAX_MS;
    w->retry_at = uv_now(w->timer.loop) + (uint64_t)w->retry_ms;
    schedule(w);
}

/* Each read while holding marks the job watched until the deadline (and
 * WATCH_SLACK_MS after: a note then still finds the request, or the last
 * read answers), so that its changes are published (api/store.h
 * ht_astore_watch): the "ready" of the watch reads first, so no change
 * after that read goes unnoticed. */
#define WATCH_SLACK_MS 2000

static void check(waiter_t *w)
{
    if (w->reading) {
        w->reread = 1; /* one read at a time; read again when it returns */
        return;
    }
    w->reading = 1;
    uint64_t now = uv_now(w->timer.loop);
    long left_ms = w->deadline > now ? (long)(w->deadline - now) : 0;
    ht_keys_t scratch;
    ht_astore_watch(w->t->store, w->req, ht_api_keys_of(w->t, w->id, &scratch), w->id,
                    left_ms + WATCH_SLACK_MS, on_check_read, w);
}

static void on_watch(void *data, const ht_job_event_t *ev)
{
    waiter_t *w = data;
    if (w->state == W_HOLDING && ht_wait_event_needs_read(w->mode, w->version, ev))
        check(w);
}

/* ---- 102 Processing and the client's presence ------------------------------ */

/* The HTTP/1 socket of the request, or NULL when it must not be touched. */
static h2o_socket_t *http1_socket(waiter_t *w)
{
    if (!w->req || w->req->version < 0x100 || w->req->version >= 0x200)
        return NULL;
    return w->req->conn->callbacks->get_socket(w->req->conn);
}

/* 1 when the client closed or reset the connection.  h2o is not reading
 * while the request is held, so look without taking anything: the TCP
 * state leaves CLOSE_WAIT-style traces of a FIN even behind pipelined bytes
 * that are still unread; a peek is the fallback for other sockets. */
static int client_gone(h2o_socket_t *sock)
{
    int fd = h2o_socket_get_fd(sock);
    if (fd < 0)
        return 1;
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0)
        return ti.tcpi_state != TCP_ESTABLISHED;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return 0;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    return 1;
}

int ht_wait_client_gone(h2o_req_t *req)
{
    if (req->version < 0x100 || req->version >= 0x200)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    return sock && client_gone(sock);
}

/* Gives the socket back to h2o as it was. */
static void release_socket(waiter_t *w)
{
    w->sock->data = w->sock_data;
    w->sock->on_close.cb = w->sock_close_cb;
    w->sock->on_close.data = w->sock_close_data;
    w->sock = NULL;
    w->writing = 0;
}

static void client_left(waiter_t *w, const char *how)
{
    ht_log(HT_LOG_DEBUG, "held request: client gone", "id", w->id, "detail", how, NULL);
    if (w->req)
        w->req->http1_is_persistent = 0; /* h2o closes after its (failing) write */
    if (w->state == W_HOLDING)
        deliver(w, HT_WAIT_ABORTED, 0, NULL);
    else if (w->state == W_DUE)
        w->due_end = HT_WAIT_ABORTED;
}

static void on_heartbeat_written(h2o_socket_t *sock, const char *err)
{
    waiter_t *w = sock->data;
    release_socket(w);
    if (!err)
        ht_metrics_add(HT_M_PROCESSING_SENT, 1);
    if (w->req && err)
        client_left(w, err);
    if (w->req && w->state == W_DUE) {
        uv_timer_stop(&w->timer);
        finish(w, w->due_end, 0, NULL);
    }
    unref(w);
}

/* h2o closed the socket while our write was in flight (it then never calls
 * the write callback).  Not expected while we hold the request; handled so
 * that the waiter is freed whatever happens.  The hook we borrowed runs
 * too (api/inflight.h counts connections with it). */
static void on_socket_closed(void *data)
{
    waiter_t *w = data;
    void (*cb)(void *) = w->sock_close_cb;
    void *cb_data = w->sock_close_data;
    w->sock = NULL;
    w->writing = 0;
    unref(w);
    if (cb)
        cb(cb_data);
}

static void send_heartbeat(waiter_t *w, h2o_socket_t *sock)
{
    /* One write at a time on a socket (h2o asserts it), and the socket's
     * on_close must not be borrowed already. */
    if (w->writing || sock->_cb.write != NULL || sock->on_close.cb == on_socket_closed)
        return;
    /* The write callback gets only the socket: lend it our pointer in
     * sock->data for the duration (h2o reads sock->data only in its own
     * socket callbacks, none of which can run while it is not reading and
     * not writing).  on_close catches the socket being closed meanwhile. */
    w->sock = sock;
    w->sock_data = sock->data;
    sock->data = w;
    w->sock_close_cb = sock->on_close.cb;
    w->sock_close_data = sock->on_close.data;
    sock->on_close.cb = on_socket_closed;
    sock->on_close.data = w;
    w->writing = 1;
    w->beats++;
    w->refs++;
    h2o_iovec_t buf = h2o_iovec_init(heartbeat_text, sizeof(heartbeat_text) - 1);
    h2o_socket_write(sock, &buf, 1, on_heartbeat_written);
}

static void beat(waiter_t *w)
{
    h2o_socket_t *sock = http1_socket(w);
    if (!sock)
        return;
    if (client_gone(sock)) {
        client_left(w, "connection closed");
        return;
    }
    if (w->heartbeat_ms > 0 && w->req->version == 0x101 &&
        (w->max_beats < 0 || w->beats < w->max_beats))
        send_heartbeat(w, sock);
}

static void on_timer(uv_timer_t *timer)
{
    waiter_t *w = timer->data;
    uint64_t now = uv_now(timer->loop);
    if (w->state == W_DUE) {
        /* The 102 has not been written for HT_WAIT_STALL_MS: the client
         * does not read.  Shutting the socket down fails that write, whose
         * callback then answers; h2o closes the connection after. */
        ht_log(HT_LOG_DEBUG, "held request: client not reading", "id", w->id, NULL);
        if (w->sock)
            shutdown(h2o_socket_get_fd(w->sock), SHUT_RDWR);
        return;
    }
    if (w->state != W_HOLDING)
        return;
    if (now >= w->deadline) {
        deliver(w, HT_WAIT_TIMEOUT, 0, NULL);
        return;
    }
    if (w->retry_at && now >= w->retry_at) {
        w->retry_at = 0;
        check(w);
        if (w->state != W_HOLDING)
            return;
    }
    if (w->check_ms > 0 && now >= w->next_beat) {
        /* Steady pace from the start, not from when this tick ran. */
        while (w->next_beat <= now)
            w->next_beat += (uint64_t)w->check_ms;
        beat(w);
        if (w->state != W_HOLDING)
            return;
    }
    schedule(w);
}

/* ---- the connection's input buffer while held ---------------------------------- */

/* libh2o 2.2.5 reads an HTTP/1 request into the socket's input buffer (8 KB
 * from its prototype) and keeps it until the response is sent: the
 * request's method, path, headers and body point into it.  A held request
 * uses a few hundred bytes of it for seconds or minutes, and the rest is
 * most of what the request costs (bench/README.md, "Where the memory of a
 * held request goes").  Nothing is read into the buffer while the request
 * is held (h2o stopped reading before it called the handler), so its tail
 * can go back to the allocator: realloc() to the bytes in use.
 *
 * Shrinking must not move the buffer (everything above points into it).
 * glibc's realloc() shrinks a heap chunk in place, always; a chunk of its
 * own mapping (mmap'd, far larger than this) could move, and sanitizers'
 * allocators always move: those are left alone.  h2o frees the buffer when
 * the request is consumed (capacity differs from the prototype's, so it
 * is freed rather than recycled), or grows it by copying if more arrives. */
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define CAN_SHRINK_INPUT 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#undef CAN_SHRINK_INPUT
#endif
#endif
/* Not worth a realloc below this much unused capacity. */
#define SHRINK_MIN_SPARE 1024

static size_t shrink_input(h2o_socket_t *sock)
{
#ifdef CAN_SHRINK_INPUT
    h2o_buffer_t *b = sock->input;
    /* Reading would grow the buffer by copying it elsewhere: never then. */
    if (!b || !b->bytes || !b->_prototype || b->_fd != -1 || sock->ssl ||
        h2o_socket_is_reading(sock))
        return 0;
    size_t used = (size_t)(b->bytes - b->_buf) + b->size;
    if (used == 0 || b->capacity - used < SHRINK_MIN_SPARE)
        return 0;
    /* glibc marks a chunk of its own mapping in the size word before it. */
    if (((const size_t *)(const void *)b)[-1] & 2)
        return 0;
    size_t freed = b->capacity - used;
    uintptr_t before = (uintptr_t)b;
    h2o_buffer_t *same = realloc(b, offsetof(h2o_buffer_t, _buf) + used);
    if ((uintptr_t)same != before)
        abort(); /* cannot happen with glibc (above); never run on with moved memory */
    same->capacity = used;
    return freed;
#else
    (void)sock;
    return 0;
#endif
}

/* ---- the request's side ------------------------------------------------------ */

/* h2o disposes of the request: answered and sent, or the client is gone. */
static void on_request_disposed(void *p)
{
    waiter_t *w = *(waiter_t **)p;
    if (w->state == W_HOLDING || w->state == W_DUE)
        ht_log(HT_LOG_DEBUG, "held request: disposed before its answer", "id", w->id, NULL);
    stop_holding(w);
    w->state = W_DISPOSED;
    w->req = NULL;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
    unref(w);
}

int ht_wait_hold(h2o_req_t *req, const char *id, ht_wait_mode_t mode, uint64_t version,
                 const ht_wait_plan_t *plan, ht_wait_answer_cb cb, void *data)
{
    ht_api_thread_t *t = ht_api_thread_of(req);
    if (!ht_wait_has_room())
        return -EBUSY;
    if (!t->pubsub)
        return HT_EREDIS;
    waiter_t *w = calloc(1, sizeof(*w));
    if (!w)
        return HT_ENOMEM;
    w->t = t;
    w->req = req;
    snprintf(w->id, sizeof(w->id), "%s", id);
    w->mode = mode;
    w->version = version;
    w->heartbeat_ms = plan->heartbeat_ms;
    w->max_beats = plan->max_beats;
    w->check_ms = plan->check_ms;
    w->cb = cb;
    w->data = data;
    w->state = W_HOLDING;
    if (!(w->watch = ht_watch_add(t->pubsub, id, on_watch, w))) {
        free(w);
        return HT_ENOMEM;
    }
    w->refs = 2; /* the request and the timer */
    uv_timer_init(&t->loop, &w->timer);
    w->timer.data = w;
    waiter_t **link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_request_disposed);
    *link = w;

    w->next = held_head;
    if (held_head)
        held_head->prev = w;
    held_head = w;
    held_count++;
    ht_metrics_add(mode == HT_WAIT_TERMINAL ? HT_M_HELD_SYNC : HT_M_HELD_POLL, 1);

    h2o_socket_t *sock = http1_socket(w);
    if (sock)
        shrink_input(sock);

    uint64_t now = uv_now(&t->loop);
    w->deadline = now + (uint64_t)plan->wait_ms;
    w->next_beat = now + (uint64_t)plan->check_ms;
    schedule(w);
    ht_log(HT_LOG_DEBUG, "held request", "id", id, "mode",
           mode == HT_WAIT_TERMINAL ? "terminal" : "change", NULL);
    return 0;
}

void ht_wait_release_all(void)
{
    while (held_head) {
        waiter_t *w = held_head;
        /* Tell HTTP/1 clients to reconnect (to another instance). */
        if (w->req->version < 0x200)
            w->req->http1_is_persistent = 0;
        deliver(w, HT_WAIT_ABORTED, 0, NULL);
    }
}
