/* GET and HEAD /v1/jobs/{id}/input and /v1/jobs/{id}/output: a job's files
 * (DESIGN.md "Files", docs/files.md).
 *
 *   200  the file: Content-Type as uploaded, Content-Length, ETag (its
 *        SHA-256 in quotes), Content-Digest and Repr-Digest (sha-256),
 *        Accept-Ranges: bytes, Cache-Control: private
 *   206  one range (Range: bytes=a-b, a-, -n), with Content-Range and
 *        Repr-Digest (the digest of the whole file); several ranges, or one
 *        that does not parse, get the whole file (RFC 9110 14.2 lets a
 *        server ignore Range); If-Range that does not name the ETag too
 *   304  If-None-Match names the ETag
 *   404  no such job, another tenant's job (the same answer), no such file
 *   416  a range that starts past the end, with Content-Range: bytes * /size
 *   503  (Retry-After) the S3 service is down
 *
 * Streaming.  The body goes out through an h2o generator, one chunk at a
 * time, the next read when h2o asks for more (its back-pressure: a slow
 * client holds a chunk or two, never the file).
 *   dir:  the file is opened off the loop, then each chunk is a pread(2) on
 *         the loop into the chunk buffer (what h2o's own file handler does;
 *         page-cache reads), sent from there without another copy;
 *   s3:   each chunk is a ranged GET on a pool thread (ht_blob_pread), the
 *         next one fetched while the current one is sent; the stream's
 *         state is malloc'd, since a read in flight outlives a request h2o
 *         disposes of (a client gone). */
#include "api/download.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/digest.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/log.h"

#include "api/files.h"
#include "api/http.h"
#include "api/parts.h"
#include "api/router.h"

/* dir: one pread per chunk, a buffer that stays in the CPU's cache; s3:
 * one ranged GET per chunk, few enough requests for a large file. */
#define CHUNK_DIR (256u << 10)
#define CHUNK_S3  (4u << 20)

/* ---- Range ----------------------------------------------------------------- */

/* One range of a file of `size` bytes: 1 with [*off, *off + *len), 0 when
 * the header is to be ignored (not bytes=, several ranges, malformed), -1
 * when unsatisfiable (416). */
static int parse_range(h2o_iovec_t v, uint64_t size, uint64_t *off, uint64_t *len)
{
    size_t i = 0, n = v.len;
    const char *p = v.base;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    while (n > i && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n - i < 6 || strncmp(p + i, "bytes=", 6) != 0)
        return 0;
    i += 6;
    uint64_t a = 0, b = 0;
    int has_a = 0, has_b = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, has_a = 1) {
        if (a > (UINT64_MAX - 9) / 10)
            return 0;
        a = a * 10 + (uint64_t)(p[i] - '0');
    }
    if (i == n || p[i++] != '-')
        return 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, has_b = 1) {
        if (b > (UINT64_MAX - 9) / 10)
            return 0;
        b = b * 10 + (uint64_t)(p[i] - '0');
    }
    /* Anything after one range (a ',' starting another) or a malformed one:
     * the whole file. */
    if (i != n || (!has_a && !has_b))
        return 0;
    if (!has_a) { /* the last b bytes */
        if (b == 0 || size == 0)
            return -1;
        *len = b < size ? b : size;
        *off = size - *len;
        return 1;
    }
    if (has_b && b < a)
        return 0;
    if (a >= size)
        return -1;
    *off = a;
    *len = (has_b && b < size - 1 ? b : size - 1) - a + 1;
    return 1;
}

/* If-Range: the range applies only when it names the current ETag (a date
 * never does: no Last-Modified is sent). */
static int if_range_ok(h2o_req_t *req, const char *etag)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_IF_RANGE, -1);
    if (i < 0)
        return 1;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_memis(v.base, v.len, etag, strlen(etag));
}

/* ---- the stream ---------------------------------------------------------- */

/* Everything one download needs, malloc'd: work on a pool thread may
 * outlive the request (a client gone meanwhile).  Freed by the request's
 * dispose hook when no work is in flight, else by that work's done
 * callback. */
typedef struct {
    h2o_generator_t super;
    h2o_req_t *req; /* NULL once h2o disposed of the request */
    uv_loop_t *loop;
    int s3, head, output;
    char key[HT_BLOB_KEY_MAX];
    ht_file_ref_t ref;  /* the job's reference (content type owned) */
    uint64_t off, left; /* what is still to send */
    int partial;        /* 206 */
    int busy;           /* a pool thread works on it */
    /* dir: the open file, one buffer */
    int fd;
    /* s3: two buffers, one being sent and one being filled */
    char *buf[2];
    size_t got[2];
    int filling; /* index being filled by a pool thread, -1 when none */
    int ready;   /* index filled and not sent yet, -1 when none */
    int waiting; /* h2o asked for more and nothing was ready */
    int err;     /* a read failed */
    char words[256];
    /* the opening step's outcome */
    int open_err;
    uint64_t stat_bytes;
} stream_t;

static void stream_free(stream_t *st)
{
    if (st->fd >= 0)
        close(st->fd);
    free(st->buf[0]);
    free(st->buf[1]);
    ht_file_ref_clear(&st->ref);
    free(st);
}

/* The work in flight ended: 1 when the request is still there. */
static int work_ended(stream_t *st)
{
    st->busy = 0;
    if (st->req)
        return 1;
    stream_free(st);
    return 0;
}

static void on_disposed(void *p)
{
    stream_t *st = *(stream_t **)p;
    st->req = NULL;
    if (!st->busy)
        stream_free(st);
}

static const char *which(const stream_t *st)
{
    return st->output ? "output" : "input";
}

/* ---- dir: pread on the loop ---------------------------------------------- */

static void dir_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    stream_t *st = (stream_t *)g;
    size_t want = st->left < CHUNK_DIR ? (size_t)st->left : CHUNK_DIR;
    ssize_t n;
    while ((n = pread(st->fd, st->buf[0], want, (off_t)st->off)) < 0 && errno == EINTR)
        ;
    if (n <= 0) {
        ht_log(HT_LOG_WARN, "cannot read a stored file", "key", st->key, "detail",
               n < 0 ? strerror(errno) : "shorter than stored", NULL);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    st->off += (uint64_t)n;
    st->left -= (uint64_t)n;
    h2o_iovec_t v = h2o_iovec_init(st->buf[0], (size_t)n);
    h2o_send(req, &v, 1, st->left ? H2O_SEND_STATE_IN_PROGRESS : H2O_SEND_STATE_FINAL);
}

/* ---- s3: ranged reads on the pool ---------------------------------------- */

typedef struct {
    stream_t *st;
    int idx;
    uint64_t off;
    size_t len;
} fetch_t;

static void fetch_work(ht_blob_t *b, void *data)
{
    fetch_t *f = data;
    stream_t *st = f->st;
    int rc = b ? ht_blob_pread(b, st->key, f->off, st->buf[f->idx], f->len, &st->got[f->idx])
               : HT_EUNAVAIL;
    if (rc == 0 && st->got[f->idx] != f->len)
        rc = HT_EPROTO;
    if (rc < 0) {
        st->err = rc;
        snprintf(st->words, sizeof(st->words), "%s",
                 rc == HT_EPROTO ? "shorter than stored"
                 : b             ? ht_blob_error(b)
                                 : ht_strerror(rc));
    }
}

static void s3_send_ready(stream_t *st);

static void fetch_done(void *data)
{
    fetch_t *f = data;
    stream_t *st = f->st;
    free(f);
    st->ready = st->filling;
    st->filling = -1;
    if (work_ended(st) && st->waiting)
        s3_send_ready(st);
}

/* Starts filling buffer idx with len bytes from off; a failure shows as a
 * ready buffer with an error. */
static void s3_fetch(stream_t *st, uint64_t off, size_t len, int idx)
{
    fetch_t *f = malloc(sizeof(*f));
    if (f) {
        *f = (fetch_t){st, idx, off, len};
        st->filling = idx;
        st->busy = 1;
        if (ht_files_run(st->loop, fetch_work, fetch_done, f) == 0)
            return;
        free(f);
        st->busy = 0;
    }
    st->filling = -1;
    st->ready = idx;
    st->err = HT_ENOMEM;
    snprintf(st->words, sizeof(st->words), "cannot queue a read");
}

static void s3_send_ready(stream_t *st)
{
    h2o_req_t *req = st->req;
    int idx = st->ready;
    st->ready = -1;
    st->waiting = 0;
    if (st->err) {
        ht_log(HT_LOG_WARN, "cannot read a stored file", "key", st->key, "detail", st->words, NULL);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    size_t n = st->got[idx];
    st->off += n;
    st->left -= n;
    /* The next chunk comes while this one goes out. */
    if (st->left > 0)
        s3_fetch(st, st->off, st->left < CHUNK_S3 ? (size_t)st->left : CHUNK_S3, 1 - idx);
    h2o_iovec_t v = h2o_iovec_init(st->buf[idx], n);
    h2o_send(req, &v, 1, st->left ? H2O_SEND_STATE_IN_PROGRESS : H2O_SEND_STATE_FINAL);
}

static void s3_proceed(h2o_generator_t *g, h2o_req_t *req)
{
    (void)req;
    stream_t *st = (stream_t *)g;
    if (st->ready >= 0)
        s3_send_ready(st);
    else
        st->waiting = 1;
}

/* ---- the answer ---------------------------------------------------------- */

static void start_body(stream_t *st)
{
    h2o_req_t *req = st->req;
    char digest[HT_DIGEST_CONTENT_MAX + 1];
    ht_digest_sha256_header(st->ref.sha256, digest);
    ht_http_add_header(req, "content-type", st->ref.content_type);
    ht_http_add_header_pooled(req, H2O_TOKEN_ACCEPT_RANGES, H2O_STRLIT("bytes"));
    ht_http_add_header(req, "repr-digest", digest);
    if (st->partial)
        ht_http_add_headerf(req, "content-range", "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, st->off,
                            st->off + st->left - 1, st->ref.bytes);
    else
        ht_http_add_header(req, "content-digest", digest);
    req->res.status = st->partial ? 206 : 200;
    req->res.reason = st->partial ? "Partial Content" : "OK";
    req->res.content_length = (size_t)st->left;
    if (st->head || st->left == 0) {
        static h2o_generator_t none = {NULL, NULL};
        h2o_start_response(req, &none);
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
        return;
    }
    if (st->s3) {
        st->super.proceed = s3_proceed;
        h2o_start_response(req, &st->super);
        st->waiting = 1;
        s3_fetch(st, st->off, st->left < CHUNK_S3 ? (size_t)st->left : CHUNK_S3, 0);
        if (st->filling < 0) /* could not queue: answered through the usual path */
            s3_send_ready(st);
        return;
    }
    st->super.proceed = dir_proceed;
    h2o_start_response(req, &st->super);
    dir_proceed(&st->super, req);
}

/* Off the loop: is the blob there, of the size the job says; for a dir
 * GET, open it. */
static void open_work(ht_blob_t *b, void *data)
{
    stream_t *st = data;
    ht_blob_info_t info;
    int rc = b ? ht_blob_stat(b, st->key, &info) : HT_EUNAVAIL;
    if (rc == 0 && !st->s3 && !st->head) {
        char path[4096];
        rc = ht_blob_path(b, st->key, path, sizeof(path));
        if (rc == 0 && (st->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            rc = errno == ENOENT ? HT_ENOTFOUND : -errno;
    }
    st->open_err = rc;
    st->stat_bytes = rc == 0 ? info.bytes : 0;
    if (rc < 0)
        snprintf(st->words, sizeof(st->words), "%s",
                 !b                   ? "the blob store cannot be opened"
                 : rc == HT_ENOTFOUND ? "not found"
                                      : ht_blob_error(b));
}

static void open_done(void *data)
{
    stream_t *st = data;
    if (!work_ended(st))
        return;
    h2o_req_t *req = st->req;
    int rc = st->open_err;
    if (rc == 0 && st->stat_bytes != st->ref.bytes)
        rc = HT_EPROTO; /* files are never replaced: an error rather than wrong bytes */
    if (rc == 0) {
        start_body(st);
    } else if (rc == HT_ENOTFOUND) {
        ht_http_problem(req, HT_P_NOT_FOUND, "the job's %s file is gone from the store", which(st));
    } else if (rc == HT_EUNAVAIL) {
        ht_http_add_header(req, "retry-after", "5");
        ht_http_problem(req, HT_P_UNAVAILABLE, "the blob store is unavailable: %s", st->words);
    } else {
        ht_log(HT_LOG_WARN, "cannot open a stored file", "key", st->key, "detail",
               rc == HT_EPROTO ? "its size differs from the job's" : st->words, NULL);
        ht_http_problem(req, HT_P_INTERNAL, "cannot read the job's %s file", which(st));
    }
}

/* ---- GET ----------------------------------------------------------------- */

typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    const char *tenant;
    char id[HT_ID_LEN + 1];
    int output;
} get_t;

/* The headers of every answer with the file, and of the 304. */
static void add_validators(h2o_req_t *req, const char *etag)
{
    ht_http_add_header(req, "etag", etag);
    ht_http_add_header_pooled(req, H2O_TOKEN_CACHE_CONTROL, H2O_STRLIT("private"));
}

void ht_download_send(ht_api_thread_t *t, h2o_req_t *req, const ht_job_t *job, int output)
{
    const char *name = output ? "output" : "input";
    int head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
    const ht_file_ref_t *ref = output ? &job->output : &job->input;
    if (!ref->name[0]) {
        ht_http_problem(req, HT_P_NOT_FOUND, "job %s has no %s file%s", job->id, name,
                        output && !ht_job_status_terminal(job->status) ? " yet" : "");
        return;
    }
    if (!ht_files_enabled()) {
        ht_http_problem(req, HT_P_NOT_FOUND,
                        "job %s has a %s file, but this server has no blob store to read it "
                        "from (HANGTIGHT_BLOB_STORE)",
                        job->id, name);
        return;
    }
    char etag[HT_BLOB_SHA256_LEN + 3];
    snprintf(etag, sizeof(etag), "\"%s\"", ref->sha256);
    if (ht_http_if_none_match(req, etag)) {
        add_validators(req, etag);
        ht_http_send_empty(req, 304);
        return;
    }
    uint64_t off = 0, len = ref->bytes;
    int partial = 0;
    ssize_t ri = h2o_find_header(&req->headers, H2O_TOKEN_RANGE, -1);
    if (ri >= 0 && if_range_ok(req, etag)) {
        int r = parse_range(req->headers.entries[ri].value, ref->bytes, &off, &len);
        if (r < 0) {
            ht_http_add_headerf(req, "content-range", "bytes */%" PRIu64, ref->bytes);
            add_validators(req, etag);
            ht_http_problem(req, HT_P_RANGE_NOT_SATISFIABLE, "the %s file has %" PRIu64 " bytes",
                            name, ref->bytes);
            return;
        }
        partial = r == 1;
        if (!partial) {
            off = 0;
            len = ref->bytes;
        }
    }
    add_validators(req, etag);

    stream_t *st = calloc(1, sizeof(*st));
    if (!st) {
        ht_http_problem(req, HT_P_INTERNAL, "out of memory");
        return;
    }
    st->fd = -1;
    st->filling = st->ready = -1;
    st->req = req;
    st->loop = &t->loop;
    st->s3 = strncmp(ht_files_config()->blob.store, "s3:", 3) == 0;
    st->head = head;
    st->output = output;
    st->off = off;
    st->left = len;
    st->partial = partial;
    st->ref.bytes = ref->bytes;
    memcpy(st->ref.sha256, ref->sha256, sizeof(st->ref.sha256));
    memcpy(st->ref.name, ref->name, sizeof(st->ref.name));
    st->ref.content_type = strdup(ref->content_type);
    stream_t **link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_disposed);
    *link = st;
    if (!head) {
        st->buf[0] = malloc(st->s3 ? CHUNK_S3 : CHUNK_DIR);
        st->buf[1] = st->s3 ? malloc(CHUNK_S3) : NULL;
    }
    if (!st->ref.content_type || (!head && (!st->buf[0] || (st->s3 && !st->buf[1]))) ||
        ht_blob_key(st->key, job->tenant ? job->tenant : "default", job->id, ref->name) < 0) {
        ht_http_problem(req, HT_P_INTERNAL, "cannot read the job's %s file", name);
        return;
    }
    st->busy = 1;
    if (ht_files_run(st->loop, open_work, open_done, st) < 0) {
        st->busy = 0;
        ht_http_problem(req, HT_P_INTERNAL, "cannot queue the read");
    }
}

static void on_job(void *data, int err, const ht_job_t *job)
{
    get_t *g = data;
    if (!err && !ht_job_owned_by(job, g->tenant))
        err = HT_ENOTFOUND; /* the same answer as an id that does not exist */
    if (err) {
        ht_http_job_problem(g->req, err);
        return;
    }
    ht_download_send(g->t, g->req, job, g->output);
}

int ht_files_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    get_t *g = h2o_mem_alloc_pool(&req->pool, sizeof(*g));
    memset(g, 0, sizeof(*g));
    if (ht_http_id_or_reply(req, args->id, HT_P_JOB_NOT_FOUND, "job", g->id) < 0)
        return -1;
    g->t = t;
    g->req = req;
    g->tenant = args->tenant;
    h2o_iovec_t path = req->path_normalized;
    g->output = path.len >= 7 && memcmp(path.base + path.len - 7, "/output", 7) == 0;
    ht_keys_t scratch;
    ht_astore_get(t->store, req, ht_api_keys_of(t, g->id, &scratch), g->id, on_job, g);
    return 0;
}
