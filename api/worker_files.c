/* Job files through the HTTP worker API (see worker_files.h): the token in
 * the Hangtight-Token header checked against the job, then the sender of
 * api/download.h or the upload pipeline of api/upload.h. */
#include "api/worker_files.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/blob.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/log.h"

#include "api/download.h"
#include "api/files.h"
#include "api/http.h"
#include "api/parts.h"
#include "api/router.h"
#include "api/upload.h"

/* ---- the claim answer ---------------------------------------------------------- */

void ht_wfiles_put_input(ht_buf_t *b, const ht_job_t *job)
{
    if (!job->input.name[0])
        return;
    ht_buf_printf(b, ",\"input\":{\"bytes\":%" PRIu64 ",\"sha256\":\"%s\",\"content_type\":",
                  job->input.bytes, job->input.sha256);
    ht_json_string_append(b, job->input.content_type ? job->input.content_type : "");
    ht_buf_printf(b, "},\"input_url\":\"/v1/worker/jobs/%s/input\"", job->id);
}

/* ---- the token ------------------------------------------------------------------ */

/* The request's job: its id and the Hangtight-Token header's token. */
typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    char id[HT_ID_LEN + 1];
    uint64_t token;
    ht_upload_t *upload; /* PUT: the body being stored */
    ht_keys_t scratch;
    const ht_keys_t *keys;
} wreq_t;

/* A wreq_t for the path's id and the header's token, or NULL after
 * answering 404 (no such job) or 400 (no usable token). */
static wreq_t *wreq_or_reply(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    wreq_t *w = h2o_mem_alloc_pool(&req->pool, sizeof(*w));
    memset(w, 0, sizeof(*w));
    if (ht_http_id_or_reply(req, args->id, HT_P_JOB_NOT_FOUND, "job", w->id) < 0)
        return NULL;
    w->t = t;
    w->req = req;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("hangtight-token"), -1);
    h2o_iovec_t v = i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
    int ok = v.len > 0 && v.len <= 20;
    uint64_t token = 0;
    for (size_t k = 0; ok && k < v.len; k++) {
        ok = v.base[k] >= '0' && v.base[k] <= '9' &&
             token <= (UINT64_MAX - (uint64_t)(v.base[k] - '0')) / 10;
        token = token * 10 + (uint64_t)(v.base[k] - '0');
    }
    if (!ok || token == 0) {
        ht_http_problem(req, HT_P_BAD_REQUEST,
                        "send the claim's token in a Hangtight-Token header (a string of "
                        "digits, as the claim answered it)");
        return NULL;
    }
    w->token = token;
    w->keys = ht_api_keys_of(t, w->id, &w->scratch);
    return w;
}

static void stale(wreq_t *w, const char *why)
{
    ht_http_problem(w->req, HT_P_STALE_TOKEN,
                    "this token no longer holds job %s: %s; drop the job (nothing was kept)", w->id,
                    why);
}

/* 1 when job is running under w's token, else 0 after answering 404 or
 * 409. */
static int holds_or_reply(wreq_t *w, int err, const ht_job_t *job)
{
    if (err) {
        ht_http_job_problem(w->req, err);
        return 0;
    }
    if (job->status != HT_JOB_RUNNING || job->token != w->token) {
        stale(w, job->status == HT_JOB_RUNNING         ? "another attempt holds it"
                 : ht_job_status_terminal(job->status) ? "it has finished"
                                                       : "its lease ran out and it was requeued");
        return 0;
    }
    return 1;
}

/* ---- GET /v1/worker/jobs/{id}/input --------------------------------------------- */

static void on_input_job(void *data, int err, const ht_job_t *job)
{
    wreq_t *w = data;
    ht_http_add_header_pooled(w->req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"));
    if (holds_or_reply(w, err, job))
        ht_download_send(w->t, w->req, job, 0);
}

int ht_worker_input(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    wreq_t *w = wreq_or_reply(t, req, args);
    if (!w)
        return -1;
    ht_astore_get(t->store, req, w->keys, w->id, on_input_job, w);
    return 0;
}

/* ---- PUT /v1/worker/jobs/{id}/output -------------------------------------------- */

/* After the file is stored: the token must still hold the job. */
static void on_stored_hold(void *data, int err, const ht_astore_hold_t *hold)
{
    wreq_t *w = data;
    h2o_req_t *req = w->req;
    if (err || !hold->exists || !hold->held) {
        ht_upload_discard(w->upload);
        if (err)
            ht_http_store_problem(req, err);
        else if (!hold->exists)
            ht_http_problem(req, HT_P_JOB_NOT_FOUND, "the job is gone; nothing was kept");
        else
            stale(w, "its lease ran out, or it ended, while the file was sent");
        return;
    }
    ht_buf_t b;
    ht_http_buf_init(req, &b);
    /* The reference starts with the byte count (api/upload.h). */
    unsigned long long bytes = strtoull(ht_upload_ref(w->upload), NULL, 10);
    ht_buf_printf(&b, "{\"bytes\":%llu,\"sha256\":\"%s\",\"content_type\":", bytes,
                  ht_upload_sha256(w->upload));
    ht_json_string_append(&b, ht_upload_content_type(w->upload));
    ht_buf_putc(&b, '}');
    ht_http_send_json_buf(req, 201, &b);
}

static void on_stored(void *data, int err)
{
    wreq_t *w = data;
    if (err) {
        ht_upload_problem(w->req, w->upload, err);
        return;
    }
    ht_astore_hold_state(w->t->store, w->req, w->keys, w->id, w->token, on_stored_hold, w);
}

static void on_output_job(void *data, int err, const ht_job_t *job)
{
    wreq_t *w = data;
    ht_http_add_header_pooled(w->req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("no-store"));
    if (!holds_or_reply(w, err, job))
        return;
    char name[HT_FILE_NAME_MAX + 1];
    snprintf(name, sizeof(name), "output-%d", job->attempt);
    ht_upload_store_as(w->upload, job->tenant ? job->tenant : "default", w->id, name, on_stored, w);
}

int ht_worker_output(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    wreq_t *w = wreq_or_reply(t, req, args);
    if (!w)
        return -1;
    if (!ht_files_enabled())
        return ht_http_problem(req, HT_P_UNSUPPORTED_MEDIA,
                               "an output file needs a blob store, and this server has none "
                               "(HANGTIGHT_BLOB_STORE): return the result as JSON");
    if (ht_upload_begin_or_reply(req, args->intake, &w->upload) < 0)
        return -1;
    ht_astore_get(t->store, req, w->keys, w->id, on_output_job, w);
    return 0;
}

/* ---- the output at complete ----------------------------------------------------- */

/* One lookup; malloc'd, since the pool thread's work outlives a request
 * h2o disposes of. */
typedef struct {
    h2o_req_t *req; /* NULL once h2o disposed of the request */
    int busy;
    char key[HT_BLOB_KEY_MAX];
    char name[HT_FILE_NAME_MAX + 1];
    int err;
    ht_blob_info_t info;
    ht_wfiles_output_cb cb;
    void *data;
} find_t;

static void on_find_disposed(void *p)
{
    find_t *f = *(find_t **)p;
    f->req = NULL;
    if (!f->busy)
        free(f);
}

static void find_work(ht_blob_t *b, void *data)
{
    find_t *f = data;
    f->err = b ? ht_blob_stat(b, f->key, &f->info) : HT_EUNAVAIL;
}

static void find_done(void *data)
{
    find_t *f = data;
    f->busy = 0;
    if (!f->req) {
        free(f);
        return;
    }
    char ref[HT_UPLOAD_REF_MAX];
    int err = f->err;
    if (!err &&
        (!f->info.sha256[0] || ht_file_ref_format(ref, sizeof(ref), f->info.bytes, f->info.sha256,
                                                  f->name, f->info.content_type) < 0))
        err = HT_EPROTO;
    f->cb(f->data, err, err ? NULL : ref);
}

int ht_wfiles_output(ht_api_thread_t *t, h2o_req_t *req, const ht_job_t *job,
                     ht_wfiles_output_cb cb, void *data)
{
    if (!ht_files_enabled())
        return ht_http_problem(req, HT_P_INVALID_FIELDS,
                               "\"output\": this server has no blob store "
                               "(HANGTIGHT_BLOB_STORE), so no output file was stored");
    find_t *f = calloc(1, sizeof(*f));
    if (!f)
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    snprintf(f->name, sizeof(f->name), "output-%d", job->attempt);
    if (ht_blob_key(f->key, job->tenant ? job->tenant : "default", job->id, f->name) < 0) {
        free(f);
        return ht_http_problem(req, HT_P_INTERNAL, "this job's files cannot be named");
    }
    f->req = req;
    f->cb = cb;
    f->data = data;
    find_t **link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_find_disposed);
    *link = f;
    f->busy = 1;
    if (ht_files_run(&t->loop, find_work, find_done, f) < 0) {
        f->busy = 0;
        return ht_http_problem(req, HT_P_INTERNAL, "cannot queue the output's lookup");
    }
    return 0;
}
