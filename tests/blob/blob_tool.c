/* ht-blob-tool: drives the blob store (shared/blob.h) from the shell, for
 * the integration tests and bench/blob.  Built with the tests only.
 *
 *   ht-blob-tool [options] COMMAND ARGS...
 *     put KEY            stdin in --chunk pieces through a writer, committed
 *     put-abort KEY      stdin through a writer, then closed without commit
 *     put-file KEY PATH  ht_blob_put_file (--move: HT_BLOB_MOVE)
 *     stat KEY           the info as JSON
 *     get KEY [OFF [LEN]]   ht_blob_read to stdout
 *     pread KEY OFF LEN  ht_blob_pread to stdout
 *     path KEY | fetch KEY | tmp-path
 *     del KEY
 *     list [TENANT]      "key bytes mtime partial" lines
 *
 * The store's settings come as for the api and workers (HT_BLOB_OPTIONS:
 * HANGTIGHT_BLOB_STORE, HANGTIGHT_S3_*, AWS_*).  A failure prints
 * "error=<HT_E* name or errno name> <words>" on stderr and exits 1. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/blob.h"
#include "shared/config.h"
#include "shared/error.h"

static ht_blob_settings_t settings;
static long opt_chunk = 65536, opt_expect = -1;
static const char *opt_ctype, *opt_sha256, *opt_max;
static int opt_move;

static const ht_option_t options[] = {
    HT_BLOB_OPTIONS(settings),
    {"chunk", NULL, HT_OPT_INT, "65536", "put: write stdin in pieces of BYTES", 1, 64L << 20,
     &opt_chunk},
    {"ctype", NULL, HT_OPT_STRING, NULL, "put: content TYPE", 0, 0, &opt_ctype},
    {"max", NULL, HT_OPT_STRING, NULL, "put: max BYTES", 0, 0, &opt_max},
    {"expect-bytes", NULL, HT_OPT_INT, "-1", "put: announced size in BYTES", -1, 1L << 62,
     &opt_expect},
    {"sha256", NULL, HT_OPT_STRING, NULL, "put: announced digest HEX", 0, 0, &opt_sha256},
    {"move", NULL, HT_OPT_FLAG, NULL, "put-file: the file may be moved", 0, 0, &opt_move},
};
#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static const char *code_name(int rc)
{
    switch (rc) {
    case HT_EINVAL:
        return "HT_EINVAL";
    case HT_ENOMEM:
        return "HT_ENOMEM";
    case HT_EPROTO:
        return "HT_EPROTO";
    case HT_ENOTFOUND:
        return "HT_ENOTFOUND";
    case HT_ECANCELED:
        return "HT_ECANCELED";
    case HT_ENOSPACE:
        return "HT_ENOSPACE";
    case HT_EUNAVAIL:
        return "HT_EUNAVAIL";
    case HT_ETOOBIG:
        return "HT_ETOOBIG";
    case HT_EDIGEST:
        return "HT_EDIGEST";
    case -EACCES:
        return "EACCES";
    default:
        return "other";
    }
}

static int die(int rc, const char *words)
{
    fprintf(stderr, "error=%s %s: %s\n", code_name(rc), ht_strerror(rc), words);
    return 1;
}

/* One JSON line (the ETag's quotes escaped), for jq. */
static void print_info(const ht_blob_info_t *i)
{
    char etag[2 * HT_BLOB_ETAG_MAX];
    size_t n = 0;
    for (const char *p = i->etag; *p; p++) {
        if (*p == '"' || *p == '\\')
            etag[n++] = '\\';
        etag[n++] = *p;
    }
    etag[n] = '\0';
    printf("{\"bytes\":%" PRIu64 ",\"sha256\":\"%s\",\"content_type\":\"%s\",\"etag\":\"%s\","
           "\"mtime\":%" PRId64 "}\n",
           i->bytes, i->sha256, i->content_type, etag, i->mtime);
}

static void put_opts(ht_blob_put_opts_t *o)
{
    o->content_type = opt_ctype;
    o->max_bytes = opt_max ? strtoull(opt_max, NULL, 10) : 0;
    o->expect_bytes = opt_expect;
    o->expect_sha256 = opt_sha256;
}

static int cmd_put(ht_blob_t *b, const char *key, int commit)
{
    ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
    put_opts(&o);
    ht_blob_writer_t *w;
    int rc = ht_blob_writer_open(b, &w, key, &o);
    if (rc < 0)
        return die(rc, ht_blob_error(b));
    char *buf = malloc((size_t)opt_chunk);
    if (!buf)
        return die(HT_ENOMEM, "chunk buffer");
    for (;;) {
        size_t have = 0; /* fill a whole chunk, so the writer sees --chunk pieces */
        ssize_t n = 0;
        while (have < (size_t)opt_chunk && (n = read(0, buf + have, (size_t)opt_chunk - have)) > 0)
            have += (size_t)n;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (have > 0 && (rc = ht_blob_write(w, buf, have)) < 0)
            break;
        if (have < (size_t)opt_chunk)
            break;
    }
    free(buf);
    ht_blob_info_t info;
    if (rc == 0 && commit)
        rc = ht_blob_commit(w, &info);
    if (rc < 0) {
        int r = die(rc, ht_blob_writer_error(w));
        ht_blob_writer_close(w);
        return r;
    }
    ht_blob_writer_close(w);
    if (commit) {
        print_info(&info);
    }
    return 0;
}

static int sink_stdout(void *ud, const void *buf, size_t len)
{
    (void)ud;
    return fwrite(buf, 1, len, stdout) == len ? 0 : 1;
}

static int list_line(void *ud, const ht_blob_entry_t *e)
{
    (void)ud;
    printf("%s %" PRIu64 " %" PRId64 " %d\n", e->key, e->bytes, e->mtime, e->partial);
    return 0;
}

int main(int argc, char **argv)
{
    char err[512];
    int first;
    int rc = ht_options_parse(options, N_OPTIONS, argc, argv, &first, err, sizeof(err));
    if (rc == 1) {
        ht_options_usage(stdout, "ht-blob-tool", "[options] COMMAND ARGS...", options, N_OPTIONS);
        return 0;
    }
    if (rc < 0 || first >= argc) {
        fprintf(stderr, "ht-blob-tool: %s\n", rc < 0 ? err : "no command (see --help)");
        return 2;
    }
    ht_blob_t *b;
    rc = ht_blob_open(&b, &settings, err, sizeof(err));
    if (rc < 0)
        return die(rc, err);
    const char *cmd = argv[first];
    int nargs = argc - first - 1;
    char **a = argv + first + 1;
    int status = 0;
    ht_blob_info_t info;
    char path[4096];
    if (strcmp(cmd, "put") == 0 && nargs == 1) {
        status = cmd_put(b, a[0], 1);
    } else if (strcmp(cmd, "put-abort") == 0 && nargs == 1) {
        status = cmd_put(b, a[0], 0);
    } else if (strcmp(cmd, "put-file") == 0 && nargs == 2) {
        ht_blob_put_opts_t o = HT_BLOB_PUT_OPTS_INIT;
        put_opts(&o);
        rc = ht_blob_put_file(b, a[0], a[1], &o, opt_move ? HT_BLOB_MOVE : 0, &info);
        if (rc == 0)
            print_info(&info);
    } else if (strcmp(cmd, "stat") == 0 && nargs == 1) {
        rc = ht_blob_stat(b, a[0], &info);
        if (rc == 0)
            print_info(&info);
    } else if (strcmp(cmd, "get") == 0 && nargs >= 1 && nargs <= 3) {
        uint64_t off = nargs >= 2 ? strtoull(a[1], NULL, 10) : 0;
        uint64_t len = nargs == 3 ? strtoull(a[2], NULL, 10) : UINT64_MAX;
        rc = ht_blob_read(b, a[0], off, len, sink_stdout, NULL);
    } else if (strcmp(cmd, "pread") == 0 && nargs == 3) {
        size_t len = (size_t)strtoull(a[2], NULL, 10), got = 0;
        char *buf = malloc(len ? len : 1);
        rc = buf ? ht_blob_pread(b, a[0], strtoull(a[1], NULL, 10), buf, len, &got) : HT_ENOMEM;
        if (rc == 0)
            fwrite(buf, 1, got, stdout);
        free(buf);
    } else if (strcmp(cmd, "path") == 0 && nargs == 1) {
        rc = ht_blob_path(b, a[0], path, sizeof(path));
        if (rc == 0)
            printf("%s\n", path);
    } else if (strcmp(cmd, "fetch") == 0 && nargs == 1) {
        rc = ht_blob_fetch(b, a[0], path, sizeof(path), &info);
        if (rc == 0)
            printf("%s\n", path);
    } else if (strcmp(cmd, "tmp-path") == 0 && nargs == 0) {
        rc = ht_blob_tmp_path(b, path, sizeof(path));
        if (rc == 0)
            printf("%s\n", path);
    } else if (strcmp(cmd, "del") == 0 && nargs == 1) {
        rc = ht_blob_delete(b, a[0]);
    } else if (strcmp(cmd, "list") == 0 && nargs <= 1) {
        rc = ht_blob_list(b, nargs ? a[0] : NULL, list_line, NULL);
    } else {
        fprintf(stderr, "ht-blob-tool: unknown command or wrong arguments: %s\n", cmd);
        status = 2;
    }
    if (rc < 0)
        status = die(rc, ht_blob_error(b));
    ht_blob_close(b);
    if (fflush(stdout) != 0 && status == 0)
        status = die(-EIO, "stdout");
    return status;
}
