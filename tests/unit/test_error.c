/* shared/error.c: every code has words, errno codes pass through. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "shared/error.h"

Test(error, every_code_has_its_own_text)
{
    const char *seen[16];
    int n = 0;
    for (int e = HT_EINVAL; e <= HT_ELIMIT; e++) {
        const char *s = ht_strerror(e);
        cr_assert(s && *s);
        cr_expect_str_neq(s, "unknown error", "code %d", e);
        for (int i = 0; i < n; i++)
            cr_expect_str_neq(s, seen[i], "code %d repeats a text", e);
        seen[n++] = s;
    }
}

Test(error, errno_and_unknown)
{
    cr_expect_str_eq(ht_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
    cr_expect_str_eq(ht_strerror(-ENOENT), strerror(ENOENT));
    cr_expect_str_eq(ht_strerror(0), "success");
    cr_expect_str_eq(ht_strerror(-999999), "unknown error");
    cr_expect_str_eq(ht_strerror(5), "unknown error");
}
