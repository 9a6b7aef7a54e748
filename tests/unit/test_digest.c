/* shared/digest.c: Content-Digest (RFC 9530) sha-256, read and written. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/digest.h"
#include "shared/error.h"

/* SHA-256 of "hello world", hex and base64. */
#define HELLO_HEX "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
#define HELLO_B64 "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="

static int read_digest(const char *v, char hex[65])
{
    return ht_digest_sha256_of(v, strlen(v), hex);
}

Test(digest, reads_sha256)
{
    char hex[65];
    static const char *const ok[] = {
        "sha-256=:" HELLO_B64 ":",
        "  sha-256=:" HELLO_B64 ":  ",
        "sha-512=:YWJj:, sha-256=:" HELLO_B64 ":",
        "sha-256=:" HELLO_B64 ":;p=1",
        "sha-256=:" HELLO_B64 ":;p;q=\"x\", md5=:YWJj:",
        "sha-256=:" HELLO_B64 ":,sha-256=:" HELLO_B64 ":",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        cr_expect_eq(read_digest(ok[i], hex), 1, "%s", ok[i]);
        cr_expect_str_eq(hex, HELLO_HEX, "%s", ok[i]);
    }
}

Test(digest, the_last_of_a_key_given_twice_counts)
{
    char hex[65];
    cr_assert_eq(read_digest("sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:, "
                             "sha-256=:" HELLO_B64 ":",
                             hex),
                 1);
    cr_expect_str_eq(hex, HELLO_HEX);
}

Test(digest, other_algorithms_only_name_none)
{
    char hex[65];
    cr_expect_eq(read_digest("sha-512=:YWJj:", hex), 0);
    cr_expect_eq(read_digest("", hex), 0);
    cr_expect_eq(read_digest("   ", hex), 0);
}

Test(digest, refuses_malformed)
{
    char hex[65];
    static const char *const bad[] = {
        "sha-256",                                                /* a boolean member */
        "sha-256=" HELLO_B64,                                     /* not a byte sequence */
        "sha-256=:" HELLO_B64,                                    /* unterminated */
        "sha-256=:YWJj:",                                         /* not 32 bytes */
        "sha-256=:" HELLO_B64 "AAAA:",                            /* too long */
        "sha-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek:",  /* unpadded */
        "sha-256=:uU0nuZNNPgilLlLX2n2r+sSE7+N6U4Du=Ij3rOLvzek=:", /* '=' inside */
        "sha-256=:" HELLO_B64 ": x",                              /* junk after a member */
        "SHA-256=:" HELLO_B64 ":",                                /* keys are lowercase */
        "sha-256=:" HELLO_B64 ":,",                               /* a trailing comma */
        ", sha-256=:" HELLO_B64 ":",
        "sha-256=:uU0n uZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=:",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(read_digest(bad[i], hex), HT_EINVAL, "%s", bad[i]);
}

Test(digest, writes_the_header)
{
    char out[HT_DIGEST_CONTENT_MAX + 1];
    int n = ht_digest_sha256_header(HELLO_HEX, out);
    cr_expect_eq(n, (int)strlen("sha-256=:" HELLO_B64 ":"));
    cr_expect_str_eq(out, "sha-256=:" HELLO_B64 ":");
    char hex[65];
    cr_expect_eq(read_digest(out, hex), 1, "what it writes it reads");
    cr_expect_str_eq(hex, HELLO_HEX);
    cr_expect_eq(ht_digest_sha256_header("b94d", out), HT_EINVAL);
    cr_expect_eq(ht_digest_sha256_header(
                     "zz4d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", out),
                 HT_EINVAL);
}
