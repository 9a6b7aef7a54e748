/* The API keys file parser and lookup (api/auth.c), tenant names and
 * tenant key names (shared/keys.c), the per-tenant slot counters
 * (api/tenants.c). */
#include <criterion/criterion.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "shared/error.h"
#include "shared/keys.h"

#include "api/auth.h"
#include "api/tenants.h"

static ht_auth_t *parse_ok(const char *text)
{
    ht_auth_t *a = NULL;
    char err[256] = "";
    int rc = ht_auth_parse(text, strlen(text), &a, err, sizeof(err));
    cr_assert_eq(rc, 0, "parse failed: %s", err);
    return a;
}

static void parse_fails(const char *text, const char *want)
{
    ht_auth_t *a = NULL;
    char err[256] = "";
    int rc = ht_auth_parse(text, strlen(text), &a, err, sizeof(err));
    cr_assert_eq(rc < 0, 1, "accepted: %s", text);
    cr_assert_null(a);
    cr_assert(strstr(err, want), "error '%s' lacks '%s'", err, want);
}

static const char *tenant_of(const ht_auth_t *a, const char *key)
{
    ht_tenant_t *t = ht_auth_lookup(a, key, strlen(key));
    return t ? t->name : NULL;
}

Test(auth, clear_and_hashed_keys_comments_and_blanks)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    const char *hashed_key = "globex-secret-key-123456";
    SHA256((const unsigned char *)hashed_key, strlen(hashed_key), d);
    char text[512] = "# keys\n\n  acme:acme-key-0123456789abcdef  \r\nacme:acme-second-key-01234\n"
                     "globex:sha256:";
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%02X", d[i]);
    strcat(text, "\n# end");
    ht_auth_t *a = parse_ok(text);
    cr_assert_eq(ht_auth_count(a), 3);
    cr_assert_str_eq(tenant_of(a, "acme-key-0123456789abcdef"), "acme");
    cr_assert_str_eq(tenant_of(a, "acme-second-key-01234"), "acme");
    cr_assert_str_eq(tenant_of(a, hashed_key), "globex");
    cr_assert_null(tenant_of(a, "acme-key-0123456789abcde"), "a prefix is not the key");
    cr_assert_null(tenant_of(a, "acme-key-0123456789abcdef "), "nor a longer string");
    cr_assert_null(tenant_of(a, ""));
    /* Both keys of acme share one tenant record. */
    cr_assert_eq(ht_auth_lookup(a, "acme-key-0123456789abcdef", 25),
                 ht_auth_lookup(a, "acme-second-key-01234", 21));
    ht_auth_free(a);
}

Test(auth, empty_file_has_no_keys)
{
    ht_auth_t *a = parse_ok("# nobody yet\n");
    cr_assert_eq(ht_auth_count(a), 0);
    cr_assert_null(tenant_of(a, "anything-at-all-12345"));
    ht_auth_free(a);
}

Test(auth, refuses_bad_lines_with_their_number)
{
    parse_fails("acme:acme-key-0123456789abcdef\nno colon here\n", "line 2");
    parse_fails("acme:short\n", "16 to 256");
    parse_fails("acme:has a space in the key 0123\n", "visible ASCII");
    parse_fails(":acme-key-0123456789abcdef\n", "tenant must be");
    parse_fails("ac/me:acme-key-0123456789abcdef\n", "tenant must be");
    parse_fails("acme:sha256:abcd\n", "64 hex digits");
    parse_fails("acme:sha256:zz00000000000000000000000000000000000000000000000000000000000000\n",
                "64 hex digits");
    parse_fails("acme:same-key-0123456789abcdef\nglobex:same-key-0123456789abcdef\n",
                "listed twice");
}

Test(tenants, names_and_keys)
{
    cr_assert(ht_tenant_valid("default"));
    cr_assert(ht_tenant_valid("Acme_Corp.eu-1"));
    cr_assert_not(ht_tenant_valid(""));
    cr_assert_not(ht_tenant_valid("a:b"));
    cr_assert_not(ht_tenant_valid("a{b}"));
    char long_name[HT_TENANT_MAX + 2];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cr_assert_not(ht_tenant_valid(long_name));
    long_name[HT_TENANT_MAX] = '\0';
    cr_assert(ht_tenant_valid(long_name));

    ht_keys_t k;
    cr_assert_eq(ht_keys_init(&k, "default"), 0);
    char out[HT_KEY_MAX];
    cr_assert_eq(ht_keys_tenant(&k, "acme", "jobs", out), 0);
    cr_assert_str_eq(out, "ht:{default}:t:acme:jobs");
    cr_assert_eq(ht_keys_tenant_status(&k, "acme", HT_JOB_FAILED, out), 0);
    cr_assert_str_eq(out, "ht:{default}:t:acme:status:failed");
    cr_assert_eq(ht_keys_tenant(&k, "acme", NULL, out), 0);
    cr_assert_str_eq(out, "ht:{default}:t:acme:");
    cr_assert_eq(ht_keys_tenant(&k, "a}b", "jobs", out), HT_EINVAL);
    cr_assert_eq(ht_keys_rate("acme", out), 0);
    cr_assert_str_eq(out, "ht:rate:{acme}");
}

Test(tenants, slots_are_capped_and_given_back)
{
    ht_tenant_t *t = ht_tenant_intern("slots-test");
    cr_assert_not_null(t);
    cr_assert_eq(ht_tenant_intern("slots-test"), t, "one record per name");
    cr_assert_null(ht_tenant_intern("bad name"));
    cr_assert_eq(ht_tenant_take(t, HT_TENANT_HELD, 2), 0);
    cr_assert_eq(ht_tenant_take(t, HT_TENANT_HELD, 2), 0);
    cr_assert_eq(ht_tenant_take(t, HT_TENANT_HELD, 2), -1, "the third is over the cap");
    cr_assert_eq(ht_tenant_take(t, HT_TENANT_STREAMS, 1), 0, "slots of another kind are apart");
    ht_tenant_give(t, HT_TENANT_HELD);
    cr_assert_eq(ht_tenant_take(t, HT_TENANT_HELD, 2), 0, "a slot given back is free again");
    cr_assert_eq(ht_tenant_take(t, HT_TENANT_HELD, 0), 0, "0: no cap");
    ht_tenants_shutdown();
}
