/* Reply helpers for the api's handlers: JSON bodies, problem+json errors
 * (RFC 9457, from the one table in shared/problem.h), headers, conditional
 * requests.  Everything a helper allocates comes from req->pool, so nothing
 * here needs freeing.  The *_or_reply() helpers send the error themselves
 * and return -1, so handlers read top to bottom:
 *
 *     if (ht_http_json_content_type_or_reply(req) < 0)
 *         return -1;
 *
 * HEAD is answered like GET without the body. */
#ifndef HT_API_HTTP_H
#define HT_API_HTTP_H

#include <h2o.h>
#include <jansson.h>
#include <stddef.h>

#include "shared/buf.h"
#include "shared/job.h"
#include "shared/problem.h"
#include "shared/query.h"

/* Adds a response header.  `name` is a lowercase string literal (h2o keeps
 * the pointer; HTTP/2 wants lowercase); `value` is copied into the pool. */
void ht_http_add_header(h2o_req_t *req, const char *name, const char *value);
void ht_http_add_headerf(h2o_req_t *req, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends a complete response with `body` (copied) and Content-Type. */
void ht_http_send(h2o_req_t *req, int status, const char *content_type, const char *body,
                  size_t len);

/* Sends `doc` (borrowed) as application/json.  Returns 0. */
int ht_http_send_json(h2o_req_t *req, int status, const json_t *doc);

/* An empty buffer (shared/buf.h) whose memory is req->pool's: a body
 * built in it is sent without a copy by ht_http_send_json_buf(). */
void ht_http_buf_init(h2o_req_t *req, ht_buf_t *b);

/* Sends the JSON text of `b` (from ht_http_buf_init; emptied) as
 * application/json.  Returns 0, or -1 when it answered 500 (`b` failed:
 * out of memory). */
int ht_http_send_json_buf(h2o_req_t *req, int status, ht_buf_t *b);

/* Ends a listing begun in `b` as {"<things>":[... and sends it (200, not
 * cached): the next cursor ("" at the end: null) and the links, self for
 * `cursor` and next when there is one, each a quoted URL written by
 * url(b, ctx, cursor). */
void ht_http_send_page(h2o_req_t *req, ht_buf_t *b, const char *cursor, const char *next,
                       void (*url)(ht_buf_t *b, const void *ctx, const char *cursor),
                       const void *ctx);

/* Sends the job document of `job` (shared/job.h ht_job_doc_append(),
 * written straight into the pool) as application/json.  Returns 0, or -1
 * when it answered 500 (out of memory). */
int ht_http_send_job(h2o_req_t *req, int status, const ht_job_t *job);

/* Adds a response header whose value already lives in req->pool (or is
 * static): nothing is copied.  `name` is one of h2o's tokens (H2O_TOKEN_*). */
void ht_http_add_header_pooled(h2o_req_t *req, const h2o_token_t *name, const char *value,
                               size_t len);

/* Sends a response without a body (304). */
void ht_http_send_empty(h2o_req_t *req, int status);

/* Sends `p` as application/problem+json with its status (503 adds
 * Retry-After: 1).  Returns -1, the "answered with an error" result. */
int ht_http_send_problem(h2o_req_t *req, const ht_problem_t *p);

/* Shorthand: a problem of `kind` with a formatted detail (fmt may be NULL).
 * Returns -1. */
int ht_http_problem(h2o_req_t *req, ht_problem_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A failed store call (api/store.h) as the client sees it: 503 when Redis
 * is unavailable, else 500.  Returns -1. */
int ht_http_store_problem(h2o_req_t *req, int err);

/* A failed read of one job as the client sees it: 404 job-not-found for
 * HT_ENOTFOUND (no such job, expired, or another tenant's: the same
 * answer), else as ht_http_store_problem.  Returns -1. */
int ht_http_job_problem(h2o_req_t *req, int err);

/* 415 unless Content-Type is application/json or application/<x>+json
 * (parameters such as charset allowed).  Returns 0 or -1 (answered). */
int ht_http_json_content_type_or_reply(h2o_req_t *req);

/* The request body as JSON, any value (ht_problem_load_json's rules):
 * 413 over max_bytes, 415 unless JSON (as above), 400 empty or not JSON.
 * Returns a new reference, or NULL having answered. */
json_t *ht_http_json_body_or_reply(h2o_req_t *req, size_t max_bytes);

/* 1 when the media type v[0..len) is JSON as above (parameters allowed). */
int ht_http_media_type_is_json(const char *v, size_t len);

/* 1 when Content-Type is JSON (as above), 0 when it is another type, -1
 * when there is none. */
int ht_http_content_type_is_json(h2o_req_t *req);
/* The request's query string (what follows '?'; empty when none), ready
 * to read with the one parser (shared/query.h, scratch in req->pool).
 * Every parameter is checked first: returns 0, or -1 having answered 400
 * when one is malformed (a bad %-escape). */
int ht_http_query_or_reply(h2o_req_t *req, ht_query_t *q);

/* The id of the request's path (`id`, as the router captured it) into
 * `out`, NUL-terminated.  Returns 0, or -1 having answered 404 `kind`
 * ("no <what> with this id") when it is not an id (shared/id.h). */
int ht_http_id_or_reply(h2o_req_t *req, h2o_iovec_t id, ht_problem_kind_t kind, const char *what,
                        char out[HT_ID_LEN + 1]);

/* 1 when the request's If-None-Match matches `etag` (a full entity tag with
 * its quotes): "*", a comma-separated list, W/ tags compared weakly. */
int ht_http_if_none_match(h2o_req_t *req, const char *etag);

#endif
