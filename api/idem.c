/* Idempotency-Key parsing and body fingerprints (see idem.h). */
#include "api/idem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "shared/error.h"
#include "shared/hex.h"

static int is_visible(unsigned char c)
{
    return c >= 0x21 && c <= 0x7e;
}

int ht_idem_key_parse(const char *value, size_t len, const char **key, size_t *keylen)
{
    while (len > 0 && (value[0] == ' ' || value[0] == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    int quoted = len >= 2 && value[0] == '"' && value[len - 1] == '"';
    if (quoted) {
        value++;
        len -= 2;
    }
    if (len < 1 || len > HT_IDEM_KEY_MAX)
        return HT_EINVAL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        /* A quote left in a bare key means a broken string; escapes are
         * refused rather than decoded: no client needs them in a key. */
        if (c == '"' || c == '\\' || !(is_visible(c) || (quoted && c == ' ')))
            return HT_EINVAL;
    }
    *key = value;
    *keylen = len;
    return 0;
}

int ht_idem_key_of(h2o_req_t *req, const char **key, size_t *keylen)
{
    *key = NULL;
    *keylen = 0;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1);
    if (i == -1)
        return 0;
    if (h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), i) != -1)
        return HT_EINVAL; /* two keys: which one did the client mean? */
    h2o_iovec_t v = req->headers.entries[i].value;
    return ht_idem_key_parse(v.base, v.len, key, keylen);
}

int ht_idem_body_hash(const char *body, size_t len, char out[HT_IDEM_HASH_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen * 2 != HT_IDEM_HASH_LEN)
        return HT_ENOMEM;
    ht_hex_encode(md, mdlen, out);
    return 0;
}
