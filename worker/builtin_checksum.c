/* The built-in "checksum" handler: streams the job's input file through
 * SHA-256 and returns {"sha256": "<hex>", "bytes": N}, reporting progress
 * by bytes.  A job without an input fails at once (code "no_input", not
 * retried).  Bytes that do not hash to the SHA-256 stored when the file
 * came in fail the attempt with code "input_corrupt". */
#include <openssl/evp.h>
#include <string.h>

#include "shared/hex.h"

#include "worker/builtins.h"

typedef struct {
    ht_job_ctx_t *ctx;
    EVP_MD_CTX *md;
    uint64_t done, total;
} run_t;

static int on_bytes(void *ud, const void *buf, size_t len)
{
    run_t *r = ud;
    EVP_DigestUpdate(r->md, buf, len);
    r->done += len;
    return ht_job_progress_bytes(r->ctx, r->done, r->total, "hashed");
}

int ht_builtin_checksum(ht_job_ctx_t *ctx, const json_t *payload, json_t **result)
{
    (void)payload;
    run_t r = {.ctx = ctx};
    if (!ht_job_has_input(ctx, &r.total)) {
        ht_job_fail(ctx, "no_input", "checksum needs an input file: submit the file as the body",
                    0);
        return HT_HANDLER_FAIL;
    }
    if (!(r.md = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(r.md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(r.md);
        ht_job_fail(ctx, "internal", "SHA-256 is not available", 1);
        return HT_HANDLER_FAIL;
    }
    int rc = ht_job_input_read(ctx, on_bytes, &r);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(r.md, md, &mdlen);
    EVP_MD_CTX_free(r.md);
    if (rc == HT_ECANCELED)
        return HT_HANDLER_STOPPED;
    if (rc < 0)
        return HT_HANDLER_FAIL; /* recorded by ht_job_input_read */
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    ht_hex_encode(md, mdlen, hex);
    const char *stored = ht_job_input_sha256(ctx);
    if (r.done != r.total || (stored && *stored && strcmp(stored, hex) != 0)) {
        ht_job_fail(ctx, "input_corrupt",
                    "the input's bytes differ from those stored when it was submitted", 0);
        return HT_HANDLER_FAIL;
    }
    ht_job_progress_bytes(ctx, r.done, r.total, "hashed");
    *result = json_pack("{s:s, s:I}", "sha256", hex, "bytes", (json_int_t)r.done);
    return HT_HANDLER_OK;
}
