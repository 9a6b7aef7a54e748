/* Upload bodies straight from the socket (see intake.h).
 *
 * What this relies on in libh2o 2.2.5 (lib/http1.c), checked where it can
 * be and documented in docs/files.md:
 *   - an HTTP/1 connection reads through sock->_cb.read, set by
 *     h2o_socket_read_start() to h2o's reqread_on_read; the wrapper calls
 *     that function after looking at the bytes, so h2o sees every read;
 *   - h2o parses a head as soon as a read completes it, synchronously, and
 *     with no Content-Length or Transfer-Encoding runs the handler at once
 *     (set_timeout(conn, NULL); h2o_socket_read_stop(); process_request()),
 *     in the same call: the router claims the withheld body before the
 *     wrapper returns;
 *   - the head stays at the start of sock->input until the response is
 *     sent, and h2o then consumes exactly the head's length (_reqsize):
 *     body bytes are removed from the buffer here as they are read, so what
 *     follows the body is what h2o parses next;
 *   - with no body, h2o does not copy the head into the request's pool: the
 *     buffer must not move while the request lives.  The wrapper reserves
 *     room for a whole piece before h2o parses the head, and reading keeps
 *     the buffer below that size, so h2o_buffer_reserve() never moves it;
 *   - after each response h2o calls h2o_socket_read_start() again with its
 *     own callback (on_send_complete, inside which the request is disposed
 *     of): the request's dispose hook notes the socket, and a prepare and a
 *     check handle wrap it again before the loop's next poll, and before
 *     its closing phase could free it.  A head h2o parses before that (one
 *     already in the buffer: a pipelined request) goes h2o's own way. */
#include "api/intake.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "shared/error.h"
#include "shared/id.h"
#include "shared/log.h"

#include "api/http.h"

/* Room for one read of this much before h2o parses a head it will not read
 * the body of: every later read fits without moving the buffer. */
#define ROOM (256u << 10)
/* h2o's own bound on a head (H2O_MAX_REQLEN in Debian's build). */
#define HEAD_MAX 417792
/* Bounds on chunked framing: hex digits of a size, a size line's
 * extensions, the trailer section. */
#define CHUNK_HEX_MAX 15
#define CHUNK_EXT_MAX 4096
#define TRAILER_MAX   8192

typedef enum {
    C_SIZE,    /* hex digits of the next chunk's size */
    C_EXT,     /* ";ext" after the size, to the end of the line */
    C_SIZE_LF, /* '\n' after the size line's '\r' */
    C_DATA,    /* left bytes of data */
    C_DATA_CR, /* '\r' or '\n' after the data */
    C_DATA_LF, /* '\n' after that '\r' */
    C_TRAILER, /* the start of a trailer line (an empty one ends the body) */
    C_TRAILER_LINE,
    C_LAST_LF, /* '\n' after the last empty line's '\r' */
} chunk_state_t;

struct ht_intake {
    h2o_socket_t *sock;
    h2o_req_t *req; /* once claimed */
    int chunked;
    uint64_t length; /* Content-Length */
    size_t body_off; /* where the body starts in sock->input: the head's length */
    int expect_continue;
    int persistent; /* h2o's keep-alive decision, restored once the body is all read */
    /* reading */
    uint64_t max, got;
    ht_intake_data_cb on_data;
    ht_intake_end_cb on_end;
    void *ud;
    int started, reading, paused, ended, writing_continue, end_due;
    int end_err;
    h2o_timeout_entry_t idle;
    /* chunked decoding */
    chunk_state_t cs;
    uint64_t chunk_left;
    unsigned hex_count;
    size_t ext_len, trailer_len;
    ht_intake_t *next; /* this thread's list of bodies being read */
};

/* h2o's HTTP/1 read callback, learned at the first accept (the same
 * function in every thread). */
static h2o_socket_cb h2o_reqread;

/* This thread's: handles, sockets to wrap again, the head being parsed,
 * the bodies being read (their callbacks find them by socket). */
static __thread struct {
    int init;
    uv_prepare_t prepare;
    uv_check_t check;
    h2o_socket_t **marks;
    size_t n_marks, cap_marks;
    ht_intake_t *pending;
    ht_intake_t *active;
} tl;

static void on_read(h2o_socket_t *sock, const char *err);
static void on_idle(h2o_timeout_entry_t *entry);

/* ---- the head -------------------------------------------------------------- */

typedef struct {
    size_t end; /* the head's bytes, leading empty lines included */
    int odd;    /* something this scanner does not vouch for: leave it to h2o */
    h2o_iovec_t method, target;
    int minor;
    int n_cl, n_te, n_ct, n_upgrade, n_expect;
    size_t cl_name, te_name; /* offsets of the field names */
    h2o_iovec_t cl, te, ct, expect;
} head_t;

static int name_is(const char *p, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(p, want, n) == 0;
}

static int tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Finds the complete head at the start of b[0..n): 1 with *h filled, 0
 * when incomplete (or over HEAD_MAX: h2o refuses those itself). */
static int scan_head(const char *b, size_t n, head_t *h)
{
    memset(h, 0, sizeof(*h));
    if (n > HEAD_MAX)
        n = HEAD_MAX;
    size_t i = 0;
    while (i < n && (b[i] == '\r' || b[i] == '\n'))
        i++;
    size_t line = i, no = 0;
    for (; i < n; i++) {
        if (b[i] != '\n')
            continue;
        size_t end = i > line && b[i - 1] == '\r' ? i - 1 : i;
        const char *p = b + line;
        size_t len = end - line;
        if (no++ == 0) { /* the request line */
            const char *sp1 = memchr(p, ' ', len);
            const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(p + len - sp1 - 1)) : NULL;
            if (!sp1 || !sp2 || p + len - sp2 != 9 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
                (sp2[8] != '0' && sp2[8] != '1')) {
                h->odd = 1;
            } else {
                h->method = h2o_iovec_init(p, (size_t)(sp1 - p));
                h->target = h2o_iovec_init(sp1 + 1, (size_t)(sp2 - sp1 - 1));
                h->minor = sp2[8] - '0';
            }
        } else if (len == 0) { /* the empty line */
            h->end = i + 1;
            return 1;
        } else {
            const char *colon = memchr(p, ':', len);
            size_t nlen = colon ? (size_t)(colon - p) : 0;
            for (size_t k = 0; k < nlen && !h->odd; k++)
                h->odd = !tchar(p[k]);
            if (!colon || nlen == 0) {
                h->odd = 1; /* obs-fold, garbage: h2o's to judge */
                goto next;
            }
            const char *v = colon + 1, *ve = p + len;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            h2o_iovec_t val = h2o_iovec_init(v, (size_t)(ve - v));
            if (name_is(p, nlen, "content-length")) {
                h->n_cl++;
                h->cl_name = line;
                h->cl = val;
            } else if (name_is(p, nlen, "transfer-encoding")) {
                h->n_te++;
                h->te_name = line;
                h->te = val;
            } else if (name_is(p, nlen, "content-type")) {
                if (h->n_ct++ == 0)
                    h->ct = val;
            } else if (name_is(p, nlen, "upgrade")) {
                h->n_upgrade++;
            } else if (name_is(p, nlen, "expect")) {
                h->n_expect++;
                h->expect = val;
            }
        }
    next:
        line = i + 1;
    }
    return 0;
}

static int all_digits(h2o_iovec_t v)
{
    if (v.len == 0 || v.len > 18)
        return 0;
    for (size_t i = 0; i < v.len; i++)
        if (v.base[i] < '0' || v.base[i] > '9')
            return 0;
    return 1;
}

#define WORKER_OUTPUT_PREFIX "/v1/worker/jobs/"
#define WORKER_OUTPUT_SUFFIX "/output"

/* PUT /v1/worker/jobs/{id}/output: a remote worker's output file, whatever
 * its Content-Type. */
static int is_worker_output(const head_t *h)
{
    size_t pre = sizeof(WORKER_OUTPUT_PREFIX) - 1, suf = sizeof(WORKER_OUTPUT_SUFFIX) - 1;
    h2o_iovec_t t = h->target;
    return h2o_memis(h->method.base, h->method.len, H2O_STRLIT("PUT")) &&
           t.len == pre + HT_ID_LEN + suf && memcmp(t.base, WORKER_OUTPUT_PREFIX, pre) == 0 &&
           memcmp(t.base + pre + HT_ID_LEN, WORKER_OUTPUT_SUFFIX, suf) == 0;
}

/* A file submit or a worker's output file this module can take the body
 * of (see intake.h). */
static int is_upload(const head_t *h)
{
    if (h->odd || h->n_upgrade)
        return 0;
    int output = is_worker_output(h);
    h2o_iovec_t t = h->target;
    if (!output && (!h2o_memis(h->method.base, h->method.len, H2O_STRLIT("POST")) || t.len < 8 ||
                    memcmp(t.base, "/v1/jobs", 8) != 0 || (t.len > 8 && t.base[8] != '?')))
        return 0;
    int query = t.len > 9;
    if (h->n_expect > 1 || (h->n_expect == 1 && !h2o_lcstris(h->expect.base, h->expect.len,
                                                             H2O_STRLIT("100-continue"))))
        return 0; /* h2o answers other expectations (417) */
    int by_length = h->n_cl == 1 && h->n_te == 0 && all_digits(h->cl);
    int by_chunks =
        h->n_te == 1 && h->n_cl == 0 && h2o_lcstris(h->te.base, h->te.len, H2O_STRLIT("chunked"));
    if (!by_length && !by_chunks)
        return 0;
    if (output)
        return 1;
    if (h->n_ct > 0)
        return !ht_http_media_type_is_json(h->ct.base, h->ct.len);
    return query;
}

/* Looks at a head this read completed; withholds its body when it is an
 * upload (see intake.h). */
static void examine(h2o_socket_t *sock)
{
    h2o_buffer_t *b = sock->input;
    if (!b || !b->bytes || sock->bytes_read > b->size)
        return;
    head_t h;
    if (!scan_head(b->bytes, b->size, &h) || h.end <= b->size - sock->bytes_read || !is_upload(&h))
        return; /* incomplete, complete before this read (h2o is past it), or not ours */
    ht_intake_t *in = calloc(1, sizeof(*in));
    if (!in)
        return;
    in->chunked = h.n_te == 1;
    in->length = in->chunked ? 0 : strtoull(h.cl.base, NULL, 10);
    in->body_off = h.end;
    in->expect_continue = h.n_expect == 1;
    in->idle.cb = on_idle;
    size_t name = in->chunked ? h.te_name : h.cl_name;
    /* Room first: h2o must parse the head where it will stay. */
    if (h2o_buffer_reserve(&sock->input, ROOM).base == NULL) {
        free(in);
        return;
    }
    b = sock->input;
    if (in->chunked)
        memcpy(b->bytes + name, "x-ht-body-framing", 17);
    else
        memcpy(b->bytes + name, "x-ht-body-size", 14);
    in->sock = sock;
    tl.pending = in;
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    if (!err)
        examine(sock);
    h2o_reqread(sock, err);
    if (tl.pending) {
        /* h2o answered without the router (it never does for a head without
         * a body): the body is unread, and h2o closes the connection. */
        free(tl.pending);
        tl.pending = NULL;
    }
}

/* Wraps h2o's read callback when h2o is waiting for a head: not a complete
 * head in the buffer (one is being read or handled). */
static void wrap(h2o_socket_t *sock)
{
    if (!h2o_reqread || sock->_cb.read != h2o_reqread || h2o_socket_get_fd(sock) < 0)
        return;
    head_t h;
    if (sock->input && sock->input->bytes && scan_head(sock->input->bytes, sock->input->size, &h))
        return;
    sock->_cb.read = on_read;
}

/* ---- wrapping again after each answer -------------------------------------- */

static void drain_marks(void)
{
    for (size_t i = 0; i < tl.n_marks; i++)
        wrap(tl.marks[i]);
    tl.n_marks = 0;
}

static void on_prepare(uv_prepare_t *h)
{
    (void)h;
    drain_marks();
}

static void on_check(uv_check_t *h)
{
    (void)h;
    drain_marks();
}

static void mark(h2o_socket_t *sock)
{
    if (!tl.init) /* the thread's server stopped: no next request */
        return;
    if (tl.n_marks == tl.cap_marks) {
        size_t cap = tl.cap_marks ? tl.cap_marks * 2 : 64;
        h2o_socket_t **m = realloc(tl.marks, cap * sizeof(*m));
        if (!m)
            return; /* this connection's next uploads take h2o's way */
        tl.marks = m;
        tl.cap_marks = cap;
    }
    tl.marks[tl.n_marks++] = sock;
}

static void thread_init(uv_loop_t *loop)
{
    if (tl.init)
        return;
    tl.init = 1;
    uv_prepare_init(loop, &tl.prepare);
    uv_prepare_start(&tl.prepare, on_prepare);
    uv_unref((uv_handle_t *)&tl.prepare);
    uv_check_init(loop, &tl.check);
    uv_check_start(&tl.check, on_check);
    uv_unref((uv_handle_t *)&tl.check);
}

void ht_intake_thread_close(void)
{
    if (!tl.init)
        return;
    tl.init = 0;
    uv_close((uv_handle_t *)&tl.prepare, NULL);
    uv_close((uv_handle_t *)&tl.check, NULL);
    free(tl.marks);
    tl.marks = NULL;
    tl.n_marks = tl.cap_marks = 0;
}

void ht_intake_accept(h2o_socket_t *sock)
{
    /* h2o_accept() of a plain HTTP/1 connection has just started reading
     * with h2o's callback: the first one seen is that callback. */
    h2o_socket_cb cb = __atomic_load_n(&h2o_reqread, __ATOMIC_ACQUIRE);
    if (!cb && sock->_cb.read) {
        h2o_socket_cb none = NULL;
        __atomic_compare_exchange_n(&h2o_reqread, &none, sock->_cb.read, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE);
    }
    wrap(sock);
}

/* ---- claiming ---------------------------------------------------------------- */

typedef struct {
    h2o_req_t *req;
    h2o_socket_t *sock;
    ht_intake_t *in;
} claim_t;

static void unlist(ht_intake_t *in)
{
    for (ht_intake_t **p = &tl.active; *p; p = &(*p)->next) {
        if (*p == in) {
            *p = in->next;
            return;
        }
    }
}

static ht_intake_t *find(h2o_socket_t *sock)
{
    for (ht_intake_t *in = tl.active; in; in = in->next)
        if (in->sock == sock)
            return in;
    return NULL;
}

static void stop_reading(ht_intake_t *in)
{
    if (in->reading)
        h2o_socket_read_stop(in->sock);
    in->reading = 0;
    if (h2o_timeout_is_linked(&in->idle))
        h2o_timeout_unlink(&in->idle);
}

static void on_disposed(void *p)
{
    claim_t *c = p;
    if (c->in) {
        stop_reading(c->in);
        unlist(c->in);
        free(c->in);
    }
    /* An answer sent on a connection that stays: h2o starts reading the
     * next head with its own callback next. */
    if (c->req->http1_is_persistent)
        mark(c->sock);
}

ht_intake_t *ht_intake_claim(h2o_req_t *req)
{
    if (req->version < 0x100 || req->version >= 0x200 || !req->conn->callbacks->get_socket)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (!sock)
        return NULL;
    thread_init(req->conn->ctx->loop);
    claim_t *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), on_disposed);
    c->req = req;
    c->sock = sock;
    c->in = NULL;
    ht_intake_t *in = tl.pending;
    if (!in || in->sock != sock)
        return NULL;
    tl.pending = NULL;
    c->in = in;
    in->req = req;
    in->persistent = req->http1_is_persistent;
    /* Until all of the body is read, what follows on this connection is
     * not a request. */
    req->http1_is_persistent = 0;
    return in;
}

int64_t ht_intake_length(const ht_intake_t *in)
{
    return in->chunked ? -1 : (int64_t)in->length;
}

/* ---- reading the body ---------------------------------------------------- */

static void pump(ht_intake_t *in);

/* The end, told once the socket is free for the answer (no "100
 * Continue" being written). */
static void end(ht_intake_t *in, int err)
{
    if (in->ended)
        return;
    in->ended = 1;
    stop_reading(in);
    if (err == 0)
        in->req->http1_is_persistent = in->persistent;
    in->end_err = err;
    in->end_due = 1;
    if (!in->writing_continue) {
        in->end_due = 0;
        in->on_end(in->ud, err);
    }
}

static void on_idle(h2o_timeout_entry_t *entry)
{
    ht_intake_t *in = H2O_STRUCT_FROM_MEMBER(ht_intake_t, idle, entry);
    ht_log(HT_LOG_INFO, "upload stalled: no byte within the request timeout", NULL);
    end(in, HT_ETIMEDOUT);
}

static void arm_idle(ht_intake_t *in)
{
    if (h2o_timeout_is_linked(&in->idle))
        h2o_timeout_unlink(&in->idle);
    h2o_context_t *ctx = in->req->conn->ctx;
    h2o_timeout_link(ctx->loop, &ctx->http1.req_timeout, &in->idle);
}

static void on_body_read(h2o_socket_t *sock, const char *err)
{
    ht_intake_t *in = find(sock);
    if (!in)
        return;
    if (err) {
        end(in, HT_ECANCELED);
        return;
    }
    arm_idle(in);
    pump(in);
}

static void on_continue_written(h2o_socket_t *sock, const char *err)
{
    ht_intake_t *in = find(sock);
    if (!in)
        return;
    in->writing_continue = 0;
    if (err && !in->ended)
        end(in, HT_ECANCELED);
    if (in->end_due) {
        in->end_due = 0;
        in->on_end(in->ud, in->end_err);
    }
}

/* One step of chunked framing over byte c.  Returns 0, or HT_EINVAL. */
static int frame_byte(ht_intake_t *in, char c)
{
    switch (in->cs) {
    case C_SIZE: {
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d >= 0) {
            if (++in->hex_count > CHUNK_HEX_MAX)
                return HT_EINVAL;
            in->chunk_left = in->chunk_left * 16 + (uint64_t)d;
            return 0;
        }
        if (in->hex_count == 0)
            return HT_EINVAL;
        if (c == ';' || c == ' ' || c == '\t') {
            in->cs = C_EXT;
            in->ext_len = 0;
            return 0;
        }
        if (c == '\r') {
            in->cs = C_SIZE_LF;
            return 0;
        }
        if (c != '\n')
            return HT_EINVAL;
        goto size_done;
    }
    case C_EXT:
        if (c == '\r') {
            in->cs = C_SIZE_LF;
            return 0;
        }
        if (c == '\n')
            goto size_done;
        return ++in->ext_len > CHUNK_EXT_MAX ? HT_EINVAL : 0;
    case C_SIZE_LF:
        if (c != '\n')
            return HT_EINVAL;
        goto size_done;
    case C_DATA_CR:
        if (c == '\r') {
            in->cs = C_DATA_LF;
            return 0;
        }
        if (c != '\n')
            return HT_EINVAL;
        in->cs = C_SIZE;
        in->hex_count = 0;
        return 0;
    case C_DATA_LF:
        if (c != '\n')
            return HT_EINVAL;
        in->cs = C_SIZE;
        in->hex_count = 0;
        return 0;
    case C_TRAILER:
        if (++in->trailer_len > TRAILER_MAX)
            return HT_EINVAL;
        if (c == '\r') {
            in->cs = C_LAST_LF;
            return 0;
        }
        if (c == '\n') {
            in->cs = C_LAST_LF; /* handled by the caller as the end */
            return 1;
        }
        in->cs = C_TRAILER_LINE;
        return 0;
    case C_TRAILER_LINE:
        if (++in->trailer_len > TRAILER_MAX)
            return HT_EINVAL;
        if (c == '\n')
            in->cs = C_TRAILER;
        return 0;
    case C_LAST_LF:
        return c == '\n' ? 1 : HT_EINVAL;
    case C_DATA:
        break;
    }
    return HT_EINVAL;
size_done:
    if (in->chunk_left == 0) {
        in->cs = C_TRAILER;
        in->trailer_len = 0;
    } else {
        in->cs = C_DATA;
    }
    return 0;
}

/* Hands the body bytes in the buffer to the consumer, decoding chunks;
 * keeps what it did not take (and what follows the body) in the buffer,
 * right after the head. */
static void pump(ht_intake_t *in)
{
    if (in->ended || in->paused)
        return;
    h2o_buffer_t *b = in->sock->input;
    char *r = b->bytes + in->body_off;
    size_t n = b->size - in->body_off, i = 0;
    int err = 0, done = !in->chunked && in->got == in->length;
    while (i < n && !done && !in->paused) {
        if (in->chunked && in->cs != C_DATA) {
            int rc = frame_byte(in, r[i++]);
            if (rc < 0) {
                err = HT_EINVAL;
                break;
            }
            done = rc == 1;
            continue;
        }
        uint64_t left = in->chunked ? in->chunk_left : in->length - in->got;
        size_t want = n - i < left ? n - i : (size_t)left;
        if (in->got + want > in->max) {
            err = HT_ETOOBIG;
            break;
        }
        size_t took = in->on_data(in->ud, r + i, want);
        if (in->ended) /* the consumer gave up meanwhile */
            return;
        i += took;
        in->got += took;
        if (in->chunked) {
            in->chunk_left -= took;
            if (in->chunk_left == 0)
                in->cs = C_DATA_CR;
        }
        if (took < want)
            in->paused = 1;
        done = !in->chunked && in->got == in->length;
    }
    memmove(r, r + i, n - i);
    b->size = in->body_off + (n - i);
    if (err || done) {
        end(in, err);
        return;
    }
    if (in->paused) {
        stop_reading(in);
        return;
    }
    if (!in->reading) {
        in->reading = 1;
        h2o_socket_read_start(in->sock, on_body_read);
        arm_idle(in);
    }
}

void ht_intake_start(ht_intake_t *in, uint64_t max, ht_intake_data_cb on_data,
                     ht_intake_end_cb on_end, void *ud)
{
    in->started = 1;
    in->max = max;
    in->on_data = on_data;
    in->on_end = on_end;
    in->ud = ud;
    in->next = tl.active;
    tl.active = in;
    if (in->expect_continue) {
        static h2o_iovec_t cont = {H2O_STRLIT("HTTP/1.1 100 Continue\r\n\r\n")};
        in->writing_continue = 1;
        h2o_socket_write(in->sock, &cont, 1, on_continue_written);
    }
    pump(in);
}

void ht_intake_resume(ht_intake_t *in)
{
    if (in->ended || !in->paused)
        return;
    in->paused = 0;
    pump(in);
}

void ht_intake_abort(ht_intake_t *in, int err)
{
    end(in, err);
}
