/* The jobs resource: POST /v1/jobs (submit, async or held with Prefer:
 * wait=N, delayed with delay_s/run_at, deduplicated by Idempotency-Key) and
 * GET /v1/jobs/{id} (poll, or long poll with If-None-Match and Prefer:
 * wait=N).  Validation is shared/job_request.c's; the store call is
 * api/store.c's; holding is api/wait.c's; this file decides statuses and
 * headers.  Listing is jobs_list.c, cancel and retry job_actions.c.
 *
 * A file submit (a body that is not JSON, DESIGN.md "Files") takes the same
 * path with two differences: its fields come from the query string, and
 * between the type check and the store call its body goes into the blob
 * store (api/upload.c); the job is created only once the file is stored,
 * and a job refused after that takes its file with it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/job.h"
#include "shared/log.h"
#include "shared/query.h"

#include "api/http.h"
#include "api/idem.h"
#include "api/parts.h"
#include "api/router.h"
#include "api/upload.h"
#include "api/wait.h"

#define MAX_PAYLOAD_DEPTH 32

/* Retry-After while a job is not finished: 1 s during its first 10 s, then
 * a tenth of its age, capped at 30 s.  Short jobs are polled briskly, and a
 * job that has run for minutes is not polled every second by every client. */
static long retry_after_s(const ht_job_t *job)
{
    int64_t age_s = (ht_now_ms() - job->created_at) / 1000;
    if (age_s < 10)
        return 1;
    return age_s / 10 > 30 ? 30 : (long)(age_s / 10);
}

/* Writes "\"<version>\"" and its NUL into etag[32]; returns its length. */
static size_t format_etag(char etag[32], uint64_t version)
{
    char digits[24];
    size_t n = 0, len = 0;
    do {
        digits[n++] = (char)('0' + version % 10);
        version /= 10;
    } while (version);
    etag[len++] = '"';
    while (n)
        etag[len++] = digits[--n];
    etag[len++] = '"';
    etag[len] = '\0';
    return len;
}

/* ETag: the job's version.  etag[32] keeps the text for If-None-Match. */
static void add_etag(h2o_req_t *req, uint64_t version, char etag[32])
{
    size_t len = format_etag(etag, version);
    ht_http_add_header_pooled(req, H2O_TOKEN_ETAG, h2o_strdup(&req->pool, etag, len).base, len);
}

/* Retry-After in seconds: the common "1" without formatting. */
static void add_retry_after(h2o_req_t *req, long s)
{
    if (s == 1) {
        ht_http_add_header_pooled(req, H2O_TOKEN_RETRY_AFTER, H2O_STRLIT("1"));
        return;
    }
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%ld", s);
    ht_http_add_header_pooled(req, H2O_TOKEN_RETRY_AFTER, h2o_strdup(&req->pool, buf, n).base,
                              (size_t)n);
}

/* "/v1/jobs/<id>" in the request's pool, for Location and its kin. */
static h2o_iovec_t job_path(h2o_req_t *req, const char *id)
{
    size_t n = strlen(id);
    char *p = h2o_mem_alloc_pool(&req->pool, sizeof("/v1/jobs/") - 1 + n);
    memcpy(p, "/v1/jobs/", sizeof("/v1/jobs/") - 1);
    memcpy(p + sizeof("/v1/jobs/") - 1, id, n);
    return h2o_iovec_init(p, sizeof("/v1/jobs/") - 1 + n);
}

/* ---- POST /v1/jobs ------------------------------------------------------ */

/* One submit across its asynchronous steps, in the request's pool.  The
 * pool's dispose hook clears it whether the submit finished or the client
 * went away. */
typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    const char *tenant; /* the job's owner: the caller's API key's tenant */
    ht_job_request_t jr;
    char id[HT_ID_LEN + 1];
    char *payload_json;  /* malloc'd */
    char *metadata_json; /* malloc'd, NULL when none */
    ht_wait_plan_t plan; /* wait_ms > 0: a sync submit */
    ht_astore_submit_opts_t opts;
    char *idem_key;        /* HT_KEY_MAX bytes in the pool, only when given (opts.idem_key) */
    const ht_keys_t *keys; /* of the partition it goes to (api/parts.h) */
    unsigned part_index, part_n;
    char idem_hash[HT_IDEM_HASH_LEN + 1];
    int replayed;     /* the answer repeats an earlier request's */
    uint64_t version; /* of the stored job, once stored */
    int64_t created_at;
    ht_job_status_t status; /* as stored: queued or scheduled */
    ht_upload_t *upload;    /* a file submit's file (api/upload.h); NULL for JSON */
} submit_t;

static void submit_dispose(void *p)
{
    submit_t *s = p;
    ht_job_request_clear(&s->jr);
    free(s->payload_json);
    free(s->metadata_json);
}

/* The job just stored, built from what we sent and what Redis answered, so
 * the 202 needs no second round trip.  Borrowed strings: this job is never
 * ht_job_clear()ed. */
static void submitted_job(const submit_t *s, ht_job_t *job)
{
    ht_job_request_start_job(&s->jr, job);
    memcpy(job->id, s->id, sizeof(job->id));
    job->queue = (char *)s->t->keys.queue;
    job->tenant = (char *)s->tenant;
    job->status = s->status;
    job->run_at = s->status == HT_JOB_SCHEDULED ? s->opts.run_at_ms : 0;
    job->payload = s->payload_json;
    job->metadata = s->metadata_json;
    job->created_at = s->created_at;
    job->version = s->version;
    if (s->upload) {
        /* The reference as stored, read back without a copy: the content
         * type is borrowed like every string here. */
        job->input.bytes = strtoull(ht_upload_ref(s->upload), NULL, 10);
        memcpy(job->input.sha256, ht_upload_sha256(s->upload), sizeof(job->input.sha256));
        memcpy(job->input.name, "input", sizeof("input"));
        job->input.content_type = (char *)ht_upload_content_type(s->upload);
    }
}

/* Preference-Applied (when something was) and Vary: Prefer, which every
 * answer of a resource whose answers Prefer changes carries. */
static void add_prefer_headers(h2o_req_t *req, const ht_wait_plan_t *plan, int held,
                               int async_answer)
{
    char applied[128];
    if (ht_wait_applied(plan, held, async_answer, applied, sizeof(applied)) > 0)
        ht_http_add_header(req, "preference-applied", applied);
    ht_http_add_header_pooled(req, H2O_TOKEN_VARY, H2O_STRLIT("Prefer"));
}

/* The async answer: 202 with where to poll.  `job` is the latest read, or
 * NULL for the document of the job as submitted. */
static void send_accepted(submit_t *s, const ht_job_t *job, int held)
{
    h2o_req_t *req = s->req;
    ht_job_t submitted;
    char etag[32];
    if (s->replayed)
        ht_http_add_header(req, "idempotent-replayed", "true");
    h2o_iovec_t path = job_path(req, s->id);
    ht_http_add_header_pooled(req, H2O_TOKEN_LOCATION, path.base, path.len);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("operation-location"), 0, NULL,
                          path.base, path.len);
    add_retry_after(req, job ? retry_after_s(job) : 1L);
    add_etag(req, job ? job->version : s->version, etag);
    add_prefer_headers(req, &s->plan, held, 1);
    if (!job) {
        submitted_job(s, &submitted);
        job = &submitted;
    }
    ht_http_send_job(req, 202, job);
}

/* The sync answer: the job finished while the request was held.  A job
 * that left an output file is a 201 whose Location is that file (WebDAV's
 * PUT ... 102 Processing ... 201 Created, as a job); else a 200. */
static void send_finished(submit_t *s, const ht_job_t *job)
{
    h2o_req_t *req = s->req;
    char etag[32];
    if (s->replayed)
        ht_http_add_header(req, "idempotent-replayed", "true");
    h2o_iovec_t path = job_path(req, s->id);
    ht_http_add_header_pooled(req, H2O_TOKEN_CONTENT_LOCATION, path.base, path.len);
    int created = job->status == HT_JOB_SUCCEEDED && job->output.name[0];
    if (created) {
        static const char tail[] = "/output";
        char *loc = h2o_mem_alloc_pool(&req->pool, path.len + sizeof(tail) - 1);
        memcpy(loc, path.base, path.len);
        memcpy(loc + path.len, tail, sizeof(tail) - 1);
        ht_http_add_header_pooled(req, H2O_TOKEN_LOCATION, loc, path.len + sizeof(tail) - 1);
    }
    add_etag(req, job->version, etag);
    add_prefer_headers(req, &s->plan, 1, 0);
    ht_http_send_job(req, created ? 201 : 200, job);
}

static void on_sync_answer(void *data, h2o_req_t *req, ht_wait_end_t end, int err,
                           const ht_job_t *job)
{
    submit_t *s = data;
    (void)req;
    if (end == HT_WAIT_DONE && err == 0 && job && ht_job_status_terminal(job->status)) {
        send_finished(s, job);
        return;
    }
    /* Not finished in time, the client left, the server stops, or Redis
     * could not be read: the job runs on, so the answer is the async one
     * (never an error: retrying a submit would make a second job). */
    send_accepted(s, err == 0 ? job : NULL, 1);
}

/* Holds a sync submit (Prefer: wait=N) until the job finishes; 1 when
 * held, 0 when the caller must answer now. */
static int hold_if_asked(submit_t *s)
{
    if (s->plan.wait_ms <= 0)
        return 0;
    int rc = ht_wait_hold(s->req, s->id, HT_WAIT_TERMINAL, 0, &s->plan, on_sync_answer, s);
    if (rc == 0)
        return 1;
    ht_log(HT_LOG_DEBUG, "sync submit answered at once", "id", s->id, "detail", ht_strerror(rc),
           NULL);
    return 0;
}

/* A replay: the answer of the first request, with the job as it is now. */
static void on_replayed_job(void *data, int err, const ht_job_t *job)
{
    submit_t *s = data;
    if (err == HT_ENOTFOUND) {
        /* The job expired between reading the key and reading the job (the
         * key expires with it): the key is free again in a moment. */
        ht_http_problem(s->req, HT_P_CONFLICT,
                        "the job of this Idempotency-Key has just expired; retry");
        return;
    }
    if (err) {
        ht_http_store_problem(s->req, err);
        return;
    }
    if (ht_job_status_terminal(job->status) && s->plan.wait_ms > 0) {
        send_finished(s, job); /* what a held first request would have got */
        return;
    }
    if (hold_if_asked(s))
        return;
    send_accepted(s, job, 0);
}

static void idempotency_mismatch(submit_t *s)
{
    ht_problem_t p = {0};
    ht_problem_add_error(&p, "", "idempotency_key_reused",
                         "this Idempotency-Key was used with another request body");
    ht_problem_set(&p, HT_P_INVALID_FIELDS,
                   "an Idempotency-Key names one request: send the same body, or a new key");
    ht_http_send_problem(s->req, &p);
    ht_problem_clear(&p);
}

static void on_submitted(void *data, int err, const ht_astore_submitted_t *res)
{
    submit_t *s = data;
    h2o_req_t *req = s->req;
    /* A file the job will not keep goes: refused (Redis answered), or a
     * replay (the first request's job has its own).  After a lost
     * connection the job may exist: its file stays, and the sweeper takes
     * it if no job does. */
    if (s->upload && ((err && err != HT_EREDIS) || (!err && res->replayed)))
        ht_upload_discard(s->upload);
    if (err == HT_EEXIST) {
        idempotency_mismatch(s);
        return;
    }
    if (err == HT_ELIMIT) {
        ht_http_add_header(req, "retry-after", "1");
        ht_http_problem(req, HT_P_OVER_CAP,
                        "max_queued: tenant %s has %lld jobs waiting (queued or scheduled) in the "
                        "partition this job went to, its share of the cap; retry once some start",
                        s->tenant, res->max_queued);
        return;
    }
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    if (s->opts.wait_replicas > 0 && res->replicas < s->opts.wait_replicas) {
        /* The master has the job; a failover now could lose it.  The client
         * must not take it as accepted, nor lose track of it. */
        ht_log(HT_LOG_WARN, "submit not acknowledged by replicas in time", "id", res->id, NULL);
        ht_http_problem(req, HT_P_UNAVAILABLE,
                        "job %s is stored on the Redis master but %ld of %ld replicas "
                        "acknowledged it within %ld ms, so a failover now could lose it; it is "
                        "not accepted: resubmit with the same Idempotency-Key (the same job "
                        "comes back once replicated), or GET /v1/jobs/%s to see if it is there",
                        res->id, res->replicas, s->opts.wait_replicas, s->opts.wait_timeout_ms,
                        res->id);
        return;
    }
    if (res->replayed) {
        s->replayed = 1;
        snprintf(s->id, sizeof(s->id), "%s", res->id);
        ht_log(HT_LOG_DEBUG, "idempotent submit replayed", "id", s->id, NULL);
        ht_keys_t scratch;
        ht_astore_get(s->t->store, req, ht_api_keys_of(s->t, s->id, &scratch), s->id,
                      on_replayed_job, s);
        return;
    }
    s->version = res->version;
    s->created_at = res->created_at;
    s->status = res->status;
    s->jr.priority = res->priority; /* lowered to the tenant's max_priority */
    ht_log(HT_LOG_DEBUG, "job submitted", "id", s->id, "type", s->jr.type, NULL);
    if (hold_if_asked(s))
        return;
    send_accepted(s, NULL, 0);
}

static int submit_now(submit_t *s)
{
    s->payload_json = ht_json_dumps_compact(s->jr.payload);
    if (s->jr.metadata)
        s->metadata_json = ht_json_dumps_compact(s->jr.metadata);
    if (!s->payload_json || (s->jr.metadata && !s->metadata_json))
        return ht_http_problem(s->req, HT_P_INTERNAL, "out of memory");
    /* Durable mode: the submit's answer waits for replicas (docs/scaling.md). */
    s->opts.wait_replicas = s->t->cfg->wait_replicas;
    s->opts.wait_timeout_ms = s->t->cfg->wait_timeout_ms;
    ht_astore_submit(s->t->durable ? s->t->durable : s->t->store, s->req, s->keys, s->id, s->tenant,
                     &s->jr, s->payload_json, s->metadata_json, &s->opts, on_submitted, s);
    /* Sent (hiredis formatted its own copy; the answer's document has no
     * payload): a held sync submit keeps only what its answer needs. */
    json_decref(s->jr.payload);
    json_decref(s->jr.metadata);
    s->jr.payload = s->jr.metadata = NULL;
    free(s->payload_json);
    s->payload_json = NULL;
    return 0;
}

/* A file submit's fingerprint for its Idempotency-Key: the query string
 * (the job's fields), the content type and the file's SHA-256, known only
 * once it is stored. */
static int file_fingerprint(submit_t *s)
{
    h2o_req_t *req = s->req;
    h2o_iovec_t q = h2o_iovec_init("", 0);
    if (req->query_at != SIZE_MAX && req->query_at < req->path.len)
        q = h2o_iovec_init(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1);
    const char *ct = ht_upload_content_type(s->upload), *sha = ht_upload_sha256(s->upload);
    size_t n = sizeof("file\n\n\n") + q.len + strlen(ct) + strlen(sha);
    char *text = h2o_mem_alloc_pool(&req->pool, n);
    int len = snprintf(text, n, "file\n%.*s\n%s\n%s", (int)q.len, q.base, ct, sha);
    return ht_idem_body_hash(text, (size_t)len, s->idem_hash);
}

static void on_stored(void *data, int err)
{
    submit_t *s = data;
    if (err) {
        ht_upload_problem(s->req, s->upload, err);
        return;
    }
    if (s->opts.idem_key && file_fingerprint(s) < 0) {
        ht_upload_discard(s->upload);
        ht_http_problem(s->req, HT_P_INTERNAL, "cannot fingerprint the request");
        return;
    }
    s->opts.input = ht_upload_ref(s->upload);
    submit_now(s);
}

static int enqueue(submit_t *s)
{
    int rc = ht_id_new_in(s->id, s->part_index, s->part_n);
    if (rc < 0)
        return ht_http_problem(s->req, HT_P_INTERNAL, "cannot make a job id: %s", ht_strerror(rc));
    if (s->upload) {
        ht_upload_store(s->upload, s->tenant, s->id, on_stored, s);
        return 0;
    }
    return submit_now(s);
}

static void on_type_checked(void *data, int err, int served)
{
    submit_t *s = data;
    if (err) {
        ht_http_store_problem(s->req, err);
        return;
    }
    if (!served) {
        ht_types_refuse(s->req, "/type", s->jr.type);
        return;
    }
    enqueue(s);
}

/* The Idempotency-Key, if any, into s->opts: its key name and the
 * fingerprint of the body.  Returns 0 or -1 (answered 400). */
static int idempotency_of(submit_t *s)
{
    const char *key;
    size_t keylen;
    if (ht_idem_key_of(s->req, &key, &keylen) < 0)
        return ht_http_problem(s->req, HT_P_BAD_REQUEST,
                               "Idempotency-Key must be one string of 1 to %d visible ASCII "
                               "characters, bare or in double quotes",
                               HT_IDEM_KEY_MAX);
    /* The partition: a replay of a keyed request must meet the first one's
     * record, so the key picks it. */
    s->keys = ht_api_submit_keys(s->t, s->tenant, key, keylen, &s->part_index, &s->part_n);
    if (!key)
        return 0;
    s->idem_key = h2o_mem_alloc_pool(&s->req->pool, HT_KEY_MAX);
    if (ht_keys_idem(s->keys, s->tenant, key, keylen, s->idem_key) < 0)
        return ht_http_problem(s->req, HT_P_INTERNAL, "cannot fingerprint the request");
    s->opts.idem_key = s->idem_key;
    s->opts.idem_hash = s->idem_hash;
    /* A file's fingerprint waits for its SHA-256 (file_fingerprint). */
    if (s->upload)
        return 0;
    if (ht_idem_body_hash(s->req->entity.base, s->req->entity.len, s->idem_hash) < 0)
        return ht_http_problem(s->req, HT_P_INTERNAL, "cannot fingerprint the request");
    return 0;
}

void ht_jobs_submit_opts(const ht_api_thread_t *t, const ht_job_request_t *jr,
                         ht_astore_submit_opts_t *opts)
{
    if (jr->run_at_ms > 0)
        opts->run_at_ms = jr->run_at_ms;
    else if (jr->delay_s > 0)
        opts->run_at_ms = ht_now_ms() + (int64_t)jr->delay_s * 1000;
    long keep = t->cfg->failed_ttl_s;
    opts->failed_ttl_s = jr->ttl_s > keep ? jr->ttl_s : keep;
    opts->watched_always = t->cfg->log_every_job;
}

/* When the job may run, and how long it is kept if it fails. */
static void schedule_of(submit_t *s)
{
    ht_jobs_submit_opts(s->t, &s->jr, &s->opts);
    /* Until Redis answers; the status it chose (by its clock) wins. */
    s->status = s->opts.run_at_ms > ht_now_ms() ? HT_JOB_SCHEDULED : HT_JOB_QUEUED;
}

/* Query parameters that are not job fields: the wait preference's, for
 * clients that cannot set a Prefer header (api/wait.h). */
static const char *const not_fields[] = {"wait", "heartbeat", NULL};

/* A file submit's fields, from its query string.  Returns 0 or -1
 * (answered: 400 for a malformed query, 422 for bad fields). */
static int request_from_query(submit_t *s, const ht_job_limits_t *limits)
{
    h2o_req_t *req = s->req;
    ht_query_t q;
    if (ht_http_query_or_reply(req, &q) < 0)
        return -1;
    /* At most one parameter per 2 bytes of the query ("a&"). */
    size_t max = (req->query_at != SIZE_MAX ? req->path.len - req->query_at : 0) / 2 + 1, n = 0;
    ht_job_param_t *params = h2o_mem_alloc_pool(&req->pool, max * sizeof(*params));
    ht_query_param_t p;
    while (n < max && ht_query_next(&q, &p) == 1) {
        params[n].name = h2o_strdup(&req->pool, p.name, p.name_len).base;
        params[n].value = h2o_strdup(&req->pool, p.value, p.value_len).base;
        n++;
    }
    ht_problem_t problem = {0};
    if (ht_job_request_from_params(&s->jr, params, n, not_fields, limits, &problem) < 0) {
        ht_http_send_problem(req, &problem);
        ht_problem_clear(&problem);
        return -1;
    }
    return 0;
}

int ht_jobs_submit(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    ht_upload_t *upload = NULL;
    if (ht_upload_is_file(req)) {
        if (ht_upload_begin_or_reply(req, args->intake, &upload) < 0)
            return -1;
    } else {
        if (req->entity.len > t->cfg->max_body_bytes)
            return ht_http_problem(req, HT_P_TOO_LARGE, "the body is %zu bytes; the limit is %zu",
                                   req->entity.len, t->cfg->max_body_bytes);
        if (ht_http_json_content_type_or_reply(req) < 0)
            return -1;
    }

    ht_query_t query; /* only checked here: ht_wait_prefer_of reads ?wait= */
    if (ht_http_query_or_reply(req, &query) < 0)
        return -1;
    ht_prefer_t prefer;
    ht_wait_prefer_of(req, &prefer);
    ht_wait_plan_t plan;
    ht_wait_plan(&plan, &prefer, t->cfg->max_wait_s, t->cfg->heartbeat_ms, req->version);
    ht_wait_plan_client_of(&plan, &prefer, req);
    /* Refuse before submitting: an error after it would invite a duplicate. */
    if (plan.wait_ms > 0 && !ht_wait_has_room())
        return ht_http_problem(req, HT_P_UNAVAILABLE,
                               "this server holds too many waiting requests; retry, or submit "
                               "without Prefer: wait");
    if (plan.wait_ms > 0 &&
        ht_tenant_take_for_or_reply(args->who, req, HT_TENANT_HELD, t->cfg->max_held_per_tenant,
                                    "held requests (Prefer: wait)") < 0)
        return -1;

    submit_t *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), submit_dispose);
    memset(s, 0, sizeof(*s));
    s->t = t;
    s->req = req;
    s->tenant = args->tenant;
    s->plan = plan;
    s->upload = upload;
    if (idempotency_of(s) < 0)
        return -1;
    ht_job_limits_t limits = {.max_payload_depth = MAX_PAYLOAD_DEPTH,
                              .allow_private_callbacks = t->cfg->webhook_allow_private};
    if (upload) {
        if (request_from_query(s, &limits) < 0)
            return -1;
    } else {
        ht_problem_t p = {0};
        if (ht_job_request_parse(&s->jr, req->entity.base, req->entity.len, &limits, &p) < 0) {
            ht_http_send_problem(req, &p);
            ht_problem_clear(&p);
            return -1;
        }
    }
    schedule_of(s);
    if (ht_types_known(t->types, s->jr.type))
        return enqueue(s);
    ht_types_check(t->types, req, s->jr.type, on_type_checked, s);
    return 0;
}

/* ---- GET /v1/jobs/{id} -------------------------------------------------- */

/* One poll across its asynchronous steps, in the request's pool. */
typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    const char *tenant; /* the caller's: another tenant's job is "not found" */
    ht_tenant_t *who;
    char id[HT_ID_LEN + 1];
    ht_wait_plan_t plan; /* wait_ms > 0: a long poll if If-None-Match matches */
    uint64_t version;    /* the client's, once held */
    int held;
} poll_t;

/* The answer to a poll: 200 with the document, or 304 when the client's
 * If-None-Match names the current version. */
static void send_job(poll_t *g, const ht_job_t *job)
{
    h2o_req_t *req = g->req;
    char etag[32];
    add_etag(req, job->version, etag);
    ht_http_add_header_pooled(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-cache"));
    if (!ht_job_status_terminal(job->status))
        add_retry_after(req, retry_after_s(job));
    add_prefer_headers(req, &g->plan, g->held, 0);
    if (ht_http_if_none_match(req, etag)) {
        ht_http_send_empty(req, 304);
        return;
    }
    ht_http_send_job(req, 200, job);
}

static void on_long_poll_answer(void *data, h2o_req_t *req, ht_wait_end_t end, int err,
                                const ht_job_t *job)
{
    poll_t *g = data;
    if (end == HT_WAIT_ABORTED) {
        /* The client left or the server stops: "not modified" is true as
         * far as we know, and cheap. */
        char etag[32];
        add_etag(req, g->version, etag);
        add_prefer_headers(req, &g->plan, 1, 0);
        ht_http_send_empty(req, 304);
        return;
    }
    if (err) {
        ht_http_job_problem(req, err);
        return;
    }
    send_job(g, job);
}

static void on_job(void *data, int err, const ht_job_t *job)
{
    poll_t *g = data;
    h2o_req_t *req = g->req;
    if (!err && !ht_job_owned_by(job, g->tenant))
        err = HT_ENOTFOUND; /* the same answer as an id that does not exist */
    if (err) {
        ht_http_job_problem(req, err);
        return;
    }
    char etag[32];
    format_etag(etag, job->version);
    /* A long poll: the client has the current version and will wait for
     * the next.  A finished job will not change again: answer now. */
    if (g->plan.wait_ms > 0 && !ht_job_status_terminal(job->status) &&
        ht_http_if_none_match(req, etag)) {
        if (ht_tenant_take_for_or_reply(g->who, req, HT_TENANT_HELD, g->t->cfg->max_held_per_tenant,
                                        "held requests (long polls)") < 0)
            return;
        int rc = ht_wait_hold(req, g->id, HT_WAIT_CHANGE, job->version, &g->plan,
                              on_long_poll_answer, g);
        if (rc == 0) {
            g->held = 1;
            g->version = job->version;
            return;
        }
        if (rc == -EBUSY) {
            ht_http_problem(req, HT_P_UNAVAILABLE,
                            "this server holds too many waiting requests; retry");
            return;
        }
        ht_log(HT_LOG_DEBUG, "long poll answered at once", "id", g->id, "detail", ht_strerror(rc),
               NULL);
    }
    send_job(g, job);
}

int ht_jobs_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    poll_t *g = h2o_mem_alloc_pool(&req->pool, sizeof(*g));
    memset(g, 0, sizeof(*g));
    if (ht_http_id_or_reply(req, args->id, HT_P_JOB_NOT_FOUND, "job", g->id) < 0)
        return -1;
    ht_query_t query; /* only checked here: ht_wait_prefer_of reads ?wait= */
    if (ht_http_query_or_reply(req, &query) < 0)
        return -1;
    g->t = t;
    g->req = req;
    g->tenant = args->tenant;
    g->who = args->who;
    ht_prefer_t prefer;
    ht_wait_prefer_of(req, &prefer);
    ht_wait_plan(&g->plan, &prefer, t->cfg->max_wait_s, t->cfg->heartbeat_ms, req->version);
    ht_wait_plan_client_of(&g->plan, &prefer, req);
    ht_keys_t scratch;
    ht_astore_get(t->store, req, ht_api_keys_of(t, g->id, &scratch), g->id, on_job, g);
    return 0;
}
