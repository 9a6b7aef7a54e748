/* The dir: backend of the blob store: one file per blob on a local (or
 * shared) file system.
 *
 *   <root>/blobs/<tenant>/<job id>/<name>        the bytes
 *   <root>/blobs/<tenant>/<job id>/<name>.meta   sidecar: {"bytes", "sha256",
 *                                                "content_type", "ino"}
 *   <root>/tmp/<32 hex>.part|.meta|.out          writes in progress
 *
 * A write goes to tmp/ and is published by two renames, sidecar first:
 * data fsynced, sidecar written and fsynced, both renamed into the job's
 * directory, that directory fsynced.  Names never contain '.' (blob.c), so
 * "<name>.meta" cannot be a blob.
 *
 * Why a sidecar and not an xattr: user xattrs are missing or limited on
 * file systems a shared store may sit on (tmpfs before Linux 6.6, NFS
 * before 4.2, some FUSE mounts), and a sidecar is plain to inspect and back
 * up.  What an xattr would give for free, data and metadata changing in
 * one step, the sidecar gets from the inode number it records: a reader
 * takes the pair only when the sidecar names the inode it opened (and its
 * size), and looks again when a replace is half done (new sidecar, old
 * data). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/blob_impl.h"
#include "shared/error.h"

#define META_MAX      4096 /* a sidecar is ~200 bytes; anything longer is not ours */
#define READ_CHUNK    (256u << 10)
#define STAT_TRIES    100 /* sidecar/data pairs looked at before giving up (1 ms apart) */
#define PUBLISH_TRIES 5   /* a delete may remove the job's directory between mkdir and rename */

typedef struct {
    char root[PATH_MAX]; /* absolute, no trailing '/' */
    char blobs[PATH_MAX];
    char tmp[PATH_MAX];
    dev_t tmp_dev;
} dir_t;

/* Writeback is started every this many bytes, so that the commit's fsync
 * waits for the tail of the file, not all of it. */
#define WRITE_BEHIND (8u << 20)

typedef struct {
    int fd;
    char path[PATH_MAX];
    uint64_t written, behind; /* bytes written; bytes whose writeback was started */
} dir_writer_t;

static dir_t *D(ht_blob_t *b)
{
    return b->be;
}

static int mkdir_if_missing(const char *path)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return 0;
    return ht__blob_errno(errno);
}

static int dir_open(ht_blob_t *b, const char *spec, const ht_blob_settings_t *s, char *err,
                    size_t errlen)
{
    (void)s;
    if (!*spec)
        return ht_errorf(err, errlen, HT_EINVAL, "dir: needs a path (dir:/var/lib/hangtight)");
    dir_t *d = calloc(1, sizeof(*d));
    if (!d)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    int rc = 0;
    char cwd[PATH_MAX] = "";
    if (spec[0] != '/' && !getcwd(cwd, sizeof(cwd))) {
        rc = ht_errorf(err, errlen, -errno, "dir: getcwd: %s", strerror(errno));
        goto fail;
    }
    /* Absolute, so that paths handed to handlers work from any directory;
     * 3000 bytes leaves room for blobs/<tenant>/<job>/<name>.meta. */
    size_t n = (size_t)snprintf(d->root, sizeof(d->root), "%s%s%s", cwd, cwd[0] ? "/" : "", spec);
    if (n > 3000) {
        rc = ht_errorf(err, errlen, HT_EINVAL, "dir: path too long");
        goto fail;
    }
    while (n > 1 && d->root[n - 1] == '/')
        d->root[--n] = '\0';
    ht__blob_pathf(d->blobs, sizeof(d->blobs), "%s/blobs", d->root);
    ht__blob_pathf(d->tmp, sizeof(d->tmp), "%s/tmp", d->root);
    /* mkdir -p of the root, then its two folders. */
    for (char *p = d->root + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            rc = mkdir_if_missing(d->root);
            *p = c;
            if (rc < 0 || c == '\0')
                break;
        }
    }
    if (rc == 0)
        rc = mkdir_if_missing(d->blobs);
    if (rc == 0)
        rc = mkdir_if_missing(d->tmp);
    struct stat st;
    if (rc == 0 && stat(d->tmp, &st) < 0)
        rc = -errno;
    if (rc < 0) {
        ht_errorf(err, errlen, rc, "dir: cannot make %s: %s", d->tmp, ht_strerror(rc));
        goto fail;
    }
    d->tmp_dev = st.st_dev;
    b->be = d;
    return 0;
fail:
    free(d);
    return rc;
}

static void dir_close(ht_blob_t *b)
{
    free(b->be);
}

/* ---- paths ----------------------------------------------------------------- */

/* out = <root>/blobs/<key><suffix> (key is valid: it fits). */
static void data_path(dir_t *d, const char *key, const char *suffix, char out[PATH_MAX])
{
    ht__blob_pathf(out, PATH_MAX, "%s/%s%s", d->blobs, key, suffix);
}

/* Makes <root>/blobs/<tenant>/<job>/ for key, fsyncing each parent whose
 * entries changed, so a published blob's path survives a crash. */
static int fsync_parent_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ht__blob_errno(errno);
    int rc = fsync(fd) < 0 ? ht__blob_errno(errno) : 0;
    close(fd);
    return rc;
}

static int make_parents(dir_t *d, const char *key)
{
    const char *slash = strchr(key, '/');
    const char *name = strrchr(key, '/');
    int ends[2] = {(int)(slash - key), (int)(name - key)};
    char path[PATH_MAX];
    for (int i = 0; i < 2; i++) {
        ht__blob_pathf(path, sizeof(path), "%s/%.*s", d->blobs, ends[i], key);
        if (mkdir(path, 0750) == 0) {
            int rc = fsync_parent_of(path);
            if (rc < 0)
                return rc;
        } else if (errno != EEXIST) {
            return ht__blob_errno(errno);
        }
    }
    return 0;
}

/* ---- sidecars -------------------------------------------------------------- */

static int write_meta(dir_t *d, uint64_t bytes, const char *sha, const char *ctype, ino_t ino,
                      char tmp[PATH_MAX])
{
    json_t *j = json_pack("{s:I, s:s, s:s, s:I}", "bytes", (json_int_t)bytes, "sha256", sha,
                          "content_type", ctype, "ino", (json_int_t)ino);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return HT_ENOMEM;
    int fd = ht__blob_create_tmp(d->tmp, "meta", tmp, PATH_MAX);
    int rc = fd < 0 ? fd : 0;
    if (rc == 0)
        rc = ht__blob_write_all(fd, text, strlen(text));
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    free(text);
    if (rc < 0 && fd >= 0)
        unlink(tmp);
    return rc < 0 && rc > -4096 ? ht__blob_errno(-rc) : rc;
}

typedef struct {
    uint64_t bytes;
    uint64_t ino;
    char sha256[HT_BLOB_SHA256_LEN + 1];
    char content_type[HT_BLOB_CTYPE_MAX];
} meta_t;

/* Reads key's sidecar.  Returns 0, HT_ENOTFOUND when there is none, HT_EPROTO
 * when it is not one of ours, or -errno. */
static int read_meta(dir_t *d, const char *key, meta_t *m)
{
    char path[PATH_MAX], text[META_MAX];
    data_path(d, key, ".meta", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? HT_ENOTFOUND : -errno;
    ssize_t n;
    do {
        n = read(fd, text, sizeof(text));
    } while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    json_t *j = json_loadb(text, (size_t)n, 0, NULL);
    json_int_t bytes = -1, ino = -1;
    const char *sha = NULL, *ct = NULL;
    int rc = HT_EPROTO;
    if (j &&
        json_unpack(j, "{s:I, s:s, s:s, s:I}", "bytes", &bytes, "sha256", &sha, "content_type", &ct,
                    "ino", &ino) == 0 &&
        bytes >= 0 && ino >= 0 && strlen(sha) == HT_BLOB_SHA256_LEN && strlen(ct) > 0 &&
        strlen(ct) < HT_BLOB_CTYPE_MAX) {
        m->bytes = (uint64_t)bytes;
        m->ino = (uint64_t)ino;
        memcpy(m->sha256, sha, HT_BLOB_SHA256_LEN + 1);
        snprintf(m->content_type, sizeof(m->content_type), "%s", ct);
        rc = 0;
    }
    json_decref(j);
    return rc;
}

/* Opens key's data file and checks it against its sidecar; fills info.
 * Returns the fd, or HT_ENOTFOUND, HT_EPROTO, -errno with words in b. */
static int open_checked(ht_blob_t *b, const char *key, ht_blob_info_t *info)
{
    dir_t *d = D(b);
    char path[PATH_MAX];
    data_path(d, key, "", path);
    for (int tries = 0;; tries++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT)
                return ht__blob_fail(b, HT_ENOTFOUND, "no blob %s", key);
            return ht__blob_fail(b, -errno, "%s: %s", path, strerror(errno));
        }
        struct stat st;
        meta_t m;
        int rc = fstat(fd, &st) < 0 ? -errno : read_meta(d, key, &m);
        if (rc == 0 && m.ino == (uint64_t)st.st_ino && m.bytes == (uint64_t)st.st_size) {
            info->bytes = m.bytes;
            memcpy(info->sha256, m.sha256, sizeof(info->sha256));
            snprintf(info->content_type, sizeof(info->content_type), "%s", m.content_type);
            ht__blob_etag(info);
            info->mtime = (int64_t)st.st_mtime;
            return fd;
        }
        close(fd);
        if (rc < 0 && rc != HT_ENOTFOUND && rc != HT_EPROTO)
            return ht__blob_fail(b, rc, "%s.meta: %s", path, ht_strerror(rc));
        /* A replace between its two renames, or a sidecar that names
         * another file for good (a crash in that window). */
        if (tries + 1 >= STAT_TRIES)
            return ht__blob_fail(b, HT_EPROTO, "%s: its sidecar %s", path,
                                 rc == 0 ? "describes another file" : "is missing or unreadable");
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

/* Publishes the fsynced-by-us file at tmp (open as fd) under key: sidecar
 * first, then the data, then the directory.  Leaves tmp in place on
 * failure. */
static int publish(dir_t *d, const char *key, int fd, const char *tmp, uint64_t bytes,
                   const char *sha, const char *ctype, ht_blob_info_t *info, char *err,
                   size_t errlen)
{
    struct stat st;
    if (fsync(fd) < 0 || fstat(fd, &st) < 0)
        return ht_errorf(err, errlen, ht__blob_errno(errno), "fsync: %s", strerror(errno));
    char meta_tmp[PATH_MAX], meta[PATH_MAX], data[PATH_MAX];
    int rc = write_meta(d, bytes, sha, ctype, st.st_ino, meta_tmp);
    if (rc < 0)
        return ht_errorf(err, errlen, rc, "writing the sidecar: %s", ht_strerror(rc));
    data_path(d, key, ".meta", meta);
    data_path(d, key, "", data);
    const char *step = "mkdir";
    for (int tries = 0; tries < PUBLISH_TRIES; tries++) {
        rc = make_parents(d, key);
        step = "mkdir";
        if (rc == 0) {
            step = "rename";
            rc = rename(meta_tmp, meta) < 0 ? ht__blob_errno(errno) : 0;
        }
        if (rc != -ENOENT)
            break;
    }
    if (rc < 0) {
        unlink(meta_tmp);
        return ht_errorf(err, errlen, rc, "%s %s: %s", step, meta, ht_strerror(rc));
    }
    /* The sidecar in the directory keeps it from being removed as empty. */
    if (rename(tmp, data) < 0) {
        rc = ht_errorf(err, errlen, ht__blob_errno(errno), "rename %s: %s", data, strerror(errno));
        unlink(meta);
        return rc;
    }
    rc = fsync_parent_of(data);
    if (rc < 0)
        return ht_errorf(err, errlen, rc, "fsync of %s's directory: %s", key, ht_strerror(rc));
    info->mtime = (int64_t)st.st_mtime;
    return 0;
}

/* ---- writers --------------------------------------------------------------- */

static int dir_writer_open(ht_blob_writer_t *w)
{
    dir_t *d = D(w->store);
    dir_writer_t *dw = calloc(1, sizeof(*dw));
    if (!dw)
        return ht__blob_wfail(w, HT_ENOMEM, "out of memory");
    dw->fd = ht__blob_create_tmp(d->tmp, "part", dw->path, sizeof(dw->path));
    if (dw->fd < 0) {
        int rc = dw->fd;
        free(dw);
        return ht__blob_wfail(w, rc, "creating a file in %s: %s", d->tmp, ht_strerror(rc));
    }
    /* An announced size is reserved now: a full disk shows before the
     * first byte is read from the client, not gigabytes later. */
    if (w->expect_bytes > 0 &&
        fallocate(dw->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)w->expect_bytes) < 0 &&
        (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)) {
        int rc = ht__blob_errno(errno);
        close(dw->fd);
        unlink(dw->path);
        free(dw);
        return ht__blob_wfail(w, rc, "no room for %lld bytes in %s", (long long)w->expect_bytes,
                              d->tmp);
    }
    w->be = dw;
    return 0;
}

static int dir_writer_write(ht_blob_writer_t *w, const void *buf, size_t len)
{
    dir_writer_t *dw = w->be;
    int rc = ht__blob_write_all(dw->fd, buf, len);
    if (rc < 0)
        return ht__blob_wfail(w, ht__blob_errno(-rc), "writing %s: %s", dw->path, strerror(-rc));
    dw->written += len;
    /* Start writing what is complete to the disk now (no wait): a large
     * file's bytes go out while the rest arrives.  Only a hint: a failure
     * here is the commit's fsync's to report. */
    if (dw->written - dw->behind >= WRITE_BEHIND) {
        sync_file_range(dw->fd, (off_t)dw->behind, (off_t)(dw->written - dw->behind),
                        SYNC_FILE_RANGE_WRITE);
        dw->behind = dw->written;
    }
    return 0;
}

static int dir_writer_commit(ht_blob_writer_t *w, const char *sha, ht_blob_info_t *info)
{
    dir_writer_t *dw = w->be;
    int rc = publish(D(w->store), w->key, dw->fd, dw->path, w->bytes, sha, w->content_type, info,
                     w->err, sizeof(w->err));
    if (rc < 0)
        return rc;
    close(dw->fd);
    free(dw);
    w->be = NULL;
    return 0;
}

static void dir_writer_abort(ht_blob_writer_t *w)
{
    dir_writer_t *dw = w->be;
    if (!dw)
        return;
    close(dw->fd);
    unlink(dw->path);
    free(dw);
    w->be = NULL;
}

/* ---- whole files ----------------------------------------------------------- */

static int dir_put_fd_wants(ht_blob_t *b, const struct stat *st, unsigned flags)
{
    /* A file with other links would stay writable through them. */
    return (flags & HT_BLOB_MOVE) && st->st_dev == D(b)->tmp_dev && st->st_nlink == 1;
}

static int dir_put_fd(ht_blob_t *b, const char *key, int fd, const char *path, uint64_t size,
                      const char *sha, const char *ctype, ht_blob_info_t *info)
{
    /* The rename moves the name, so the name must still be the file that
     * was hashed, and not a symlink to some other file. */
    struct stat fst, lst;
    if (fstat(fd, &fst) < 0 || lstat(path, &lst) < 0 || !S_ISREG(lst.st_mode) ||
        lst.st_ino != fst.st_ino || lst.st_dev != fst.st_dev)
        return ht__blob_fail(b, HT_EINVAL, "%s changed while it was being stored", path);
    return publish(D(b), key, fd, path, size, sha, ctype, info, b->err, sizeof(b->err));
}

static int dir_tmp_path(ht_blob_t *b, char *out, size_t outlen)
{
    char hex[33];
    int rc = ht__blob_random_hex(hex);
    if (rc < 0)
        return ht__blob_fail(b, rc, "getrandom: %s", ht_strerror(rc));
    if ((size_t)snprintf(out, outlen, "%s/%s.out", D(b)->tmp, hex) >= outlen)
        return ht__blob_fail(b, HT_EINVAL, "path buffer too small");
    return 0;
}

/* ---- reading --------------------------------------------------------------- */

static int dir_stat(ht_blob_t *b, const char *key, ht_blob_info_t *info)
{
    int fd = open_checked(b, key, info);
    if (fd < 0)
        return fd;
    close(fd);
    return 0;
}

static int dir_read(ht_blob_t *b, const char *key, uint64_t off, uint64_t len, ht_blob_sink_fn sink,
                    void *ud)
{
    ht_blob_info_t info;
    int fd = open_checked(b, key, &info);
    if (fd < 0)
        return fd;
    uint64_t end = off >= info.bytes ? off : (len > info.bytes - off ? info.bytes : off + len);
    int rc = 0;
    unsigned char *buf = end > off ? malloc(READ_CHUNK) : NULL;
    if (end > off && !buf)
        rc = ht__blob_fail(b, HT_ENOMEM, "out of memory");
    while (rc == 0 && off < end) {
        size_t want = end - off < READ_CHUNK ? (size_t)(end - off) : READ_CHUNK;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = ht__blob_fail(b, n < 0 ? -errno : -EIO, "reading %s: %s", key,
                               n < 0 ? strerror(errno) : "file shorter than its sidecar says");
            break;
        }
        if (sink(ud, buf, (size_t)n) != 0)
            rc = ht__blob_fail(b, HT_ECANCELED, "read stopped by its reader");
        off += (uint64_t)n;
    }
    free(buf);
    close(fd);
    return rc;
}

static int dir_path(ht_blob_t *b, const char *key, char *out, size_t outlen)
{
    ht_blob_info_t info;
    int fd = open_checked(b, key, &info);
    if (fd < 0)
        return fd;
    close(fd);
    char path[PATH_MAX];
    data_path(D(b), key, "", path);
    if ((size_t)snprintf(out, outlen, "%s", path) >= outlen)
        return ht__blob_fail(b, HT_EINVAL, "path buffer too small");
    return 0;
}

/* ---- removing -------------------------------------------------------------- */

/* "tmp/<32 hex>.part|meta|out": what ht_blob_list shows of tmp/. */
static int dir_partial_key_valid(const char *key)
{
    if (strncmp(key, "tmp/", 4) != 0 || strlen(key) != 4 + 32 + 5)
        return 0;
    for (int i = 4; i < 36; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return 0;
    const char *ext = key + 36;
    return strcmp(ext, ".part") == 0 || strcmp(ext, ".meta") == 0 || strcmp(ext, ".out") == 0;
}

static int dir_del(ht_blob_t *b, const char *key)
{
    dir_t *d = D(b);
    char path[PATH_MAX];
    if (!ht_blob_key_valid(key)) { /* a partial key */
        ht__blob_pathf(path, sizeof(path), "%s/%s", d->root, key);
        if (unlink(path) < 0 && errno != ENOENT)
            return ht__blob_fail(b, -errno, "%s: %s", path, strerror(errno));
        return 0;
    }
    /* Data before sidecar: a reader never finds data without its sidecar. */
    const char *suffixes[] = {"", ".meta"};
    for (int i = 0; i < 2; i++) {
        data_path(d, key, suffixes[i], path);
        if (unlink(path) < 0 && errno != ENOENT)
            return ht__blob_fail(b, -errno, "%s: %s", path, strerror(errno));
    }
    /* The job's and the tenant's directories go when empty (a concurrent
     * writer that loses its directory makes it again: PUBLISH_TRIES). */
    for (int i = 0; i < 2; i++) {
        *strrchr(path, '/') = '\0';
        if (rmdir(path) < 0)
            break;
    }
    return 0;
}

typedef struct {
    ht_blob_list_fn fn;
    void *ud;
} list_ctx_t;

static int emit(list_ctx_t *c, const char *key, const struct stat *st, int partial)
{
    ht_blob_entry_t e = {key, (uint64_t)st->st_size, (int64_t)st->st_mtime, partial};
    return c->fn(c->ud, &e) != 0 ? HT_ECANCELED : 0;
}

static int list_job(ht_blob_t *b, list_ctx_t *c, const char *tenant, const char *job)
{
    char path[PATH_MAX], key[HT_BLOB_KEY_MAX];
    ht__blob_pathf(path, sizeof(path), "%s/%s/%s", D(b)->blobs, tenant, job);
    DIR *dir = opendir(path);
    if (!dir)
        return errno == ENOENT ? 0 : ht__blob_fail(b, -errno, "%s: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir))) {
        char name[64];
        size_t n = strlen(de->d_name);
        int is_meta = n > 5 && strcmp(de->d_name + n - 5, ".meta") == 0;
        snprintf(name, sizeof(name), "%.*s", (int)(is_meta ? n - 5 : n), de->d_name);
        if (ht__blob_pathf(key, sizeof(key), "%s/%s/%s", tenant, job, name) < 0 ||
            !ht_blob_key_valid(key))
            continue;
        struct stat st;
        if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (!is_meta && S_ISREG(st.st_mode))
                rc = emit(c, key, &st, 0);
        } else if (errno == ENOENT && is_meta &&
                   fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            rc = emit(c, key, &st, 1); /* a sidecar whose data never came */
        }
    }
    closedir(dir);
    return rc;
}

static int list_tenant(ht_blob_t *b, list_ctx_t *c, const char *tenant)
{
    char path[PATH_MAX];
    ht__blob_pathf(path, sizeof(path), "%s/%s", D(b)->blobs, tenant);
    DIR *dir = opendir(path);
    if (!dir)
        return errno == ENOENT ? 0 : ht__blob_fail(b, -errno, "%s: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir)))
        if (ht__blob_segment_valid(de->d_name, strlen(de->d_name)))
            rc = list_job(b, c, tenant, de->d_name);
    closedir(dir);
    return rc;
}

static int dir_list(ht_blob_t *b, const char *tenant, ht_blob_list_fn fn, void *ud)
{
    list_ctx_t c = {fn, ud};
    if (tenant)
        return list_tenant(b, &c, tenant);
    dir_t *d = D(b);
    DIR *dir = opendir(d->blobs);
    if (!dir)
        return ht__blob_fail(b, -errno, "%s: %s", d->blobs, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir)))
        if (ht__blob_segment_valid(de->d_name, strlen(de->d_name)))
            rc = list_tenant(b, &c, de->d_name);
    closedir(dir);
    if (rc < 0)
        return rc;
    dir = opendir(d->tmp);
    if (!dir)
        return ht__blob_fail(b, -errno, "%s: %s", d->tmp, strerror(errno));
    while (rc == 0 && (de = readdir(dir))) {
        char key[64];
        struct stat st;
        ht__blob_pathf(key, sizeof(key), "tmp/%.50s", de->d_name);
        if (dir_partial_key_valid(key) &&
            fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            rc = emit(&c, key, &st, 1);
    }
    closedir(dir);
    if (rc == HT_ECANCELED)
        ht__blob_fail(b, rc, "listing stopped by its reader");
    return rc;
}

const ht__blob_ops_t ht__blob_dir_ops = {
    .open = dir_open,
    .close = dir_close,
    .write_blocks = 0,
    .writer_open = dir_writer_open,
    .writer_write = dir_writer_write,
    .writer_commit = dir_writer_commit,
    .writer_abort = dir_writer_abort,
    .put_fd_wants = dir_put_fd_wants,
    .put_fd = dir_put_fd,
    .tmp_path = dir_tmp_path,
    .stat = dir_stat,
    .read = dir_read,
    .path = dir_path,
    .partial_key_valid = dir_partial_key_valid,
    .del = dir_del,
    .list = dir_list,
};
