/* shared/prefer.c: the Prefer header (RFC 7240) as hangtight reads it. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "shared/prefer.h"

/* Parses the given header values (NULL-terminated) in order. */
static ht_prefer_t parse_all(const char *first, ...)
{
    ht_prefer_t p;
    ht_prefer_init(&p);
    va_list ap;
    va_start(ap, first);
    for (const char *v = first; v; v = va_arg(ap, const char *))
        ht_prefer_parse(&p, v, strlen(v));
    va_end(ap);
    return p;
}

#define PARSE(...) parse_all(__VA_ARGS__, NULL)

Test(prefer, nothing)
{
    ht_prefer_t p = PARSE("");
    cr_expect_eq(p.respond_async, 0);
    cr_expect_eq(p.wait_s, -1);
    cr_expect_eq(p.heartbeat_s, -1);
    p = PARSE("   ,  , ");
    cr_expect_eq(p.wait_s, -1);
    cr_expect_eq(p.respond_async, 0);
}

Test(prefer, wait_alone)
{
    ht_prefer_t p = PARSE("wait=120");
    cr_expect_eq(p.wait_s, 120);
    cr_expect_eq(p.respond_async, 0);
    cr_expect_eq(p.heartbeat_s, -1);
    cr_expect_eq(PARSE("wait=0").wait_s, 0);
}

Test(prefer, the_three_together)
{
    ht_prefer_t p = PARSE("respond-async, wait=10, heartbeat=3");
    cr_expect_eq(p.respond_async, 1);
    cr_expect_eq(p.wait_s, 10);
    cr_expect_eq(p.heartbeat_s, 3);
}

Test(prefer, heartbeat_zero_means_none_and_is_kept)
{
    ht_prefer_t p = PARSE("wait=5, heartbeat=0");
    cr_expect_eq(p.heartbeat_s, 0);
    cr_expect_eq(p.wait_s, 5);
}

Test(prefer, names_are_case_insensitive)
{
    ht_prefer_t p = PARSE("WAIT=7, Respond-Async, HeartBeat=2");
    cr_expect_eq(p.wait_s, 7);
    cr_expect_eq(p.respond_async, 1);
    cr_expect_eq(p.heartbeat_s, 2);
}

Test(prefer, whitespace_around_everything)
{
    ht_prefer_t p = PARSE("  wait = 9 ,\theartbeat\t=\t4  ,respond-async  ");
    cr_expect_eq(p.wait_s, 9);
    cr_expect_eq(p.heartbeat_s, 4);
    cr_expect_eq(p.respond_async, 1);
}

Test(prefer, quoted_values)
{
    cr_expect_eq(PARSE("wait=\"15\"").wait_s, 15);
    cr_expect_eq(PARSE("wait=\"1\\5\"").wait_s, 15); /* a quoted-pair */
    cr_expect_eq(PARSE("wait=\"\"").wait_s, -1);
    cr_expect_eq(PARSE("wait=\" 15\"").wait_s, -1);
}

Test(prefer, commas_and_semicolons_inside_quotes_do_not_split)
{
    ht_prefer_t p = PARSE("foo=\"a, wait=1; x\", wait=8");
    cr_expect_eq(p.wait_s, 8);
    p = PARSE("foo; note=\"x, wait=1\", wait=2");
    cr_expect_eq(p.wait_s, 2);
}

Test(prefer, parameters_are_ignored)
{
    ht_prefer_t p = PARSE("wait=30; foo=bar; baz, respond-async;x=\"y;z\"");
    cr_expect_eq(p.wait_s, 30);
    cr_expect_eq(p.respond_async, 1);
    cr_expect_eq(PARSE("wait=30;").wait_s, 30);
    cr_expect_eq(PARSE("wait=30 ; ; x").wait_s, 30);
}

Test(prefer, first_occurrence_wins_within_a_header)
{
    cr_expect_eq(PARSE("wait=5, wait=10").wait_s, 5);
    cr_expect_eq(PARSE("heartbeat=0, heartbeat=10").heartbeat_s, 0);
}

Test(prefer, first_occurrence_wins_across_headers)
{
    ht_prefer_t p = PARSE("wait=5", "wait=10, heartbeat=2", "heartbeat=9, respond-async");
    cr_expect_eq(p.wait_s, 5);
    cr_expect_eq(p.heartbeat_s, 2);
    cr_expect_eq(p.respond_async, 1);
}

Test(prefer, an_unusable_first_occurrence_still_counts)
{
    /* RFC 7240: later occurrences are ignored, whatever the first held. */
    cr_expect_eq(PARSE("wait=soon, wait=10").wait_s, -1);
    cr_expect_eq(PARSE("wait, wait=10").wait_s, -1);
    cr_expect_eq(PARSE("heartbeat=-1", "heartbeat=3").heartbeat_s, -1);
}

Test(prefer, a_malformed_element_is_not_an_occurrence)
{
    /* "wait=" has no value at all: not a preference, so the next counts. */
    cr_expect_eq(PARSE("wait=, wait=10").wait_s, 10);
    cr_expect_eq(PARSE("wait=5 6, wait=7").wait_s, 7);
    cr_expect_eq(PARSE("=5, wait=3").wait_s, 3);
}

Test(prefer, bad_numbers_are_ignored)
{
    cr_expect_eq(PARSE("wait=-5").wait_s, -1);
    cr_expect_eq(PARSE("wait=+5").wait_s, -1);
    cr_expect_eq(PARSE("wait=5.0").wait_s, -1);
    cr_expect_eq(PARSE("wait=5s").wait_s, -1);
    cr_expect_eq(PARSE("wait=0x10").wait_s, -1);
    cr_expect_eq(PARSE("heartbeat=abc").heartbeat_s, -1);
}

Test(prefer, huge_numbers_saturate)
{
    cr_expect_eq(PARSE("wait=99999999999999999999999999").wait_s, HT_PREFER_SECONDS_MAX);
    cr_expect_eq(PARSE("wait=2147483647").wait_s, 2147483647L);
    cr_expect_eq(PARSE("wait=000012").wait_s, 12);
}

Test(prefer, unknown_preferences_are_ignored)
{
    ht_prefer_t p = PARSE("return=minimal, handling=lenient, waiting=5, wait=4");
    cr_expect_eq(p.wait_s, 4);
    cr_expect_eq(p.respond_async, 0);
    cr_expect_eq(PARSE("respond-asynchronously").respond_async, 0);
    cr_expect_eq(PARSE("wai=4").wait_s, -1);
}

Test(prefer, a_bad_element_does_not_hide_its_neighbours)
{
    ht_prefer_t p = PARSE("wait=3, @@@, \"junk\", heartbeat=2, x=\"unterminated");
    cr_expect_eq(p.wait_s, 3);
    cr_expect_eq(p.heartbeat_s, 2);
    p = PARSE("wait=\"unterminated, heartbeat=2");
    cr_expect_eq(p.wait_s, -1);
    cr_expect_eq(p.heartbeat_s, -1); /* swallowed by the open quote */
}

Test(prefer, respond_async_with_a_value_still_counts)
{
    cr_expect_eq(PARSE("respond-async=yes").respond_async, 1);
}

Test(prefer, values_need_not_be_nul_terminated)
{
    ht_prefer_t p;
    ht_prefer_init(&p);
    const char buf[] = "wait=12345";
    ht_prefer_parse(&p, buf, 6); /* "wait=1" */
    cr_expect_eq(p.wait_s, 1);
}

Test(prefer, seconds_helper)
{
    long v = -7;
    cr_expect_eq(ht_prefer_seconds("42", 2, &v), 0);
    cr_expect_eq(v, 42);
    cr_expect_eq(ht_prefer_seconds("", 0, &v), -1);
    cr_expect_eq(ht_prefer_seconds("4 2", 3, &v), -1);
    cr_expect_eq(ht_prefer_seconds("-1", 2, &v), -1);
    cr_expect_eq(ht_prefer_seconds("3000000000", 10, &v), 0);
    cr_expect_eq(v, HT_PREFER_SECONDS_MAX);
}

Test(prefer, init_resets)
{
    ht_prefer_t p = PARSE("wait=3, respond-async, heartbeat=1");
    ht_prefer_init(&p);
    cr_expect_eq(p.wait_s, -1);
    cr_expect_eq(p.respond_async, 0);
    cr_expect_eq(p.heartbeat_s, -1);
    ht_prefer_parse(&p, "wait=4", 6);
    cr_expect_eq(p.wait_s, 4);
}
