/* worker/text.c: the stderr tail and UTF-8 repair. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "worker/text.h"

Test(text, sanitize_keeps_valid_utf8)
{
    const char *s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    char *out = ht_utf8_sanitize(s, strlen(s));
    cr_assert_str_eq(out, s);
    free(out);
}

Test(text, sanitize_replaces_invalid_bytes)
{
    /* Lone continuation, truncated sequence, overlong '/', surrogate, NUL. */
    const char s[] = "a\x80" "b\xc3" "c\xc0\xaf" "d\xed\xa0\x80" "e\0f";
    char *out = ht_utf8_sanitize(s, sizeof(s) - 1);
    cr_assert_str_eq(out, "a?b?c??d???e?f");
    free(out);
}

Test(text, tail_keeps_everything_when_short)
{
    ht_tail_t t = {0};
    ht_tail_append(&t, "  oops\n", 7);
    ht_tail_append(&t, "it broke\n", 9);
    char *s = ht_tail_text(&t);
    cr_assert_str_eq(s, "oops\nit broke");
    free(s);
}

Test(text, tail_empty)
{
    ht_tail_t t = {0};
    char *s = ht_tail_text(&t);
    cr_assert_str_eq(s, "");
    free(s);
}

Test(text, tail_keeps_the_last_bytes)
{
    ht_tail_t t = {0};
    char chunk[1000];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 10; i++)
        ht_tail_append(&t, chunk, sizeof(chunk));
    ht_tail_append(&t, "END", 3);
    cr_assert_eq(t.len, HT_TAIL_MAX);
    cr_assert(t.truncated);
    char *s = ht_tail_text(&t);
    cr_assert_eq(strlen(s), HT_TAIL_MAX);
    cr_assert_str_eq(s + HT_TAIL_MAX - 3, "END");
    free(s);
}

Test(text, tail_one_huge_write)
{
    ht_tail_t t = {0};
    size_t n = HT_TAIL_MAX * 3;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    ht_tail_append(&t, big, n);
    cr_assert_eq(t.len, HT_TAIL_MAX);
    cr_assert_eq(memcmp(t.buf, big + n - HT_TAIL_MAX, HT_TAIL_MAX), 0);
    free(big);
}

Test(text, tail_drops_a_cut_character)
{
    ht_tail_t t = {0};
    char buf[HT_TAIL_MAX + 1];
    /* "é" (2 bytes) straddles the cut: its second byte starts the tail. */
    memset(buf, 'y', sizeof(buf));
    buf[0] = '\xc3';
    buf[1] = '\xa9';
    ht_tail_append(&t, buf, sizeof(buf));
    char *s = ht_tail_text(&t);
    cr_assert_eq(strlen(s), HT_TAIL_MAX - 1);
    cr_assert_eq(s[0], 'y');
    free(s);
}
