/* shared/argv.c: borrowed and owned arguments, overflow. */
#include <criterion/criterion.h>
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
