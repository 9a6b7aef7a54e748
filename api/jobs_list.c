/* GET /v1/jobs?status=&type=&limit=&cursor=: jobs newest first, a page at a
 * time.  The page is one read-only Redis function call (ht_list over the
 * index of every job, or of one status); the cursor is the opaque string it
 * returns, so paging never skips or repeats a job while others arrive.
 *
 *   {"jobs": [document, ...], "next_cursor": "..." | null,
 *    "links": {"self": "/v1/jobs?...", "next": "/v1/jobs?...&cursor=..."}}
 *
 * Unknown parameters are a 400 (as unknown body fields are a 422): a typo
 * such as ?stauts=failed must not silently list every job.
 *
 * With several partitions (shared/partition.h) the page is merged from
 * every partition's index (api/parts.h: ht_api_list_all), with a cursor
 * that records where each partition stands; with one, it is the single
 * call above, cursor and all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/hex.h"
#include "shared/job.h"

#include "api/http.h"
#include "api/parts.h"
#include "api/router.h"

#define LIMIT_DEFAULT 20
#define LIMIT_MAX     100
/* A partitioned listing's cursor holds the position of each partition it
 * touched (about 34 characters each, api/parts.h). */
#define CURSOR_MAX    HT_API_CURSOR_MAX
#define VALUE_MAX     (CURSOR_MAX + 1)

typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    int has_status;
    ht_job_status_t status;
    char type[HT_TYPE_MAX + 1]; /* "" = any */
    int limit;
    char cursor[CURSOR_MAX + 1]; /* "" = from the newest */
} list_t;

/* Decodes a query component (%XX, '+' for space) into out[outlen].
 * Returns 0, or HT_EINVAL when malformed, too long, or holding a NUL. */
static int url_decode(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? ht_hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < len ? ht_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return HT_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= outlen)
            return HT_EINVAL;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Appends s to out percent-encoded (everything but unreserved characters
 * and ':', which cursors hold). */
static void url_encode(char *out, size_t outlen, const char *s)
{
    size_t o = strlen(out);
    for (; *s && o + 4 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, outlen - o, "%%%02X", c);
        }
    }
    out[o] = '\0';
}

/* One parameter into l.  Returns 0 or -1 (answered 400). */
static int take_param(list_t *l, const char *name, size_t nlen, const char *value)
{
    h2o_req_t *req = l->req;
    if (nlen == 6 && memcmp(name, "status", 6) == 0) {
        if (*value == '\0')
            return 0;
        if (ht_job_status_parse(value, &l->status) < 0)
            return ht_http_problem(req, HT_P_BAD_REQUEST,
                                   "status must be one of scheduled, queued, running, "
                                   "succeeded, failed, canceled");
        l->has_status = 1;
    } else if (nlen == 4 && memcmp(name, "type", 4) == 0) {
        if (*value != '\0' && !ht_job_type_valid(value))
            return ht_http_problem(req, HT_P_BAD_REQUEST, "type must match [a-z0-9_.-]{1,%d}",
                                   HT_TYPE_MAX);
        snprintf(l->type, sizeof(l->type), "%.*s", HT_TYPE_MAX, value); /* valid: <= HT_TYPE_MAX */
    } else if (nlen == 5 && memcmp(name, "limit", 5) == 0) {
        char *end;
        long n = strtol(value, &end, 10);
        if (*value < '0' || *value > '9' || *end != '\0' || n < 1 || n > LIMIT_MAX)
            return ht_http_problem(req, HT_P_BAD_REQUEST, "limit must be an integer from 1 to %d",
                                   LIMIT_MAX);
        l->limit = (int)n;
    } else if (nlen == 6 && memcmp(name, "cursor", 6) == 0) {
        if (strlen(value) > CURSOR_MAX)
            return ht_http_problem(req, HT_P_BAD_REQUEST,
                                   "cursor is not one this server made (use next_cursor)");
        snprintf(l->cursor, sizeof(l->cursor), "%s", value);
    } else {
        return ht_http_problem(req, HT_P_BAD_REQUEST,
                               "unknown query parameter '%.*s' (known: status, type, limit, "
                               "cursor)",
                               (int)(nlen > 64 ? 64 : nlen), name);
    }
    return 0;
}

/* The query string into l.  Returns 0 or -1 (answered 400). */
static int parse_query(list_t *l)
{
    h2o_req_t *req = l->req;
    if (req->query_at == SIZE_MAX || req->query_at >= req->path.len)
        return 0;
    const char *q = req->path.base + req->query_at + 1;
    size_t len = req->path.len - req->query_at - 1;
    while (len > 0) {
        const char *amp = memchr(q, '&', len);
        size_t n = amp ? (size_t)(amp - q) : len;
        if (n > 0) {
            const char *eq = memchr(q, '=', n);
            size_t nlen = eq ? (size_t)(eq - q) : n;
            char value[VALUE_MAX];
            if (url_decode(eq ? eq + 1 : q + n, eq ? n - nlen - 1 : 0, value, sizeof(value)) < 0)
                return ht_http_problem(req, HT_P_BAD_REQUEST,
                                       "query parameter '%.*s' is malformed or too long",
                                       (int)(nlen > 64 ? 64 : nlen), q);
            if (take_param(l, q, nlen, value) < 0)
                return -1;
        }
        if (!amp)
            break;
        len -= n + 1;
        q += n + 1;
    }
    return 0;
}

/* "/v1/jobs?status=...&type=...&limit=N[&cursor=...]" of this listing. */
static void page_url(const list_t *l, const char *cursor, char *out, size_t outlen)
{
    snprintf(out, outlen, "/v1/jobs?");
    if (l->has_status)
        snprintf(out + strlen(out), outlen - strlen(out), "status=%s&",
                 ht_job_status_name(l->status));
    if (l->type[0])
        snprintf(out + strlen(out), outlen - strlen(out), "type=%s&", l->type);
    snprintf(out + strlen(out), outlen - strlen(out), "limit=%d", l->limit);
    if (cursor && cursor[0]) {
        snprintf(out + strlen(out), outlen - strlen(out), "&cursor=");
        url_encode(out, outlen, cursor);
    }
}

/* Answers a page: `list` (taken) the jobs' documents. */
static void send_page(list_t *l, int err, const char *next, json_t *list)
{
    h2o_req_t *req = l->req;
    if (err == HT_EINVAL) {
        json_decref(list);
        ht_http_problem(req, HT_P_BAD_REQUEST,
                        "cursor is not one this server made (use next_cursor)");
        return;
    }
    if (err) {
        json_decref(list);
        ht_http_store_problem(req, err);
        return;
    }
    /* Room for the cursors percent-encoded. */
    size_t cap = 512 + 3 * (strlen(l->cursor) > strlen(next) ? strlen(l->cursor) : strlen(next));
    char *self = h2o_mem_alloc_pool(&req->pool, cap), *next_url = h2o_mem_alloc_pool(&req->pool, cap);
    page_url(l, l->cursor, self, cap);
    json_t *links = json_pack("{s:s}", "self", self);
    if (next[0]) {
        page_url(l, next, next_url, cap);
        json_object_set_new(links, "next", json_string(next_url));
    }
    json_t *doc = json_pack("{s:o, s:o, s:o}", "jobs", list, "next_cursor",
                            next[0] ? json_string(next) : json_null(), "links", links);
    ht_http_add_header(req, "cache-control", "no-cache");
    ht_http_send_json(req, 200, doc);
    json_decref(doc);
}

static void on_page(void *data, int err, const char *next, size_t n, const ht_job_t *jobs)
{
    json_t *list = json_array();
    for (size_t i = 0; !err && i < n; i++)
        json_array_append_new(list, ht_job_to_json(&jobs[i]));
    send_page(data, err, next, list);
}

static void on_merged_page(void *data, int err, const char *next, size_t n, json_t *const *docs)
{
    json_t *list = json_array();
    for (size_t i = 0; !err && i < n; i++)
        json_array_append(list, docs[i]);
    send_page(data, err, next, list);
}

int ht_jobs_list(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    list_t *l = h2o_mem_alloc_pool(&req->pool, sizeof(*l));
    memset(l, 0, sizeof(*l));
    l->t = t;
    l->req = req;
    l->limit = LIMIT_DEFAULT;
    if (parse_query(l) < 0)
        return -1;
    /* Only the tenant's own index: another tenant's jobs are never read. */
    if (ht_api_partitioned(t)) {
        ht_api_list_all(t, req, args->tenant, l->has_status, l->status, l->limit, l->cursor,
                        l->type, on_merged_page, l);
        return 0;
    }
    char index[HT_KEY_MAX];
    int rc = l->has_status ? ht_keys_tenant_status(&t->keys, args->tenant, l->status, index)
                           : ht_keys_tenant(&t->keys, args->tenant, "jobs", index);
    if (rc < 0)
        return ht_http_problem(req, HT_P_INTERNAL, "invalid tenant name");
    ht_astore_list(t->store, req, &t->keys, index, l->limit, l->cursor, l->type, on_page, l);
    return 0;
}
