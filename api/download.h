/* The sender of a job's file (api/download.c): what GET and HEAD on
 * /v1/jobs/{id}/input|output answer once the job is read and the caller
 * may see it, shared with the HTTP worker API's GET
 * /v1/worker/jobs/{id}/input (api/worker_files.c). */
#ifndef HT_API_DOWNLOAD_H
#define HT_API_DOWNLOAD_H

#include <h2o.h>

#include "shared/job.h"

#include "api/thread.h"

/* Answers `req` with job's input (output 0) or output file: 200 or 206
 * streamed from the blob store, 304, 404 when the job has no such file,
 * 416 (see download.c).  HEAD sends the headers only.  `job` is borrowed
 * for the call. */
void ht_download_send(ht_api_thread_t *t, h2o_req_t *req, const ht_job_t *job, int output);

#endif
