/* Base64 (see base64.h). */
#include "shared/base64.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

size_t ht_base64_encode(const void *in, size_t len, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

long ht_base64_decode(const char *in, size_t len, void *out, size_t cap)
{
    /* EVP_DecodeBlock writes 3 bytes per 4 characters, padding included. */
    unsigned char tmp[768];
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof tmp || len / 4 * 3 > cap + 2)
        return -1;
    /* The alphabet only, and '=' only as the last one or two characters
     * (OpenSSL would skip spaces and take '=' elsewhere). */
    size_t pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < len - pad; i++) {
        char c = in[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return -1;
    }
    int n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
    if (n < 0)
        return -1;
    /* It counts the padding as zero bytes: take them off. */
    long out_len = n - (long)pad;
    if ((size_t)out_len <= cap)
        memcpy(out, tmp, (size_t)out_len);
    else
        out_len = -1;
    OPENSSL_cleanse(tmp, sizeof tmp);
    return out_len;
}
