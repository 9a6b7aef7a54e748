/* shared/tenant_secret.c: ids, the sealed key bound to its tenant and id
 * (a sealed value copied to another tenant's or another id's record does
 * not open), and the reading of ht_whsec_list's reply. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/error.h"
#include "shared/tenant_secret.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static ht_secretbox_keys_t keys(void)
{
    ht_secretbox_keys_t k;
    cr_assert_eq(ht_secretbox_keys_parse(KEY_HEX, &k, NULL, 0), 0);
    return k;
}

Test(tenant_secret, ids)
{
    char a[HT_TSECRET_ID_LEN + 1], b[HT_TSECRET_ID_LEN + 1];
    cr_assert_eq(ht_tsecret_id_new(a), 0);
    cr_assert_eq(ht_tsecret_id_new(b), 0);
    cr_assert_eq(strlen(a), HT_TSECRET_ID_LEN);
    cr_assert_str_neq(a, b);
    cr_assert(ht_tsecret_id_valid(a, strlen(a)), "%s", a);
    const char *bad[] = {"",
                         "ws_",
                         "ws_0123456789abcdef0123456",
                         "ws_0123456789abcdef012345678",
                         "ws_0123456789ABCDEF01234567",
                         "xx_0123456789abcdef01234567",
                         "ws_0123456789abcdef0123456g",
                         "ws_0123456789abcdef01234/67"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(ht_tsecret_id_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
    cr_assert(ht_tsecret_id_valid("ws_0123456789abcdef01234567", 27));
}

Test(tenant_secret, sealed_key_is_bound_to_tenant_and_id)
{
    ht_secretbox_keys_t k = keys();
    unsigned char key[HT_TSECRET_KEY_LEN], out[HT_TSECRET_KEY_LEN];
    cr_assert_eq(ht_tsecret_key_new(key), 0);
    char sealed[HT_TSECRET_SEALED_MAX];
    const char *id = "ws_0123456789abcdef01234567";
    cr_assert_eq(ht_tsecret_seal(&k, "acme", id, key, sealed), 0);
    cr_assert_lt(strlen(sealed), (size_t)HT_TSECRET_SEALED_MAX);
    cr_assert_eq(ht_tsecret_open(&k, "acme", id, sealed, out), 0);
    cr_assert_eq(memcmp(out, key, sizeof key), 0);
    cr_assert_eq(ht_tsecret_open(&k, "globex", id, sealed, out), HT_EINVAL, "another tenant");
    cr_assert_eq(ht_tsecret_open(&k, "acme", "ws_0123456789abcdef01234568", sealed, out), HT_EINVAL,
                 "another id");
    /* The separator keeps the tenant and the id apart. */
    cr_assert_eq(ht_tsecret_open(&k, "acmews", "_0123456789abcdef01234567", sealed, out),
                 HT_EINVAL);
    ht_secretbox_keys_t none = {0};
    cr_assert_eq(ht_tsecret_open(&none, "acme", id, sealed, out), HT_EINVAL, "no key");
    cr_assert_eq(ht_tsecret_seal(&none, "acme", id, key, sealed), HT_EINVAL);
}

Test(tenant_secret, refuses_what_is_not_a_key)
{
    ht_secretbox_keys_t k = keys();
    /* 16 bytes sealed under the right tenant and id: not a 32-byte key. */
    char aad[] = "hangtight webhook secret v1\0acme\0ws_0123456789abcdef01234567";
    char sealed[128];
    cr_assert_eq(
        ht_secretbox_seal(&k, aad, sizeof aad - 1, "sixteen bytes!!!", 16, sealed, sizeof sealed),
        0);
    unsigned char out[HT_TSECRET_KEY_LEN];
    cr_assert_eq(ht_tsecret_open(&k, "acme", "ws_0123456789abcdef01234567", sealed, out),
                 HT_EINVAL);
}

Test(tenant_secret, parses_the_list_reply)
{
    const char *reply[] = {"1700000005000", "ws_b",          "1700000004000", "0",     "v1.BBB",
                           "ws_a",          "1700000001000", "1700000090000", "v1.AAA"};
    ht_tsecret_rec_t recs[HT_TSECRET_LIVE_MAX];
    size_t n = 99;
    int64_t now = 0;
    cr_assert_eq(ht_tsecret_parse_list(reply, 9, &now, recs, &n), 0);
    cr_assert_eq(now, 1700000005000);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(recs[0].id, "ws_b");
    cr_assert_eq(recs[0].expires_ms, 0);
    cr_assert_str_eq(recs[1].sealed, "v1.AAA");
    cr_assert_eq(recs[1].created_ms, 1700000001000);
    cr_assert_eq(recs[1].expires_ms, 1700000090000);
    cr_assert_eq(ht_tsecret_parse_list(reply, 1, &now, recs, &n), 0, "no secrets");
    cr_assert_eq(n, 0);
    cr_assert_eq(ht_tsecret_parse_list(reply, 0, &now, recs, &n), HT_EPROTO, "empty");
    cr_assert_eq(ht_tsecret_parse_list(reply, 8, &now, recs, &n), HT_EPROTO, "a record cut");
    const char *bad[] = {"now", "ws_a", "1", "0", "v1.A"};
    cr_assert_eq(ht_tsecret_parse_list(bad, 5, &now, recs, &n), HT_EPROTO, "not a time");
    const char *bad2[] = {"1", "ws_a", "1", "-5", "v1.A"};
    cr_assert_eq(ht_tsecret_parse_list(bad2, 5, &now, recs, &n), HT_EPROTO, "negative");
}
