/* api/idem.c: the Idempotency-Key header value and the body fingerprint. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/error.h"

#include "api/idem.h"

static int parse(const char *v, char *out, size_t outlen)
{
    const char *key;
    size_t len;
    int rc = ht_idem_key_parse(v, strlen(v), &key, &len);
    if (rc == 0)
        snprintf(out, outlen, "%.*s", (int)len, key);
    return rc;
}

Test(idem, bare_and_quoted_keys)
{
    char k[300];
    cr_assert_eq(parse("order-42", k, sizeof k), 0);
    cr_expect_str_eq(k, "order-42");
    cr_assert_eq(parse("\"order-42\"", k, sizeof k), 0);
    cr_expect_str_eq(k, "order-42", "quotes are not part of the key");
    cr_assert_eq(parse("  \"with space\"\t", k, sizeof k), 0);
    cr_expect_str_eq(k, "with space", "spaces allowed inside quotes, trimmed outside");
    cr_assert_eq(parse("a", k, sizeof k), 0);
    char max[HT_IDEM_KEY_MAX + 1];
    memset(max, 'k', HT_IDEM_KEY_MAX);
    max[HT_IDEM_KEY_MAX] = '\0';
    cr_expect_eq(parse(max, k, sizeof k), 0, "255 characters are allowed");
}

Test(idem, malformed_keys)
{
    char k[300], long_key[HT_IDEM_KEY_MAX + 2];
    memset(long_key, 'k', HT_IDEM_KEY_MAX + 1);
    long_key[HT_IDEM_KEY_MAX + 1] = '\0';
    const char *bad[] = {"",     "   ",        "\"\"",        "two words", "\"unterminated",
                         "a\"b", "\"a\\\"b\"", "caf\xc3\xa9", "tab\there", long_key};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(parse(bad[i], k, sizeof k), HT_EINVAL, "accepted bad key %zu", i);
}

Test(idem, body_hash_is_hex_sha256)
{
    char h[HT_IDEM_HASH_LEN + 1];
    cr_assert_eq(ht_idem_body_hash("abc", 3, h), 0);
    cr_expect_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char h2[HT_IDEM_HASH_LEN + 1];
    cr_assert_eq(ht_idem_body_hash("abd", 3, h2), 0);
    cr_expect_str_neq(h, h2);
}
