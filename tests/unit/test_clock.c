/* shared/clock.c: RFC 3339 formatting and parsing, and the clock hook. */
#include <criterion/criterion.h>

#include "shared/clock.h"
#include "shared/error.h"

static char buf[HT_TIME_BUFSZ];

Test(clock, format_epoch_and_millis)
{
    cr_expect_str_eq(ht_format_time(0, buf), "1970-01-01T00:00:00.000Z");
    cr_expect_str_eq(ht_format_time(1795667196123LL, buf), "2026-11-26T04:26:36.123Z");
    cr_expect_str_eq(ht_format_time(951782400007LL, buf), "2000-02-29T00:00:00.007Z");
}

Test(clock, format_before_epoch_floors)
{
    cr_expect_str_eq(ht_format_time(-1, buf), "1969-12-31T23:59:59.999Z");
}

Test(clock, format_clamps_to_four_digit_years)
{
    cr_expect_str_eq(ht_format_time(INT64_MAX, buf), "9999-12-31T23:59:59.999Z");
    cr_expect_str_eq(ht_format_time(INT64_MIN, buf), "0000-01-01T00:00:00.000Z");
}

static int64_t parse(const char *s)
{
    int64_t ms = -42;
    cr_assert_eq(ht_parse_time(s, &ms), 0, "'%s' should parse", s);
    return ms;
}

Test(clock, parse_forms)
{
    cr_expect_eq(parse("2026-11-26T04:26:36Z"), 1795667196000LL);
    cr_expect_eq(parse("2026-11-26T04:26:36.123Z"), 1795667196123LL);
    cr_expect_eq(parse("2026-11-26T04:26:36.1Z"), 1795667196100LL);
    cr_expect_eq(parse("2026-11-26T04:26:36.123999Z"), 1795667196123LL);
    cr_expect_eq(parse("2026-11-26t04:26:36z"), 1795667196000LL);
    cr_expect_eq(parse("2026-11-26T06:26:36+02:00"), 1795667196000LL);
    cr_expect_eq(parse("2026-11-25T23:56:36.5-04:30"), 1795667196500LL);
    cr_expect_eq(parse("1970-01-01T00:00:00+00:00"), 0);
    cr_expect_eq(parse("2000-02-29T00:00:00Z"), 951782400000LL);
}

Test(clock, parse_round_trips_format)
{
    int64_t samples[] = {0, 1, 999, 1000, 1795667196123LL, 4102444799999LL, 951782400007LL};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
        cr_expect_eq(parse(ht_format_time(samples[i], buf)), samples[i]);
}

Test(clock, parse_rejects_garbage)
{
    const char *bad[] = {
        "", "garbage", "2026-11-26", "2026-11-26T04:26:36", "2026-11-26T04:26Z",
        "2026-11-26T04:26:36.Z", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-11-31T00:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T04:60:00Z",
        "2026-11-26T04:26:36+0200", "2026-11-26T04:26:36+24:00", "2026-11-26T04:26:36Zjunk",
        "2026-1-26T04:26:36Z", " 2026-11-26T04:26:36Z", "2026-11-26T04:26:36 Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 7;
        cr_expect_eq(ht_parse_time(bad[i], &ms), HT_EINVAL, "'%s' should be refused", bad[i]);
        cr_expect_eq(ms, 7, "'%s' wrote *ms on failure", bad[i]);
    }
    int64_t ms;
    cr_expect_eq(ht_parse_time(NULL, &ms), HT_EINVAL);
}

static int64_t pinned(void)
{
    return 1234567;
}

Test(clock, hook_pins_and_restores)
{
    ht_set_clock(pinned);
    cr_expect_eq(ht_now_ms(), 1234567);
    ht_set_clock(NULL);
    /* The real clock: after 2020 and before 2100. */
    cr_expect_gt(ht_now_ms(), 1577836800000LL);
    cr_expect_lt(ht_now_ms(), 4102444800000LL);
}
