/* Job files through the HTTP worker API (DESIGN.md "Files",
 * docs/handlers.md "HTTP worker API"), for remote workers that do not see
 * the blob store:
 *
 *   GET|HEAD /v1/worker/jobs/{id}/input   Hangtight-Token: <token>
 *        the job's input, as GET /v1/jobs/{id}/input answers it (ranges,
 *        ETag, Content-Digest: api/download.h)
 *   PUT /v1/worker/jobs/{id}/output       Hangtight-Token: <token>
 *        the body streamed into the blob store as
 *        "<tenant>/<id>/output-<attempt>" (api/upload.h: Content-Type kept,
 *        Content-Digest checked when sent); 201 {"bytes", "sha256",
 *        "content_type"}.  A second PUT of the same attempt replaces it.
 *
 * Both need the claim's token: a token that no longer holds the job is
 * 409 stale-token, checked before anything is read or stored and, for a
 * PUT, again once the file is stored (then the file is deleted: nothing is
 * kept).  The output becomes the job's only when POST .../complete says
 * "output": true (ht_wfiles_output below) and the outcome is stored; a
 * failure, a lost lease or a complete without it leaves the file to the
 * blob sweeper (api/sweeper.h), which deletes it once the job is gone. */
#ifndef HT_API_WORKER_FILES_H
#define HT_API_WORKER_FILES_H

#include <h2o.h>

#include "shared/job.h"

#include "api/thread.h"

/* The claim answer's job members for its input (nothing without one):
 * ,"input":{"bytes","sha256","content_type"},"input_url":"/v1/worker/jobs/{id}/input" */
void ht_wfiles_put_input(ht_buf_t *b, const ht_job_t *job);

/* The output stored for job's current attempt: ref is its reference
 * ("<bytes> <sha256> output-<attempt> <content type>", borrowed for the
 * call) when err is 0; err HT_ENOTFOUND when nothing was stored, or a
 * blob store code.  Never called when h2o disposed of req first. */
typedef void (*ht_wfiles_output_cb)(void *data, int err, const char *ref);

/* Looks the output up in the blob store, off the loop (job is borrowed for
 * the call).  Returns 0, or -1 after answering (no blob store, out of
 * memory): cb is not called then. */
int ht_wfiles_output(ht_api_thread_t *t, h2o_req_t *req, const ht_job_t *job,
                     ht_wfiles_output_cb cb, void *data);

#endif
