/* Routing: a table of (method, path pattern, roles, handler) in router.c,
 * and the resource handlers it names, one file per resource (jobs.c,
 * jobs_list.c, job_actions.c, batch.c, events.c, download.c, queues.c,
 * operator.c, schedules.c, webhook_secrets.c, health.c, worker_api.c,
 * worker_files.c).
 * A later resource is a line in the table and a file.
 *
 * A handler answers the request, now or from a callback, exactly once.  It
 * returns 0, or -1 when it has already answered with an error (the value of
 * the *_or_reply() helpers); the router needs nothing more. */
#ifndef HT_API_ROUTER_H
#define HT_API_ROUTER_H

#include <h2o.h>

#include "api/intake.h"
#include "api/server.h"
#include "api/store.h"
#include "api/tenants.h"

/* What the pattern captured ("{id}" in "/v1/jobs/{id}", "{name}" in
 * "/v1/limits/tenants/{name}"), and who asks. */
typedef struct {
    h2o_iovec_t id;
    /* The tenant of the request's API key, "default" when the api runs
     * without keys; NULL for an operator's key (on the routes that take
     * both, api/operator.c's and GET /v1/queues); lives as long as the
     * server (api/auth.h). */
    const char *tenant;
    ht_tenant_t *who; /* the same tenant's record (api/tenants.h); NULL on open routes */
    /* The operator's name when the caller may act as one (an operator key,
     * or open mode: "default"), else NULL. */
    const char *operator_name;
    /* An HTTP/1 file submit's body, withheld from h2o to be read from the
     * socket (api/intake.h); NULL for every other request. */
    ht_intake_t *intake;
    /* The worker API (/v1/worker/...): the name of the caller's worker key
     * (api/auth.h), NULL when that API is open. */
    const char *worker_key;
} ht_route_args_t;

typedef int (*ht_route_fn)(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* Answers `req`: runs the matching handler, or sends 404 (no such path) or
 * 405 with Allow (path known, method not).  HEAD runs the GET handler. */
void ht_router_dispatch(ht_api_thread_t *t, h2o_req_t *req);

/* jobs.c */
int ht_jobs_submit(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_jobs_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
/* What a submit adds to a validated request (when the job may run, how long
 * a failed one is kept); idempotency is the caller's.  Shared with batch.c. */
void ht_jobs_submit_opts(const ht_api_thread_t *t, const ht_job_request_t *jr,
                         ht_astore_submit_opts_t *opts);

/* batch.c: POST /v1/jobs/batch */
int ht_jobs_batch(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* schedules.c: POST and GET /v1/schedules, GET and DELETE /v1/schedules/{id},
 * POST /v1/schedules/{id}/pause and /resume */
int ht_schedules_create(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_schedules_list(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_schedules_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_schedules_delete(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_schedules_pause(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_schedules_resume(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* jobs_list.c: GET /v1/jobs?status=&type=&limit=&cursor= */
int ht_jobs_list(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* job_actions.c: DELETE /v1/jobs/{id}, POST /v1/jobs/{id}/retry */
int ht_jobs_cancel(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_jobs_retry(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* download.c: GET and HEAD /v1/jobs/{id}/input and /v1/jobs/{id}/output */
int ht_files_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* queues.c: GET /v1/queues (a tenant's view, or the queue-wide one for
 * an operator) */
int ht_queues_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* operator.c (operator keys only): POST /v1/queues/{id}/pause|resume
 * (?type=T for one type), GET /v1/limits, PUT and DELETE
 * /v1/limits/tenants/{id} and /v1/limits/types/{id} */
int ht_operator_pause(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_operator_resume(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_operator_limits_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_operator_tenant_put(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_operator_tenant_delete(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_operator_type_put(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_operator_type_delete(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* webhook_secrets.c: POST and GET /v1/webhook-secrets, GET and DELETE
 * /v1/webhook-secrets/{id} */
int ht_webhook_secrets_create(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_webhook_secrets_list(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_webhook_secrets_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_webhook_secrets_revoke(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* health.c */
int ht_health_live(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_health_ready(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* worker_api.c: the HTTP worker API, POST /v1/worker/claim and POST
 * /v1/worker/jobs/{id}/progress|complete|fail */
int ht_worker_claim(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_worker_progress(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_worker_complete(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_worker_fail(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

/* worker_files.c: GET (HEAD) /v1/worker/jobs/{id}/input, PUT
 * /v1/worker/jobs/{id}/output */
int ht_worker_input(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);
int ht_worker_output(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

#endif
