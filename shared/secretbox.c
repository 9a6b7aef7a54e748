/* AES-256-GCM sealing of short secrets (see secretbox.h). */
#include "shared/secretbox.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/random.h>

#include "shared/base64.h"
#include "shared/error.h"
#include "shared/hex.h"

#define PREFIX    "v1."
#define NONCE_LEN 12
#define TAG_LEN   16
#define OVERHEAD  (NONCE_LEN + TAG_LEN)

/* One key of the list: 64 hex digits or base64 of 32 bytes. */
static int parse_key(const char *item, size_t len, unsigned char out[HT_SECRETBOX_KEY_LEN])
{
    if (len == 2 * HT_SECRETBOX_KEY_LEN) {
        for (size_t i = 0; i < HT_SECRETBOX_KEY_LEN; i++) {
            int hi = ht_hex_digit(item[2 * i]), lo = ht_hex_digit(item[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return -1;
            out[i] = (unsigned char)(hi << 4 | lo);
        }
        return 0;
    }
    return ht_base64_decode(item, len, out, HT_SECRETBOX_KEY_LEN) == HT_SECRETBOX_KEY_LEN ? 0 : -1;
}

int ht_secretbox_keys_parse(const char *list, ht_secretbox_keys_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = list ? list : "";
    size_t index = 0;
    for (;;) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len == 0)
            return 0;
        index++;
        if (out->n == HT_SECRETBOX_KEYS_MAX) {
            ht_secretbox_keys_clear(out);
            return ht_errorf(err, errlen, HT_EINVAL, "at most %d secrets keys",
                             HT_SECRETBOX_KEYS_MAX);
        }
        if (parse_key(p, len, out->key[out->n]) < 0) {
            ht_secretbox_keys_clear(out);
            return ht_errorf(err, errlen, HT_EINVAL,
                             "secrets key %zu is not 32 bytes as 64 hex digits or base64 "
                             "(make one with: openssl rand -hex 32)",
                             index);
        }
        out->n++;
        p += len;
    }
}

void ht_secretbox_keys_clear(ht_secretbox_keys_t *k)
{
    OPENSSL_cleanse(k, sizeof *k);
    k->n = 0;
}

size_t ht_secretbox_sealed_size(size_t len)
{
    return strlen(PREFIX) + HT_BASE64_LEN(OVERHEAD + len) + 1;
}

/* One AES-256-GCM pass: encrypt (enc 1) or decrypt (enc 0) in[0..len)
 * into out under `key` and `nonce`; the tag is written (enc) or checked
 * (dec).  Returns 0, or -1 (a decryption that does not authenticate). */
static int gcm(int enc, const unsigned char *key, const unsigned char nonce[NONCE_LEN],
               const void *aad, size_t aadlen, const unsigned char *in, size_t len,
               unsigned char *out, unsigned char tag[TAG_LEN])
{
    int ok = 0, n = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        return -1;
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) &&
        EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) &&
        (aadlen == 0 || EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aadlen)) &&
        EVP_CipherUpdate(ctx, out, &n, in, (int)len) && (size_t)n == len &&
        (enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag)) &&
        EVP_CipherFinal_ex(ctx, out + n, &n) && n == 0 &&
        (!enc || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag)))
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

int ht_secretbox_seal(const ht_secretbox_keys_t *k, const void *aad, size_t aadlen,
                      const void *plain, size_t len, char *out, size_t cap)
{
    if (!k || k->n == 0 || len == 0 || len > HT_SECRETBOX_PLAIN_MAX ||
        cap < ht_secretbox_sealed_size(len))
        return HT_EINVAL;
    /* nonce || ciphertext || tag */
    unsigned char box[OVERHEAD + HT_SECRETBOX_PLAIN_MAX];
    if (getrandom(box, NONCE_LEN, 0) != NONCE_LEN)
        return errno ? -errno : HT_ENOMEM;
    if (gcm(1, k->key[0], box, aad, aadlen, plain, len, box + NONCE_LEN, box + NONCE_LEN + len) <
        0) {
        OPENSSL_cleanse(box, sizeof box);
        return HT_ENOMEM;
    }
    memcpy(out, PREFIX, strlen(PREFIX));
    ht_base64_encode(box, OVERHEAD + len, out + strlen(PREFIX));
    return 0;
}

int ht_secretbox_open(const ht_secretbox_keys_t *k, const void *aad, size_t aadlen,
                      const char *sealed, void *plain, size_t cap, size_t *len)
{
    *len = 0;
    size_t plen = strlen(PREFIX);
    if (!k || !sealed || strncmp(sealed, PREFIX, plen) != 0)
        return HT_EINVAL;
    unsigned char box[OVERHEAD + HT_SECRETBOX_PLAIN_MAX];
    long n = ht_base64_decode(sealed + plen, strlen(sealed + plen), box, sizeof box);
    if (n <= OVERHEAD || (size_t)n - OVERHEAD > cap)
        return HT_EINVAL;
    size_t clen = (size_t)n - OVERHEAD;
    /* Decrypted into a scratch buffer: a failed check leaves `plain` alone. */
    unsigned char scratch[HT_SECRETBOX_PLAIN_MAX];
    int rc = HT_EINVAL;
    for (size_t i = 0; i < k->n && rc < 0; i++) {
        if (gcm(0, k->key[i], box, aad, aadlen, box + NONCE_LEN, clen, scratch,
                box + NONCE_LEN + clen) == 0) {
            memcpy(plain, scratch, clen);
            *len = clen;
            rc = 0;
        }
    }
    OPENSSL_cleanse(scratch, sizeof scratch);
    OPENSSL_cleanse(box, sizeof box);
    return rc;
}
