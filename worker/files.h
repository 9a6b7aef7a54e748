/* The files of one running attempt (DESIGN.md "Files", docs/files.md): the
 * job's input handed to its handler, the output the handler leaves, and
 * what becomes of both when the attempt ends.  The ctx functions of
 * handler.h (job_ctx.c) and the exec and persistent handlers use it; the
 * slot (loop.c) keeps or drops the output.
 *
 * The input: dir: the blob's own file (ht_blob_path), read-only by
 * contract; s3: a copy fetched into HANGTIGHT_BLOB_TMPDIR (ht_blob_fetch,
 * size and SHA-256 checked), removed when the attempt ends.  Or a stream of
 * its bytes, with no copy (ht_job_files_read).
 *
 * The output: either a path the handler writes (a fresh name of
 * ht_blob_tmp_path: in the store's tmp/ for dir:, so keeping it is a
 * rename; in HANGTIGHT_BLOB_TMPDIR for s3:) or a blob writer fed piece by
 * piece (ht_job_files_write); the first one used is the attempt's.  Only
 * a successful attempt's output is stored, as blob
 * "<tenant>/<id>/output-<attempt>": every attempt has a name of its own, so a
 * stale attempt and its successor never write the same blob, and what a
 * failed, canceled or killed attempt wrote is never visible.
 *
 * Errors: 0 or a negative code (shared/error.h), with words in the files'
 * `err` (valid until the next call) and whether trying again may help in
 * ht_job_files_retryable().
 *
 * Threads: every call runs on the slot thread of the attempt.  Each slot
 * thread opens its own store handle (an ht_blob_t is one thread's), on
 * first use, closed when the thread exits. */
#ifndef HT_WORKER_FILES_H
#define HT_WORKER_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "shared/blob.h"
#include "shared/job.h"

/* Room for a stored file reference: "<bytes> <sha256> <name> <content
 * type>" and its NUL. */
#define HT_JOB_FILES_REF_MAX (20 + 1 + 64 + 1 + HT_FILE_NAME_MAX + 1 + HT_BLOB_CTYPE_MAX + 1)

typedef struct {
    const ht_job_t *job; /* borrowed: the attempt's job */
    char *input_path;    /* owned; NULL until asked for */
    int input_copy;      /* input_path is a fetched copy: removed at the end */
    char *output_path;   /* owned; NULL until asked for */
    ht_blob_writer_t *writer;
    char *output_type;          /* owned; NULL: HT_BLOB_CTYPE_DEFAULT */
    char kept[HT_BLOB_KEY_MAX]; /* the output stored by ht_job_files_keep; "" before */
    int last_rc;                /* the last failure's code */
    char err[512];              /* words on the last failure */
} ht_job_files_t;

/* The store settings of every slot (worker.c, before the slots start);
 * `s` is borrowed for the process's life.  A NULL or unset store: no file
 * jobs (an input is then unavailable and handlers get no output path). */
void ht_files_configure(const ht_blob_settings_t *s);

/* 1 when a blob store is configured. */
int ht_files_enabled(void);

/* Opens the store once to check the settings (worker start).  Returns 0 or
 * a negative code with words in err. */
int ht_files_check(char *err, size_t errlen);

void ht_job_files_init(ht_job_files_t *f, const ht_job_t *job);

/* Removes what the attempt left behind: a fetched input copy, an output
 * file not kept, an uncommitted writer. */
void ht_job_files_clear(ht_job_files_t *f);

/* The local path of the job's input into *path (borrowed from f), or NULL
 * when the job has none.  Returns 0 or a negative code. */
int ht_job_files_input_path(ht_job_files_t *f, const char **path);

/* Streams the input's bytes to sink in pieces of up to 256 KiB.  Returns 0,
 * HT_ENOTFOUND (no input), HT_ECANCELED (the sink returned nonzero) or a
 * store error. */
int ht_job_files_read(ht_job_files_t *f, ht_blob_sink_fn sink, void *ud);

/* The path for the handler to write its output to (nothing there yet),
 * into *path (borrowed).  Returns 0, HT_EINVAL (the writer is in use) or a
 * negative code (no store). */
int ht_job_files_output_path(ht_job_files_t *f, const char **path);

/* Sets the output's content type (printable ASCII, under 256 bytes; NULL:
 * the default).  With the writer, before its first write.  Returns 0 or
 * HT_EINVAL. */
int ht_job_files_set_type(ht_job_files_t *f, const char *content_type);

/* Appends to the output through a blob writer.  Returns 0, HT_EINVAL (the
 * output path is in use), HT_ETOOBIG, HT_ENOSPACE, HT_EUNAVAIL or another
 * store error. */
int ht_job_files_write(ht_job_files_t *f, const void *buf, size_t len);

/* After a successful attempt: stores the output when the handler left one
 * and writes its stored reference ("<bytes> <sha256> <name> <content
 * type>", ht_file_ref_format) into ref[reflen]; ref is "" when there is no
 * output.  Returns 0 or a negative code (an output that cannot be stored:
 * the attempt fails). */
int ht_job_files_keep(ht_job_files_t *f, char *ref, size_t reflen);

/* Deletes the output ht_job_files_keep stored (its outcome was not
 * taken). */
void ht_job_files_drop(ht_job_files_t *f);

/* Whether the last failure may pass on another attempt (the store was
 * unavailable or full, a copy went wrong) or not (no input, a handler's
 * output that is not a file). */
int ht_job_files_retryable(const ht_job_files_t *f);

#endif
