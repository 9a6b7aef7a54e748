/* A file submit's body into the blob store (see upload.h). */
#include "api/upload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shared/digest.h"
#include "shared/error.h"
#include "shared/log.h"

#include "api/files.h"
#include "api/http.h"
#include "api/metrics_counters.h"
#include "api/server.h"

/* The one store call in flight. */
typedef enum { OP_NONE, OP_OPEN, OP_WRITE, OP_COMMIT, OP_CLOSE, OP_DELETE } op_t;

/* malloc'd, not in the request's pool: a store call in flight outlives a
 * request h2o disposes of.  Freed by the dispose hook when no call is in
 * flight and the writer is closed, else by the call's done callback. */
struct ht_upload {
    uv_loop_t *loop;
    h2o_req_t *req; /* NULL once h2o disposed of the request */
    ht_intake_t *intake;
    const char *src; /* the whole body (req->entity) when there is no intake */
    size_t src_len, fed;
    int64_t announced; /* bytes the client said it sends; -1: chunked */
    uint64_t max_bytes;
    char key[HT_BLOB_KEY_MAX];
    char name[HT_FILE_NAME_MAX + 1]; /* the key's last part: "input", "output-2" */
    char content_type[HT_BLOB_CTYPE_MAX];
    char digest[HT_DIGEST_SHA256_HEX + 1]; /* "" when the client sent none */
    ht_upload_cb cb;
    void *data;
    /* the pipeline (loop) */
    char *piece[2];
    size_t fill[2];
    int cur;         /* the piece being filled */
    int waiting;     /* piece cur is full and waits for the writer */
    int source_done; /* the body ended and every byte is in a piece */
    int reading;     /* the intake was started (its end will be told) */
    int aborting;    /* the intake was told to stop: its end is due */
    int failed, err, answered, stored;
    /* the store call in flight */
    op_t op;
    int op_piece;
    ht_blob_writer_t *w; /* moves between pool threads, one call at a time */
    int op_err;
    char words[256];
    ht_blob_info_t info;
    char ref[HT_UPLOAD_REF_MAX];
};

static void upload_free(ht_upload_t *u)
{
    free(u->piece[0]);
    free(u->piece[1]);
    free(u);
}

static void set_words(char *out, size_t len, const char *words, int err)
{
    snprintf(out, len, "%s", words && words[0] ? words : ht_strerror(err));
}

/* ---- what the request says ----------------------------------------------- */

int ht_upload_is_file(h2o_req_t *req)
{
    int json = ht_http_content_type_is_json(req);
    if (json >= 0)
        return !json;
    return req->query_at != SIZE_MAX && req->query_at + 1 < req->path.len;
}

/* The Content-Type to keep: as sent, surrounding blanks trimmed, or
 * application/octet-stream; printable ASCII under HT_BLOB_CTYPE_MAX. */
static int content_type_of(h2o_req_t *req, char out[HT_BLOB_CTYPE_MAX])
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    h2o_iovec_t v = i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
    while (v.len > 0 && (v.base[0] == ' ' || v.base[0] == '\t')) {
        v.base++;
        v.len--;
    }
    while (v.len > 0 && (v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t'))
        v.len--;
    if (v.len == 0) {
        snprintf(out, HT_BLOB_CTYPE_MAX, "%s", HT_BLOB_CTYPE_DEFAULT);
        return 0;
    }
    if (v.len >= HT_BLOB_CTYPE_MAX)
        return -1;
    for (size_t k = 0; k < v.len; k++)
        if (v.base[k] < 0x20 || v.base[k] > 0x7e)
            return -1;
    memcpy(out, v.base, v.len);
    out[v.len] = '\0';
    return 0;
}

static void start_op(ht_upload_t *u, op_t op);

/* h2o disposes of the request: nobody waits for the answer any more. */
static void on_request_disposed(void *p)
{
    ht_upload_t *u = *(ht_upload_t **)p;
    u->req = NULL;
    u->intake = NULL; /* freed with the request; its end is never told */
    u->src = NULL;
    if (u->op != OP_NONE)
        return; /* the call's done callback carries on */
    if (u->w)
        start_op(u, OP_CLOSE);
    else
        upload_free(u);
}

int ht_upload_begin_or_reply(h2o_req_t *req, ht_intake_t *intake, ht_upload_t **out)
{
    const ht_files_config_t *cfg = ht_files_config();
    if (!ht_files_enabled())
        return ht_http_problem(req, HT_P_UNSUPPORTED_MEDIA,
                               "a file submit (a body that is not JSON) needs a blob store, and "
                               "this server has none (HANGTIGHT_BLOB_STORE): send "
                               "application/json");
    int64_t announced = intake ? ht_intake_length(intake) : (int64_t)req->entity.len;
    if (announced >= 0 && (uint64_t)announced > cfg->max_upload_bytes)
        return ht_http_problem(req, HT_P_TOO_LARGE,
                               "the file is %lld bytes; the limit is %llu (nothing was read)",
                               (long long)announced, (unsigned long long)cfg->max_upload_bytes);
    ht_upload_t *u = calloc(1, sizeof(*u));
    if (!u)
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    ht_upload_t **link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_request_disposed);
    *link = u;
    u->req = req;
    u->loop = &ht_api_thread_of(req)->loop;
    u->intake = intake;
    u->src = intake ? NULL : req->entity.base ? req->entity.base : "";
    u->src_len = intake ? 0 : req->entity.len;
    u->announced = announced;
    u->max_bytes = cfg->max_upload_bytes;
    if (content_type_of(req, u->content_type) < 0)
        return ht_http_problem(req, HT_P_BAD_REQUEST,
                               "Content-Type must be printable ASCII of fewer than %d bytes",
                               HT_BLOB_CTYPE_MAX);
    for (ssize_t i = -1;
         (i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("content-digest"), i)) != -1;) {
        h2o_iovec_t v = req->headers.entries[i].value;
        char hex[HT_DIGEST_SHA256_HEX + 1];
        int rc = ht_digest_sha256_of(v.base, v.len, hex);
        if (rc < 0)
            return ht_http_problem(req, HT_P_BAD_REQUEST,
                                   "Content-Digest is malformed: send sha-256=:<base64 of the "
                                   "32-byte SHA-256>: (RFC 9530)");
        if (rc == 1) {
            if (u->digest[0] && strcmp(u->digest, hex) != 0)
                return ht_http_problem(req, HT_P_BAD_REQUEST,
                                       "Content-Digest gives two different sha-256 values");
            memcpy(u->digest, hex, sizeof(hex));
        }
    }
    *out = u;
    return 0;
}

/* ---- the store calls, on a pool thread ----------------------------------- */

/* Gives the whole pages of [p, p + len) of a shared file mapping back to
 * its file system (a hole): the spool's copy is no longer needed.  On
 * memory that is not such a mapping (a body small enough for the heap)
 * the call fails and nothing happens. */
static void punch(const char *p, size_t len)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t to = ((uintptr_t)p + len) & ~(page - 1);
    if (to > from)
        madvise((void *)from, to - from, MADV_REMOVE);
}

static void op_work(ht_blob_t *b, void *data)
{
    ht_upload_t *u = data;
    int rc = 0;
    const char *words = NULL;
    if (!b && u->op != OP_CLOSE) {
        u->op_err = HT_EUNAVAIL;
        set_words(u->words, sizeof(u->words), "the blob store cannot be opened", 0);
        return;
    }
    switch (u->op) {
    case OP_OPEN: {
        ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
        o.content_type = u->content_type;
        o.max_bytes = u->max_bytes;
        o.expect_bytes = u->announced;
        o.expect_sha256 = u->digest[0] ? u->digest : NULL;
        if ((rc = ht_blob_writer_open(b, &u->w, u->key, &o)) < 0)
            words = ht_blob_error(b);
        break;
    }
    case OP_WRITE:
        if ((rc = ht_blob_write(u->w, u->piece[u->op_piece], u->fill[u->op_piece])) < 0)
            words = ht_blob_writer_error(u->w);
        break;
    case OP_COMMIT:
        if ((rc = ht_blob_commit(u->w, &u->info)) < 0)
            words = ht_blob_writer_error(u->w);
        else if (ht_file_ref_format(u->ref, sizeof(u->ref), u->info.bytes, u->info.sha256, u->name,
                                    u->content_type) < 0)
            rc = HT_EPROTO; /* cannot happen with what the store just took */
        if (rc == 0 || rc == HT_EPROTO) {
            ht_blob_writer_close(u->w);
            u->w = NULL;
            if (rc == HT_EPROTO) {
                ht_blob_delete(b, u->key);
                words = "the stored file's reference does not fit";
            }
        }
        break;
    case OP_CLOSE: /* aborts an uncommitted writer: nothing is left */
        ht_blob_writer_close(u->w);
        u->w = NULL;
        break;
    case OP_DELETE:
        if ((rc = ht_blob_delete(b, u->key)) < 0)
            words = ht_blob_error(b);
        break;
    case OP_NONE:
        break;
    }
    u->op_err = rc;
    if (rc < 0)
        set_words(u->words, sizeof(u->words), words, rc);
}

static void op_done(void *data);

static void start_op(ht_upload_t *u, op_t op)
{
    u->op = op;
    u->op_err = 0;
    int rc = ht_files_run(u->loop, op_work, op_done, u);
    if (rc < 0) {
        /* The pool refused (out of memory): as a failed call. */
        u->op_err = rc;
        set_words(u->words, sizeof(u->words), "cannot queue a blob store call", rc);
        op_done(u);
    }
}

/* ---- the pipeline, on the loop ---------------------------------------------- */

static void finish(ht_upload_t *u, int err)
{
    if (u->answered || !u->req)
        return;
    u->answered = 1;
    if (err < 0 && err != HT_EDIGEST && err != HT_ETOOBIG && err != HT_EINVAL &&
        err != HT_ECANCELED && err != HT_ETIMEDOUT)
        ht_log(HT_LOG_WARN, "cannot store an uploaded file", "key", u->key, "detail", u->words,
               NULL);
    u->cb(u->data, err);
}

/* Something failed (a store call, the body, the server stopping): the
 * writer is aborted, the source stopped, and the answer given once both
 * are done. */
static void fail(ht_upload_t *u, int err)
{
    if (!u->failed) {
        u->failed = 1;
        u->err = err;
    }
    if (u->intake && u->reading && !u->source_done && !u->aborting) {
        u->aborting = 1;
        ht_intake_abort(u->intake, err); /* its on_end comes back here */
        return;
    }
    if (u->aborting || u->op != OP_NONE)
        return;
    if (u->w) {
        start_op(u, OP_CLOSE);
        return;
    }
    finish(u, u->err);
}

static void feed_source(ht_upload_t *u);

/* Sends the full piece cur to the writer and fills the other one. */
static void write_piece(ht_upload_t *u)
{
    u->op_piece = u->cur;
    u->cur ^= 1;
    u->fill[u->cur] = 0;
    u->waiting = 0;
    start_op(u, OP_WRITE);
}

/* The next step once no store call is in flight. */
static void advance(ht_upload_t *u)
{
    if (u->failed) {
        fail(u, u->err);
        return;
    }
    if (ht_files_stopping()) {
        set_words(u->words, sizeof(u->words), "the server is stopping", 0);
        fail(u, -ESHUTDOWN);
        return;
    }
    if (u->waiting) {
        write_piece(u);
        feed_source(u); /* the source may go on into the free piece */
        return;
    }
    if (u->source_done) {
        if (u->fill[u->cur] > 0)
            write_piece(u);
        else
            start_op(u, OP_COMMIT);
    }
}

/* Takes up to len bytes of the body into the pieces; fewer when both are
 * full (the source waits). */
static size_t take(ht_upload_t *u, const char *p, size_t len)
{
    size_t took = 0;
    while (took < len && !u->waiting) {
        size_t room = HT_UPLOAD_PIECE - u->fill[u->cur];
        size_t n = len - took < room ? len - took : room;
        memcpy(u->piece[u->cur] + u->fill[u->cur], p + took, n);
        u->fill[u->cur] += n;
        took += n;
        if (u->fill[u->cur] == HT_UPLOAD_PIECE) {
            if (u->op == OP_NONE)
                write_piece(u);
            else
                u->waiting = 1;
        }
    }
    return took;
}

static size_t on_intake_data(void *ud, const char *p, size_t len)
{
    ht_upload_t *u = ud;
    if (!u->failed && ht_files_stopping()) {
        set_words(u->words, sizeof(u->words), "the server is stopping", 0);
        fail(u, -ESHUTDOWN);
    }
    if (u->failed)
        return 0;
    return take(u, p, len);
}

static void on_intake_end(void *ud, int err)
{
    ht_upload_t *u = ud;
    u->aborting = 0;
    u->source_done = 1; /* no more bytes either way */
    /* A stopping server ends the reading of its connections itself. */
    if (err == HT_ECANCELED && ht_files_stopping())
        err = -ESHUTDOWN;
    if (err < 0) {
        set_words(u->words, sizeof(u->words),
                  err == HT_ETIMEDOUT   ? "no byte of the body came within the request timeout"
                  : err == HT_EINVAL    ? "the chunked encoding of the body is broken"
                  : err == HT_ETOOBIG   ? "the body is over the upload limit"
                  : err == HT_ECANCELED ? "the client stopped sending the body"
                                        : NULL,
                  err);
        fail(u, u->failed ? u->err : err);
        return;
    }
    if (u->failed) {
        fail(u, u->err);
        return;
    }
    if (u->op == OP_NONE)
        advance(u);
}

/* Feeds the source: the intake reads on (it pauses itself when take() is
 * short), a whole body is copied in as far as the pieces allow. */
static void feed_source(ht_upload_t *u)
{
    if (u->source_done || u->failed)
        return;
    if (u->intake) {
        ht_intake_resume(u->intake);
        return;
    }
    u->fed += take(u, u->src + u->fed, u->src_len - u->fed);
    if (u->fed == u->src_len) {
        u->source_done = 1;
        punch(u->src, u->src_len);
        if (u->op == OP_NONE)
            advance(u);
    }
}

static void op_done(void *data)
{
    ht_upload_t *u = data;
    op_t op = u->op;
    u->op = OP_NONE;
    if (!u->req) { /* the request is gone: nobody makes its job */
        if (u->w)
            start_op(u, OP_CLOSE);
        else if (op == OP_COMMIT && u->op_err == 0)
            start_op(u, OP_DELETE); /* stored, and now an orphan */
        else
            upload_free(u);
        return;
    }
    if (op == OP_DELETE) {
        u->stored = 0;
        return;
    }
    if (op == OP_CLOSE) {
        finish(u, u->err);
        return;
    }
    if (u->op_err < 0) {
        fail(u, u->op_err);
        return;
    }
    switch (op) {
    case OP_OPEN:
        /* Open: a full disk or a missing bucket is known now, before the
         * client sends the body (with Expect: 100-continue). */
        if (u->intake) {
            u->reading = 1;
            ht_intake_start(u->intake, u->max_bytes, on_intake_data, on_intake_end, u);
        } else
            feed_source(u);
        return;
    case OP_WRITE:
        advance(u);
        return;
    case OP_COMMIT:
        u->stored = 1;
        ht_metrics_add(u->intake ? HT_M_UPLOAD_SOCKET : HT_M_UPLOAD_BUFFERED, 1);
        ht_metrics_add(HT_M_UPLOAD_BYTES, (int64_t)u->info.bytes);
        finish(u, 0);
        return;
    default:
        return;
    }
}

void ht_upload_store(ht_upload_t *u, const char *tenant, const char *id, ht_upload_cb cb,
                     void *data)
{
    ht_upload_store_as(u, tenant, id, "input", cb, data);
}

void ht_upload_store_as(ht_upload_t *u, const char *tenant, const char *id, const char *name,
                        ht_upload_cb cb, void *data)
{
    u->cb = cb;
    u->data = data;
    snprintf(u->name, sizeof(u->name), "%s", name);
    if (ht_blob_key(u->key, tenant, id, u->name) < 0) {
        /* A tenant name the store cannot hold ("." or ".."). */
        set_words(u->words, sizeof(u->words),
                  "this tenant's name cannot name files in the blob store", 0);
        u->answered = 1;
        cb(data, HT_EINVAL);
        return;
    }
    u->piece[0] = malloc(HT_UPLOAD_PIECE);
    u->piece[1] = malloc(HT_UPLOAD_PIECE);
    if (!u->piece[0] || !u->piece[1]) {
        set_words(u->words, sizeof(u->words), "out of memory", 0);
        u->answered = 1;
        cb(data, HT_ENOMEM);
        return;
    }
    start_op(u, OP_OPEN);
}

const char *ht_upload_ref(const ht_upload_t *u)
{
    return u->ref;
}

const char *ht_upload_sha256(const ht_upload_t *u)
{
    return u->info.sha256;
}

const char *ht_upload_content_type(const ht_upload_t *u)
{
    return u->content_type;
}

void ht_upload_discard(ht_upload_t *u)
{
    if (u->stored && u->op == OP_NONE)
        start_op(u, OP_DELETE);
}

int ht_upload_problem(h2o_req_t *req, const ht_upload_t *u, int err)
{
    switch (err) {
    case HT_ENOSPACE:
        return ht_http_problem(req, HT_P_INSUFFICIENT_STORAGE,
                               "the blob store is full; nothing was kept: %s", u->words);
    case HT_EUNAVAIL:
        ht_http_add_header(req, "retry-after", "5");
        return ht_http_problem(req, HT_P_UNAVAILABLE,
                               "the blob store is unavailable; nothing was kept: %s", u->words);
    case -ESHUTDOWN:
        return ht_http_problem(req, HT_P_UNAVAILABLE,
                               "the server is stopping; nothing was kept: send it again");
    case HT_ETOOBIG:
        return ht_http_problem(req, HT_P_TOO_LARGE, "the file is over the limit of %llu bytes",
                               (unsigned long long)u->max_bytes);
    case HT_EDIGEST:
        return ht_http_problem(req, HT_P_DIGEST_MISMATCH,
                               "the body's SHA-256 is not the one Content-Digest gives; nothing "
                               "was kept");
    case HT_ETIMEDOUT:
        return ht_http_problem(req, HT_P_REQUEST_TIMEOUT, "%s; nothing was kept", u->words);
    case HT_EINVAL:
    case HT_ECANCELED:
        return ht_http_problem(req, HT_P_BAD_REQUEST, "%s; nothing was kept", u->words);
    default:
        return ht_http_problem(req, HT_P_INTERNAL, "cannot store the file: %s", u->words);
    }
}
