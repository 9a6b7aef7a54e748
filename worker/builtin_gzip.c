/* The built-in "gzip" handler: streams the job's input file through zlib
 * into an output file in the gzip format (RFC 1952), content type
 * application/gzip, reporting progress by bytes read.  Neither file is ever
 * whole in memory: each piece of the input is deflated into a 64 KiB buffer
 * that goes to the output writer as it fills.  {"level": 1..9} picks the
 * compression level (default 6, as gzip(1)).  A job without an input fails
 * at once (code "no_input", not retried); the result is
 * {"bytes_in", "bytes_out"}. */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#include "worker/builtins.h"

#define OUT_CHUNK     65536
#define LEVEL_DEFAULT 6
#define GZIP_WBITS    (15 + 16) /* the largest window, with a gzip header and trailer */

typedef struct {
    ht_job_ctx_t *ctx;
    z_stream z;
    unsigned char out[OUT_CHUNK];
    uint64_t done, total, written;
    int failed; /* the output write failed (recorded in the ctx) */
} run_t;

/* Deflates what z holds with `flush`, writing each full buffer out.
 * Returns 0, or -1 when the output could not be written. */
static int pump(run_t *r, int flush)
{
    int zrc;
    do {
        r->z.next_out = r->out;
        r->z.avail_out = OUT_CHUNK;
        zrc = deflate(&r->z, flush);
        size_t have = OUT_CHUNK - r->z.avail_out;
        if (have && ht_job_output_write(r->ctx, r->out, have) < 0) {
            r->failed = 1;
            return -1;
        }
        r->written += have;
    } while (r->z.avail_out == 0 || (flush == Z_FINISH && zrc != Z_STREAM_END));
    return 0;
}

static int on_bytes(void *ud, const void *buf, size_t len)
{
    run_t *r = ud;
    r->z.next_in = (unsigned char *)buf;
    r->z.avail_in = (uInt)len; /* pieces are at most 256 KiB */
    if (pump(r, Z_NO_FLUSH) < 0)
        return 1;
    r->done += len;
    return ht_job_progress_bytes(r->ctx, r->done, r->total, "compressed");
}

int ht_builtin_gzip(ht_job_ctx_t *ctx, const json_t *payload, json_t **result)
{
    json_int_t level = LEVEL_DEFAULT;
    json_error_t jerr;
    if (json_is_object(payload) &&
        json_unpack_ex((json_t *)payload, &jerr, JSON_STRICT, "{s?I}", "level", &level) < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "gzip wants {\"level\": 1..9}: %s", jerr.text);
        ht_job_fail(ctx, "invalid_payload", msg, 0);
        return HT_HANDLER_FAIL;
    }
    if (level < 1 || level > 9) {
        ht_job_fail(ctx, "invalid_payload", "level must be between 1 and 9", 0);
        return HT_HANDLER_FAIL;
    }
    run_t *r = calloc(1, sizeof(*r));
    if (!r) {
        ht_job_fail(ctx, "internal", "out of memory", 1);
        return HT_HANDLER_FAIL;
    }
    r->ctx = ctx;
    int ret = HT_HANDLER_FAIL;
    if (!ht_job_has_input(ctx, &r->total)) {
        ht_job_fail(ctx, "no_input", "gzip needs an input file: submit the file as the body", 0);
        goto out;
    }
    if (ht_job_output_type(ctx, "application/gzip") < 0)
        goto out;
    if (deflateInit2(&r->z, (int)level, Z_DEFLATED, GZIP_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        ht_job_fail(ctx, "internal", "zlib cannot start", 1);
        goto out;
    }
    int rc = ht_job_input_read(ctx, on_bytes, r);
    if (rc == HT_ECANCELED && !r->failed) {
        ret = HT_HANDLER_STOPPED;
    } else if (rc == 0 && pump(r, Z_FINISH) == 0) {
        ht_job_progress_bytes(ctx, r->done, r->total, "compressed");
        *result = json_pack("{s:I, s:I}", "bytes_in", (json_int_t)r->done, "bytes_out",
                            (json_int_t)r->written);
        ret = HT_HANDLER_OK;
    }
    /* Otherwise the failure is recorded: reading the input or writing the
     * output went wrong. */
    deflateEnd(&r->z);
out:
    free(r);
    return ret;
}
