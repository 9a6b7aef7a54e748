/* Tenant webhook secrets: ids, sealing, the list reply (see tenant_secret.h). */
#include "shared/tenant_secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "shared/decimal.h"
#include "shared/error.h"
#include "shared/hex.h"

#define ID_PREFIX "ws_"
#define ID_RANDOM 12
/* What the sealed key is bound to: a purpose, the tenant, the id. */
#define AAD_LABEL "hangtight webhook secret v1"
#define AAD_MAX   (sizeof AAD_LABEL + HT_TENANT_MAX + 1 + HT_TSECRET_ID_LEN + 1)

_Static_assert(HT_TSECRET_ID_LEN == sizeof ID_PREFIX - 1 + 2 * ID_RANDOM, "id length");

static int random_bytes(void *out, size_t len)
{
    ssize_t got = getrandom(out, len, 0);
    return got == (ssize_t)len ? 0 : got < 0 ? -errno : HT_EINVAL;
}

int ht_tsecret_id_new(char out[HT_TSECRET_ID_LEN + 1])
{
    unsigned char r[ID_RANDOM];
    int rc = random_bytes(r, sizeof r);
    if (rc < 0)
        return rc;
    memcpy(out, ID_PREFIX, sizeof ID_PREFIX - 1);
    ht_hex_encode(r, sizeof r, out + sizeof ID_PREFIX - 1);
    return 0;
}

int ht_tsecret_id_valid(const char *s, size_t len)
{
    size_t plen = sizeof ID_PREFIX - 1;
    if (len != HT_TSECRET_ID_LEN || memcmp(s, ID_PREFIX, plen) != 0)
        return 0;
    for (size_t i = plen; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int ht_tsecret_key_new(unsigned char key[HT_TSECRET_KEY_LEN])
{
    return random_bytes(key, HT_TSECRET_KEY_LEN);
}

/* "<label>\0<tenant>\0<id>": the NULs keep ("ab", "c") and ("a", "bc")
 * apart.  Returns its length, or 0 when the tenant or id does not fit. */
static size_t aad_of(const char *tenant, const char *id, char out[AAD_MAX])
{
    size_t tl = strlen(tenant), il = strlen(id);
    if (tl == 0 || tl > HT_TENANT_MAX || il == 0 || il > HT_TSECRET_ID_LEN)
        return 0;
    size_t n = 0;
    memcpy(out + n, AAD_LABEL, sizeof AAD_LABEL); /* with its NUL */
    n += sizeof AAD_LABEL;
    memcpy(out + n, tenant, tl + 1);
    n += tl + 1;
    memcpy(out + n, id, il);
    return n + il;
}

int ht_tsecret_seal(const ht_secretbox_keys_t *k, const char *tenant, const char *id,
                    const unsigned char key[HT_TSECRET_KEY_LEN], char out[HT_TSECRET_SEALED_MAX])
{
    char aad[AAD_MAX];
    size_t aadlen = aad_of(tenant, id, aad);
    if (aadlen == 0)
        return HT_EINVAL;
    return ht_secretbox_seal(k, aad, aadlen, key, HT_TSECRET_KEY_LEN, out, HT_TSECRET_SEALED_MAX);
}

int ht_tsecret_open(const ht_secretbox_keys_t *k, const char *tenant, const char *id,
                    const char *sealed, unsigned char key[HT_TSECRET_KEY_LEN])
{
    char aad[AAD_MAX];
    unsigned char plain[HT_TSECRET_KEY_LEN];
    size_t aadlen = aad_of(tenant, id, aad), len = 0;
    if (aadlen == 0 || ht_secretbox_open(k, aad, aadlen, sealed, plain, sizeof plain, &len) < 0 ||
        len != HT_TSECRET_KEY_LEN)
        return HT_EINVAL;
    memcpy(key, plain, HT_TSECRET_KEY_LEN);
    OPENSSL_cleanse(plain, sizeof plain);
    return 0;
}

/* A stored time in ms since the epoch. */
static int parse_ms(const char *s, int64_t *out)
{
    return ht_decimal_i64(s, 0, INT64_MAX, out);
}

int ht_tsecret_parse_list(const char *const *strs, size_t n, int64_t *now_ms,
                          ht_tsecret_rec_t out[HT_TSECRET_LIVE_MAX], size_t *count)
{
    *count = 0;
    if (n < 1 || (n - 1) % 4 != 0 || (n - 1) / 4 > HT_TSECRET_LIVE_MAX ||
        parse_ms(strs[0], now_ms) < 0)
        return HT_EPROTO;
    for (size_t i = 1; i < n; i += 4) {
        ht_tsecret_rec_t *r = &out[*count];
        r->id = strs[i];
        r->sealed = strs[i + 3];
        if (!r->id || !r->sealed || parse_ms(strs[i + 1], &r->created_ms) < 0 ||
            parse_ms(strs[i + 2], &r->expires_ms) < 0)
            return HT_EPROTO;
        (*count)++;
    }
    return 0;
}
