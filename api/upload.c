/* A file submit's body into the blob store (see upload.h). */
#include "api/upload.h"

#include <pthread.h>
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
#include "api/server.h"

/* Shared by the loop (the request's side) and one pool thread (the copy).
 * malloc'd, not in the request's pool: it outlives a request that goes
 * while its copy runs.  Who frees it: the request's dispose hook when no
 * copy is in flight, else the copy's done callback. */
struct ht_upload {
    /* Set on the loop before the copy starts, read-only during it. */
    uv_loop_t *loop;
    const char *src; /* h2o's request buffer: readable only under mu, while !gone */
    size_t len;
    uint64_t max_bytes;
    char key[HT_BLOB_KEY_MAX];
    char content_type[HT_BLOB_CTYPE_MAX];
    char digest[HT_DIGEST_SHA256_HEX + 1]; /* "" when the client sent none */
    /* The loop's. */
    h2o_req_t *req;
    ht_upload_cb cb;
    void *data;
    int in_flight; /* a copy or a delete is queued or running */
    int stored;    /* the blob exists under key */
    int discard;   /* delete the blob once the copy is done */
    /* Shared: mu guards gone and every read of src. */
    pthread_mutex_t mu;
    int gone; /* h2o disposed of the request: src is no longer ours */
    /* Written by the pool thread, read by the loop after the done callback. */
    int err;
    char words[256];
    ht_blob_info_t info;
    char ref[HT_UPLOAD_REF_MAX];
};

static void upload_free(ht_upload_t *u)
{
    pthread_mutex_destroy(&u->mu);
    free(u);
}

/* ---- what the request says ----------------------------------------------- */

static h2o_iovec_t header_of(h2o_req_t *req, const h2o_token_t *token)
{
    ssize_t i = h2o_find_header(&req->headers, token, -1);
    return i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

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
    h2o_iovec_t v = header_of(req, H2O_TOKEN_CONTENT_TYPE);
    while (v.len > 0 && (v.base[0] == ' ' || v.base[0] == '\t')) {
        v.base++;
        v.len--;
    }
    while (v.len > 0 && (v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t'))
        v.len--;
    if (!v.base || v.len == 0) {
        snprintf(out, HT_BLOB_CTYPE_MAX, "%s", HT_BLOB_CTYPE_DEFAULT);
        return 0;
    }
    if (v.len >= HT_BLOB_CTYPE_MAX)
        return -1;
    for (size_t i = 0; i < v.len; i++)
        if (v.base[i] < 0x20 || v.base[i] > 0x7e)
            return -1;
    memcpy(out, v.base, v.len);
    out[v.len] = '\0';
    return 0;
}

/* h2o disposes of the request: from here its buffer may go at any time. */
static void on_request_disposed(void *p)
{
    ht_upload_t *u = *(ht_upload_t **)p;
    pthread_mutex_lock(&u->mu);
    u->gone = 1;
    pthread_mutex_unlock(&u->mu);
    u->req = NULL;
    if (!u->in_flight)
        upload_free(u);
}

int ht_upload_begin_or_reply(h2o_req_t *req, ht_upload_t **out)
{
    const ht_files_config_t *cfg = ht_files_config();
    if (!ht_files_enabled())
        return ht_http_problem(req, HT_P_UNSUPPORTED_MEDIA,
                               "a file submit (a body that is not JSON) needs a blob store, and "
                               "this server has none (HANGTIGHT_BLOB_STORE): send "
                               "application/json");
    if (req->entity.len > cfg->max_upload_bytes)
        return ht_http_problem(req, HT_P_TOO_LARGE, "the file is %zu bytes; the limit is %llu",
                               req->entity.len, (unsigned long long)cfg->max_upload_bytes);
    ht_upload_t *u = calloc(1, sizeof(*u));
    if (!u)
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    pthread_mutex_init(&u->mu, NULL);
    ht_upload_t **link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_request_disposed);
    *link = u;
    u->req = req;
    u->loop = &ht_api_thread_of(req)->loop;
    u->src = req->entity.base ? req->entity.base : "";
    u->len = req->entity.len;
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

/* ---- the copy, on a pool thread ------------------------------------------ */

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

static void set_words(ht_upload_t *u, const char *words)
{
    snprintf(u->words, sizeof(u->words), "%s", words && words[0] ? words : ht_strerror(u->err));
}

static void copy_work(ht_blob_t *b, void *data)
{
    ht_upload_t *u = data;
    if (!b) {
        u->err = HT_EUNAVAIL;
        set_words(u, "the blob store cannot be opened");
        return;
    }
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    o.content_type = u->content_type;
    o.max_bytes = u->max_bytes;
    o.expect_bytes = (int64_t)u->len;
    o.expect_sha256 = u->digest[0] ? u->digest : NULL;
    ht_blob_writer_t *w = NULL;
    int rc = ht_blob_writer_open(b, &w, u->key, &o);
    if (rc < 0) {
        u->err = rc;
        set_words(u, ht_blob_error(b));
        return;
    }
    /* s3: a write may upload a whole part; the piece is copied out first
     * so that the lock is never held across the network. */
    char *bounce = ht_blob_write_blocks(b) ? malloc(HT_UPLOAD_PIECE) : NULL;
    if (ht_blob_write_blocks(b) && !bounce)
        rc = HT_ENOMEM;
    for (size_t off = 0; rc == 0 && off < u->len;) {
        size_t n = u->len - off < HT_UPLOAD_PIECE ? u->len - off : HT_UPLOAD_PIECE;
        pthread_mutex_lock(&u->mu);
        if (u->gone || ht_files_stopping())
            rc = HT_ECANCELED;
        else if (bounce)
            memcpy(bounce, u->src + off, n);
        else
            rc = ht_blob_write(w, u->src + off, n);
        pthread_mutex_unlock(&u->mu);
        if (rc == 0 && bounce)
            rc = ht_blob_write(w, bounce, n);
        off += n;
    }
    free(bounce);
    if (rc == 0)
        rc = ht_blob_commit(w, &u->info);
    u->err = rc;
    if (rc == HT_ECANCELED)
        set_words(u, "the request ended before its file was stored");
    else if (rc < 0)
        set_words(u, ht_blob_writer_error(w));
    ht_blob_writer_close(w); /* aborts an uncommitted one: nothing is left */
    pthread_mutex_lock(&u->mu);
    if (!u->gone)
        punch(u->src, u->len);
    pthread_mutex_unlock(&u->mu);
    if (rc == 0 && ht_file_ref_format(u->ref, sizeof(u->ref), u->info.bytes, u->info.sha256,
                                      "input", u->content_type) < 0) {
        /* Cannot happen with what the store just took; kept as an error. */
        u->err = HT_EPROTO;
        set_words(u, "the stored file's reference does not fit");
        ht_blob_delete(b, u->key);
    }
}

static void delete_work(ht_blob_t *b, void *data)
{
    ht_upload_t *u = data;
    int rc = b ? ht_blob_delete(b, u->key) : HT_EUNAVAIL;
    /* Left behind, it is an orphan: the sweeper removes it later. */
    if (rc < 0)
        ht_log(HT_LOG_WARN, "cannot delete a refused job's file (the sweeper will)", "key", u->key,
               "detail", b ? ht_blob_error(b) : ht_strerror(rc), NULL);
}

static void delete_done(void *data)
{
    ht_upload_t *u = data;
    u->in_flight = 0;
    u->stored = 0;
    if (!u->req)
        upload_free(u);
}

static void start_delete(ht_upload_t *u)
{
    u->in_flight = 1;
    if (ht_files_run(u->loop, delete_work, delete_done, u) < 0) {
        ht_log(HT_LOG_WARN, "cannot delete a refused job's file (the sweeper will)", "key", u->key,
               NULL);
        delete_done(u);
    }
}

static void copy_done(void *data)
{
    ht_upload_t *u = data;
    u->in_flight = 0;
    u->stored = u->err == 0;
    if (!u->req) {
        /* The request is gone: nobody will make its job. */
        if (u->stored)
            start_delete(u);
        else
            upload_free(u);
        return;
    }
    if (u->err < 0 && u->err != HT_EDIGEST && u->err != HT_ETOOBIG && u->err != HT_EINVAL)
        ht_log(HT_LOG_WARN, "cannot store an uploaded file", "key", u->key, "detail", u->words,
               NULL);
    u->cb(u->data, u->err);
}

void ht_upload_store(ht_upload_t *u, const char *tenant, const char *id, ht_upload_cb cb,
                     void *data)
{
    u->cb = cb;
    u->data = data;
    int rc = ht_blob_key(u->key, tenant, id, "input");
    if (rc < 0) {
        /* A tenant name the store cannot hold ("." or ".."). */
        u->err = HT_EINVAL;
        set_words(u, "this tenant's name cannot name files in the blob store");
        cb(data, u->err);
        return;
    }
    u->in_flight = 1;
    if ((rc = ht_files_run(u->loop, copy_work, copy_done, u)) < 0) {
        u->in_flight = 0;
        u->err = rc;
        set_words(u, "cannot queue the copy");
        cb(data, rc);
    }
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
    if (u->stored && !u->in_flight)
        start_delete(u);
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
    case HT_ETOOBIG:
        return ht_http_problem(req, HT_P_TOO_LARGE, "the file is over the limit of %llu bytes",
                               (unsigned long long)u->max_bytes);
    case HT_EDIGEST:
        return ht_http_problem(req, HT_P_DIGEST_MISMATCH,
                               "the body's SHA-256 is not the one Content-Digest gives; nothing "
                               "was kept");
    case HT_EINVAL:
        return ht_http_problem(req, HT_P_BAD_REQUEST, "%s", u->words);
    case HT_ECANCELED:
        return ht_http_problem(req, HT_P_UNAVAILABLE,
                               "the server is stopping; nothing was kept: send it again");
    default:
        return ht_http_problem(req, HT_P_INTERNAL, "cannot store the file: %s", u->words);
    }
}
