/* The HTTP worker API's routes (see worker_api.h): each body checked field
 * by field into one problem, the store calls of api/store.h, the claims of
 * api/worker_claims.h, the answers. */
#include "api/worker_api.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/backoff.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/job.h"
#include "shared/log.h"
#include "shared/store.h"

#include "api/housekeeping.h"
#include "api/http.h"
#include "api/parts.h"
#include "api/remote_workers.h"
#include "api/router.h"
#include "api/worker_claims.h"
#include "api/worker_files.h"

#define TYPES_MAX         64 /* types one claim may name */
#define WAIT_S_MAX        86400
#define MESSAGE_MAX       1024 /* a progress message */
#define ERROR_MESSAGE_MAX 4096 /* a failure's message; longer ones are cut */
#define OPEN_WORKER_NAME  "remote"

struct ht_wapi {
    ht_remotes_t *remotes;
    ht_claims_t *claims;
    ht_housekeeping_t *housekeeping; /* thread 0's */
};

int ht_wapi_new(ht_wapi_t **out, ht_api_thread_t *t)
{
    ht_wapi_t *w = calloc(1, sizeof(*w));
    if (!w)
        return HT_ENOMEM;
    int rc = ht_remotes_new(&w->remotes, t);
    if (rc == 0)
        rc = ht_claims_new(&w->claims, t, w->remotes);
    if (rc == 0 && t->index == 0)
        rc = ht_housekeeping_new(&w->housekeeping, t);
    if (rc < 0) {
        ht_claims_close(w->claims);
        ht_remotes_free(w->remotes);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

void ht_wapi_release_all(ht_wapi_t *w)
{
    if (!w)
        return;
    ht_claims_release_all(w->claims);
    /* No new calls while the thread drains what is in flight. */
    ht_housekeeping_close(w->housekeeping);
    w->housekeeping = NULL;
}

void ht_wapi_close(ht_wapi_t *w)
{
    if (!w)
        return;
    ht_claims_close(w->claims);
    ht_housekeeping_close(w->housekeeping);
    ht_remotes_free(w->remotes);
    free(w);
}

/* ---- request bodies ------------------------------------------------------------ */

static void decref_doc(void *p)
{
    json_decref(*(json_t **)p);
}

/* The body as a JSON object that lives as long as the request (its strings
 * may be borrowed until the answer), or NULL after answering 413, 415,
 * 400 or 422. */
static json_t *body_or_reply(ht_api_thread_t *t, h2o_req_t *req)
{
    json_t *doc = ht_http_json_body_or_reply(req, t->cfg->max_body_bytes);
    if (!doc)
        return NULL;
    json_t **keep = h2o_mem_alloc_shared(&req->pool, sizeof(*keep), decref_doc);
    *keep = doc;
    if (!json_is_object(doc)) {
        ht_problem_t p = {0};
        ht_problem_add_error(&p, "", "invalid_type", "the body must be a JSON object");
        ht_problem_set(&p, HT_P_INVALID_FIELDS, "1 problem with the request body");
        ht_http_send_problem(req, &p);
        ht_problem_clear(&p);
        return NULL;
    }
    return doc;
}

/* Members not in `known` (NULL-terminated) are problems. */
static void check_known(json_t *obj, const char *prefix, const char *const *known, ht_problem_t *p)
{
    const char *name;
    json_t *v;
    json_object_foreach(obj, name, v) {
        size_t i = 0;
        while (known[i] && strcmp(known[i], name) != 0)
            i++;
        if (!known[i])
            ht_problem_add_error(p, prefix, "unknown_field", "'%s' is not a field of this request",
                                 name);
    }
}

/* Sends the problem when it holds field problems; returns -1 then, else 0. */
static int problems_or_reply(h2o_req_t *req, ht_problem_t *p)
{
    size_t n = p->errors ? json_array_size(p->errors) + p->errors_omitted : 0;
    if (n == 0)
        return 0;
    ht_problem_set(p, HT_P_INVALID_FIELDS, "%zu problem%s with the request body", n,
                   n == 1 ? "" : "s");
    ht_http_send_problem(req, p);
    ht_problem_clear(p);
    return -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* `types`: 1 to TYPES_MAX job types, into out[] sorted without duplicates
 * (borrowed from the body). */
static void parse_types(json_t *v, const char *ptr, const char **out, size_t *n, ht_problem_t *p)
{
    *n = 0;
    if (!v) {
        ht_problem_add_error(p, ptr, "required",
                             "the job types this worker serves, e.g. "
                             "[\"report.build\"]");
        return;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > TYPES_MAX) {
        ht_problem_add_error(p, ptr, json_is_array(v) ? "out_of_range" : "invalid_type",
                             "must be an array of 1 to %d job types", TYPES_MAX);
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t) {
        const char *s = json_string_value(t);
        if (!s || !ht_job_type_valid(s)) {
            ht_problem_add_error(p, ptr, "invalid_value",
                                 "item %zu is not a job type ([a-z0-9_.-]{1,64})", i);
            continue;
        }
        out[(*n)++] = s;
    }
    qsort(out, *n, sizeof(*out), cmp_str);
    size_t w = 0;
    for (size_t r = 0; r < *n; r++)
        if (w == 0 || strcmp(out[w - 1], out[r]) != 0)
            out[w++] = out[r];
    *n = w;
}

/* `worker`: the worker's name, or the worker key's name, or "remote". */
static const char *parse_worker(json_t *v, const char *ptr, const ht_route_args_t *args,
                                ht_problem_t *p)
{
    if (!v || json_is_null(v))
        return args->worker_key ? args->worker_key : OPEN_WORKER_NAME;
    const char *s = json_string_value(v);
    if (!s || !ht_remote_name_valid(s, json_string_length(v))) {
        ht_problem_add_error(p, ptr, "invalid_value",
                             "must be a name of 1 to %d of A-Z a-z 0-9 _ . : @ - (such as "
                             "host:pid)",
                             HT_REMOTE_NAME_MAX);
        return NULL;
    }
    return s;
}

/* "http:<name>" in the request's pool. */
static const char *worker_id_of(h2o_req_t *req, const char *name)
{
    size_t n = sizeof(HT_REMOTE_ID_PREFIX) - 1 + strlen(name) + 1;
    char *id = h2o_mem_alloc_pool(&req->pool, n);
    snprintf(id, n, "%s%s", HT_REMOTE_ID_PREFIX, name);
    return id;
}

/* `token`: the claim's token, a string of digits. */
static int parse_token(json_t *v, uint64_t *token, ht_problem_t *p)
{
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    int ok = n > 0 && n <= 20;
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (ok) {
        errno = 0;
        unsigned long long t = strtoull(s, NULL, 10);
        ok = errno == 0 && t > 0;
        *token = t;
    }
    if (!ok)
        ht_problem_add_error(p, "/token", v ? "invalid_value" : "required",
                             "the token of the claim, as the claim answered it (a string of "
                             "digits)");
    return ok ? 0 : -1;
}

/* ---- answers ------------------------------------------------------------------ */

/* Appends an RFC 3339 time as a JSON string. */
static void put_time(ht_buf_t *b, int64_t ms)
{
    char t[HT_TIME_BUFSZ];
    ht_buf_printf(b, "\"%s\"", ht_format_time(ms, t));
}

/* The claim answer: {"job": {...}, "token", "lease_ms", "lease_expires_at"}.
 * The payload and metadata are the stored bytes, as the api accepted them. */
static void put_claim(ht_buf_t *b, const ht_astore_claimed_t *c, long lease_ms)
{
    const ht_job_t *j = &c->job;
    int64_t until = j->started_at + lease_ms;
    if (c->deadline_at > 0 && c->deadline_at < until)
        until = c->deadline_at;
    ht_buf_printf(b, "{\"job\":{\"id\":\"%s\",\"type\":", j->id);
    ht_json_string_append(b, j->type);
    ht_buf_puts(b, ",\"tenant\":");
    ht_json_string_append(b, j->tenant ? j->tenant : "default");
    ht_buf_printf(b, ",\"priority\":\"%s\",\"attempt\":%d,\"max_attempts\":%d,\"timeout_s\":%ld",
                  ht_priority_name(j->priority), j->attempt, j->max_attempts, j->timeout_s);
    ht_buf_puts(b, ",\"created_at\":");
    put_time(b, j->created_at);
    if (c->deadline_at > 0) {
        ht_buf_printf(b, ",\"deadline_ms\":%" PRId64 ",\"deadline_at\":", c->deadline_at);
        put_time(b, c->deadline_at);
    }
    if (j->metadata) {
        ht_buf_puts(b, ",\"metadata\":");
        ht_buf_puts(b, j->metadata);
    }
    ht_wfiles_put_input(b, j);
    ht_buf_puts(b, ",\"payload\":");
    ht_buf_puts(b, j->payload ? j->payload : "{}");
    ht_buf_printf(b, "},\"token\":\"%" PRIu64 "\",\"lease_ms\":%ld,\"lease_expires_at\":", j->token,
                  lease_ms);
    put_time(b, until);
    ht_buf_putc(b, '}');
}

static void no_store(h2o_req_t *req)
{
    ht_http_add_header_pooled(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"));
}

/* ---- POST /v1/worker/claim ------------------------------------------------------ */

typedef struct {
    ht_api_thread_t *t;
    const char *worker_id;
} claim_req_t;

static void on_claim_answer(void *data, h2o_req_t *req, int err, const ht_astore_claimed_t *c)
{
    claim_req_t *cr = data;
    no_store(req);
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    if (!c) {
        ht_http_send_empty(req, 204);
        return;
    }
    ht_log(HT_LOG_DEBUG, "remote worker claimed a job", "id", c->job.id, "type", c->job.type,
           "worker", cr->worker_id, NULL);
    ht_buf_t b;
    ht_http_buf_init(req, &b);
    put_claim(&b, c, cr->t->cfg->lease_ms);
    ht_http_send_json_buf(req, 200, &b);
}

int ht_worker_claim(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    ht_housekeeping_touch();
    json_t *doc = body_or_reply(t, req);
    if (!doc)
        return -1;
    ht_problem_t p = {0};
    static const char *const known[] = {"types", "wait_s", "worker", NULL};
    check_known(doc, "", known, &p);
    const char **types = h2o_mem_alloc_pool(&req->pool, TYPES_MAX * sizeof(*types));
    size_t n = 0;
    parse_types(json_object_get(doc, "types"), "/types", types, &n, &p);
    json_t *wait = json_object_get(doc, "wait_s");
    long wait_s = 0;
    if (wait && !json_is_null(wait)) {
        if (!json_is_integer(wait) || json_integer_value(wait) < 0 ||
            json_integer_value(wait) > WAIT_S_MAX)
            ht_problem_add_error(&p, "/wait_s",
                                 json_is_integer(wait) ? "out_of_range" : "invalid_type",
                                 "seconds to wait for a job: an integer from 0 to %d (the api "
                                 "caps it at HANGTIGHT_MAX_WAIT_S)",
                                 WAIT_S_MAX);
        else
            wait_s = (long)json_integer_value(wait);
    }
    const char *name = parse_worker(json_object_get(doc, "worker"), "/worker", args, &p);
    if (problems_or_reply(req, &p) < 0)
        return -1;
    if (wait_s > t->cfg->max_wait_s)
        wait_s = t->cfg->max_wait_s;
    claim_req_t *cr = h2o_mem_alloc_pool(&req->pool, sizeof(*cr));
    cr->t = t;
    cr->worker_id = worker_id_of(req, name);
    ht_remotes_seen(t->wapi->remotes, cr->worker_id, args->worker_key, types, n);
    ht_claim_ask_t ask = {types, n, cr->worker_id, args->worker_key, wait_s * 1000};
    int rc = ht_claims_start(t->wapi->claims, req, &ask, on_claim_answer, cr);
    if (rc == -EBUSY)
        return ht_http_problem(req, HT_P_UNAVAILABLE,
                               "this server holds too many claims (%d a thread); retry, or ask "
                               "another instance",
                               HT_CLAIMS_MAX_PER_THREAD);
    if (rc < 0)
        return ht_http_problem(req, HT_P_INTERNAL, "cannot hold the claim: %s", ht_strerror(rc));
    return 0;
}

/* ---- a held job's calls ------------------------------------------------------ */

/* One call on a held job, across its asynchronous steps, in the pool. */
typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    char id[HT_ID_LEN + 1];
    uint64_t token;
    const ht_keys_t *keys;
    ht_keys_t scratch;
    /* outcomes */
    const char *result;      /* complete: JSON text (pool) */
    const char *error;       /* fail: JSON text (pool) */
    int retry;               /* fail: retry while attempts are left */
    const char **next_types; /* claim_next: sorted (borrowed from the body) */
    size_t n_next;
    const char *next_worker;    /* claim_next: the worker's id; NULL: no claim_next */
    const char *next_type_list; /* claim_next: the types as ht_claim takes them */
    int output;                 /* complete: keep the attempt's PUT output */
    const char *output_ref;     /* its reference once found (pool) */
} held_t;

/* The job's id from the path, the body's token: a held_t, or NULL after
 * answering. */
static held_t *held_new(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    if (!ht_id_valid(args->id.base, args->id.len)) {
        ht_http_problem(req, HT_P_JOB_NOT_FOUND, "no job with this id");
        return NULL;
    }
    held_t *h = h2o_mem_alloc_pool(&req->pool, sizeof(*h));
    memset(h, 0, sizeof(*h));
    h->t = t;
    h->req = req;
    memcpy(h->id, args->id.base, HT_ID_LEN);
    h->id[HT_ID_LEN] = '\0';
    h->keys = ht_api_keys_of(t, h->id, &h->scratch);
    return h;
}

/* The opening of a call on one held job (progress, complete, fail):
 * housekeeping noted, the job id of the path, the JSON object body (kept by
 * the request's pool) into *doc, its members checked against `known` and
 * its token parsed into h->token, problems gathered in *p for the caller
 * to add to.  Returns NULL once it has answered. */
static held_t *open_job_call(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args,
                             const char *const *known, json_t **doc, ht_problem_t *p)
{
    ht_housekeeping_touch();
    held_t *h = held_new(t, req, args);
    if (!h || !(*doc = body_or_reply(t, req)))
        return NULL;
    check_known(*doc, "", known, p);
    parse_token(json_object_get(*doc, "token"), &h->token, p);
    return h;
}

static void stale(held_t *h, const char *why)
{
    ht_http_problem(h->req, HT_P_STALE_TOKEN,
                    "this token no longer holds job %s: %s; drop the job (its outcome, if any, "
                    "is not stored)",
                    h->id, why);
}

/* After a refused call: 404 when there is no such job, else 409. */
static void on_refused_state(void *data, int err, const ht_astore_hold_t *hold)
{
    held_t *h = data;
    if (err) {
        ht_http_store_problem(h->req, err);
        return;
    }
    if (!hold->exists) {
        ht_http_problem(h->req, HT_P_JOB_NOT_FOUND, "no job with this id");
        return;
    }
    stale(h, hold->held ? "it changed hands meanwhile"
                        : "its lease ran out (it was requeued, or ended), another attempt holds "
                          "it, or it finished");
}

/* ---- POST /v1/worker/jobs/{id}/progress ---------------------------------------- */

static void on_renewed(void *data, int err, long long answer)
{
    held_t *h = data;
    h2o_req_t *req = h->req;
    no_store(req);
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    switch (answer) {
    case HT_LEASE_RENEWED: {
        ht_buf_t b;
        ht_http_buf_init(req, &b);
        ht_buf_puts(&b, "{\"lease_expires_at\":");
        put_time(&b, ht_now_ms() + h->t->cfg->lease_ms);
        ht_buf_printf(&b, ",\"lease_ms\":%ld,\"cancel_requested\":false}", h->t->cfg->lease_ms);
        ht_http_send_json_buf(req, 200, &b);
        return;
    }
    case HT_LEASE_CANCELED:
        ht_http_problem(req, HT_P_JOB_CANCELED,
                        "a cancel of job %s was requested: stop working on it, then report "
                        "fail (it ends canceled) or nothing (it ends canceled when its lease "
                        "runs out); the lease was renewed",
                        h->id);
        return;
    case HT_LEASE_PAST_DEADLINE:
        stale(h, "the attempt ran past its timeout_s and the grace after it, and ends as timed "
                 "out");
        return;
    default:
        ht_astore_hold_state(h->t->store, req, h->keys, h->id, h->token, on_refused_state, h);
        return;
    }
}

int ht_worker_progress(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    static const char *const known[] = {"token", "percent", "message", NULL};
    ht_problem_t p = {0};
    json_t *doc = NULL;
    held_t *h = open_job_call(t, req, args, known, &doc, &p);
    if (!h)
        return -1;
    json_t *pct = json_object_get(doc, "percent"), *msg = json_object_get(doc, "message");
    int percent = -1;
    if (pct && !json_is_null(pct)) {
        double d = json_number_value(pct);
        if (!json_is_number(pct) || !(d >= 0 && d <= 100))
            ht_problem_add_error(&p, "/percent",
                                 json_is_number(pct) ? "out_of_range" : "invalid_type",
                                 "a number from 0 to 100, or null");
        else
            percent = (int)(d + 0.5);
    }
    const char *message = NULL;
    if (msg && !json_is_null(msg)) {
        if (!json_is_string(msg) || json_string_length(msg) > MESSAGE_MAX ||
            strlen(json_string_value(msg)) != json_string_length(msg))
            ht_problem_add_error(&p, "/message",
                                 json_is_string(msg) ? "out_of_range" : "invalid_type",
                                 "a string of at most %d bytes (no NUL), or null", MESSAGE_MAX);
        else
            message = json_string_value(msg);
    }
    if (problems_or_reply(req, &p) < 0)
        return -1;
    int progress = percent >= 0 || message;
    ht_astore_renew(t->store, req, h->keys, h->id, h->token, t->cfg->lease_ms, progress, percent,
                    message, on_renewed, h);
    return 0;
}

/* ---- complete and fail ---------------------------------------------------------- */

/* The job document after the outcome, with "next" when claim_next asked. */
static void send_outcome(held_t *h, const ht_job_t *job, const ht_astore_claimed_t *next)
{
    h2o_req_t *req = h->req;
    ht_buf_t b;
    ht_http_buf_init(req, &b);
    ht_job_doc_append(&b, job);
    if (h->next_worker && !ht_buf_failed(&b) && b.len > 0) {
        ht_buf_set_len(&b, b.len - 1); /* the document's closing brace */
        ht_buf_puts(&b, ",\"next\":");
        if (next)
            put_claim(&b, next, h->t->cfg->lease_ms);
        else
            ht_buf_puts(&b, "null");
        ht_buf_putc(&b, '}');
    }
    ht_http_send_json_buf(req, 200, &b);
}

static void on_outcome(void *data, int err, const char *status, const ht_job_t *job,
                       const ht_astore_claimed_t *next)
{
    held_t *h = data;
    h2o_req_t *req = h->req;
    no_store(req);
    if (next && (!status || !job || !ht_claims_type_in(next->job.type, h->next_types, h->n_next))) {
        /* Claimed along with an outcome that was refused, or of a type not
         * asked for: back to its queue. */
        ht_claims_hand_back(h->t->wapi->claims, next);
        next = NULL;
    }
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    if (!status) {
        if (!job)
            ht_http_problem(req, HT_P_JOB_NOT_FOUND, "no job with this id");
        else
            stale(h, job->status == HT_JOB_RUNNING ? "another attempt holds it"
                     : ht_job_status_terminal(job->status)
                         ? "it has finished"
                         : "its lease ran out and it was requeued");
        return;
    }
    ht_log(HT_LOG_DEBUG, "remote worker outcome stored", "id", h->id, "status", status, NULL);
    if (!job) { /* stored, then gone at once: nothing to show */
        ht_http_problem(req, HT_P_JOB_NOT_FOUND, "the job is gone");
        return;
    }
    send_outcome(h, job, next);
}

/* `claim_next`: {"types", "worker"}: the next job, claimed in the same
 * call from the same partition. */
static void parse_claim_next(held_t *h, json_t *v, const ht_route_args_t *args, ht_problem_t *p)
{
    if (!v || json_is_null(v))
        return;
    if (!json_is_object(v)) {
        ht_problem_add_error(p, "/claim_next", "invalid_type",
                             "an object {\"types\": [...], \"worker\": ...}, or null");
        return;
    }
    static const char *const known[] = {"types", "worker", NULL};
    check_known(v, "/claim_next", known, p);
    h->next_types = h2o_mem_alloc_pool(&h->req->pool, TYPES_MAX * sizeof(*h->next_types));
    parse_types(json_object_get(v, "types"), "/claim_next/types", h->next_types, &h->n_next, p);
    const char *name = parse_worker(json_object_get(v, "worker"), "/claim_next/worker", args, p);
    char *list = name && h->n_next > 0 ? ht_claims_type_list(h->next_types, h->n_next) : NULL;
    if (list) { /* else no claim_next (out of memory: the outcome still counts) */
        h->next_type_list = h2o_strdup(&h->req->pool, list, SIZE_MAX).base;
        h->next_worker = worker_id_of(h->req, name);
        ht_remotes_seen(h->t->wapi->remotes, h->next_worker, args->worker_key, h->next_types,
                        h->n_next);
    }
    free(list);
}

static void send_outcome_call(held_t *h, const char *outcome, const char *body, int retryable,
                              long delay_ms, ht_priority_t priority)
{
    ht_astore_outcome_t o = {.id = h->id,
                             .token = h->token,
                             .outcome = outcome,
                             .body = body,
                             .retryable = retryable,
                             .retry_delay_ms = delay_ms,
                             .priority = priority,
                             .next_worker = h->next_worker,
                             .next_types = h->next_type_list,
                             .lease_ms = h->t->cfg->lease_ms,
                             .grace_ms = h->t->cfg->grace_ms,
                             .output = h->output_ref};
    ht_astore_outcome(h->t->store, h->req, h->keys, &o, on_outcome, h);
}

/* A JSON text of `v` in the request's pool, or NULL (out of memory). */
static const char *pooled_json(h2o_req_t *req, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return NULL;
    const char *out = h2o_strdup(&req->pool, text, SIZE_MAX).base;
    free(text);
    return out;
}

/* The attempt's output, found in the blob store: now the outcome. */
static void on_output_found(void *data, int err, const char *ref)
{
    held_t *h = data;
    h2o_req_t *req = h->req;
    if (err == HT_ENOTFOUND) {
        no_store(req);
        ht_problem_t p = {0};
        ht_problem_add_error(&p, "/output", "invalid_value",
                             "no output file was stored for this attempt: PUT it to "
                             "/v1/worker/jobs/%s/output first, or leave \"output\" out",
                             h->id);
        problems_or_reply(req, &p);
        return;
    }
    if (err) {
        no_store(req);
        if (err == HT_EUNAVAIL)
            ht_http_add_header(req, "retry-after", "5");
        ht_http_problem(req, err == HT_EUNAVAIL ? HT_P_UNAVAILABLE : HT_P_INTERNAL,
                        "cannot find the attempt's output file: %s", ht_strerror(err));
        return;
    }
    h->output_ref = h2o_strdup(&req->pool, ref, SIZE_MAX).base;
    send_outcome_call(h, "succeeded", h->result, 0, 0, HT_PRIO_DEFAULT);
}

/* complete with "output": the job as it is names the output's key (its
 * tenant and attempt). */
static void on_complete_job(void *data, int err, const ht_job_t *job)
{
    held_t *h = data;
    h2o_req_t *req = h->req;
    if (err) {
        no_store(req);
        ht_http_job_problem(req, err);
        return;
    }
    if (job->status != HT_JOB_RUNNING || job->token != h->token) {
        no_store(req);
        stale(h, job->status == HT_JOB_RUNNING         ? "another attempt holds it"
                 : ht_job_status_terminal(job->status) ? "it has finished"
                                                       : "its lease ran out and it was requeued");
        return;
    }
    if (ht_wfiles_output(h->t, req, job, on_output_found, h) < 0)
        no_store(req);
}

int ht_worker_complete(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    static const char *const known[] = {"token", "result", "output", "claim_next", NULL};
    ht_problem_t p = {0};
    json_t *doc = NULL;
    held_t *h = open_job_call(t, req, args, known, &doc, &p);
    if (!h)
        return -1;
    parse_claim_next(h, json_object_get(doc, "claim_next"), args, &p);
    json_t *output = json_object_get(doc, "output");
    if (output && !json_is_null(output) && !json_is_boolean(output))
        ht_problem_add_error(&p, "/output", "invalid_type",
                             "true: keep the output file PUT for this attempt as the job's "
                             "output; false or null: none");
    h->output = json_is_true(output);
    if (problems_or_reply(req, &p) < 0)
        return -1;
    json_t *result = json_object_get(doc, "result");
    h->result = result ? pooled_json(req, result) : "null";
    if (!h->result)
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    if (h->output) {
        ht_astore_get(t->store, req, h->keys, h->id, on_complete_job, h);
        return 0;
    }
    /* The priority is used only by a retry: not by a success. */
    send_outcome_call(h, "succeeded", h->result, 0, 0, HT_PRIO_DEFAULT);
    return 0;
}

/* The held job as it is, before its failure is stored: who holds it, its
 * attempts, its priority, a cancel asked. */
static void on_fail_state(void *data, int err, const ht_astore_hold_t *hold)
{
    held_t *h = data;
    h2o_req_t *req = h->req;
    if (err) {
        no_store(req);
        ht_http_store_problem(req, err);
        return;
    }
    if (!hold->exists || !hold->held) {
        on_refused_state(h, 0, hold);
        return;
    }
    if (hold->cancel_requested) {
        /* Stopped for its cancel: the job ends canceled, never retried. */
        send_outcome_call(h, "canceled", NULL, 0, 0, hold->priority);
        return;
    }
    int retryable = h->retry && hold->attempt < hold->max_attempts;
    long delay = retryable ? ht_backoff_delay_ms(h->t->cfg->retry_base_ms, h->t->cfg->retry_max_ms,
                                                 hold->attempt, NULL, NULL)
                           : 0;
    send_outcome_call(h, "failed", h->error, h->retry, delay, hold->priority);
}

/* The error of a failure: {"code", "message"}, the message cut to
 * ERROR_MESSAGE_MAX bytes on a character boundary. */
static const char *parse_error(h2o_req_t *req, json_t *v, ht_problem_t *p)
{
    const char *code = "handler_error", *message = NULL;
    size_t len = 0;
    if (json_is_string(v)) {
        message = json_string_value(v);
        len = json_string_length(v);
    } else if (json_is_object(v)) {
        static const char *const known[] = {"code", "message", NULL};
        check_known(v, "/error", known, p);
        json_t *c = json_object_get(v, "code"), *m = json_object_get(v, "message");
        if (c && !json_is_null(c)) {
            if (!json_is_string(c) || !ht_job_type_valid(json_string_value(c)))
                ht_problem_add_error(p, "/error/code", "invalid_value",
                                     "[a-z0-9_.-]{1,64}, or null");
            else
                code = json_string_value(c);
        }
        if (!json_is_string(m))
            ht_problem_add_error(p, "/error/message", m ? "invalid_type" : "required",
                                 "what went wrong, a string");
        else {
            message = json_string_value(m);
            len = json_string_length(m);
        }
    } else {
        ht_problem_add_error(p, "/error", v ? "invalid_type" : "required",
                             "a message, or {\"code\": ..., \"message\": ...}");
    }
    if (!message)
        return NULL;
    if (len > ERROR_MESSAGE_MAX) {
        len = ERROR_MESSAGE_MAX;
        while (len > 0 && ((unsigned char)message[len] & 0xC0) == 0x80)
            len--; /* not in the middle of a character */
    }
    json_t *e = json_pack("{s:s, s:s%}", "code", code, "message", message, len);
    const char *text = e ? pooled_json(req, e) : NULL;
    json_decref(e);
    return text;
}

int ht_worker_fail(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    static const char *const known[] = {"token", "error", "retry", "claim_next", NULL};
    ht_problem_t p = {0};
    json_t *doc = NULL;
    held_t *h = open_job_call(t, req, args, known, &doc, &p);
    if (!h)
        return -1;
    h->error = parse_error(req, json_object_get(doc, "error"), &p);
    json_t *retry = json_object_get(doc, "retry");
    h->retry = 1;
    if (retry && !json_is_null(retry)) {
        if (!json_is_boolean(retry))
            ht_problem_add_error(&p, "/retry", "invalid_type",
                                 "true (the default: retried while attempts are left) or false");
        else
            h->retry = json_is_true(retry);
    }
    parse_claim_next(h, json_object_get(doc, "claim_next"), args, &p);
    if (problems_or_reply(req, &p) < 0)
        return -1;
    if (!h->error)
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    ht_astore_hold_state(t->store, req, h->keys, h->id, h->token, on_fail_state, h);
    return 0;
}
