/* shared/base64.c: RFC 4648 test vectors both ways, and what the decoder
 * refuses (other characters, misplaced padding, a length not a multiple
 * of 4, a result larger than the room given). */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/base64.h"

static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

Test(base64, rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        char out[16];
        size_t n = ht_base64_encode(plain[i], strlen(plain[i]), out);
        cr_assert_eq(n, HT_BASE64_LEN(strlen(plain[i])));
        cr_assert_str_eq(out, coded[i]);
        if (i == 0)
            continue; /* nothing to decode */
        char back[16];
        long m = ht_base64_decode(coded[i], strlen(coded[i]), back, sizeof back);
        cr_assert_eq(m, (long)strlen(plain[i]), "%s", coded[i]);
        cr_assert_eq(memcmp(back, plain[i], (size_t)m), 0);
    }
}

Test(base64, refuses)
{
    const char *bad[] = {"", "Zg=", "Zg", "Z===", "Zg=a", "Zm9v Yg==", "Zm9\nv", "Zm9-", "=Zm9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[16];
        cr_assert_eq(ht_base64_decode(bad[i], strlen(bad[i]), out, sizeof out), -1, "'%s'", bad[i]);
    }
    char two[2];
    cr_assert_eq(ht_base64_decode("Zm9v", 4, two, sizeof two), -1, "no room for 3 bytes");
    cr_assert_eq(ht_base64_decode("Zm8=", 4, two, sizeof two), 2, "2 bytes fit");
}
