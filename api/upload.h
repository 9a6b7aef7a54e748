/* A file submit's body into the blob store (DESIGN.md "Files",
 * docs/files.md): POST /v1/jobs?type=T with a non-JSON body.  api/jobs.c
 * runs the submit (validation, type check, idempotency, the store call, the
 * answer); this file owns the file: what the request says about it
 * (Content-Type, Content-Digest, size) and the copy of its bytes into the
 * store.
 *
 * The copy is one pipeline whatever the body's source:
 *   - an HTTP/1 file submit's body read from the socket as it arrives
 *     (api/intake.h), or
 *   - a body h2o read whole (HTTP/2, a pipelined request: req->entity, in
 *     h2o's spool file when large, api/files.h);
 * the loop copies it into one of two pieces of HT_UPLOAD_PIECE bytes, and a
 * pool thread writes each full piece into the blob writer (one store call
 * at a time: the writer moves between pool threads) while the other fills.
 * When both are full the source waits (the socket is not read).  The
 * writer opens before the first byte is asked for (a full disk is a 507
 * before the body is sent, with Expect: 100-continue), and commits once the
 * body ended: only then does the file exist under its key.  Any failure,
 * the client leaving, or the server stopping aborts the writer: nothing is
 * left.  A body from h2o's spool file has its pages punched out of that
 * file once copied (madvise(MADV_REMOVE)), so a held sync request keeps
 * neither disk nor page cache for it. */
#ifndef HT_API_UPLOAD_H
#define HT_API_UPLOAD_H

#include <h2o.h>

#include "shared/blob.h"
#include "shared/job.h"

#include "api/intake.h"

/* Bytes per store write (docs/blobs.md: the store takes pieces of up to a
 * few hundred KiB); an upload holds two. */
#define HT_UPLOAD_PIECE (256u << 10)

/* The stored reference's text: ht_file_ref_format() of an input. */
#define HT_UPLOAD_REF_MAX (24 + 1 + 64 + 1 + HT_FILE_NAME_MAX + 1 + HT_BLOB_CTYPE_MAX)

typedef struct ht_upload ht_upload_t;

/* 1 when the POST /v1/jobs `req` is a file submit: a Content-Type that is
 * not JSON, or none and a query string (the job's fields). */
int ht_upload_is_file(h2o_req_t *req);

/* What must hold before anything is stored: a blob store (else 415), a body
 * within HANGTIGHT_MAX_UPLOAD_BYTES by its length (413), a usable
 * Content-Type (400) and a well-formed Content-Digest when one is sent
 * (400).  `intake` is the body withheld from h2o for this request (NULL:
 * the body is req->entity).  Returns 0 with *out (tied to req: freed when
 * the request is, or after its copy ends), or -1 when answered. */
int ht_upload_begin_or_reply(h2o_req_t *req, ht_intake_t *intake, ht_upload_t **out);

/* Done with a store: err 0 (stored: ht_upload_ref() is the input's
 * reference) or a blob store code (nothing kept).  Never called when h2o
 * disposed of the request first. */
typedef void (*ht_upload_cb)(void *data, int err);

/* Copies the body into the store as "<tenant>/<id>/input" (see above),
 * then calls cb on the loop.  `data` lives in req->pool. */
void ht_upload_store(ht_upload_t *u, const char *tenant, const char *id, ht_upload_cb cb,
                     void *data);

/* The same under "<tenant>/<id>/<name>" (a handler's output sent over the
 * HTTP worker API: "output-<attempt>"); a commit replaces a blob of that
 * key.  `name` is copied. */
void ht_upload_store_as(ht_upload_t *u, const char *tenant, const char *id, const char *name,
                        ht_upload_cb cb, void *data);

/* The stored file: "<bytes> <sha256> <name> <content type>". */
const char *ht_upload_ref(const ht_upload_t *u);

/* Its SHA-256 (hex) once stored. */
const char *ht_upload_sha256(const ht_upload_t *u);

/* Its content type. */
const char *ht_upload_content_type(const ht_upload_t *u);

/* Deletes the stored blob (a refused job, an idempotent replay), off the
 * loop; nothing waits for it. */
void ht_upload_discard(ht_upload_t *u);

/* Answers a failed store: 507 (disk or quota full), 503 with Retry-After
 * (the S3 service down, the server stopping), 413, 400 (Content-Digest
 * mismatch, broken chunked encoding), 408 (no byte within the request
 * timeout), else 500.  Returns -1. */
int ht_upload_problem(h2o_req_t *req, const ht_upload_t *u, int err);

#endif
