/* shared/decimal.c: whole strings within the bounds, and what it refuses
 * (empty, spaces, '+', trailing text, out of the bounds or of int64); the
 * writer against printf, at the edges of each length. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shared/decimal.h"
#include "shared/error.h"

Test(decimal, accepts)
{
    int64_t v = 7;
    cr_assert_eq(ht_decimal_i64("0", 0, 10, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(ht_decimal_i64("-42", -100, 100, &v), 0);
    cr_assert_eq(v, -42);
    cr_assert_eq(ht_decimal_i64("9223372036854775807", 0, INT64_MAX, &v), 0);
    cr_assert_eq(v, INT64_MAX);
    cr_assert_eq(ht_decimal_i64("10", 10, 10, &v), 0);
    cr_assert_eq(v, 10);
}

Test(decimal, refuses)
{
    const char *bad[] = {"",  " 1",   "+1", "1 ", "1x",
                         "-", "0x10", "11", "-1", "9223372036854775808"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 7;
        cr_assert_eq(ht_decimal_i64(bad[i], 0, i == 9 ? INT64_MAX : 10, &v), HT_EINVAL, "'%s'",
                     bad[i]);
        cr_assert_eq(v, 7, "'%s' changed the output", bad[i]);
    }
    int64_t v = 7;
    cr_assert_eq(ht_decimal_i64(NULL, 0, 10, &v), HT_EINVAL);
}

Test(decimal, writes)
{
    uint64_t vals[] = {0, 9, 10, 99, 100, 4294967295u, 4294967296u, UINT64_MAX - 1, UINT64_MAX};
    for (uint64_t v = 1; v != 0 && v <= UINT64_MAX / 10; v *= 10) {
        char want[32], got[32];
        memset(got, 'x', sizeof got);
        snprintf(want, sizeof want, "%" PRIu64, v - 1);
        size_t n = ht_decimal_put(got, v - 1);
        cr_assert_eq(n, strlen(want));
        cr_assert_eq(memcmp(got, want, n), 0, "%s", want);
        cr_assert_eq(got[n], 'x', "wrote past the digits of %s", want);
    }
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char want[32], got[32];
        snprintf(want, sizeof want, "%" PRIu64, vals[i]);
        size_t n = ht_decimal_put(got, vals[i]);
        got[n] = '\0';
        cr_assert_str_eq(got, want);
    }
}
