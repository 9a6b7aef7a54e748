/* Actions on one job: DELETE /v1/jobs/{id} (cancel) and POST
 * /v1/jobs/{id}/retry (re-queue a dead letter).  The state change is one
 * Redis function each (ht_cancel, ht_retry in shared/library.lua),
 * which also checks that the job is the caller's tenant's;
 * this file maps its answer to HTTP and shows the job as it is afterwards:
 *
 *   cancel:  canceled -> 200 + document     (it was queued or scheduled)
 *            requested -> 202 + document    (running: its worker stops it)
 *            finished -> 409, no job (or another tenant's) -> 404
 *   retry:   queued -> 202 + document       (it was failed or canceled)
 *            conflict -> 409, no job (or another tenant's) -> 404 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "shared/error.h"
#include "shared/id.h"
#include "shared/job.h"
#include "shared/log.h"

#include "api/http.h"
#include "api/parts.h"
#include "api/router.h"

/* One action across its asynchronous steps, in the request's pool. */
typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    char id[HT_ID_LEN + 1];
    const char *tenant; /* the caller's (lives as long as the request) */
    int status;         /* of the answer, once the action is done */
} action_t;

static action_t *action_new(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    action_t *a = h2o_mem_alloc_pool(&req->pool, sizeof(*a));
    memset(a, 0, sizeof(*a));
    if (ht_http_id_or_reply(req, args->id, HT_P_JOB_NOT_FOUND, "job", a->id) < 0)
        return NULL;
    a->t = t;
    a->req = req;
    a->tenant = args->tenant;
    return a;
}

/* Answers a failed store call (ht_http_job_problem) and returns 1; 0 when
 * err is 0. */
static int failed(h2o_req_t *req, int err)
{
    if (err)
        ht_http_job_problem(req, err);
    return err != 0;
}

/* The job as it is after the action, with a->status. */
static void on_job_after(void *data, int err, const ht_job_t *job)
{
    action_t *a = data;
    h2o_req_t *req = a->req;
    if (failed(req, err)) /* HT_ENOTFOUND: expired in between, as good as gone */
        return;
    ht_http_add_headerf(req, "etag", "\"%" PRIu64 "\"", job->version);
    ht_http_add_header(req, "cache-control", "no-store");
    if (a->status == 202) {
        /* Not done yet: where to watch it. */
        ht_http_add_headerf(req, "location", "/v1/jobs/%s", a->id);
        ht_http_add_header(req, "retry-after", "1");
    }
    ht_http_send_job(req, a->status, job);
}

/* ---- DELETE /v1/jobs/{id} ----------------------------------------------- */

static void on_canceled(void *data, int err, const char *word)
{
    action_t *a = data;
    h2o_req_t *req = a->req;
    if (failed(req, err))
        return;
    if (strcmp(word, "finished") == 0) {
        ht_http_problem(req, HT_P_CONFLICT,
                        "the job has already finished (succeeded, failed or canceled)");
        return;
    }
    if (strcmp(word, "canceled") == 0) {
        a->status = 200;
    } else if (strcmp(word, "requested") == 0) {
        a->status = 202;
    } else {
        ht_log(HT_LOG_ERROR, "unexpected answer of ht_cancel", "detail", word, NULL);
        ht_http_problem(req, HT_P_INTERNAL, "the job store answered '%s'", word);
        return;
    }
    ht_log(HT_LOG_DEBUG, "job cancel", "id", a->id, "outcome", word, NULL);
    ht_keys_t scratch;
    ht_astore_get(a->t->store, req, ht_api_keys_of(a->t, a->id, &scratch), a->id, on_job_after, a);
}

int ht_jobs_cancel(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    action_t *a = action_new(t, req, args);
    if (!a)
        return -1;
    ht_keys_t scratch;
    ht_astore_cancel(t->store, req, ht_api_keys_of(t, a->id, &scratch), a->id, args->tenant,
                     on_canceled, a);
    return 0;
}

/* ---- POST /v1/jobs/{id}/retry ------------------------------------------- */

static void on_retried(void *data, int err, const char *word)
{
    action_t *a = data;
    h2o_req_t *req = a->req;
    if (failed(req, err))
        return;
    if (strcmp(word, "conflict") == 0) {
        ht_http_problem(req, HT_P_CONFLICT,
                        "only a failed or canceled job can be retried; this one is not");
        return;
    }
    if (strcmp(word, "queued") != 0 && strcmp(word, "scheduled") != 0) {
        ht_log(HT_LOG_ERROR, "unexpected answer of ht_retry", "detail", word, NULL);
        ht_http_problem(req, HT_P_INTERNAL, "the job store answered '%s'", word);
        return;
    }
    a->status = 202;
    ht_log(HT_LOG_DEBUG, "job retried", "id", a->id, NULL);
    ht_keys_t scratch;
    ht_astore_get(a->t->store, req, ht_api_keys_of(a->t, a->id, &scratch), a->id, on_job_after, a);
}

/* The job of a partition no worker serves: 409 when it exists (and is the
 * caller's), else 404 like any unknown id. */
static void on_unserved_job(void *data, int err, const ht_job_t *job)
{
    action_t *a = data;
    if (err == 0 && !ht_job_owned_by(job, a->tenant))
        err = HT_ENOTFOUND;
    if (failed(a->req, err))
        return;
    ht_http_problem(a->req, HT_P_CONFLICT,
                    "this job's partition is no longer served (its partition count "
                    "was retired): it can be read but not run again");
}

int ht_jobs_retry(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    action_t *a = action_new(t, req, args);
    if (!a)
        return -1;
    ht_keys_t scratch;
    const ht_keys_t *k = ht_api_keys_of(t, a->id, &scratch);
    /* A job of a partition no worker serves any more (its N was retired,
     * README "Partitions") would wait forever once queued again. */
    if (!ht_api_serves(t, k)) {
        ht_astore_get(t->store, req, k, a->id, on_unserved_job, a);
        return 0;
    }
    ht_astore_retry(t->store, req, k, a->id, args->tenant, on_retried, a);
    return 0;
}
