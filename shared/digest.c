/* Content-Digest (RFC 9530) for sha-256: see digest.h. */
#include "shared/digest.h"

#include <openssl/evp.h>
#include <string.h>

#include "shared/error.h"
#include "shared/hex.h"

#define SHA256_LEN 32
#define SHA256_B64 44 /* base64 of 32 bytes, one '=' of padding */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A dictionary key (RFC 8941 3.2): lcalpha or '*', then lcalpha, digits,
 * '_', '-', '.', '*'. */
static int key_char(char c, int first)
{
    if ((c >= 'a' && c <= 'z') || c == '*')
        return 1;
    return !first && ((c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.');
}

static int b64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

/* Decodes exactly 32 bytes from the 44 characters at b. */
static int decode_sha256(const char *b, size_t n, unsigned char out[SHA256_LEN])
{
    unsigned char tmp[SHA256_LEN + 3];
    if (n != SHA256_B64 || b[43] != '=' || b[42] == '=')
        return HT_EINVAL;
    for (size_t i = 0; i < 43; i++)
        if (b[i] == '=')
            return HT_EINVAL;
    /* EVP_DecodeBlock counts the padding as a zero byte: 33 out. */
    if (EVP_DecodeBlock(tmp, (const unsigned char *)b, (int)n) != SHA256_LEN + 1)
        return HT_EINVAL;
    memcpy(out, tmp, SHA256_LEN);
    return 0;
}

int ht_digest_sha256_of(const char *v, size_t len, char hex[HT_DIGEST_SHA256_HEX + 1])
{
    const char *p = v, *end = v + len;
    int found = 0;
    hex[0] = '\0';
    for (;;) {
        while (p < end && is_ows(*p))
            p++;
        if (p == end)
            return found;
        const char *key = p;
        if (!key_char(*p, 1))
            return HT_EINVAL;
        while (p < end && key_char(*p, 0))
            p++;
        size_t keylen = (size_t)(p - key);
        /* A bare key is the boolean true: never a digest. */
        if (p == end || *p != '=')
            return HT_EINVAL;
        p++;
        if (p == end || *p != ':')
            return HT_EINVAL;
        const char *b = ++p;
        while (p < end && b64_char(*p))
            p++;
        if (p == end || *p != ':')
            return HT_EINVAL;
        size_t blen = (size_t)(p - b);
        p++;
        /* Parameters: ";name" or ";name=value", skipped. */
        while (p < end && *p == ';') {
            p++;
            while (p < end && *p != ';' && *p != ',')
                p++;
        }
        /* A key given twice: the last one counts (RFC 8941 4.2.2). */
        if (keylen == 7 && memcmp(key, "sha-256", 7) == 0) {
            unsigned char raw[SHA256_LEN];
            if (decode_sha256(b, blen, raw) < 0)
                return HT_EINVAL;
            ht_hex_encode(raw, SHA256_LEN, hex);
            found = 1;
        }
        while (p < end && is_ows(*p))
            p++;
        if (p == end)
            return found;
        if (*p != ',')
            return HT_EINVAL;
        p++;
        while (p < end && is_ows(*p))
            p++;
        if (p == end) /* a trailing comma (RFC 8941 4.2.2) */
            return HT_EINVAL;
    }
}

int ht_digest_sha256_header(const char *hex, char out[HT_DIGEST_CONTENT_MAX + 1])
{
    unsigned char raw[SHA256_LEN];
    if (strlen(hex) != HT_DIGEST_SHA256_HEX)
        return HT_EINVAL;
    for (size_t i = 0; i < SHA256_LEN; i++) {
        int hi = ht_hex_digit(hex[2 * i]), lo = ht_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return HT_EINVAL;
        raw[i] = (unsigned char)(hi << 4 | lo);
    }
    memcpy(out, "sha-256=:", 9);
    int n = EVP_EncodeBlock((unsigned char *)out + 9, raw, SHA256_LEN);
    out[9 + n] = ':';
    out[10 + n] = '\0';
    return 10 + n;
}
