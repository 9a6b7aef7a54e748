/* Front-door checks before routing (see guard.h for what h2o already does
 * and what is left to us).  A table of checks, each answering and
 * returning -1, or returning 0; the first refusal wins. */
#include "api/guard.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/http.h"

/* The raw head is read from the connection's socket (the public
 * get_socket callback): libh2o keeps an HTTP/1 request's head at the start
 * of sock->input until the response is complete (on_send_complete consumes
 * it).  The bytes found there are used only after they are checked against
 * the parsed request line. */

/* What the raw head of an HTTP/1 request says about body framing. */
typedef struct {
    int found;      /* 0: the head could not be read; nothing below is set */
    size_t len;     /* bytes of the head, request line to the empty line */
    size_t n_cl;    /* Content-Length fields */
    size_t n_te;    /* Transfer-Encoding fields */
} head_t;

typedef int (*check_fn)(const ht_api_config_t *cfg, h2o_req_t *req, const head_t *head);

static int name_is(const char *line, size_t namelen, const char *name)
{
    return namelen == strlen(name) && strncasecmp(line, name, namelen) == 0;
}

/* Finds the raw head and counts its framing fields (names as picohttpparser
 * split them: up to the first ':'). */
static void read_head(h2o_req_t *req, head_t *head)
{
    memset(head, 0, sizeof(*head));
    if (req->version >= 0x200 || !req->conn->callbacks->get_socket)
        return;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (!sock || !sock->input)
        return;
    const char *b = sock->input->bytes;
    size_t n = sock->input->size;
    if (!b)
        return;
    /* Empty lines before the request line are ignored by the parser (RFC
     * 9112 2.2): they are skipped here too, so they cannot hide the head. */
    size_t start = 0;
    while (start < n && (b[start] == '\r' || b[start] == '\n'))
        start++;
    h2o_iovec_t m = req->input.method, p = req->input.path;
    /* Is this the head of this request?  "METHOD SP PATH". */
    if (n - start < m.len + 1 + p.len || memcmp(b + start, m.base, m.len) != 0 ||
        b[start + m.len] != ' ' || memcmp(b + start + m.len + 1, p.base, p.len) != 0)
        return;
    size_t line = start; /* start of the current line */
    for (size_t i = start; i < n; i++) {
        if (b[i] != '\n')
            continue;
        size_t end = i > line && b[i - 1] == '\r' ? i - 1 : i;
        if (end == line && line > start) { /* the empty line: end of the head */
            head->found = 1;
            head->len = i + 1 - start;
            return;
        }
        const char *colon = line > start ? memchr(b + line, ':', end - line) : NULL;
        if (colon) {
            size_t namelen = (size_t)(colon - (b + line));
            head->n_cl += name_is(b + line, namelen, "content-length");
            head->n_te += name_is(b + line, namelen, "transfer-encoding");
        }
        line = i + 1;
    }
}

/* Marks the HTTP/1 connection to close after the answer: after a framing
 * error a proxy in front and this server may disagree on where the next
 * request starts, so nothing more is read from this connection. */
static int refuse_and_close(h2o_req_t *req, ht_problem_kind_t kind, const char *detail)
{
    req->http1_is_persistent = 0;
    return ht_http_problem(req, kind, "%s", detail);
}

/* Body framing (HTTP/1 only: HTTP/2 frames bodies itself). */
static int check_framing(const ht_api_config_t *cfg, h2o_req_t *req, const head_t *head)
{
    (void)cfg;
    if (req->version >= 0x200)
        return 0;
    if (!head->found) {
        /* A body came, framed by headers we cannot see (h2o 2.2 keeps no
         * Content-Length or Transfer-Encoding in req->headers): answer, but
         * read nothing more from this connection. */
        if (req->entity.base != NULL)
            req->http1_is_persistent = 0;
        return 0;
    }
    if (head->n_cl > 0 && head->n_te > 0)
        return refuse_and_close(req, HT_P_BAD_REQUEST,
                                "both Content-Length and Transfer-Encoding: send one");
    if (head->n_cl > 1)
        return refuse_and_close(req, HT_P_BAD_REQUEST, "Content-Length given more than once");
    if (head->n_te > 1)
        return refuse_and_close(req, HT_P_NOT_IMPLEMENTED,
                                "only a single Transfer-Encoding: chunked is supported");
    return 0;
}

static int check_url(const ht_api_config_t *cfg, h2o_req_t *req, const head_t *head)
{
    (void)head;
    size_t len = req->input.path.len;
    if (cfg->max_url_bytes == 0 || len <= cfg->max_url_bytes)
        return 0;
    return ht_http_problem(req, HT_P_URI_TOO_LONG,
                           "the request target has %zu bytes; at most %zu are accepted", len,
                           cfg->max_url_bytes);
}

/* The head as sent when it was found; else an estimate from the parsed
 * request (HTTP/2, whose headers arrive compressed, counts decoded). */
static int check_head_size(const ht_api_config_t *cfg, h2o_req_t *req, const head_t *head)
{
    if (cfg->max_header_bytes == 0)
        return 0;
    size_t n = head->len;
    if (!head->found) {
        n = req->method.len + req->input.path.len + sizeof(" HTTP/1.1\r\n") +
            req->input.authority.len + sizeof("host: \r\n");
        for (size_t i = 0; i < req->headers.size; i++)
            n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    }
    if (n <= cfg->max_header_bytes)
        return 0;
    return ht_http_problem(req, HT_P_HEADERS_TOO_LARGE,
                           "the request head has %zu bytes; at most %zu are accepted", n,
                           cfg->max_header_bytes);
}

/* Framing first: a smuggling attempt is refused (and its connection
 * closed) whatever else is wrong with it. */
static const check_fn checks[] = {check_framing, check_url, check_head_size};

/* ---- h2o's own error answers as problem+json -------------------------- */

/* Errors h2o sends before a handler runs (body framing, 413, 417) go
 * through h2o_send_error_generic(), bound to the host's fallback path,
 * whose filters see them; no answer of ours ever takes that path.  This
 * output stream swaps h2o's text/plain body for a problem document. */
typedef struct {
    h2o_ostream_t super;
} problem_ostream_t;

static const struct {
    int status;
    const char *h2o_body; /* NULL: any */
    int new_status;
    const char *reason;
    ht_problem_kind_t kind;
} h2o_errors[] = {
    /* RFC 9112 6.1: a transfer coding the server does not know is a 501. */
    {400, "unknown transfer-encoding", 501, "Not Implemented", HT_P_NOT_IMPLEMENTED},
    {400, NULL, 400, "Bad Request", HT_P_BAD_REQUEST},
    {413, NULL, 413, "Content Too Large", HT_P_TOO_LARGE},
    {417, NULL, 417, "Expectation Failed", HT_P_EXPECTATION_FAILED},
};

static void problem_do_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                            h2o_send_state_t state)
{
    /* h2o's text: the detail (h2o_send_inline() sends it in one piece). */
    h2o_iovec_t text = bufcnt > 0 ? bufs[0] : h2o_iovec_init(req->res.reason, strlen(req->res.reason));
    size_t row = 0;
    for (; row < sizeof(h2o_errors) / sizeof(h2o_errors[0]); row++)
        if (h2o_errors[row].status == req->res.status &&
            (!h2o_errors[row].h2o_body ||
             h2o_memis(text.base, text.len, h2o_errors[row].h2o_body, strlen(h2o_errors[row].h2o_body))))
            break;
    ht_problem_t p = {0};
    ht_problem_set(&p, h2o_errors[row].kind, "%.*s", (int)text.len, text.base);
    json_t *doc = ht_problem_to_json(&p);
    char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    h2o_iovec_t body = s ? h2o_strdup(&req->pool, s, strlen(s)) : h2o_iovec_init(H2O_STRLIT("{}"));
    free(s);
    json_decref(doc);
    ht_problem_clear(&p);

    req->res.status = h2o_errors[row].new_status;
    req->res.reason = h2o_errors[row].reason;
    req->res.content_length = body.len;
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (ct != -1)
        req->res.headers.entries[ct].value = h2o_iovec_init(H2O_STRLIT("application/problem+json"));
    int head = h2o_memis(req->input.method.base, req->input.method.len, H2O_STRLIT("HEAD"));
    h2o_ostream_send_next(self, req, &body, bufcnt > 0 && !head ? 1 : 0, state);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    (void)self;
    int known = 0;
    for (size_t i = 0; i < sizeof(h2o_errors) / sizeof(h2o_errors[0]); i++)
        known |= h2o_errors[i].status == req->res.status;
    ssize_t ct = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (known && ct != -1 && req->res.headers.entries[ct].value.len >= 10 &&
        h2o_memis(req->res.headers.entries[ct].value.base, 10, H2O_STRLIT("text/plain"))) {
        problem_ostream_t *o = (void *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = problem_do_send;
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void ht_guard_register(h2o_hostconf_t *host)
{
    h2o_filter_t *f = h2o_create_filter(&host->fallback_path, sizeof(*f));
    f->on_setup_ostream = on_setup_ostream;
}

int ht_guard_request_or_reply(ht_api_thread_t *t, h2o_req_t *req)
{
    head_t head;
    read_head(req, &head);
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
        if (checks[i](t->cfg, req, &head) < 0)
            return -1;
    return 0;
}
