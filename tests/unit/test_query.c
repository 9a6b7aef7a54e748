/* shared/query.c: the one query-string decoding rule, as a table of query
 * strings and the parameters they read as (or "malformed"). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "shared/error.h"
#include "shared/query.h"

#define MALFORMED "!malformed"

/* A query and what it reads as: "name=value" pairs, decoded, joined with
 * '|' (a NUL would not show; none can come out), or MALFORMED after the
 * pairs read before the bad one. */
typedef struct {
    const char *query;
    const char *expect;
} case_t;

static const case_t cases[] = {
    {"", ""},
    {"a=1", "a=1"},
    {"a=1&b=2", "a=1|b=2"},
    {"a=1&&b=2&", "a=1|b=2"},
    {"&", ""},
    {"a", "a="},
    {"a=", "a="},
    {"=v", "=v"},
    {"a=b=c", "a=b=c"},
    {"a=1&a=2", "a=1|a=2"},
    {"%41=%61", "A=a"},
    {"x=%2f%2F", "x=//"},
    {"x=a+b", "x=a b"},
    {"x=a%2Bb", "x=a+b"},
    {"x=%20", "x= "},
    {"wa%69t=5", "wait=5"},
    {"x=%C3%A9", "x=\xc3\xa9"},
    {"x=%26&y=%3D", "x=&|y=="},
    {"x=%", "!malformed"},
    {"x=%4", "!malformed"},
    {"x=%G1", "!malformed"},
    {"x=%1G", "!malformed"},
    {"x=%%41", "!malformed"},
    {"x=%00", "!malformed"},
    {"a=1&x=50%&b=2", "a=1|!malformed"},
    {"%=1", "!malformed"},
    {"a%4=1", "!malformed"},
    {"x=%+1", "!malformed"},
    {"x=%-1", "!malformed"},
    {"x=100%25", "x=100%"},
    {"x=\xff", "x=\xff"},
};

static void read_all(const char *query, char *out, size_t outlen)
{
    size_t len = strlen(query);
    char scratch[256];
    cr_assert_lt(len + 2, sizeof(scratch));
    ht_query_t q;
    ht_query_param_t p;
    int rc;
    out[0] = '\0';
    ht_query_init(&q, query, len, scratch);
    while ((rc = ht_query_next(&q, &p)) == 1) {
        cr_expect_eq(strlen(p.name), p.name_len);
        cr_expect_eq(strlen(p.value), p.value_len);
        snprintf(out + strlen(out), outlen - strlen(out), "%s%s=%s", out[0] ? "|" : "", p.name,
                 p.value);
    }
    if (rc == HT_EINVAL) {
        snprintf(out + strlen(out), outlen - strlen(out), "%s%s", out[0] ? "|" : "", MALFORMED);
        cr_expect_not_null(p.raw);
        cr_expect(p.raw >= query && p.raw + p.raw_len <= query + len, "raw is in the query");
        cr_expect_eq(ht_query_next(&q, &p), 0, "the reader stops at a malformed parameter");
    } else {
        cr_expect_eq(rc, 0);
    }
}

Test(query, the_table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[512];
        read_all(cases[i].query, got, sizeof(got));
        cr_expect_str_eq(got, cases[i].expect, "query '%s'", cases[i].query);
    }
}

Test(query, malformed_names_the_parameter)
{
    const char *query = "status=queued&cursor=ab%ZZcd&limit=5";
    char scratch[64];
    ht_query_t q;
    ht_query_param_t p;
    ht_query_init(&q, query, strlen(query), scratch);
    cr_assert_eq(ht_query_next(&q, &p), 1);
    cr_assert_eq(ht_query_next(&q, &p), HT_EINVAL);
    cr_expect_eq(p.raw_len, strlen("cursor=ab%ZZcd"));
    cr_expect_eq(memcmp(p.raw, "cursor=ab%ZZcd", p.raw_len), 0);
}

Test(query, get_takes_the_first_and_checks_everything)
{
    const char *v = NULL;
    char scratch[128];
    const char *q1 = "x=1&wait=30&heartbeat=0&wait=99";
    cr_expect_eq(ht_query_get(q1, strlen(q1), "wait", scratch, &v), 1);
    cr_expect_str_eq(v, "30");
    cr_expect_eq(ht_query_get(q1, strlen(q1), "heartbeat", scratch, &v), 1);
    cr_expect_str_eq(v, "0");
    cr_expect_eq(ht_query_get(q1, strlen(q1), "nope", scratch, &v), 0);
    const char *q2 = "wait=%33%30&wait=1";
    cr_expect_eq(ht_query_get(q2, strlen(q2), "wait", scratch, &v), 1);
    cr_expect_str_eq(v, "30", "decoded");
    const char *q3 = "wait=5&x=%";
    cr_expect_eq(ht_query_get(q3, strlen(q3), "wait", scratch, &v), HT_EINVAL,
                 "malformed after the match is still malformed");
    const char *q4 = "wait";
    cr_expect_eq(ht_query_get(q4, strlen(q4), "wait", scratch, &v), 1);
    cr_expect_str_eq(v, "");
    const char *q5 = "waiting=3&await=4&wait+=5";
    cr_expect_eq(ht_query_get(q5, strlen(q5), "wait", scratch, &v), 0, "names match whole");
}

Test(query, decode_alone)
{
    char out[16];
    size_t n = 99;
    cr_expect_eq(ht_query_decode("a%2Bb+c", 7, out, &n), 0);
    cr_expect_str_eq(out, "a+b c");
    cr_expect_eq(n, 5);
    cr_expect_eq(ht_query_decode("", 0, out, &n), 0);
    cr_expect_eq(n, 0);
    cr_expect_str_eq(out, "");
    /* The length counts, not a NUL: "%4" then what follows is not read. */
    cr_expect_eq(ht_query_decode("%41", 2, out, &n), HT_EINVAL);
    cr_expect_eq(ht_query_decode("%41", 3, out, &n), 0);
    cr_expect_str_eq(out, "A");
}
