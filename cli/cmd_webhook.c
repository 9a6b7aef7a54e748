/* `hangtight webhook verify`: checks a received webhook delivery (read from
 * stdin as a receiver would dump it) against the signing secret(s), the way
 * a Standard Webhooks receiver library does, so receivers written in C or
 * shell have a tool.  The signature itself is shared/webhook.c's. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/buf.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/webhook.h"

#include "cli/cli.h"

#define TOLERANCE_S_DEFAULT "300"       /* the Standard Webhooks libraries' five minutes */
#define INPUT_MAX           (64L << 20) /* a delivery body is a job document: far below */

static const char *secret_list;
static long tolerance_s;

static const ht_option_t options[] = {
    {"secret", "HANGTIGHT_WEBHOOK_SECRET", HT_OPT_STRING, NULL,
     "SECRET(s) whsec_<base64>, comma- or space-separated (any one may match)", 0, 0, &secret_list},
    {"tolerance-s", NULL, HT_OPT_INT, TOLERANCE_S_DEFAULT,
     "SECONDS the webhook-timestamp may differ from now (replay window)", 0, 1L << 30,
     &tolerance_s},
};

/* Appends `value` to *slot, space-separated (a repeated webhook-signature
 * header carries more signatures, like a longer list in one header). */
static int keep_header(char **slot, const char *value, size_t vlen)
{
    ht_buf_t b = HT_BUF_INIT;
    if (*slot) {
        ht_buf_puts(&b, *slot);
        ht_buf_putc(&b, ' ');
    }
    ht_buf_append(&b, value, vlen);
    char *s = ht_buf_steal(&b, NULL);
    if (!s)
        return HT_ENOMEM;
    free(*slot);
    *slot = s;
    return 0;
}

/* One "Name: value" line (without its line end) into *out. */
static int header_line(const char *line, size_t len, ht_cli_webhook_request_t *out,
                       long *content_length, char *err, size_t errlen)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line || memchr(line, ' ', (size_t)(colon - line)))
        return ht_errorf(err, errlen, HT_EINVAL, "a header line is not 'Name: value'");
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vlen = (size_t)(end - v);
    if (nlen == 10 && strncasecmp(line, "webhook-id", nlen) == 0)
        return keep_header(&out->id, v, vlen);
    if (nlen == 17 && strncasecmp(line, "webhook-timestamp", nlen) == 0)
        return keep_header(&out->timestamp, v, vlen);
    if (nlen == 17 && strncasecmp(line, "webhook-signature", nlen) == 0)
        return keep_header(&out->signature, v, vlen);
    if (nlen == 14 && strncasecmp(line, "content-length", nlen) == 0) {
        char num[24];
        char *stop;
        if (vlen == 0 || vlen >= sizeof num)
            return ht_errorf(err, errlen, HT_EINVAL, "Content-Length is not a number");
        memcpy(num, v, vlen);
        num[vlen] = '\0';
        errno = 0;
        *content_length = strtol(num, &stop, 10);
        if (errno || *stop || *content_length < 0 || !isdigit((unsigned char)num[0]))
            return ht_errorf(err, errlen, HT_EINVAL, "Content-Length is not a number");
    }
    return 0;
}

/* 1 when the first line is a request line ("POST /hook HTTP/1.1"). */
static int is_request_line(const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    const char *colon = memchr(line, ':', len);
    return sp && (!colon || sp < colon);
}

int ht_cli_webhook_parse(const char *buf, size_t len, ht_cli_webhook_request_t *out, char *err,
                         size_t errlen)
{
    memset(out, 0, sizeof *out);
    long content_length = -1;
    const char *p = buf, *end = buf + len;
    int first = 1;
    for (;;) {
        if (p >= end)
            return ht_errorf(err, errlen, HT_EINVAL,
                             "no blank line between the headers and the body");
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return ht_errorf(err, errlen, HT_EINVAL,
                             "no blank line between the headers and the body");
        size_t llen = (size_t)(nl - p);
        if (llen > 0 && p[llen - 1] == '\r')
            llen--;
        const char *line = p;
        p = nl + 1;
        if (llen == 0)
            break; /* the blank line: the body follows */
        if (first && is_request_line(line, llen)) {
            first = 0;
            continue;
        }
        first = 0;
        int rc = header_line(line, llen, out, &content_length, err, errlen);
        if (rc == HT_ENOMEM)
            return ht_errorf(err, errlen, HT_EINVAL, "out of memory");
        if (rc < 0)
            return rc;
    }
    out->body = p;
    out->body_len = (size_t)(end - p);
    if (content_length >= 0) {
        if ((size_t)content_length > out->body_len)
            return ht_errorf(err, errlen, HT_EINVAL, "the body is shorter than its Content-Length");
        out->body_len = (size_t)content_length; /* drops a newline added by a dump */
    }
    return 0;
}

void ht_cli_webhook_request_clear(ht_cli_webhook_request_t *req)
{
    free(req->id);
    free(req->timestamp);
    free(req->signature);
    memset(req, 0, sizeof *req);
}

int ht_cli_webhook_check(const ht_webhook_secrets_t *secrets, const ht_cli_webhook_request_t *req,
                         long long now_s, long tol, char *why, size_t whylen)
{
    if (!req->id || !req->timestamp || !req->signature) {
        snprintf(why, whylen, "missing header %s",
                 !req->id          ? "webhook-id"
                 : !req->timestamp ? "webhook-timestamp"
                                   : "webhook-signature");
        return HT_EINVAL;
    }
    char *stop;
    errno = 0;
    long long ts = strtoll(req->timestamp, &stop, 10);
    if (errno || *stop || !isdigit((unsigned char)req->timestamp[0])) {
        snprintf(why, whylen, "webhook-timestamp '%s' is not unix seconds", req->timestamp);
        return HT_EINVAL;
    }
    long long diff = now_s > ts ? now_s - ts : ts - now_s;
    if (diff > tol) {
        /* A replayed (or very late) delivery, or a receiver clock that is off. */
        snprintf(why, whylen, "webhook-timestamp %lld is %lld s %s now (tolerance %ld s)", ts, diff,
                 ts < now_s ? "before" : "after", tol);
        return HT_EINVAL;
    }
    if (ht_webhook_verify(secrets, req->id, req->timestamp, req->signature, req->body,
                          req->body_len, now_s, tol) < 0) {
        snprintf(why, whylen, "no v1 signature in webhook-signature matches the secret%s",
                 secrets->n == 1 ? "" : "s");
        return HT_EINVAL;
    }
    return 0;
}

/* Reads all of stdin (at most INPUT_MAX bytes) into a malloc'd buffer. */
static char *read_stdin(size_t *len)
{
    ht_buf_t b = HT_BUF_INIT;
    for (;;) {
        if (b.len >= (size_t)INPUT_MAX || ht_buf_reserve(&b, 65536) < 0) {
            ht_buf_free(&b);
            return NULL;
        }
        size_t got = fread(b.data + b.len, 1, b.cap - b.len - 1, stdin);
        ht_buf_set_len(&b, b.len + got);
        if (got == 0)
            break;
    }
    if (ferror(stdin)) {
        ht_buf_free(&b);
        return NULL;
    }
    return ht_buf_steal(&b, len);
}

/* argv[0] is "webhook", "verify" its one positional argument. */
static int verify(int argc, char **argv)
{
    ht_cli_args_t args;
    ht_webhook_secrets_t secrets = {0};
    ht_cli_webhook_request_t req = {0};
    char err[256] = "", *input = NULL;
    size_t len = 0;
    int status = HT_CLI_USAGE;

    int rc = ht_cli_parse(options, sizeof options / sizeof options[0], argc, argv,
                          "verify --secret whsec_... [--tolerance-s N] < request", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : HT_CLI_USAGE;
    if (args.npos != 1) {
        fprintf(stderr, "hangtight webhook verify: the request is read from stdin\n");
        return HT_CLI_USAGE;
    }
    if (!secret_list || !*secret_list) {
        fprintf(stderr, "hangtight webhook verify: give --secret (or HANGTIGHT_WEBHOOK_SECRET)\n");
        return HT_CLI_USAGE;
    }
    if (ht_webhook_secrets_parse(secret_list, &secrets, err, sizeof err) < 0 || secrets.n == 0) {
        fprintf(stderr, "hangtight webhook verify: --secret: %s\n",
                secrets.n == 0 && !*err ? "no secret" : err);
        return HT_CLI_USAGE;
    }
    if (!(input = read_stdin(&len))) {
        fprintf(stderr, "hangtight webhook verify: cannot read the request from stdin\n");
        goto out;
    }
    status = HT_CLI_FAILED;
    if (ht_cli_webhook_parse(input, len, &req, err, sizeof err) < 0 ||
        ht_cli_webhook_check(&secrets, &req, ht_now_ms() / 1000, tolerance_s, err, sizeof err) <
            0) {
        printf("invalid: %s\n", err);
        goto out;
    }
    printf("valid: webhook-id %s\n", req.id);
    status = HT_CLI_OK;
out:
    ht_cli_webhook_request_clear(&req);
    free(input);
    return status;
}

int ht_cli_webhook(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "verify") == 0)
            return verify(argc, argv);
    }
    FILE *out = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
                    ? stdout
                    : stderr;
    fprintf(out, "usage: hangtight webhook verify --secret whsec_... [--tolerance-s N] < request\n"
                 "\n"
                 "Reads a received delivery on stdin (an optional request line, the headers,\n"
                 "a blank line, the body) and checks its webhook-signature against the\n"
                 "secret(s) and its webhook-timestamp against now.  Exit 0: valid; 1: invalid\n"
                 "(the reason is printed); 2: usage.\n");
    return out == stdout ? HT_CLI_OK : HT_CLI_USAGE;
}
