/* shared/decimal.c: whole strings within the bounds, and what it refuses
 * (empty, spaces, '+', trailing text, out of the bounds or of int64). */
#include <criterion/criterion.h>
#include <stdint.h>

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
