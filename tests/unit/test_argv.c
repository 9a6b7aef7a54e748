/* shared/argv.c: borrowed, owned and integer arguments, overflow, RESP. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "shared/argv.h"

Test(argv, add_kinds)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "FCALL");
    ht_argv_addn(&a, "ht_submitXX", 9);
    ht_argv_addf(&a, "%d", 42);
    ht_argv_add_owned(&a, strdup("owned"));
    cr_assert_eq(a.n, 4);
    cr_expect_eq(a.overflow, 0);
    cr_expect_str_eq(a.v[0], "FCALL");
    cr_expect_eq(a.len[0], 5);
    cr_expect_eq(a.len[1], 9);
    cr_expect_eq(memcmp(a.v[1], "ht_submit", 9), 0);
    cr_expect_str_eq(a.v[2], "42");
    cr_expect_eq(a.len[2], 2);
    cr_expect_str_eq(a.v[3], "owned");
    ht_argv_clear(&a);
    cr_expect_eq(a.n, 0);
}

Test(argv, binary_safe_lengths)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_addn(&a, "a\0b", 3);
    cr_expect_eq(a.len[0], 3);
    ht_argv_clear(&a);
}

Test(argv, grows_past_the_inline_room)
{
    ht_argv_t a;
    ht_argv_init(&a);
    cr_expect_eq(a.v, a.v_, "the first arguments live inside");
    for (int i = 0; i < 5000; i++) {
        if (i % 2)
            ht_argv_addf(&a, "%d", i);
        else
            ht_argv_add(&a, "borrowed");
    }
    cr_expect_eq(a.overflow, 0);
    cr_assert_eq(a.n, 5000);
    cr_expect_neq(a.v, a.v_, "more went to the heap");
    cr_expect_str_eq(a.v[0], "borrowed");
    char last_inside[16];
    snprintf(last_inside, sizeof(last_inside), "%d", HT_ARGV_MAX - 1); /* odd: a copy */
    cr_expect_str_eq(a.v[HT_ARGV_MAX - 1], last_inside);
    cr_expect_str_eq(a.v[4999], "4999");
    cr_expect_eq(a.len[4999], 4);
    ht_argv_clear(&a); /* frees the heap and the 2500 copies (ASan) */
    cr_expect_eq(a.n, 0);
    cr_expect_eq(a.v, a.v_, "cleared: back inside, reusable");
    ht_argv_add(&a, "again");
    cr_expect_eq(a.n, 1);
    ht_argv_clear(&a);
}

Test(argv, overflow_past_the_limit_sets_flag_and_frees)
{
    ht_argv_t a;
    ht_argv_init(&a);
    for (size_t i = 0; i < HT_ARGV_LIMIT; i++)
        ht_argv_add(&a, "x");
    cr_expect_eq(a.overflow, 0);
    cr_expect_eq(a.n, HT_ARGV_LIMIT);
    ht_argv_add(&a, "one too many");
    ht_argv_addf(&a, "%s", "and another"); /* must be freed, not leaked (ASan) */
    ht_argv_add_owned(&a, strdup("and a third"));
    cr_expect_eq(a.overflow, 1);
    cr_expect_eq(a.n, HT_ARGV_LIMIT);
    ht_argv_clear(&a);
    cr_expect_eq(a.overflow, 0);
}

Test(argv, null_string_is_an_error)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, NULL);
    cr_expect_eq(a.overflow, 1);
    cr_expect_eq(a.n, 0);
    ht_argv_clear(&a);
}

Test(argv, addll_digits_without_allocation)
{
    ht_argv_t a;
    ht_argv_init(&a);
    const long long vals[] = {0, 7, -1, 1234567890123LL, LLONG_MAX, LLONG_MIN, 42, -42, 9, 10};
    char want[32];
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
        ht_argv_addll(&a, vals[i]); /* past HT_ARGV_NUMS: copies, freed by clear (ASan) */
    cr_assert_eq(a.n, sizeof(vals) / sizeof(vals[0]));
    for (size_t i = 0; i < a.n; i++) {
        snprintf(want, sizeof(want), "%lld", vals[i]);
        cr_expect_eq(a.len[i], strlen(want), "length of %s", want);
        cr_expect_eq(memcmp(a.v[i], want, a.len[i]), 0, "digits of %s", want);
    }
    ht_argv_clear(&a);
}

/* ht_argv_resp writes what hiredis' own formatter writes, byte for byte. */
Test(argv, resp_as_hiredis_formats_it)
{
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_submit", 3, 0);
    ht_argv_add(&a, "ht:{default}:job:1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b");
    ht_argv_addn(&a, "a\0b\r\n", 5);
    ht_argv_add(&a, "");
    ht_argv_addll(&a, -1234567);
    char big[300];
    memset(big, 'x', sizeof(big));
    ht_argv_addn(&a, big, sizeof(big));
    char *mine = NULL, *theirs = NULL;
    long n = ht_argv_resp(&a, &mine);
    int m = redisFormatCommandArgv(&theirs, (int)a.n, a.v, a.len);
    cr_assert_gt(n, 0);
    cr_assert_eq(n, m);
    cr_expect_eq(memcmp(mine, theirs, (size_t)n), 0);
    free(mine);
    redisFreeCommand(theirs);
    ht_argv_clear(&a);
}

Test(argv, resp_of_an_overflowed_vector_is_refused)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "x");
    ht_argv_add(&a, NULL); /* a failed add: the vector must not be sent */
    cr_assert(a.overflow);
    char *out = (char *)1;
    cr_expect_eq(ht_argv_resp(&a, &out), -1);
    cr_expect_null(out);
    ht_argv_clear(&a);
}
