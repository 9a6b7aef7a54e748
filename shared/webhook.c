/* Standard Webhooks signing and verification (see webhook.h). */
#include "shared/webhook.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/base64.h"
#include "shared/decimal.h"
#include "shared/error.h"

#define PREFIX      "whsec_"
#define MAC_LEN     32 /* SHA-256 */
#define MAC_B64_LEN 44 /* base64 of 32 bytes, with padding */

static int parse_one(const char *item, size_t len, ht_webhook_secrets_t *out, char *err,
                     size_t errlen)
{
    size_t plen = strlen(PREFIX);
    if (len <= plen || strncmp(item, PREFIX, plen) != 0)
        return ht_errorf(err, errlen, HT_EINVAL, "a webhook secret must look like whsec_<base64>");
    if (out->n == HT_WEBHOOK_SECRETS_MAX)
        return ht_errorf(err, errlen, HT_EINVAL, "at most %d webhook secrets",
                         HT_WEBHOOK_SECRETS_MAX);
    long n = ht_base64_decode(item + plen, len - plen, out->key[out->n], sizeof out->key[0]);
    if (n <= 0)
        return ht_errorf(err, errlen, HT_EINVAL,
                         "a webhook secret's part after whsec_ must be base64 of "
                         "1 to %zu bytes",
                         sizeof out->key[0]);
    out->len[out->n++] = (size_t)n;
    return 0;
}

int ht_webhook_secrets_parse(const char *list, ht_webhook_secrets_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = list ? list : "";
    while (*p) {
        size_t skip = strspn(p, ", \t");
        p += skip;
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            break;
        int rc = parse_one(p, len, out, err, errlen);
        if (rc < 0) {
            OPENSSL_cleanse(out, sizeof *out);
            return rc;
        }
        p += len;
    }
    return 0;
}

int ht_webhook_secrets_add(ht_webhook_secrets_t *s, const unsigned char *key, size_t len)
{
    if (s->n == HT_WEBHOOK_SECRETS_MAX || len == 0 || len > sizeof s->key[0])
        return HT_EINVAL;
    memcpy(s->key[s->n], key, len);
    s->len[s->n++] = len;
    return 0;
}

int ht_webhook_secret_format(const unsigned char *key, size_t len, char *out, size_t cap)
{
    if (len == 0 || len > sizeof((ht_webhook_secrets_t *)0)->key[0] ||
        cap < strlen(PREFIX) + HT_BASE64_LEN(len) + 1)
        return HT_EINVAL;
    memcpy(out, PREFIX, strlen(PREFIX));
    ht_base64_encode(key, len, out + strlen(PREFIX));
    return 0;
}

/* mac[MAC_LEN] = HMAC-SHA256(key, "<id>.<ts>.<body>").  Returns 0 or -1. */
static int mac_of(const unsigned char *key, size_t keylen, const char *id, const char *ts,
                  const char *body, size_t len, unsigned char mac[MAC_LEN])
{
    int rc = -1;
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t outlen = 0;
    if (ctx && EVP_MAC_init(ctx, key, keylen, params) &&
        EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id)) &&
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
        EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts)) &&
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
        EVP_MAC_update(ctx, (const unsigned char *)body, len) &&
        EVP_MAC_final(ctx, mac, &outlen, MAC_LEN) && outlen == MAC_LEN)
        rc = 0;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return rc;
}

char *ht_webhook_signature(const ht_webhook_secrets_t *s, const char *id, long long ts,
                           const char *body, size_t len)
{
    if (!s || s->n == 0)
        return NULL;
    char tsbuf[24];
    snprintf(tsbuf, sizeof tsbuf, "%lld", ts);
    /* Each signature is "v1," + 44 chars, separated by one space. */
    size_t cap = s->n * (3 + MAC_B64_LEN + 1);
    char *out = malloc(cap);
    if (!out)
        return NULL;
    char *w = out;
    for (size_t i = 0; i < s->n; i++) {
        unsigned char mac[MAC_LEN];
        if (mac_of(s->key[i], s->len[i], id, tsbuf, body, len, mac) < 0) {
            free(out);
            return NULL;
        }
        if (i > 0)
            *w++ = ' ';
        memcpy(w, "v1,", 3);
        w += 3;
        w += ht_base64_encode(mac, MAC_LEN, w);
    }
    *w = '\0';
    return out;
}

/* 1 when "v1,<b64>" item matches one of the secrets' MACs. */
static int item_matches(const char *item, size_t len, const unsigned char macs[][MAC_LEN], size_t n)
{
    if (len != 3 + MAC_B64_LEN || strncmp(item, "v1,", 3) != 0)
        return 0;
    unsigned char got[MAC_LEN];
    if (ht_base64_decode(item + 3, MAC_B64_LEN, got, sizeof got) != MAC_LEN)
        return 0;
    int match = 0;
    for (size_t i = 0; i < n; i++)
        match |= CRYPTO_memcmp(got, macs[i], MAC_LEN) == 0;
    return match;
}

int ht_webhook_verify(const ht_webhook_secrets_t *s, const char *id, const char *ts,
                      const char *sig_header, const char *body, size_t len, long long now_s,
                      long tolerance_s)
{
    int64_t t;
    if (!s || s->n == 0 || !id || !sig_header || ht_decimal_i64(ts, 0, INT64_MAX, &t) < 0)
        return HT_EINVAL;
    long long diff = now_s > t ? now_s - t : t - now_s;
    if (diff > tolerance_s)
        return HT_EINVAL;
    unsigned char macs[HT_WEBHOOK_SECRETS_MAX][MAC_LEN];
    size_t n = s->n < HT_WEBHOOK_SECRETS_MAX ? s->n : HT_WEBHOOK_SECRETS_MAX;
    for (size_t i = 0; i < n; i++)
        if (mac_of(s->key[i], s->len[i], id, ts, body, len, macs[i]) < 0)
            return HT_EINVAL;
    int match = 0;
    const char *p = sig_header;
    while (*p) {
        p += strspn(p, " ");
        size_t len_item = strcspn(p, " ");
        if (len_item == 0)
            break;
        match |= item_matches(p, len_item, (const unsigned char(*)[MAC_LEN])macs, n);
        p += len_item;
    }
    return match ? 0 : HT_EINVAL;
}
