/* shared/secretbox.c: AES-256-GCM sealing of secrets at rest.  A round
 * trip gives the bytes back; any changed byte of the sealed text, other
 * associated data or another key is refused; a fresh nonce each time; the
 * key list (hex, base64, several, refused forms). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "shared/base64.h"
#include "shared/error.h"
#include "shared/secretbox.h"

#define KEY_HEX   "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define OTHER_HEX "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define AAD       "tenant\0id"

static ht_secretbox_keys_t keys_of(const char *list)
{
    ht_secretbox_keys_t k;
    char err[256] = "";
    cr_assert_eq(ht_secretbox_keys_parse(list, &k, err, sizeof err), 0, "%s: %s", list, err);
    return k;
}

static void seal(const ht_secretbox_keys_t *k, const char *aad, size_t aadlen, const char *plain,
                 char *out, size_t cap)
{
    cr_assert_eq(ht_secretbox_seal(k, aad, aadlen, plain, strlen(plain), out, cap), 0);
}

Test(secretbox, round_trip)
{
    ht_secretbox_keys_t k = keys_of(KEY_HEX);
    const char *plain = "a webhook signing key of 32 byte";
    char sealed[256];
    seal(&k, AAD, sizeof AAD, plain, sealed, sizeof sealed);
    cr_assert_eq(strncmp(sealed, "v1.", 3), 0, "%s", sealed);
    cr_assert_eq(strlen(sealed) + 1, ht_secretbox_sealed_size(strlen(plain)));
    cr_assert_null(strstr(sealed, plain), "the plaintext is not in the sealed text");
    char out[64] = "";
    size_t len = 0;
    cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, sealed, out, sizeof out, &len), 0);
    cr_assert_eq(len, strlen(plain));
    cr_assert_eq(memcmp(out, plain, len), 0);
}

Test(secretbox, fresh_nonce_each_seal)
{
    ht_secretbox_keys_t k = keys_of(KEY_HEX);
    char a[256], b[256];
    seal(&k, AAD, sizeof AAD, "same secret", a, sizeof a);
    seal(&k, AAD, sizeof AAD, "same secret", b, sizeof b);
    cr_assert_str_neq(a, b, "two seals of the same bytes differ (random nonce)");
}

/* Every single-character change of the sealed text is refused and leaves
 * the output untouched. */
Test(secretbox, tampered_text_refused)
{
    ht_secretbox_keys_t k = keys_of(KEY_HEX);
    char sealed[256];
    seal(&k, AAD, sizeof AAD, "0123456789abcdef0123456789abcdef", sealed, sizeof sealed);
    size_t n = strlen(sealed);
    for (size_t i = 0; i < n; i++) {
        char t[256];
        memcpy(t, sealed, n + 1);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        char out[64];
        memset(out, 'x', sizeof out);
        size_t len = 99;
        cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, t, out, sizeof out, &len), HT_EINVAL,
                     "byte %zu changed: %s", i, t);
        cr_assert_eq(len, 0);
        cr_assert_eq(out[0], 'x', "nothing written on refusal");
    }
    /* Cut short, or with a byte more. */
    char t[256];
    memcpy(t, sealed, n - 4);
    t[n - 4] = '\0';
    char out[64];
    size_t len;
    cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, t, out, sizeof out, &len), HT_EINVAL);
    memcpy(t, sealed, n);
    memcpy(t + n, "AAAA", 5);
    cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, t, out, sizeof out, &len), HT_EINVAL);
}

/* A sealed ciphertext with its bytes (nonce, ciphertext, tag) flipped one
 * bit at a time: the tag catches each. */
Test(secretbox, flipped_bits_refused)
{
    ht_secretbox_keys_t k = keys_of(KEY_HEX);
    char sealed[256];
    seal(&k, AAD, sizeof AAD, "0123456789abcdef", sealed, sizeof sealed);
    unsigned char box[128];
    long n = ht_base64_decode(sealed + 3, strlen(sealed + 3), box, sizeof box);
    cr_assert_eq(n, 12 + 16 + 16);
    for (long i = 0; i < n * 8; i++) {
        unsigned char t[128];
        memcpy(t, box, (size_t)n);
        t[i / 8] ^= (unsigned char)(1u << (i % 8));
        char text[256] = "v1.";
        ht_base64_encode(t, (size_t)n, text + 3);
        char out[64];
        size_t len;
        cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, text, out, sizeof out, &len), HT_EINVAL,
                     "bit %ld", i);
    }
}

Test(secretbox, other_aad_refused)
{
    ht_secretbox_keys_t k = keys_of(KEY_HEX);
    char sealed[256], out[64];
    size_t len;
    seal(&k, "acme\0ws_1", 9, "the key", sealed, sizeof sealed);
    cr_assert_eq(ht_secretbox_open(&k, "acme\0ws_1", 9, sealed, out, sizeof out, &len), 0);
    cr_assert_eq(ht_secretbox_open(&k, "globex\0ws_1", 11, sealed, out, sizeof out, &len),
                 HT_EINVAL, "another owner");
    cr_assert_eq(ht_secretbox_open(&k, "acme\0ws_2", 9, sealed, out, sizeof out, &len), HT_EINVAL,
                 "another id");
    cr_assert_eq(ht_secretbox_open(&k, "acme\0ws_", 8, sealed, out, sizeof out, &len), HT_EINVAL,
                 "a prefix of the data");
    cr_assert_eq(ht_secretbox_open(&k, NULL, 0, sealed, out, sizeof out, &len), HT_EINVAL,
                 "no associated data");
}

Test(secretbox, other_key_refused_listed_key_opens)
{
    ht_secretbox_keys_t k = keys_of(KEY_HEX), other = keys_of(OTHER_HEX);
    char sealed[256], out[64];
    size_t len;
    seal(&k, AAD, sizeof AAD, "the key", sealed, sizeof sealed);
    cr_assert_eq(ht_secretbox_open(&other, AAD, sizeof AAD, sealed, out, sizeof out, &len),
                 HT_EINVAL);
    /* A new first key seals; the old one, listed second, still opens. */
    ht_secretbox_keys_t both = keys_of(OTHER_HEX "," KEY_HEX);
    cr_assert_eq(both.n, 2);
    cr_assert_eq(ht_secretbox_open(&both, AAD, sizeof AAD, sealed, out, sizeof out, &len), 0);
    cr_assert_eq(len, 7);
    char resealed[256];
    seal(&both, AAD, sizeof AAD, "the key", resealed, sizeof resealed);
    cr_assert_eq(ht_secretbox_open(&other, AAD, sizeof AAD, resealed, out, sizeof out, &len), 0,
                 "the first key seals");
    cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, resealed, out, sizeof out, &len),
                 HT_EINVAL);
}

Test(secretbox, bounds)
{
    ht_secretbox_keys_t k = keys_of(KEY_HEX), none = keys_of("");
    cr_assert_eq(none.n, 0);
    char sealed[512], out[8];
    size_t len;
    cr_assert_eq(ht_secretbox_seal(&none, AAD, sizeof AAD, "x", 1, sealed, sizeof sealed),
                 HT_EINVAL, "no key");
    cr_assert_eq(ht_secretbox_seal(&k, AAD, sizeof AAD, "", 0, sealed, sizeof sealed), HT_EINVAL,
                 "nothing to seal");
    cr_assert_eq(
        ht_secretbox_seal(&k, AAD, sizeof AAD, "xyz", 3, sealed, ht_secretbox_sealed_size(3) - 1),
        HT_EINVAL, "no room");
    static char big[HT_SECRETBOX_PLAIN_MAX + 1];
    cr_assert_eq(ht_secretbox_seal(&k, AAD, sizeof AAD, big, sizeof big, sealed, sizeof sealed),
                 HT_EINVAL, "too long");
    seal(&k, AAD, sizeof AAD, "longer than eight", sealed, sizeof sealed);
    cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, sealed, out, sizeof out, &len), HT_EINVAL,
                 "does not fit the output");
    cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, "v2.AAAA", out, sizeof out, &len),
                 HT_EINVAL);
    cr_assert_eq(ht_secretbox_open(&k, AAD, sizeof AAD, "", out, sizeof out, &len), HT_EINVAL);
}

Test(secretbox, key_forms)
{
    unsigned char raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    char b64[64];
    ht_base64_encode(raw, sizeof raw, b64);
    ht_secretbox_keys_t hex = keys_of(KEY_HEX), base = keys_of(b64);
    cr_assert_eq(memcmp(hex.key[0], raw, 32), 0);
    cr_assert_eq(memcmp(base.key[0], raw, 32), 0);
    ht_secretbox_keys_t upper =
        keys_of(" 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F ");
    cr_assert_eq(memcmp(upper.key[0], raw, 32), 0);
    ht_secretbox_keys_t k = keys_of(KEY_HEX ", " OTHER_HEX " " KEY_HEX);
    cr_assert_eq(k.n, 3);
    ht_secretbox_keys_clear(&k);
    cr_assert_eq(k.n, 0);
}

Test(secretbox, refuses_bad_keys)
{
    const char *bad[] = {
        "00010203",                                                         /* short */
        KEY_HEX "00",                                                       /* long */
        "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", /* not hex */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",                     /* 31 bytes */
        "not a key at all",
        KEY_HEX "," KEY_HEX "," KEY_HEX "," KEY_HEX "," KEY_HEX, /* five */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ht_secretbox_keys_t k;
        char err[256] = "";
        cr_assert_eq(ht_secretbox_keys_parse(bad[i], &k, err, sizeof err), HT_EINVAL, "%s", bad[i]);
        cr_assert_neq(err[0], '\0');
        cr_assert_eq(k.n, 0);
        cr_assert_null(strstr(err, "0102030405"), "the reason does not quote the key: %s", err);
    }
}
