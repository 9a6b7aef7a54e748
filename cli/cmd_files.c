/* Job files from the command line (docs/files.md): `submit TYPE --file
 * PATH` (the file as the body of POST /v1/jobs?type=TYPE&..., streamed
 * from disk) and `download ID [-o PATH] [--input]` (GET
 * /v1/jobs/{id}/output or /input, streamed to disk).  Neither holds the file
 * in memory; both show a progress bar on a terminal and check the bytes'
 * SHA-256 against the one the server keeps. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/buf.h"
#include "shared/clock.h"
#include "shared/hex.h"

#include "cli/cli.h"

/* ---- the progress bar and the running digest ---------------------------- */

typedef struct {
    const char *what; /* "uploading", "downloading" */
    int tty;
    int64_t started, last_drawn, total;
    int drawn;
    EVP_MD_CTX *sha;
    /* what the interim callback of a held submit does */
    void (*on_interim)(void *ctx, long status);
    void *interim_ctx;
} bar_t;

static void human(char *out, size_t len, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(out, len, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

static void bar_draw(bar_t *b, int64_t done, int final)
{
    if (!b->tty)
        return;
    int64_t now = ht_now_ms();
    if (!final && now - b->last_drawn < 100)
        return;
    b->last_drawn = now;
    char got[32], all[32], rate[32];
    double secs = (double)(now - b->started) / 1000.0;
    human(got, sizeof got, (double)done);
    human(all, sizeof all, (double)b->total);
    human(rate, sizeof rate, secs > 0 ? (double)done / secs : 0);
    int pct = b->total > 0 ? (int)(done * 100 / b->total) : 0;
    char bar[31];
    int fill = pct * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %3d%% %s of %s, %s/s", b->what, bar, pct, got, all, rate);
    fflush(stderr);
    b->drawn = 1;
}

static void bar_end(bar_t *b)
{
    if (b->drawn)
        fprintf(stderr, "\r\033[K");
    b->drawn = 0;
}

static void on_upload_progress(void *ctx, int64_t sent, int64_t received, int64_t total)
{
    (void)received;
    (void)total;
    bar_t *b = ctx;
    bar_draw(b, sent, 0);
}

static void on_piece(void *ctx, const char *data, size_t len)
{
    bar_t *b = ctx;
    EVP_DigestUpdate(b->sha, data, len);
}

static void on_interim(void *ctx, long status)
{
    bar_t *b = ctx;
    bar_end(b);
    if (b->on_interim)
        b->on_interim(b->interim_ctx, status);
}

/* The digest so far as lowercase hex into out[65]. */
static void sha_hex(bar_t *b, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(b->sha, md, &n);
    ht_hex_encode(md, 32, out);
}

/* ---- submit --file --------------------------------------------------------- */

/* Appends "&name=value" (value URL-encoded) to the query. */
static void add_param(ht_buf_t *q, CURL *curl, const char *name, const char *value)
{
    if (!value)
        return;
    char *v = curl_easy_escape(curl, value, 0);
    if (!v) {
        ht_buf_fail(q);
        return;
    }
    ht_buf_printf(q, "%s%s=%s", q->len ? "&" : "", name, v);
    curl_free(v);
}

static void add_long(ht_buf_t *q, CURL *curl, const char *name, long value)
{
    char text[32];
    if (!value)
        return;
    snprintf(text, sizeof text, "%ld", value);
    add_param(q, curl, name, text);
}

/* Cancels a job whose input is not the file sent. */
static void cancel_job(const char *base, const char *id)
{
    char *url = ht_cli_job_url(base, id, "");
    ht_cli_response_t resp;
    if (url && ht_cli_http("DELETE", url, NULL, NULL, &resp) == 0)
        ht_cli_response_clear(&resp);
    free(url);
}

int ht_cli_submit_file(const ht_cli_file_submit_t *s, ht_cli_response_t *resp)
{
    int rc = -1, fd = -1;
    char *url = NULL;
    ht_buf_t q = HT_BUF_INIT;
    CURL *curl = curl_easy_init();
    bar_t bar = {.what = "uploading",
                 .tty = isatty(STDERR_FILENO),
                 .started = ht_now_ms(),
                 .sha = EVP_MD_CTX_new(),
                 .on_interim = s->on_interim,
                 .interim_ctx = s->ctx};
    memset(resp, 0, sizeof(*resp));
    if (!curl || !bar.sha || EVP_DigestInit_ex(bar.sha, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "hangtight submit: out of memory\n");
        goto out;
    }
    struct stat st;
    if ((fd = open(s->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0 ||
        !S_ISREG(st.st_mode)) {
        fprintf(stderr, "hangtight submit: --file %s: %s\n", s->path,
                fd < 0 || errno ? strerror(errno) : "not a regular file");
        goto out;
    }
    bar.total = st.st_size;
    add_param(&q, curl, "type", s->type);
    add_param(&q, curl, "payload", s->payload);
    add_param(&q, curl, "metadata", s->metadata);
    add_param(&q, curl, "priority", s->priority);
    add_param(&q, curl, "run_at", s->run_at);
    add_long(&q, curl, "max_attempts", s->max_attempts);
    add_long(&q, curl, "timeout_s", s->timeout_s);
    add_long(&q, curl, "ttl_s", s->ttl_s);
    add_long(&q, curl, "delay_s", s->delay_s);
    if (ht_buf_failed(&q) || ht_buf_putc(&q, '\0') < 0 ||
        asprintf(&url, "%s%s%s", s->base_url,
                 s->base_url[0] && s->base_url[strlen(s->base_url) - 1] == '/' ? "v1/jobs?"
                                                                               : "/v1/jobs?",
                 q.data) < 0) {
        url = NULL;
        fprintf(stderr, "hangtight submit: out of memory\n");
        goto out;
    }
    ht_cli_request_t opt = {.verbose = s->verbose,
                            .idempotency_key = s->idempotency_key,
                            .prefer = s->prefer,
                            .timeout_ms = s->timeout_ms ? s->timeout_ms : -1,
                            .on_interim = on_interim,
                            .upload_fd = fd,
                            .upload_size = st.st_size,
                            .upload_type =
                                s->content_type ? s->content_type : "application/octet-stream",
                            .on_read = on_piece,
                            .on_transfer = on_upload_progress,
                            .ctx = &bar};
    rc = ht_cli_request("POST", url, NULL, &opt, resp);
    bar_end(&bar);
    if (rc != 0) {
        fprintf(stderr, "hangtight submit: %s\n", resp->error);
        goto out;
    }
    if (resp->status >= 200 && resp->status < 300) {
        /* What the server stored must be what was read here. */
        char mine[65];
        sha_hex(&bar, mine);
        json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
        const char *theirs =
            json_string_value(json_object_get(json_object_get(doc, "input"), "sha256"));
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (theirs && strcmp(theirs, mine) != 0) {
            fprintf(stderr,
                    "hangtight submit: the server stored a file of SHA-256 %s, the file sent has "
                    "%s: the job is canceled\n",
                    theirs, mine);
            if (id)
                cancel_job(s->base_url, id);
            resp->status = 0; /* not a success */
            snprintf(resp->error, sizeof resp->error, "the file changed while it was sent");
        }
        json_decref(doc);
    }
out:
    if (fd >= 0)
        close(fd);
    if (curl)
        curl_easy_cleanup(curl);
    EVP_MD_CTX_free(bar.sha);
    ht_buf_free(&q);
    free(url);
    return rc;
}

/* ---- download ---------------------------------------------------------------- */

static const char *base_url, *out_path;
static int want_input, verbose;

static const ht_option_t download_options[] = {
    HT_CLI_URL_OPTION(&base_url),
    {"output", NULL, HT_OPT_STRING, NULL,
     "(-o) write the file to PATH (written as PATH.part, renamed when whole and checked; '-': "
     "stdout, the default when it is not a terminal)",
     0, 0, &out_path},
    {"input", NULL, HT_OPT_FLAG, NULL, "the job's input file instead of its output", 0, 0,
     &want_input},
    {"verbose", NULL, HT_OPT_FLAG, NULL, "show the HTTP status lines", 0, 0, &verbose},
};

typedef struct {
    int fd;
    bar_t *bar;
    int failed;
} sink_t;

static void on_download_progress(void *ctx, int64_t sent, int64_t received, int64_t total)
{
    (void)sent;
    sink_t *k = ctx;
    if (total > 0)
        k->bar->total = total;
    bar_draw(k->bar, received, 0);
}

static int on_data(void *ctx, const char *data, size_t len)
{
    sink_t *k = ctx;
    on_piece(k->bar, data, len);
    while (len > 0) {
        ssize_t n = write(k->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            k->failed = errno ? errno : EIO;
            return 1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

int ht_cli_download(int argc, char **argv)
{
    /* -o is --output (curl's and wget's spelling). */
    char **v = calloc((size_t)argc + 1, sizeof(*v));
    if (!v)
        return HT_CLI_USAGE;
    for (int i = 0; i < argc; i++)
        v[i] = strcmp(argv[i], "-o") == 0 ? "--output" : argv[i];
    ht_cli_args_t args;
    int rc = ht_cli_parse(download_options, sizeof download_options / sizeof download_options[0],
                          argc, v, "ID [-o PATH] [--input]", &args);
    free(v);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 1) {
        fprintf(stderr, "usage: hangtight download ID [-o PATH] [--input] (see --help)\n");
        return HT_CLI_USAGE;
    }
    int to_stdout = !out_path || strcmp(out_path, "-") == 0;
    if (!out_path && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "hangtight download: stdout is a terminal: give -o PATH\n");
        return HT_CLI_USAGE;
    }
    int status = HT_CLI_USAGE, fd = -1;
    char *part = NULL;
    ht_cli_response_t resp = {0};
    bar_t bar = {.what = "downloading",
                 .tty = isatty(STDERR_FILENO),
                 .started = ht_now_ms(),
                 .sha = EVP_MD_CTX_new()};
    char *url = ht_cli_job_url(base_url, args.pos[0], want_input ? "/input" : "/output");
    if (!url || !bar.sha || EVP_DigestInit_ex(bar.sha, EVP_sha256(), NULL) != 1) {
        fprintf(stderr, "hangtight download: out of memory\n");
        goto out;
    }
    if (to_stdout) {
        fd = STDOUT_FILENO;
    } else {
        if (asprintf(&part, "%s.part", out_path) < 0) {
            part = NULL;
            fprintf(stderr, "hangtight download: out of memory\n");
            goto out;
        }
        if ((fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
            fprintf(stderr, "hangtight download: %s: %s\n", part, strerror(errno));
            free(part);
            part = NULL;
            goto out;
        }
    }
    sink_t sink = {.fd = fd, .bar = &bar};
    ht_cli_request_t opt = {.verbose = verbose,
                            .accept = "*/*",
                            .timeout_ms = -1,
                            .idle_timeout_s = 60,
                            .on_data = on_data,
                            .on_transfer = on_download_progress,
                            .ctx = &sink};
    rc = ht_cli_request("GET", url, NULL, &opt, &resp);
    bar_end(&bar);
    if (rc != 0 || sink.failed) {
        fprintf(stderr, "hangtight download: %s\n",
                sink.failed ? strerror(sink.failed) : resp.error);
        goto out;
    }
    if (resp.status != 200) {
        ht_cli_print_problem("hangtight download", &resp);
        status = HT_CLI_FAILED;
        goto out;
    }
    /* The ETag is the file's SHA-256 in quotes. */
    char mine[65], want[67];
    sha_hex(&bar, mine);
    snprintf(want, sizeof want, "\"%s\"", mine);
    if (strcmp(resp.etag, want) != 0) {
        fprintf(stderr, "hangtight download: the bytes received have SHA-256 %s, not %s\n", mine,
                resp.etag);
        status = HT_CLI_FAILED;
        goto out;
    }
    if (!to_stdout) {
        if (fsync(fd) < 0 || close(fd) < 0 || rename(part, out_path) < 0) {
            fd = -1;
            fprintf(stderr, "hangtight download: %s: %s\n", out_path, strerror(errno));
            goto out;
        }
        fd = -1;
        free(part);
        part = NULL;
    }
    status = HT_CLI_OK;
out:
    if (fd >= 0 && !to_stdout)
        close(fd);
    if (part)
        unlink(part); /* nothing half-written is left under the name */
    ht_cli_response_clear(&resp);
    EVP_MD_CTX_free(bar.sha);
    free(part);
    free(url);
    return status;
}
