/* The blob store's front: picks the backend, checks every argument, keeps
 * writers' running SHA-256 and byte counts, and builds what both backends
 * share (put_file's copy, fetch, pread) on their few primitives. */
#include "shared/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "shared/blob_impl.h"
#include "shared/error.h"

#define HASH_CHUNK (1u << 20) /* bytes read at a time to hash or copy a file */

/* ---- helpers shared with the backends -------------------------------------- */

int ht__blob_fail(ht_blob_t *b, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof(b->err), fmt, ap);
    va_end(ap);
    return code;
}

int ht__blob_wfail(ht_blob_writer_t *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
    if (!w->failed)
        w->failed = code;
    return code;
}

int ht__blob_pathf(char *out, size_t outlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= outlen ? HT_EINVAL : 0;
}

void ht__blob_etag(ht_blob_info_t *info)
{
    if (info->sha256[0])
        snprintf(info->etag, sizeof(info->etag), "\"%s\"", info->sha256);
}

int ht__blob_errno(int e)
{
    if (e == ENOSPC || e == EDQUOT || e == EFBIG)
        return HT_ENOSPACE;
    return e > 0 ? -e : -EIO;
}

int ht__blob_segment_valid(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static int name_valid(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

int ht__blob_random_hex(char out[33])
{
    unsigned char r[16];
    size_t got = 0;
    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof(r); i++) {
        out[2 * i] = digits[r[i] >> 4];
        out[2 * i + 1] = digits[r[i] & 15];
    }
    out[32] = '\0';
    return 0;
}

void ht__blob_hex(const unsigned char *md, char out[HT_BLOB_SHA256_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 15];
    }
    out[HT_BLOB_SHA256_LEN] = '\0';
}

int ht__blob_sha256_fd(int fd, uint64_t size, char out[HT_BLOB_SHA256_LEN + 1])
{
    int rc = 0;
    unsigned char *buf = malloc(HASH_CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!buf || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        rc = HT_ENOMEM;
        goto out;
    }
    for (uint64_t off = 0; off < size;) {
        size_t want = size - off < HASH_CHUNK ? (size_t)(size - off) : HASH_CHUNK;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0) { /* the file shrank under us */
            rc = -EIO;
            goto out;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        off += (uint64_t)n;
    }
    unsigned char md[32];
    EVP_DigestFinal_ex(ctx, md, NULL);
    ht__blob_hex(md, out);
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

int ht__blob_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ht__blob_create_tmp(const char *dir, const char *suffix, char *out, size_t outlen)
{
    for (int tries = 0; tries < 4; tries++) {
        char hex[33];
        int rc = ht__blob_random_hex(hex);
        if (rc < 0)
            return rc;
        if ((size_t)snprintf(out, outlen, "%s/%s.%s", dir, hex, suffix) >= outlen)
            return HT_EINVAL;
        int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return ht__blob_errno(errno);
    }
    return HT_EEXIST;
}

/* ---- store ----------------------------------------------------------------- */

int ht_blob_open(ht_blob_t **out, const ht_blob_settings_t *s, char *err, size_t errlen)
{
    *out = NULL;
    const char *spec = s->store;
    const ht__blob_ops_t *ops;
    if (!spec || !*spec)
        return ht_errorf(err, errlen, HT_EINVAL, "no blob store configured (HANGTIGHT_BLOB_STORE)");
    if (strncmp(spec, "dir:", 4) == 0) {
        ops = &ht__blob_dir_ops;
        spec += 4;
    } else if (strncmp(spec, "s3://", 5) == 0) {
        ops = &ht__blob_s3_ops;
        spec += 5;
    } else {
        return ht_errorf(err, errlen, HT_EINVAL,
                         "blob store '%s': expected dir:/path or s3://bucket[/prefix]", s->store);
    }
    ht_blob_t *b = calloc(1, sizeof(*b));
    if (!b)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    b->ops = ops;
    int rc = ops->open(b, spec, s, err, errlen);
    if (rc < 0) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void ht_blob_close(ht_blob_t *b)
{
    if (!b)
        return;
    b->ops->close(b);
    free(b);
}

const char *ht_blob_error(const ht_blob_t *b)
{
    return b->err;
}

int ht_blob_write_blocks(const ht_blob_t *b)
{
    return b->ops->write_blocks;
}

int ht_blob_key(char out[HT_BLOB_KEY_MAX], const char *tenant, const char *job_id, const char *name)
{
    out[0] = '\0';
    if (!ht__blob_segment_valid(tenant, strlen(tenant)) ||
        !ht__blob_segment_valid(job_id, strlen(job_id)) || !name_valid(name, strlen(name)))
        return HT_EINVAL;
    snprintf(out, HT_BLOB_KEY_MAX, "%s/%s/%s", tenant, job_id, name);
    return 0;
}

int ht_blob_key_valid(const char *key)
{
    const char *a = strchr(key, '/');
    const char *c = a ? strchr(a + 1, '/') : NULL;
    if (!a || !c || strchr(c + 1, '/'))
        return 0;
    return ht__blob_segment_valid(key, (size_t)(a - key)) &&
           ht__blob_segment_valid(a + 1, (size_t)(c - a - 1)) && name_valid(c + 1, strlen(c + 1));
}

/* Content types go into a sidecar file and an HTTP header: printable
 * ASCII with spaces, a '/', at most 255 bytes. */
static int content_type_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= HT_BLOB_CTYPE_MAX || !strchr(s, '/'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* Lowercases a 64-digit hex digest into out; 0 when it is not one. */
static int sha256_hex_norm(const char *s, char out[HT_BLOB_SHA256_LEN + 1])
{
    if (strlen(s) != HT_BLOB_SHA256_LEN)
        return 0;
    for (int i = 0; i < HT_BLOB_SHA256_LEN; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
        out[i] = c;
    }
    out[HT_BLOB_SHA256_LEN] = '\0';
    return 1;
}

/* Checks opts (NULL: the defaults) into the writer-shaped fields of w. */
static int check_opts(ht_blob_t *b, ht_blob_writer_t *w, const char *key,
                      const ht_blob_put_opts_t *opts)
{
    static const ht_blob_put_opts_t defaults = HT_BLOB_PUT_OPTS_INIT;
    if (!opts)
        opts = &defaults;
    if (!ht_blob_key_valid(key))
        return ht__blob_fail(b, HT_EINVAL, "invalid blob key '%.*s'", 200, key);
    const char *ct = opts->content_type ? opts->content_type : HT_BLOB_CTYPE_DEFAULT;
    if (!content_type_valid(ct))
        return ht__blob_fail(b, HT_EINVAL, "invalid content type");
    w->expect_sha256[0] = '\0';
    if (opts->expect_sha256 && !sha256_hex_norm(opts->expect_sha256, w->expect_sha256))
        return ht__blob_fail(b, HT_EINVAL, "invalid SHA-256 digest (64 hex digits expected)");
    snprintf(w->key, sizeof(w->key), "%s", key);
    snprintf(w->content_type, sizeof(w->content_type), "%s", ct);
    w->max_bytes = opts->max_bytes ? opts->max_bytes : HT_BLOB_MAX_DEFAULT;
    w->expect_bytes = opts->expect_bytes < 0 ? -1 : opts->expect_bytes;
    if (w->expect_bytes >= 0 && (uint64_t)w->expect_bytes > w->max_bytes)
        return ht__blob_fail(b, HT_ETOOBIG, "%lld bytes is over the limit of %llu",
                             (long long)w->expect_bytes, (unsigned long long)w->max_bytes);
    return 0;
}

/* ---- writers --------------------------------------------------------------- */

int ht_blob_writer_open(ht_blob_t *b, ht_blob_writer_t **out, const char *key,
                        const ht_blob_put_opts_t *opts)
{
    *out = NULL;
    ht_blob_writer_t *w = calloc(1, sizeof(*w));
    if (!w)
        return ht__blob_fail(b, HT_ENOMEM, "out of memory");
    w->store = b;
    int rc = check_opts(b, w, key, opts);
    if (rc == 0) {
        w->sha = EVP_MD_CTX_new();
        if (!w->sha || !EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL))
            rc = ht__blob_fail(b, HT_ENOMEM, "out of memory");
    }
    if (rc == 0) {
        rc = b->ops->writer_open(w);
        if (rc < 0)
            ht__blob_fail(b, rc, "%s", w->err);
    }
    if (rc < 0) {
        EVP_MD_CTX_free(w->sha);
        free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int ht_blob_write(ht_blob_writer_t *w, const void *buf, size_t len)
{
    if (w->failed)
        return w->failed;
    if (w->committed)
        return ht__blob_wfail(w, HT_EINVAL, "write after commit");
    if (len > w->max_bytes - w->bytes)
        return ht__blob_wfail(w, HT_ETOOBIG, "more than %llu bytes",
                              (unsigned long long)w->max_bytes);
    if (len == 0)
        return 0;
    EVP_DigestUpdate(w->sha, buf, len);
    w->bytes += len;
    int rc = w->store->ops->writer_write(w, buf, len);
    if (rc < 0)
        w->failed = rc;
    return rc;
}

uint64_t ht_blob_writer_bytes(const ht_blob_writer_t *w)
{
    return w->bytes;
}

int ht_blob_commit(ht_blob_writer_t *w, ht_blob_info_t *info)
{
    ht_blob_info_t local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    if (w->failed)
        return w->failed;
    if (w->committed)
        return ht__blob_wfail(w, HT_EINVAL, "already committed");
    if (w->expect_bytes >= 0 && w->bytes != (uint64_t)w->expect_bytes)
        return ht__blob_wfail(w, HT_EINVAL, "%llu bytes came, %lld were announced",
                              (unsigned long long)w->bytes, (long long)w->expect_bytes);
    unsigned char md[32];
    char sha[HT_BLOB_SHA256_LEN + 1];
    EVP_DigestFinal_ex(w->sha, md, NULL);
    ht__blob_hex(md, sha);
    if (w->expect_sha256[0] && strcmp(sha, w->expect_sha256) != 0)
        return ht__blob_wfail(w, HT_EDIGEST, "the bytes have SHA-256 %s, not %s", sha,
                              w->expect_sha256);
    int rc = w->store->ops->writer_commit(w, sha, info);
    if (rc < 0) {
        w->failed = rc;
        return rc;
    }
    w->committed = 1;
    info->bytes = w->bytes;
    memcpy(info->sha256, sha, sizeof(sha));
    snprintf(info->content_type, sizeof(info->content_type), "%s", w->content_type);
    ht__blob_etag(info);
    return 0;
}

const char *ht_blob_writer_error(const ht_blob_writer_t *w)
{
    return w->err;
}

void ht_blob_writer_close(ht_blob_writer_t *w)
{
    if (!w)
        return;
    if (!w->committed)
        w->store->ops->writer_abort(w);
    EVP_MD_CTX_free(w->sha);
    free(w);
}

/* ---- whole files ----------------------------------------------------------- */

/* put_file through a writer: one read, hash and write per chunk. */
static int copy_through_writer(ht_blob_t *b, const char *key, int fd, const ht_blob_put_opts_t *o,
                               ht_blob_info_t *info)
{
    ht_blob_writer_t *w;
    int rc = ht_blob_writer_open(b, &w, key, o);
    if (rc < 0)
        return rc;
    unsigned char *buf = malloc(HASH_CHUNK);
    if (!buf) {
        ht_blob_writer_close(w);
        return ht__blob_fail(b, HT_ENOMEM, "out of memory");
    }
    for (;;) {
        ssize_t n = read(fd, buf, HASH_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ht__blob_fail(b, -errno, "reading the source file: %s", strerror(errno));
            break;
        }
        if (n == 0) {
            rc = ht_blob_commit(w, info);
            break;
        }
        rc = ht_blob_write(w, buf, (size_t)n);
        if (rc < 0)
            break;
    }
    if (rc < 0 && w->failed)
        ht__blob_fail(b, rc, "%s", w->err);
    free(buf);
    ht_blob_writer_close(w);
    return rc;
}

int ht_blob_put_file(ht_blob_t *b, const char *key, const char *path,
                     const ht_blob_put_opts_t *opts, unsigned flags, ht_blob_info_t *info)
{
    ht_blob_info_t local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof(*info));
    ht_blob_writer_t probe; /* the checked options, without a writer */
    memset(&probe, 0, sizeof(probe));
    int rc = check_opts(b, &probe, key, opts);
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ht__blob_fail(b, errno == ENOENT ? HT_ENOTFOUND : -errno, "%s: %s", path,
                             strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = ht__blob_fail(b, HT_EINVAL, "%s: not a regular file", path);
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size > probe.max_bytes) {
        rc = ht__blob_fail(b, HT_ETOOBIG, "%llu bytes is over the limit of %llu",
                           (unsigned long long)size, (unsigned long long)probe.max_bytes);
        goto out;
    }
    if (probe.expect_bytes >= 0 && size != (uint64_t)probe.expect_bytes) {
        rc = ht__blob_fail(b, HT_EINVAL, "the file has %llu bytes, %lld were announced",
                           (unsigned long long)size, (long long)probe.expect_bytes);
        goto out;
    }
    if (!b->ops->put_fd_wants(b, &st, flags)) {
        rc = copy_through_writer(b, key, fd, opts, info);
        goto out;
    }
    char sha[HT_BLOB_SHA256_LEN + 1];
    rc = ht__blob_sha256_fd(fd, size, sha);
    if (rc < 0) {
        rc = ht__blob_fail(b, rc, "reading %s: %s", path, ht_strerror(rc));
        goto out;
    }
    if (probe.expect_sha256[0] && strcmp(sha, probe.expect_sha256) != 0) {
        rc = ht__blob_fail(b, HT_EDIGEST, "the file has SHA-256 %s, not %s", sha,
                           probe.expect_sha256);
        goto out;
    }
    rc = b->ops->put_fd(b, key, fd, path, size, sha, probe.content_type, info);
    if (rc == 0) {
        info->bytes = size;
        memcpy(info->sha256, sha, sizeof(sha));
        snprintf(info->content_type, sizeof(info->content_type), "%s", probe.content_type);
        ht__blob_etag(info);
    }
out:
    close(fd);
    return rc;
}

int ht_blob_tmp_path(ht_blob_t *b, char *out, size_t outlen)
{
    return b->ops->tmp_path(b, out, outlen);
}

/* ---- reading --------------------------------------------------------------- */

static int check_key(ht_blob_t *b, const char *key)
{
    if (ht_blob_key_valid(key))
        return 0;
    return ht__blob_fail(b, HT_EINVAL, "invalid blob key '%.*s'", 200, key);
}

int ht_blob_stat(ht_blob_t *b, const char *key, ht_blob_info_t *info)
{
    memset(info, 0, sizeof(*info));
    int rc = check_key(b, key);
    return rc < 0 ? rc : b->ops->stat(b, key, info);
}

int ht_blob_read(ht_blob_t *b, const char *key, uint64_t off, uint64_t len, ht_blob_sink_fn sink,
                 void *ud)
{
    int rc = check_key(b, key);
    return rc < 0 ? rc : b->ops->read(b, key, off, len, sink, ud);
}

typedef struct {
    unsigned char *buf;
    size_t cap, got;
} pread_sink_t;

static int pread_sink(void *ud, const void *buf, size_t len)
{
    pread_sink_t *p = ud;
    size_t n = len < p->cap - p->got ? len : p->cap - p->got;
    memcpy(p->buf + p->got, buf, n);
    p->got += n;
    return 0;
}

int ht_blob_pread(ht_blob_t *b, const char *key, uint64_t off, void *buf, size_t len, size_t *got)
{
    pread_sink_t p = {buf, len, 0};
    *got = 0;
    if (len == 0)
        return check_key(b, key);
    int rc = ht_blob_read(b, key, off, len, pread_sink, &p);
    *got = p.got;
    return rc;
}

int ht_blob_path(ht_blob_t *b, const char *key, char *out, size_t outlen)
{
    int rc = check_key(b, key);
    if (rc < 0)
        return rc;
    if (!b->ops->path)
        return ht__blob_fail(b, HT_EINVAL, "an s3 store has no local paths (use ht_blob_fetch)");
    return b->ops->path(b, key, out, outlen);
}

typedef struct {
    int fd;
    EVP_MD_CTX *sha;
    uint64_t bytes;
    int err; /* -errno of a failed write */
} fetch_sink_t;

static int fetch_sink(void *ud, const void *buf, size_t len)
{
    fetch_sink_t *f = ud;
    int rc = ht__blob_write_all(f->fd, buf, len);
    if (rc < 0) {
        f->err = rc;
        return 1;
    }
    EVP_DigestUpdate(f->sha, buf, len);
    f->bytes += len;
    return 0;
}

int ht_blob_fetch(ht_blob_t *b, const char *key, char *out, size_t outlen, ht_blob_info_t *info)
{
    ht_blob_info_t local;
    if (!info)
        info = &local;
    int rc = ht_blob_stat(b, key, info);
    if (rc < 0)
        return rc;
    char path[4096];
    rc = b->ops->tmp_path(b, path, sizeof(path));
    if (rc < 0)
        return rc;
    fetch_sink_t f = {-1, EVP_MD_CTX_new(), 0, 0};
    if (!f.sha || !EVP_DigestInit_ex(f.sha, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(f.sha);
        return ht__blob_fail(b, HT_ENOMEM, "out of memory");
    }
    f.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (f.fd < 0) {
        rc = ht__blob_fail(b, ht__blob_errno(errno), "%s: %s", path, strerror(errno));
        EVP_MD_CTX_free(f.sha);
        return rc;
    }
    rc = b->ops->read(b, key, 0, UINT64_MAX, fetch_sink, &f);
    if (rc == HT_ECANCELED && f.err)
        rc = ht__blob_fail(b, ht__blob_errno(-f.err), "writing %s: %s", path, strerror(-f.err));
    if (rc == 0 && f.bytes != info->bytes)
        rc = ht__blob_fail(b, HT_EDIGEST, "read %llu bytes of a %llu-byte blob",
                           (unsigned long long)f.bytes, (unsigned long long)info->bytes);
    if (rc == 0 && info->sha256[0]) {
        unsigned char md[32];
        char sha[HT_BLOB_SHA256_LEN + 1];
        EVP_DigestFinal_ex(f.sha, md, NULL);
        ht__blob_hex(md, sha);
        if (strcmp(sha, info->sha256) != 0)
            rc = ht__blob_fail(b, HT_EDIGEST, "the copy has SHA-256 %s, the blob says %s", sha,
                               info->sha256);
    }
    if (close(f.fd) < 0 && rc == 0)
        rc = ht__blob_fail(b, ht__blob_errno(errno), "closing %s: %s", path, strerror(errno));
    EVP_MD_CTX_free(f.sha);
    if (rc < 0) {
        unlink(path);
        return rc;
    }
    if ((size_t)snprintf(out, outlen, "%s", path) >= outlen) {
        unlink(path);
        return ht__blob_fail(b, HT_EINVAL, "path buffer too small");
    }
    return 0;
}

/* ---- removing -------------------------------------------------------------- */

int ht_blob_delete(ht_blob_t *b, const char *key)
{
    if (!ht_blob_key_valid(key) && !b->ops->partial_key_valid(key))
        return ht__blob_fail(b, HT_EINVAL, "invalid blob key '%.*s'", 200, key);
    return b->ops->del(b, key);
}

int ht_blob_list(ht_blob_t *b, const char *tenant, ht_blob_list_fn fn, void *ud)
{
    if (tenant && !ht__blob_segment_valid(tenant, strlen(tenant)))
        return ht__blob_fail(b, HT_EINVAL, "invalid tenant name");
    return b->ops->list(b, tenant, fn, ud);
}
