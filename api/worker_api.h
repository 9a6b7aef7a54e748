/* The HTTP worker API: remote workers, in any language, pull jobs from the
 * api over HTTP (docs/handlers.md, "HTTP worker API"):
 *
 *   POST /v1/worker/claim              {"types", "wait_s", "worker"}
 *        200 {"job", "token", "lease_ms", "lease_expires_at"}, or 204
 *   POST /v1/worker/jobs/{id}/progress {"token", "percent", "message"}
 *        200 {"lease_expires_at", "lease_ms", "cancel_requested"}: the lease
 *        renewed (a body with only the token is a heartbeat)
 *   POST /v1/worker/jobs/{id}/complete {"token", "result", "claim_next"}
 *   POST /v1/worker/jobs/{id}/fail     {"token", "error", "retry", "claim_next"}
 *        200 the job document after (with "next": the job claimed along,
 *        when claim_next asked for one)
 *
 * A claim is the C worker's (shared/library.lua ht_claim): a lease of
 * HANGTIGHT_LEASE_MS, renewed by progress, never past the attempt's
 * deadline_at (timeout_s + HANGTIGHT_TIMEOUT_GRACE_MS); a lease that runs
 * out is reaped by the usual rules (api/housekeeping.h does it when no
 * hangtight-worker does).  The token fences the attempt: a call with a
 * token that no longer holds the job is 409 stale-token (the lease ran out
 * and the job was requeued, another attempt owns it, it finished), a
 * progress call on a job whose cancel was requested is 409 job-canceled
 * (the lease renewed all the same), an unknown job 404.  Worker keys only
 * (api/auth.h); the routes are router.h's, this header is the per-thread
 * state the server starts and stops. */
#ifndef HT_API_WORKER_API_H
#define HT_API_WORKER_API_H

#include "api/thread.h"

/* The thread's worker API: its claims (api/worker_claims.h), its view of
 * remote workers (api/remote_workers.h), and on thread 0 the queue's
 * housekeeping (api/housekeeping.h).  Returns 0 or HT_ENOMEM. */
int ht_wapi_new(ht_wapi_t **out, ht_api_thread_t *t);

/* The server stops: held claims are answered now (204). */
void ht_wapi_release_all(ht_wapi_t *w);

/* Closes everything; call once the thread's Redis client is closed (every
 * call answered) and its requests are gone.  The memory is freed once
 * libuv has closed the handles. */
void ht_wapi_close(ht_wapi_t *w);

#endif
