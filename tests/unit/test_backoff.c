/* shared/backoff.c: the exponential cap and the full-jitter draw. */
#include <criterion/criterion.h>
#include <limits.h>

#include "shared/backoff.h"

static uint64_t fixed(void *state)
{
    return *(uint64_t *)state;
}

Test(backoff, cap_doubles_per_attempt)
{
    cr_assert_eq(ht_backoff_cap_ms(1000, 600000, 1), 1000);
    cr_assert_eq(ht_backoff_cap_ms(1000, 600000, 2), 2000);
    cr_assert_eq(ht_backoff_cap_ms(1000, 600000, 3), 4000);
    cr_assert_eq(ht_backoff_cap_ms(200, 600000, 4), 1600);
}

Test(backoff, cap_is_bounded_by_max)
{
    cr_assert_eq(ht_backoff_cap_ms(1000, 600000, 10), 512000);
    cr_assert_eq(ht_backoff_cap_ms(1000, 600000, 11), 600000);
    cr_assert_eq(ht_backoff_cap_ms(1000, 600000, 25), 600000);
    cr_assert_eq(ht_backoff_cap_ms(5000, 3000, 1), 3000);
}

Test(backoff, cap_never_overflows)
{
    cr_assert_eq(ht_backoff_cap_ms(LONG_MAX, LONG_MAX, INT_MAX), LONG_MAX);
    cr_assert_eq(ht_backoff_cap_ms(LONG_MAX / 2 + 1, LONG_MAX, 2), LONG_MAX);
    cr_assert_eq(ht_backoff_cap_ms(3, LONG_MAX, 200), LONG_MAX);
    cr_assert_eq(ht_backoff_cap_ms(1, LONG_MAX, 63), 1L << 62);
}

Test(backoff, odd_inputs)
{
    cr_assert_eq(ht_backoff_cap_ms(1000, 600000, 0), 1000, "attempt 0 counts as 1");
    cr_assert_eq(ht_backoff_cap_ms(1000, 600000, -5), 1000);
    cr_assert_eq(ht_backoff_cap_ms(-1, 600000, 3), 0);
    cr_assert_eq(ht_backoff_cap_ms(1000, -1, 3), 0);
    cr_assert_eq(ht_backoff_cap_ms(0, 600000, 20), 0);
}

Test(backoff, delay_spans_zero_to_cap_inclusive)
{
    uint64_t r = 0;
    cr_assert_eq(ht_backoff_delay_ms(1000, 600000, 3, fixed, &r), 0);
    r = 4000; /* cap 4000: 4001 possible values, 4000 is the largest */
    cr_assert_eq(ht_backoff_delay_ms(1000, 600000, 3, fixed, &r), 4000);
    r = 4001;
    cr_assert_eq(ht_backoff_delay_ms(1000, 600000, 3, fixed, &r), 0);
    r = UINT64_MAX;
    long d = ht_backoff_delay_ms(1000, 600000, 3, fixed, &r);
    cr_assert(d >= 0 && d <= 4000);
    r = 12345;
    cr_assert_eq(ht_backoff_delay_ms(0, 600000, 3, fixed, &r), 0, "zero base: no delay");
}

Test(backoff, default_source_stays_in_range_and_varies)
{
    long min = LONG_MAX, max = -1;
    for (int i = 0; i < 2000; i++) {
        long d = ht_backoff_delay_ms(200, 600000, 2, NULL, NULL);
        cr_assert(d >= 0 && d <= 400, "delay %ld out of [0, 400]", d);
        if (d < min)
            min = d;
        if (d > max)
            max = d;
    }
    /* 2000 uniform draws from 401 values: both ends are reached nearly
     * surely within 40 ms of them. */
    cr_assert(min < 40 && max > 360, "draws span only [%ld, %ld]", min, max);
}
