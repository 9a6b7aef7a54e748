/* Reply helpers (see http.h): the only file of api/ that builds responses
 * by hand; handlers say what to answer, not how h2o wants it. */
#include "api/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/error.h"
#include "shared/id.h"

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 507:
        return "Insufficient Storage";
    default:
        return "Unknown";
    }
}

static int is_head(const h2o_req_t *req)
{
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

/* `name` must be a lowercase string literal (h2o keeps the pointer, and
 * HTTP/2 wants lowercase names); the value is copied. */
void ht_http_add_header(h2o_req_t *req, const char *name, const char *value)
{
    h2o_iovec_t v = h2o_strdup(&req->pool, value, strlen(value));
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, strlen(name), 1, NULL, v.base,
                          v.len);
}

void ht_http_add_headerf(h2o_req_t *req, const char *name, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ht_http_add_header(req, name, buf);
}

void ht_http_add_header_pooled(h2o_req_t *req, const h2o_token_t *name, const char *value,
                               size_t len)
{
    h2o_add_header(&req->pool, &req->res.headers, name, NULL, value, len);
}

/* Sends `body`, which lives in req->pool already (h2o sends it from there). */
static void send_pooled(h2o_req_t *req, int status, const h2o_iovec_t content_type, char *body,
                        size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf = h2o_iovec_init(body, len);
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type.base,
                   content_type.len);
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, is_head(req) ? 0 : 1, H2O_SEND_STATE_FINAL);
}

static void *pool_alloc(void *pool, size_t size)
{
    return h2o_mem_alloc_pool(pool, size);
}

void ht_http_buf_init(h2o_req_t *req, ht_buf_t *b)
{
    ht_buf_init_arena(b, pool_alloc, &req->pool);
}

int ht_http_send_json_buf(h2o_req_t *req, int status, ht_buf_t *b)
{
    if (ht_buf_failed(b))
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    size_t len;
    char *body = ht_buf_steal(b, &len);
    send_pooled(req, status, h2o_iovec_init(H2O_STRLIT("application/json")), body, len);
    return 0;
}

void ht_http_send_page(h2o_req_t *req, ht_buf_t *b, const char *cursor, const char *next,
                       void (*url)(ht_buf_t *b, const void *ctx, const char *cursor),
                       const void *ctx)
{
    ht_buf_puts(b, "],\"next_cursor\":");
    if (next[0])
        ht_json_string_append(b, next);
    else
        ht_buf_puts(b, "null");
    ht_buf_puts(b, ",\"links\":{\"self\":");
    url(b, ctx, cursor);
    if (next[0]) {
        ht_buf_puts(b, ",\"next\":");
        url(b, ctx, next);
    }
    ht_buf_puts(b, "}}");
    ht_http_add_header(req, "cache-control", "no-cache");
    ht_http_send_json_buf(req, 200, b);
}

int ht_http_send_job(h2o_req_t *req, int status, const ht_job_t *job)
{
    ht_buf_t b;
    ht_http_buf_init(req, &b);
    ht_job_doc_append(&b, job);
    return ht_http_send_json_buf(req, status, &b);
}

void ht_http_send(h2o_req_t *req, int status, const char *content_type, const char *body,
                  size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    /* A known length keeps HTTP/1.1 connections alive (h2o closes the
     * connection after a non-200 answer of unknown length). */
    req->res.content_length = len;
    if (content_type)
        ht_http_add_header(req, "content-type", content_type);
    h2o_start_response(req, &generator);
    h2o_send(req, &buf, is_head(req) ? 0 : 1, H2O_SEND_STATE_FINAL);
}

void ht_http_send_empty(h2o_req_t *req, int status)
{
    static h2o_generator_t generator = {NULL, NULL};
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    /* Unknown length on purpose: a 304 must not claim Content-Length: 0
     * for a representation that has a body. */
    h2o_start_response(req, &generator);
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
}

static void send_doc(h2o_req_t *req, int status, const char *content_type, const json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (!text) {
        static const char fallback[] = "{\"type\":\"urn:hangtight:problem:internal\","
                                       "\"title\":\"Internal server error\",\"status\":500}";
        ht_http_send(req, 500, "application/problem+json", fallback, sizeof(fallback) - 1);
        return;
    }
    ht_http_send(req, status, content_type, text, strlen(text));
    free(text);
}

int ht_http_send_json(h2o_req_t *req, int status, const json_t *doc)
{
    send_doc(req, status, "application/json", doc);
    return 0;
}

int ht_http_send_problem(h2o_req_t *req, const ht_problem_t *p)
{
    const ht_problem_type_t *t = ht_problem_type(p->kind);
    /* 503 and 429 always say when to come back: 1 s unless the caller
     * knows better (a rate limiter's wait) and set it already. */
    if ((t->status == 503 || t->status == 429) &&
        h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("retry-after"), -1) < 0)
        ht_http_add_header(req, "retry-after", "1");
    json_t *doc = ht_problem_to_json(p);
    send_doc(req, t->status, "application/problem+json", doc);
    json_decref(doc);
    return -1;
}

int ht_http_problem(h2o_req_t *req, ht_problem_kind_t kind, const char *fmt, ...)
{
    ht_problem_t p = {0};
    p.kind = kind;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p.detail, sizeof(p.detail), fmt, ap);
        va_end(ap);
    }
    ht_http_send_problem(req, &p);
    ht_problem_clear(&p);
    return -1;
}

/* ---- request headers -------------------------------------------------- */

static h2o_iovec_t trim(h2o_iovec_t v)
{
    while (v.len > 0 && (v.base[0] == ' ' || v.base[0] == '\t')) {
        v.base++;
        v.len--;
    }
    while (v.len > 0 && (v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t'))
        v.len--;
    return v;
}

static int media_type_is_json(h2o_iovec_t v)
{
    const char *semi = memchr(v.base, ';', v.len);
    if (semi)
        v.len = (size_t)(semi - v.base);
    v = trim(v);
    static const char app[] = "application/", suffix[] = "+json";
    size_t applen = sizeof(app) - 1, suflen = sizeof(suffix) - 1;
    if (v.len < applen || strncasecmp(v.base, app, applen) != 0)
        return 0;
    h2o_iovec_t sub = h2o_iovec_init(v.base + applen, v.len - applen);
    if (sub.len == 4 && strncasecmp(sub.base, "json", 4) == 0)
        return 1;
    return sub.len > suflen && strncasecmp(sub.base + sub.len - suflen, suffix, suflen) == 0;
}

int ht_http_media_type_is_json(const char *v, size_t len)
{
    return media_type_is_json(h2o_iovec_init(v, len));
}

int ht_http_content_type_is_json(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    return i < 0 ? -1 : media_type_is_json(req->headers.entries[i].value);
}

int ht_http_json_content_type_or_reply(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return ht_http_problem(req, HT_P_UNSUPPORTED_MEDIA,
                               "Content-Type is missing: send application/json");
    h2o_iovec_t v = req->headers.entries[i].value;
    if (!media_type_is_json(v))
        return ht_http_problem(req, HT_P_UNSUPPORTED_MEDIA,
                               "Content-Type %.*s is not JSON: send application/json",
                               (int)(v.len > 100 ? 100 : v.len), v.base);
    return 0;
}

json_t *ht_http_json_body_or_reply(h2o_req_t *req, size_t max_bytes)
{
    if (req->entity.len > max_bytes) {
        ht_http_problem(req, HT_P_TOO_LARGE, "the body is %zu bytes; the limit is %zu",
                        req->entity.len, max_bytes);
        return NULL;
    }
    if (ht_http_json_content_type_or_reply(req) < 0)
        return NULL;
    ht_problem_t p = {0};
    json_t *doc = ht_problem_load_json(req->entity.base, req->entity.len, &p);
    if (!doc)
        ht_http_send_problem(req, &p);
    ht_problem_clear(&p);
    return doc;
}

int ht_http_query_or_reply(h2o_req_t *req, ht_query_t *q)
{
    size_t len = 0;
    const char *query = "";
    if (req->query_at != SIZE_MAX && req->query_at < req->path.len) {
        query = req->path.base + req->query_at + 1;
        len = req->path.len - req->query_at - 1;
    }
    char *scratch = h2o_mem_alloc_pool(&req->pool, len + 2);
    ht_query_param_t p;
    int rc;
    ht_query_init(q, query, len, scratch);
    while ((rc = ht_query_next(q, &p)) == 1)
        ;
    if (rc < 0) {
        /* Quoted as it came, shortened, non-printable bytes as '?'. */
        char raw[65];
        size_t n = p.raw_len < sizeof(raw) - 1 ? p.raw_len : sizeof(raw) - 1;
        for (size_t i = 0; i < n; i++)
            raw[i] = p.raw[i] > 0x20 && p.raw[i] < 0x7f ? p.raw[i] : '?';
        raw[n] = '\0';
        return ht_http_problem(req, HT_P_BAD_REQUEST,
                               "query parameter '%s%s' is malformed: a '%%' must start an "
                               "escape %%XX of two hex digits (not %%00)",
                               raw, p.raw_len > n ? "..." : "");
    }
    ht_query_init(q, query, len, scratch);
    return 0;
}

/* Drops a weak prefix: If-None-Match uses the weak comparison. */
static h2o_iovec_t opaque_tag(h2o_iovec_t v)
{
    if (v.len >= 2 && v.base[0] == 'W' && v.base[1] == '/') {
        v.base += 2;
        v.len -= 2;
    }
    return v;
}

static int list_matches(h2o_iovec_t list, h2o_iovec_t want)
{
    while (list.len > 0) {
        const char *comma = memchr(list.base, ',', list.len);
        size_t n = comma ? (size_t)(comma - list.base) : list.len;
        h2o_iovec_t item = trim(h2o_iovec_init(list.base, n));
        if (h2o_memis(item.base, item.len, H2O_STRLIT("*")))
            return 1;
        item = opaque_tag(item);
        if (h2o_memis(item.base, item.len, want.base, want.len))
            return 1;
        if (!comma)
            break;
        list.base += n + 1;
        list.len -= n + 1;
    }
    return 0;
}

int ht_http_if_none_match(h2o_req_t *req, const char *etag)
{
    h2o_iovec_t want = opaque_tag(h2o_iovec_init(etag, strlen(etag)));
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_IF_NONE_MATCH, i)) != -1;) {
        if (list_matches(req->headers.entries[i].value, want))
            return 1;
    }
    return 0;
}

int ht_http_job_problem(h2o_req_t *req, int err)
{
    if (err == HT_ENOTFOUND)
        return ht_http_problem(req, HT_P_JOB_NOT_FOUND,
                               "no job with this id (it may have expired)");
    return ht_http_store_problem(req, err);
}

int ht_http_store_problem(h2o_req_t *req, int err)
{
    if (err == HT_EREDIS)
        return ht_http_problem(req, HT_P_UNAVAILABLE, "the job store (Redis) is unavailable");
    return ht_http_problem(req, HT_P_INTERNAL, "the job store failed: %s", ht_strerror(err));
}

int ht_http_id_or_reply(h2o_req_t *req, h2o_iovec_t id, ht_problem_kind_t kind, const char *what,
                        char out[HT_ID_LEN + 1])
{
    if (!ht_id_valid(id.base, id.len))
        return ht_http_problem(req, kind, "no %s with this id", what);
    memcpy(out, id.base, HT_ID_LEN);
    out[HT_ID_LEN] = '\0';
    return 0;
}
