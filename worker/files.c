/* The files of one running attempt: the input handed over, the output kept
 * or dropped (rules in files.h). */
#include "worker/files.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/error.h"
#include "shared/log.h"

static const ht_blob_settings_t *settings;

/* Each slot thread's store handle, closed by the key's destructor when the
 * thread exits. */
static pthread_key_t blob_key;
static pthread_once_t blob_once = PTHREAD_ONCE_INIT;

static void close_blob(void *b)
{
    ht_blob_close(b);
}

static void make_key(void)
{
    pthread_key_create(&blob_key, close_blob);
}

void ht_files_configure(const ht_blob_settings_t *s)
{
    settings = s && s->store && *s->store ? s : NULL;
}

int ht_files_enabled(void)
{
    return settings != NULL;
}

int ht_files_check(char *err, size_t errlen)
{
    if (!settings)
        return 0;
    ht_blob_t *b;
    int rc = ht_blob_open(&b, settings, err, errlen);
    if (rc == 0)
        ht_blob_close(b);
    else if (rc != HT_EINVAL)
        snprintf(err, errlen, "%s", ht_strerror(rc));
    return rc;
}

static int fail(ht_job_files_t *f, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(ht_job_files_t *f, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, sizeof(f->err), fmt, ap);
    va_end(ap);
    f->last_rc = rc;
    return rc;
}

/* This thread's store handle, opened on first use. */
static int blob_of(ht_job_files_t *f, ht_blob_t **out)
{
    if (!settings)
        return fail(f, HT_EINVAL,
                    "this worker has no blob store (HANGTIGHT_BLOB_STORE is not set)");
    pthread_once(&blob_once, make_key);
    ht_blob_t *b = pthread_getspecific(blob_key);
    if (!b) {
        char err[256];
        int rc = ht_blob_open(&b, settings, err, sizeof(err));
        if (rc < 0)
            return fail(f, rc, "the blob store cannot be opened: %s",
                        rc == HT_EINVAL ? err : ht_strerror(rc));
        pthread_setspecific(blob_key, b);
    }
    *out = b;
    return 0;
}

void ht_job_files_init(ht_job_files_t *f, const ht_job_t *job)
{
    memset(f, 0, sizeof(*f));
    f->job = job;
}

void ht_job_files_clear(ht_job_files_t *f)
{
    if (f->input_copy && f->input_path)
        unlink(f->input_path);
    if (f->output_path && unlink(f->output_path) == 0)
        ht_log(HT_LOG_DEBUG, "output file not kept: removed", "id", f->job->id, "path",
               f->output_path, NULL);
    ht_blob_writer_close(f->writer); /* aborts one not committed */
    free(f->input_path);
    free(f->output_path);
    free(f->output_type);
    f->input_path = f->output_path = f->output_type = NULL;
    f->writer = NULL;
    f->input_copy = 0;
}

/* A job's tenant: NULL in the job is "default" (shared/job.h). */
static const char *tenant_of(const ht_job_t *job)
{
    return job->tenant && *job->tenant ? job->tenant : "default";
}

/* The input's blob key, and its store. */
static int input_key(ht_job_files_t *f, char key[HT_BLOB_KEY_MAX], ht_blob_t **b)
{
    const ht_job_t *job = f->job;
    if (!job->input.name[0])
        return fail(f, HT_ENOTFOUND, "the job has no input file");
    if (ht_blob_key(key, tenant_of(job), job->id, job->input.name) < 0)
        return fail(f, HT_EINVAL, "the job's input has no valid blob key");
    return blob_of(f, b);
}

int ht_job_files_input_path(ht_job_files_t *f, const char **path)
{
    *path = NULL;
    if (f->input_path) {
        *path = f->input_path;
        return 0;
    }
    if (!f->job->input.name[0])
        return 0;
    char key[HT_BLOB_KEY_MAX], p[PATH_MAX];
    ht_blob_t *b;
    int rc = input_key(f, key, &b);
    if (rc < 0)
        return rc;
    if (ht_blob_write_blocks(b)) {
        rc = ht_blob_fetch(b, key, p, sizeof(p), NULL);
        f->input_copy = rc == 0;
    } else {
        rc = ht_blob_path(b, key, p, sizeof(p));
    }
    if (rc < 0)
        return fail(f, rc, "the input file %s is not available: %s", key, ht_blob_error(b));
    if (!(f->input_path = strdup(p))) {
        if (f->input_copy)
            unlink(p);
        f->input_copy = 0;
        return fail(f, HT_ENOMEM, "out of memory");
    }
    *path = f->input_path;
    return 0;
}

int ht_job_files_read(ht_job_files_t *f, ht_blob_sink_fn sink, void *ud)
{
    char key[HT_BLOB_KEY_MAX];
    ht_blob_t *b;
    int rc = input_key(f, key, &b);
    if (rc < 0)
        return rc;
    rc = ht_blob_read(b, key, 0, UINT64_MAX, sink, ud);
    if (rc == HT_ECANCELED)
        return fail(f, rc, "reading the input stopped");
    if (rc < 0)
        return fail(f, rc, "the input file %s cannot be read: %s", key, ht_blob_error(b));
    return 0;
}

int ht_job_files_output_path(ht_job_files_t *f, const char **path)
{
    *path = NULL;
    if (f->writer)
        return fail(f, HT_EINVAL, "the output is being written through the writer");
    if (!f->output_path) {
        char p[PATH_MAX];
        ht_blob_t *b;
        int rc = blob_of(f, &b);
        if (rc < 0)
            return rc;
        if ((rc = ht_blob_tmp_path(b, p, sizeof(p))) < 0)
            return fail(f, rc, "no output path: %s", ht_blob_error(b));
        if (!(f->output_path = strdup(p)))
            return fail(f, HT_ENOMEM, "out of memory");
    }
    *path = f->output_path;
    return 0;
}

int ht_job_files_set_type(ht_job_files_t *f, const char *content_type)
{
    if (f->writer)
        return fail(f, HT_EINVAL, "the output's content type is set before its first byte");
    if (content_type) {
        size_t n = strlen(content_type);
        int ok = n > 0 && n < HT_BLOB_CTYPE_MAX && strchr(content_type, '/');
        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)content_type[i] >= 0x20 && (unsigned char)content_type[i] <= 0x7e;
        if (!ok)
            return fail(f, HT_EINVAL,
                        "a content type is printable ASCII with a '/', under 256 bytes");
    }
    char *t = content_type ? strdup(content_type) : NULL;
    if (content_type && !t)
        return fail(f, HT_ENOMEM, "out of memory");
    free(f->output_type);
    f->output_type = t;
    return 0;
}

/* This attempt's output blob key, and (b not NULL) its store. */
static int output_key(ht_job_files_t *f, char key[HT_BLOB_KEY_MAX], ht_blob_t **b)
{
    char name[HT_FILE_NAME_MAX + 1];
    snprintf(name, sizeof(name), "output-%d", f->job->attempt);
    if (ht_blob_key(key, tenant_of(f->job), f->job->id, name) < 0)
        return fail(f, HT_EINVAL, "the job's output has no valid blob key");
    return b ? blob_of(f, b) : 0;
}

int ht_job_files_write(ht_job_files_t *f, const void *buf, size_t len)
{
    if (f->output_path)
        return fail(f, HT_EINVAL, "the output is being written to its path");
    if (!f->writer) {
        char key[HT_BLOB_KEY_MAX];
        ht_blob_t *b;
        int rc = output_key(f, key, &b);
        if (rc < 0)
            return rc;
        ht_blob_put_opts_t opts = HT_BLOB_PUT_OPTS_INIT;
        opts.content_type = f->output_type;
        if ((rc = ht_blob_writer_open(b, &f->writer, key, &opts)) < 0)
            return fail(f, rc, "the output cannot be started: %s", ht_blob_error(b));
    }
    int rc = ht_blob_write(f->writer, buf, len);
    if (rc < 0)
        return fail(f, rc, "writing the output: %s", ht_blob_writer_error(f->writer));
    return 0;
}

int ht_job_files_keep(ht_job_files_t *f, char *ref, size_t reflen)
{
    ref[0] = '\0';
    char key[HT_BLOB_KEY_MAX];
    ht_blob_info_t info;
    ht_blob_t *b;
    int rc;
    if (f->writer) {
        if ((rc = ht_blob_commit(f->writer, &info)) < 0)
            return fail(f, rc, "the output was not stored: %s", ht_blob_writer_error(f->writer));
        ht_blob_writer_close(f->writer);
        f->writer = NULL;
        if ((rc = output_key(f, key, NULL)) < 0)
            return rc;
    } else {
        struct stat st;
        if (!f->output_path || lstat(f->output_path, &st) < 0)
            return 0; /* the handler left no output */
        if (!S_ISREG(st.st_mode))
            return fail(f, HT_EINVAL, "the handler's output is not a regular file");
        if ((rc = output_key(f, key, &b)) < 0)
            return rc;
        ht_blob_put_opts_t opts = HT_BLOB_PUT_OPTS_INIT;
        opts.content_type = f->output_type;
        rc = ht_blob_put_file(b, key, f->output_path, &opts, HT_BLOB_MOVE, &info);
        if (rc < 0)
            return fail(f, rc, "the output was not stored: %s", ht_blob_error(b));
        /* Moved (dir) or copied (s3): a copy's source goes at the end. */
    }
    memcpy(f->kept, key, sizeof(f->kept));
    const char *name = strrchr(key, '/') + 1;
    rc = ht_file_ref_format(ref, reflen, info.bytes, info.sha256, name, info.content_type);
    if (rc < 0) {
        ht_job_files_drop(f);
        ref[0] = '\0';
        return fail(f, HT_EINVAL, "the output's reference does not fit");
    }
    return 0;
}

void ht_job_files_drop(ht_job_files_t *f)
{
    ht_blob_t *b;
    if (!f->kept[0] || blob_of(f, &b) < 0)
        return;
    if (ht_blob_delete(b, f->kept) < 0)
        ht_log(HT_LOG_WARN, "output not deleted (the sweeper will)", "id", f->job->id, "blob",
               f->kept, "error", ht_blob_error(b), NULL);
    f->kept[0] = '\0';
}

int ht_job_files_retryable(const ht_job_files_t *f)
{
    switch (f->last_rc) {
    case HT_ENOTFOUND:
    case HT_ETOOBIG:
        return 0;
    case HT_EINVAL:
        /* A worker without a store: another worker may have one. */
        return !settings;
    default:
        return 1;
    }
}
