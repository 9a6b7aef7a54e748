/* GET /v1/jobs?status=&type=&limit=&cursor=: jobs newest first, a page at a
 * time.  The page is one read-only Redis function call (ht_list over the
 * index of every job, or of one status); the cursor is the opaque string it
 * returns, so paging never skips or repeats a job while others arrive.
 *
 *   {"jobs": [document, ...], "next_cursor": "..." | null,
 *    "links": {"self": "/v1/jobs?...", "next": "/v1/jobs?...&cursor=..."}}
 *
 * The query string is read by the one parser (shared/query.h); unknown
 * parameters are a 400 (as unknown body fields are a 422): a typo such as
 * ?stauts=failed must not silently list every job.  So is a malformed
 * %-escape.
 *
 * With several partitions (shared/partition.h) the page is merged from
 * every partition's index (api/parts.h: ht_api_list_all), with a cursor
 * that records where each partition stands; with one, it is the single
 * call above, cursor and all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/job.h"

#include "api/http.h"
#include "api/parts.h"
#include "api/router.h"

#define LIMIT_DEFAULT 20
#define LIMIT_MAX     100
/* A partitioned listing's cursor holds the position of each partition it
 * touched (about 34 characters each, api/parts.h). */
#define CURSOR_MAX HT_API_CURSOR_MAX

typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    int has_status;
    ht_job_status_t status;
    char type[HT_TYPE_MAX + 1]; /* "" = any */
    int limit;
    char cursor[CURSOR_MAX + 1]; /* "" = from the newest */
} list_t;

/* Appends s percent-encoded: everything but unreserved characters and ':'
 * (legal in a query, RFC 3986 section 3.4; cursors hold it), so that
 * shared/query.h reads back s. */
static void url_encode(ht_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
            ht_buf_putc(b, (char)c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            ht_buf_append(b, esc, 3);
        }
    }
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
    ht_query_t q;
    ht_query_param_t p;
    if (ht_http_query_or_reply(l->req, &q) < 0)
        return -1;
    while (ht_query_next(&q, &p) == 1) {
        if (take_param(l, p.name, p.name_len, p.value) < 0)
            return -1;
    }
    return 0;
}

/* "/v1/jobs?status=...&type=...&limit=N[&cursor=...]" of this listing, in
 * quotes: a JSON string (its characters need no escape). */
static void put_page_url(ht_buf_t *b, const void *ctx, const char *cursor)
{
    const list_t *l = ctx;
    ht_buf_puts(b, "\"/v1/jobs?");
    if (l->has_status)
        ht_buf_printf(b, "status=%s&", ht_job_status_name(l->status));
    if (l->type[0])
        ht_buf_printf(b, "type=%s&", l->type); /* [a-z0-9_.-] */
    ht_buf_printf(b, "limit=%d", l->limit);
    if (cursor && cursor[0]) {
        ht_buf_puts(b, "&cursor=");
        url_encode(b, cursor);
    }
    ht_buf_putc(b, '"');
}

/* Answers a page: the documents of `jobs`, or their text `docs` (a merged
 * page), n of them.
 *
 *   {"jobs":[...],"next_cursor":"..."|null,"links":{"self":"...","next":"..."}} */
static void send_page(list_t *l, int err, const char *next, size_t n, const ht_job_t *jobs,
                      const h2o_iovec_t *docs)
{
    h2o_req_t *req = l->req;
    if (err == HT_EINVAL) {
        ht_http_problem(req, HT_P_BAD_REQUEST,
                        "cursor is not one this server made (use next_cursor)");
        return;
    }
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    ht_buf_t b;
    ht_http_buf_init(req, &b);
    ht_buf_puts(&b, "{\"jobs\":[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            ht_buf_putc(&b, ',');
        if (jobs)
            ht_job_doc_append(&b, &jobs[i]);
        else
            ht_buf_append(&b, docs[i].base, docs[i].len);
    }
    ht_http_send_page(req, &b, l->cursor, next, put_page_url, l);
}

static void on_page(void *data, int err, const char *next, size_t n, const ht_job_t *jobs)
{
    send_page(data, err, next, n, jobs, NULL);
}

static void on_merged_page(void *data, int err, const char *next, size_t n, const h2o_iovec_t *docs)
{
    send_page(data, err, next, n, NULL, docs);
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
