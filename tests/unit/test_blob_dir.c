/* shared/blob.c and shared/blob_dir.c: the blob store on a real file system
 * (a fresh directory under $TMPDIR per test; a private tmpfs of 256 KiB for
 * the full-disk case).  Keys, round trips and ranges, sidecar metadata,
 * atomic visibility (a reader racing a replacing writer in another process
 * never sees a mixed or partial blob), nothing left by aborts and failed
 * commits, the size cap, the digest check, ENOSPC and EFBIG mapped to
 * HT_ENOSPACE, put_file's rename and copy paths, list and delete. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/blob.h"
#include "shared/blob_impl.h"
#include "shared/error.h"

static char root[256];
static ht_blob_t *b;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void open_store_at(const char *dir)
{
    char spec[512], err[256];
    snprintf(spec, sizeof(spec), "dir:%s", dir);
    ht_blob_settings_t s = {.store = spec};
    cr_assert_eq(ht_blob_open(&b, &s, err, sizeof(err)), 0, "%s", err);
}

static void setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/ht-blob-XXXXXX", t && *t ? t : "/tmp");
    cr_assert(mkdtemp(root));
    char store[300];
    snprintf(store, sizeof(store), "%s/store", root);
    open_store_at(store);
}

static void teardown(void)
{
    ht_blob_close(b);
    b = NULL;
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(blob_dir, .init = setup, .fini = teardown);

static void sha_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
    ht__blob_hex(md, out);
}

static unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n);
    cr_assert(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 2654435761u + seed) >> 13);
    return p;
}

/* Stores data under key in chunks of `chunk` bytes; returns the commit's code. */
static int put(const char *key, const void *data, size_t n, size_t chunk,
               const ht_blob_put_opts_t *o, ht_blob_info_t *info)
{
    ht_blob_writer_t *w;
    int rc = ht_blob_writer_open(b, &w, key, o);
    if (rc < 0)
        return rc;
    for (size_t off = 0; off < n && rc == 0; off += chunk)
        rc = ht_blob_write(w, (const char *)data + off, n - off < chunk ? n - off : chunk);
    if (rc == 0)
        rc = ht_blob_commit(w, info);
    ht_blob_writer_close(w);
    return rc;
}

static int count_files(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "find '%s' -type f | wc -l", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    cr_assert(f && fscanf(f, "%d", &n) == 1);
    pclose(f);
    return n;
}

static int tmp_files(void)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/store/tmp", root);
    return count_files(dir);
}

/* ---- keys ------------------------------------------------------------------- */

Test(blob_dir, keys)
{
    char k[HT_BLOB_KEY_MAX];
    cr_assert_eq(ht_blob_key(k, "acme", "0b7e5d1c-2f3a-4c5d-8e9f-a0b1c2d3e4f5", "input"), 0);
    cr_assert_str_eq(k, "acme/0b7e5d1c-2f3a-4c5d-8e9f-a0b1c2d3e4f5/input");
    cr_assert(ht_blob_key_valid(k));
    cr_assert_eq(ht_blob_key(k, "Acme_Corp.eu-1", "j", "output-3"), 0);
    char long64[65];
    memset(long64, 'a', 64);
    long64[64] = '\0';
    cr_assert_eq(ht_blob_key(k, long64, long64, "input"), 0);
    const char *bad[][3] = {
        {"..", "j", "input"},  {".", "j", "input"},   {"a", "..", "input"}, {"a", ".", "input"},
        {"a/b", "j", "input"}, {"a", "j/k", "input"}, {"", "j", "input"},   {"a", "", "input"},
        {"a", "j", ""},        {"a", "j", "in.put"},  {"a", "j", "in/put"}, {"a b", "j", "input"},
        {"a", "j", ".."},      {"a\n", "j", "input"}, {"é", "j", "input"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(ht_blob_key(k, bad[i][0], bad[i][1], bad[i][2]), HT_EINVAL, "%s/%s/%s",
                     bad[i][0], bad[i][1], bad[i][2]);
    char long65[66];
    memset(long65, 'a', 65);
    long65[65] = '\0';
    cr_expect_eq(ht_blob_key(k, long65, "j", "input"), HT_EINVAL);
    const char *bad_keys[] = {"../etc/passwd", "/a/j/input", "a/j/input/", "a//input", "a/j",
                              "a/j/input/x",   "a/../input", "a/j/..",     "",         "tmp/x"};
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        cr_expect_not(ht_blob_key_valid(bad_keys[i]), "%s", bad_keys[i]);
        ht_blob_info_t info;
        cr_expect_eq(ht_blob_stat(b, bad_keys[i], &info), HT_EINVAL, "%s", bad_keys[i]);
        cr_expect_eq(ht_blob_delete(b, bad_keys[i]), HT_EINVAL, "%s", bad_keys[i]);
        ht_blob_writer_t *w;
        cr_expect_eq(ht_blob_writer_open(b, &w, bad_keys[i], NULL), HT_EINVAL, "%s", bad_keys[i]);
    }
    /* Nothing was made outside blobs/ and tmp/. */
    char store[300];
    snprintf(store, sizeof(store), "%s/store", root);
    cr_expect_eq(count_files(store), 0);
}

/* ---- round trip ------------------------------------------------------------------- */

typedef struct {
    unsigned char *buf;
    size_t len, cap, calls;
} collect_t;

static int collect(void *ud, const void *p, size_t n)
{
    collect_t *c = ud;
    cr_assert(c->len + n <= c->cap);
    memcpy(c->buf + c->len, p, n);
    c->len += n;
    c->calls++;
    return 0;
}

Test(blob_dir, round_trip_ranges_and_metadata)
{
    size_t n = 3 * 1000 * 1000 + 7;
    unsigned char *data = pattern(n, 1);
    char sha[65];
    sha_hex(data, n, sha);
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    o.content_type = "video/mp4";
    ht_blob_info_t info;
    cr_assert_eq(put("acme/j1/input", data, n, 65536, &o, &info), 0, "%s", ht_blob_error(b));
    cr_expect_eq(info.bytes, n);
    cr_expect_str_eq(info.sha256, sha);
    cr_expect_str_eq(info.content_type, "video/mp4");
    char etag[80];
    snprintf(etag, sizeof(etag), "\"%s\"", sha);
    cr_expect_str_eq(info.etag, etag);

    ht_blob_info_t st;
    cr_assert_eq(ht_blob_stat(b, "acme/j1/input", &st), 0, "%s", ht_blob_error(b));
    cr_expect_eq(st.bytes, n);
    cr_expect_str_eq(st.sha256, sha);
    cr_expect_str_eq(st.content_type, "video/mp4");
    cr_expect_str_eq(st.etag, etag);
    cr_expect(st.mtime > time(NULL) - 600 && st.mtime <= time(NULL));

    /* The sidecar sits beside the data and says what stat said. */
    char path[4096], meta[4200];
    cr_assert_eq(ht_blob_path(b, "acme/j1/input", path, sizeof(path)), 0);
    cr_expect_eq(path[0], '/');
    snprintf(meta, sizeof(meta), "%s.meta", path);
    FILE *f = fopen(meta, "r");
    cr_assert(f);
    char text[1024] = "";
    cr_assert(fgets(text, sizeof(text), f));
    fclose(f);
    cr_expect(strstr(text, sha) && strstr(text, "\"video/mp4\"") && strstr(text, "\"ino\""), "%s",
              text);
    struct stat fst;
    cr_assert_eq(stat(path, &fst), 0);
    cr_expect_eq((size_t)fst.st_size, n);

    /* Ranges: whole, inside, across the read chunk, clipped, at and past the end. */
    collect_t c = {malloc(n), 0, n, 0};
    cr_assert_eq(ht_blob_read(b, "acme/j1/input", 0, UINT64_MAX, collect, &c), 0);
    cr_expect_eq(c.len, n);
    cr_expect_eq(memcmp(c.buf, data, n), 0);
    cr_expect_gt(c.calls, 1, "a 3 MB read comes in pieces");
    struct {
        uint64_t off, len, want;
    } r[] = {{0, 1, 1}, {262143, 2, 2},  {1000, 300000, 300000}, {n - 10, 100, 10},
             {n, 5, 0}, {n + 100, 5, 0}, {n - 1, 1, 1},          {5, UINT64_MAX, n - 5}};
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        c.len = 0;
        cr_assert_eq(ht_blob_read(b, "acme/j1/input", r[i].off, r[i].len, collect, &c), 0);
        cr_expect_eq(c.len, r[i].want, "range %zu", i);
        if (r[i].want)
            cr_expect_eq(memcmp(c.buf, data + r[i].off, r[i].want), 0, "range %zu", i);
    }
    size_t got;
    unsigned char small[100];
    cr_assert_eq(ht_blob_pread(b, "acme/j1/input", 12345, small, sizeof(small), &got), 0);
    cr_expect_eq(got, sizeof(small));
    cr_expect_eq(memcmp(small, data + 12345, sizeof(small)), 0);
    cr_assert_eq(ht_blob_pread(b, "acme/j1/input", n - 3, small, sizeof(small), &got), 0);
    cr_expect_eq(got, 3);

    /* fetch: a checked copy in tmp/. */
    char copy[4096];
    cr_assert_eq(ht_blob_fetch(b, "acme/j1/input", copy, sizeof(copy), &st), 0);
    cr_expect(strstr(copy, "/store/tmp/"), "%s", copy);
    cr_assert_eq(stat(copy, &fst), 0);
    cr_expect_eq((size_t)fst.st_size, n);
    unlink(copy);

    /* Missing blobs. */
    cr_expect_eq(ht_blob_stat(b, "acme/j1/output", &st), HT_ENOTFOUND);
    cr_expect_eq(ht_blob_read(b, "acme/nope/input", 0, 10, collect, &c), HT_ENOTFOUND);
    cr_expect_eq(ht_blob_path(b, "acme/nope/input", path, sizeof(path)), HT_ENOTFOUND);
    cr_expect(strstr(ht_blob_error(b), "acme/nope/input"), "%s", ht_blob_error(b));
    free(c.buf);
    free(data);
}

static int stop_after_one(void *ud, const void *p, size_t n)
{
    (void)p, (void)n;
    return ++*(int *)ud >= 1;
}

Test(blob_dir, reader_stops_and_empty_blob)
{
    size_t n = 1 << 20;
    unsigned char *data = pattern(n, 2);
    cr_assert_eq(put("t/j/input", data, n, n, NULL, NULL), 0);
    int calls = 0;
    cr_expect_eq(ht_blob_read(b, "t/j/input", 0, UINT64_MAX, stop_after_one, &calls), HT_ECANCELED);
    cr_expect_eq(calls, 1);
    ht_blob_info_t info;
    cr_assert_eq(put("t/j/output", "", 0, 1, NULL, &info), 0);
    cr_expect_eq(info.bytes, 0);
    cr_expect_str_eq(info.sha256,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cr_expect_str_eq(info.content_type, HT_BLOB_CTYPE_DEFAULT);
    free(data);
}

/* ---- visibility ----------------------------------------------------------------------- */

Test(blob_dir, nothing_visible_before_commit_and_nothing_left_after_abort)
{
    ht_blob_writer_t *w;
    cr_assert_eq(ht_blob_writer_open(b, &w, "acme/j2/input", NULL), 0);
    unsigned char *data = pattern(500000, 3);
    cr_assert_eq(ht_blob_write(w, data, 500000), 0);
    cr_expect_eq(ht_blob_writer_bytes(w), 500000);
    ht_blob_info_t info;
    cr_expect_eq(ht_blob_stat(b, "acme/j2/input", &info), HT_ENOTFOUND);
    char path[4096];
    cr_expect_eq(ht_blob_path(b, "acme/j2/input", path, sizeof(path)), HT_ENOTFOUND);
    cr_expect_eq(tmp_files(), 1, "the write in progress is in tmp/");
    ht_blob_writer_close(w); /* no commit */
    cr_expect_eq(tmp_files(), 0);
    cr_expect_eq(ht_blob_stat(b, "acme/j2/input", &info), HT_ENOTFOUND);
    char blobs[300];
    snprintf(blobs, sizeof(blobs), "%s/store/blobs", root);
    cr_expect_eq(count_files(blobs), 0);

    /* A failed commit leaves nothing either. */
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    o.expect_sha256 = "0000000000000000000000000000000000000000000000000000000000000000";
    cr_expect_eq(put("acme/j2/input", data, 500000, 4096, &o, NULL), HT_EDIGEST);
    cr_expect_eq(tmp_files(), 0);
    cr_expect_eq(count_files(blobs), 0);
    free(data);
}

/* The reader's side of the race: every look finds a whole blob, A or B,
 * with its own metadata, or (before the first commit) none. */
static void check_consistent(const size_t sizes[2], const char shas[2][65], int *seen)
{
    ht_blob_info_t info;
    int rc = ht_blob_stat(b, "race/j/output", &info);
    if (rc == HT_ENOTFOUND)
        return;
    cr_assert_eq(rc, 0, "stat: %s", ht_blob_error(b));
    int which = info.bytes == sizes[0] ? 0 : 1;
    cr_assert_eq(info.bytes, sizes[which]);
    cr_assert_str_eq(info.sha256, shas[which]);
    char path[4096];
    if (ht_blob_path(b, "race/j/output", path, sizeof(path)) < 0)
        return;
    /* What a file sender would send: the file as opened, whole. */
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    cr_assert(st.st_size == (off_t)sizes[0] || st.st_size == (off_t)sizes[1], "partial file: %lld",
              (long long)st.st_size);
    char first;
    cr_assert_eq(pread(fd, &first, 1, st.st_size - 1), 1);
    cr_assert_eq(first, st.st_size == (off_t)sizes[0] ? 'a' : 'b');
    close(fd);
    (*seen)++;
}

Test(blob_dir, readers_never_see_a_partial_or_mixed_blob)
{
    const size_t sizes[2] = {1 << 20, 3 << 19};
    char shas[2][65];
    unsigned char *bufs[2];
    for (int i = 0; i < 2; i++) {
        bufs[i] = malloc(sizes[i]);
        memset(bufs[i], i ? 'b' : 'a', sizes[i]);
        sha_hex(bufs[i], sizes[i], shas[i]);
    }
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) { /* the writer: 40 replacements, in 64 KiB writes */
        for (int i = 0; i < 40; i++)
            if (put("race/j/output", bufs[i & 1], sizes[i & 1], 65536, NULL, NULL) != 0)
                _exit(1);
        _exit(0);
    }
    int seen = 0, status;
    while (waitpid(pid, &status, WNOHANG) == 0)
        check_consistent(sizes, shas, &seen);
    check_consistent(sizes, shas, &seen);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed");
    cr_expect_gt(seen, 0);
    cr_expect_eq(tmp_files(), 0);
    free(bufs[0]);
    free(bufs[1]);
}

Test(blob_dir, sidecar_that_describes_another_file_is_refused)
{
    cr_assert_eq(put("acme/j3/input", "hello", 5, 5, NULL, NULL), 0);
    char path[4096], meta[4200];
    cr_assert_eq(ht_blob_path(b, "acme/j3/input", path, sizeof(path)), 0);
    snprintf(meta, sizeof(meta), "%s.meta", path);
    FILE *f = fopen(meta, "w");
    cr_assert(f);
    fputs("{\"bytes\":5,\"sha256\":"
          "\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\","
          "\"content_type\":\"text/plain\",\"ino\":1}",
          f);
    fclose(f);
    ht_blob_info_t info;
    cr_expect_eq(ht_blob_stat(b, "acme/j3/input", &info), HT_EPROTO);
    f = fopen(meta, "w");
    fputs("not json", f);
    fclose(f);
    cr_expect_eq(ht_blob_stat(b, "acme/j3/input", &info), HT_EPROTO);
    unlink(meta);
    cr_expect_eq(ht_blob_stat(b, "acme/j3/input", &info), HT_EPROTO);
}

/* ---- limits and digests ----------------------------------------------------------------- */

Test(blob_dir, size_cap_and_announced_size)
{
    unsigned char *data = pattern(10000, 4);
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    o.max_bytes = 9999;
    ht_blob_writer_t *w;
    cr_assert_eq(ht_blob_writer_open(b, &w, "acme/j4/input", &o), 0);
    cr_expect_eq(ht_blob_write(w, data, 9999), 0);
    cr_expect_eq(ht_blob_write(w, data, 1), HT_ETOOBIG);
    cr_expect_eq(ht_blob_write(w, data, 0), HT_ETOOBIG, "the error sticks");
    cr_expect_eq(ht_blob_commit(w, NULL), HT_ETOOBIG);
    ht_blob_writer_close(w);
    cr_expect_eq(tmp_files(), 0);

    o.expect_bytes = 10000;
    cr_expect_eq(ht_blob_writer_open(b, &w, "acme/j4/input", &o), HT_ETOOBIG,
                 "refused before any byte");
    o.max_bytes = 0;
    cr_expect_eq(put("acme/j4/input", data, 9000, 1000, &o, NULL), HT_EINVAL,
                 "fewer bytes than announced");
    cr_expect_eq(put("acme/j4/input", data, 10000, 1000, &o, NULL), 0);
    cr_expect_eq(tmp_files(), 0);
    free(data);
}

Test(blob_dir, digest_checked_any_case)
{
    char sha[65];
    sha_hex("hello", 5, sha);
    for (char *p = sha; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    o.expect_sha256 = sha;
    ht_blob_info_t info;
    cr_expect_eq(put("acme/j5/input", "hello", 5, 2, &o, &info), 0);
    cr_expect_str_eq(info.sha256,
                     "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    cr_expect_eq(put("acme/j5/output", "hellO", 5, 2, &o, NULL), HT_EDIGEST);
    o.expect_sha256 = "abc";
    ht_blob_writer_t *w;
    cr_expect_eq(ht_blob_writer_open(b, &w, "acme/j5/x", &o), HT_EINVAL);
    o.expect_sha256 = NULL;
    o.content_type = "text/plain\r\nX-Evil: 1";
    cr_expect_eq(ht_blob_writer_open(b, &w, "acme/j5/x", &o), HT_EINVAL);
    o.content_type = "nonsense";
    cr_expect_eq(ht_blob_writer_open(b, &w, "acme/j5/x", &o), HT_EINVAL);
}

/* ---- full disk --------------------------------------------------------------------------------
 */

/* A private tmpfs of 256 KiB: this test process gets its own mount
 * namespace (as root, or through a user namespace), so the mount is seen
 * by nothing else and goes with the process. */
Test(blob_dir, enospc_on_a_tiny_tmpfs)
{
    if (unshare(CLONE_NEWNS) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
        cr_skip_test("cannot make a mount namespace here (%s): not root and no user namespaces",
                     strerror(errno));
    cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0, "%s", strerror(errno));
    char mnt[300];
    snprintf(mnt, sizeof(mnt), "%s/tiny", root);
    cr_assert_eq(mkdir(mnt, 0700), 0);
    cr_assert_eq(mount("tmpfs", mnt, "tmpfs", 0, "size=256k"), 0, "%s", strerror(errno));
    ht_blob_close(b);
    open_store_at(mnt);

    size_t n = 1 << 20;
    unsigned char *data = pattern(n, 5);
    ht_blob_writer_t *w;
    cr_assert_eq(ht_blob_writer_open(b, &w, "acme/j6/input", NULL), 0);
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += 65536)
        rc = ht_blob_write(w, data + off, 65536);
    cr_expect_eq(rc, HT_ENOSPACE, "got %d (%s)", rc, ht_strerror(rc));
    cr_expect(strstr(ht_blob_writer_error(w), "No space"), "%s", ht_blob_writer_error(w));
    cr_expect_eq(ht_blob_commit(w, NULL), HT_ENOSPACE);
    ht_blob_writer_close(w);
    char tmp[400];
    snprintf(tmp, sizeof(tmp), "%s/tmp", mnt);
    cr_expect_eq(count_files(tmp), 0, "the partial file is gone");

    /* An announced size that cannot fit is refused before any byte. */
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    o.expect_bytes = (int64_t)n;
    cr_expect_eq(ht_blob_writer_open(b, &w, "acme/j6/input", &o), HT_ENOSPACE);
    cr_expect_eq(count_files(tmp), 0);

    /* The space is back: a blob that fits goes in. */
    cr_expect_eq(put("acme/j6/input", data, 100000, 65536, NULL, NULL), 0, "%s", ht_blob_error(b));
    ht_blob_close(b);
    b = NULL;
    cr_assert_eq(umount(mnt), 0);
    open_store_at(root); /* for teardown */
    free(data);
}

/* Without a mount: a file size limit makes write(2) fail with EFBIG, which
 * the store reports like a full disk. */
Test(blob_dir, efbig_from_a_file_size_limit)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {200000, 200000};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    unsigned char *data = pattern(300000, 6);
    cr_expect_eq(put("acme/j7/input", data, 300000, 65536, NULL, NULL), HT_ENOSPACE);
    cr_expect_eq(tmp_files(), 0);
    free(data);
}

/* ---- whole files -------------------------------------------------------------------------------
 */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void expect_blob(const char *key, const void *data, size_t n)
{
    collect_t c = {malloc(n + 1), 0, n + 1, 0};
    cr_assert_eq(ht_blob_read(b, key, 0, UINT64_MAX, collect, &c), 0, "%s", ht_blob_error(b));
    cr_expect_eq(c.len, n, "%s", key);
    cr_expect_eq(memcmp(c.buf, data, n), 0, "%s", key);
    free(c.buf);
}

Test(blob_dir, put_file_moves_on_the_same_file_system)
{
    size_t n = 2000000;
    unsigned char *data = pattern(n, 7);
    char src[4096];
    cr_assert_eq(ht_blob_tmp_path(b, src, sizeof(src)), 0);
    cr_expect(strstr(src, "/store/tmp/") && access(src, F_OK) != 0, "%s", src);
    write_file(src, data, n);
    struct stat before;
    cr_assert_eq(stat(src, &before), 0);
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    o.content_type = "application/gzip";
    ht_blob_info_t info;
    cr_assert_eq(ht_blob_put_file(b, "acme/j8/output", src, &o, HT_BLOB_MOVE, &info), 0, "%s",
                 ht_blob_error(b));
    cr_expect_neq(access(src, F_OK), 0, "the source was moved");
    char path[4096];
    cr_assert_eq(ht_blob_path(b, "acme/j8/output", path, sizeof(path)), 0);
    struct stat after;
    cr_assert_eq(stat(path, &after), 0);
    cr_expect_eq(after.st_ino, before.st_ino, "renamed, not copied");
    char sha[65];
    sha_hex(data, n, sha);
    cr_expect_str_eq(info.sha256, sha);
    ht_blob_info_t st;
    cr_assert_eq(ht_blob_stat(b, "acme/j8/output", &st), 0);
    cr_expect_str_eq(st.sha256, sha);
    cr_expect_str_eq(st.content_type, "application/gzip");
    expect_blob("acme/j8/output", data, n);
    cr_expect_eq(tmp_files(), 0);
    free(data);
}

Test(blob_dir, put_file_copies_otherwise)
{
    size_t n = 1500000;
    unsigned char *data = pattern(n, 8);
    char src[400], link2[400];
    /* Without HT_BLOB_MOVE: copied, the source stays. */
    snprintf(src, sizeof(src), "%s/src", root);
    write_file(src, data, n);
    cr_assert_eq(ht_blob_put_file(b, "acme/j9/output", src, NULL, 0, NULL), 0);
    cr_expect_eq(access(src, F_OK), 0);
    expect_blob("acme/j9/output", data, n);
    /* With a second link: copied, so the blob cannot change through it. */
    snprintf(link2, sizeof(link2), "%s/link2", root);
    cr_assert_eq(link(src, link2), 0);
    cr_assert_eq(ht_blob_put_file(b, "acme/j9/input", src, NULL, HT_BLOB_MOVE, NULL), 0);
    cr_expect_eq(access(src, F_OK), 0);
    char path[4096];
    struct stat a, s;
    cr_assert_eq(ht_blob_path(b, "acme/j9/input", path, sizeof(path)), 0);
    cr_assert_eq(stat(path, &a), 0);
    cr_assert_eq(stat(src, &s), 0);
    cr_expect_neq(a.st_ino, s.st_ino);
    /* From another file system (/dev/shm is a tmpfs): copied. */
    if (access("/dev/shm", W_OK) == 0) {
        char shm[100];
        snprintf(shm, sizeof(shm), "/dev/shm/ht-blob-%d", (int)getpid());
        write_file(shm, data, 1000);
        cr_expect_eq(ht_blob_put_file(b, "acme/j9/shm", shm, NULL, HT_BLOB_MOVE, NULL), 0);
        cr_expect_eq(access(shm, F_OK), 0, "left for the caller");
        expect_blob("acme/j9/shm", data, 1000);
        unlink(shm);
    }
    /* A symlink is not moved in place of its target. */
    char sym[4096];
    cr_assert_eq(ht_blob_tmp_path(b, sym, sizeof(sym)), 0);
    cr_assert_eq(symlink(src, sym), 0);
    unlink(link2); /* src has one link again: it would be taken if sym were followed */
    cr_expect_eq(ht_blob_put_file(b, "acme/j9/sym", sym, NULL, HT_BLOB_MOVE, NULL), HT_EINVAL);
    cr_expect_eq(access(src, F_OK), 0);
    unlink(sym);
    /* Checks as for writers. */
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    o.max_bytes = n - 1;
    cr_expect_eq(ht_blob_put_file(b, "acme/j9/big", src, &o, 0, NULL), HT_ETOOBIG);
    o.max_bytes = 0;
    o.expect_sha256 = "1111111111111111111111111111111111111111111111111111111111111111";
    cr_expect_eq(ht_blob_put_file(b, "acme/j9/bad", src, &o, HT_BLOB_MOVE, NULL), HT_EDIGEST);
    cr_expect_eq(access(src, F_OK), 0);
    cr_expect_eq(ht_blob_put_file(b, "acme/j9/none", "/nonexistent/x", NULL, 0, NULL),
                 HT_ENOTFOUND);
    ht_blob_info_t info;
    cr_expect_eq(ht_blob_stat(b, "acme/j9/bad", &info), HT_ENOTFOUND);
    cr_expect_eq(tmp_files(), 0);
    free(data);
}

/* ---- list and delete
 * ----------------------------------------------------------------------------- */

typedef struct {
    char keys[32][HT_BLOB_KEY_MAX];
    uint64_t bytes[32];
    int partial[32];
    int n;
} listing_t;

static int add(void *ud, const ht_blob_entry_t *e)
{
    listing_t *l = ud;
    cr_assert_lt(l->n, 32);
    snprintf(l->keys[l->n], HT_BLOB_KEY_MAX, "%s", e->key);
    l->bytes[l->n] = e->bytes;
    l->partial[l->n] = e->partial;
    cr_expect(e->mtime > time(NULL) - 600 && e->mtime <= time(NULL) + 1);
    l->n++;
    return 0;
}

static int find(const listing_t *l, const char *key)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->keys[i], key) == 0)
            return i;
    return -1;
}

Test(blob_dir, list_and_delete)
{
    cr_assert_eq(put("acme/j1/input", "12345", 5, 5, NULL, NULL), 0);
    cr_assert_eq(put("acme/j1/output", "123", 3, 5, NULL, NULL), 0);
    cr_assert_eq(put("other/j2/input", "1", 1, 5, NULL, NULL), 0);
    ht_blob_writer_t *w; /* a write in progress: partial */
    cr_assert_eq(ht_blob_writer_open(b, &w, "acme/j3/input", NULL), 0);
    cr_assert_eq(ht_blob_write(w, "abcd", 4), 0);
    /* A sidecar whose data never came (a crash between the two renames). */
    char orphan[400];
    snprintf(orphan, sizeof(orphan), "%s/store/blobs/acme/j4", root);
    cr_assert_eq(mkdir(orphan, 0700), 0);
    strcat(orphan, "/input.meta");
    write_file(orphan, "{}", 2);

    listing_t l = {0};
    cr_assert_eq(ht_blob_list(b, NULL, add, &l), 0);
    cr_expect_eq(l.n, 5);
    int i = find(&l, "acme/j1/input");
    cr_expect(i >= 0 && l.bytes[i] == 5 && !l.partial[i]);
    i = find(&l, "acme/j1/output");
    cr_expect(i >= 0 && l.bytes[i] == 3 && !l.partial[i]);
    cr_expect(find(&l, "other/j2/input") >= 0);
    i = find(&l, "acme/j4/input");
    cr_expect(i >= 0 && l.partial[i], "orphan sidecar listed as partial");
    int tmp = -1;
    for (int k = 0; k < l.n; k++)
        if (strncmp(l.keys[k], "tmp/", 4) == 0)
            tmp = k;
    cr_assert(tmp >= 0 && l.partial[tmp] && l.bytes[tmp] == 4, "the write in progress");

    listing_t one = {0};
    cr_assert_eq(ht_blob_list(b, "other", add, &one), 0);
    cr_expect_eq(one.n, 1);
    cr_expect_str_eq(one.keys[0], "other/j2/input");
    listing_t none = {0};
    cr_assert_eq(ht_blob_list(b, "nobody", add, &none), 0);
    cr_expect_eq(none.n, 0);
    cr_expect_eq(ht_blob_list(b, "..", add, &none), HT_EINVAL);

    /* The sweeper's deletes: partials by the key the list gave. */
    cr_expect_eq(ht_blob_delete(b, l.keys[tmp]), 0);
    cr_expect_eq(ht_blob_commit(w, NULL) < 0, 1, "its file was swept");
    ht_blob_writer_close(w);
    cr_expect_eq(ht_blob_delete(b, "acme/j4/input"), 0);
    cr_expect_eq(access(orphan, F_OK), -1);
    cr_expect_eq(ht_blob_delete(b, "tmp/../../etc"), HT_EINVAL);

    cr_expect_eq(ht_blob_delete(b, "other/j2/input"), 0);
    cr_expect_eq(ht_blob_delete(b, "other/j2/input"), 0, "deleting twice is fine");
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/store/blobs/other", root);
    cr_expect_neq(access(dir, F_OK), 0, "the empty tenant directory went");
    cr_expect_eq(ht_blob_delete(b, "acme/j1/input"), 0);
    snprintf(dir, sizeof(dir), "%s/store/blobs/acme/j1", root);
    cr_expect_eq(access(dir, F_OK), 0, "the job directory still holds output");
    ht_blob_info_t info;
    cr_expect_eq(ht_blob_stat(b, "acme/j1/output", &info), 0);

    /* A writer whose job directory is removed while it writes makes it again. */
    cr_assert_eq(ht_blob_writer_open(b, &w, "late/j/input", NULL), 0);
    cr_assert_eq(ht_blob_write(w, "x", 1), 0);
    cr_assert_eq(put("late/j/output", "y", 1, 1, NULL, NULL), 0);
    cr_assert_eq(ht_blob_delete(b, "late/j/output"), 0);
    cr_expect_eq(ht_blob_commit(w, NULL), 0, "%s", ht_blob_writer_error(w));
    ht_blob_writer_close(w);
    expect_blob("late/j/input", "x", 1);
}

/* ---- opening -----------------------------------------------------------------------------------
 */

Test(blob_dir, open_settings)
{
    char err[256];
    ht_blob_t *x;
    ht_blob_settings_t s = {.store = NULL};
    cr_expect_eq(ht_blob_open(&x, &s, err, sizeof(err)), HT_EINVAL);
    s.store = "dir:";
    cr_expect_eq(ht_blob_open(&x, &s, err, sizeof(err)), HT_EINVAL);
    s.store = "ftp://x";
    cr_expect_eq(ht_blob_open(&x, &s, err, sizeof(err)), HT_EINVAL);
    cr_expect(strstr(err, "dir:/path"), "%s", err);
    s.store = "dir:/proc/no/such/place";
    cr_expect_lt(ht_blob_open(&x, &s, err, sizeof(err)), 0);
    /* A relative path is made absolute, so handlers can use it from anywhere. */
    char cwd[4096];
    cr_assert(getcwd(cwd, sizeof(cwd)));
    cr_assert_eq(chdir(root), 0);
    s.store = "dir:rel/store//";
    cr_assert_eq(ht_blob_open(&x, &s, err, sizeof(err)), 0, "%s", err);
    cr_expect_eq(ht_blob_write_blocks(x), 0);
    char path[4096];
    cr_assert_eq(ht_blob_tmp_path(x, path, sizeof(path)), 0);
    char want[600];
    snprintf(want, sizeof(want), "%s/rel/store/tmp/", root);
    cr_expect_eq(strncmp(path, want, strlen(want)), 0, "%s", path);
    ht_blob_close(x);
    cr_assert_eq(chdir(cwd), 0);
}
