/* worker/lines.c: the bounded line reader, fed in every chunking. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/lines.h"

/* What the reader handed over: "line|" or "line~|" (cut), joined. */
static char got[4096];
static int stop_after; /* stop the feed after this many lines (0: never) */
static int seen;

static int collect(void *arg, const char *line, size_t len, int cut)
{
    (void)arg;
    size_t used = strlen(got);
    snprintf(got + used, sizeof(got) - used, "%.*s%s|", (int)len, line, cut ? "~" : "");
    return stop_after && ++seen >= stop_after;
}

static void reset(void)
{
    got[0] = '\0';
    stop_after = seen = 0;
}

TestSuite(lines, .init = reset);

/* Feeds `s` in chunks of `step` bytes (0: at once), then finishes. */
static void feed(size_t max, const char *s, size_t step)
{
    ht_lines_t l;
    ht_lines_init(&l, max);
    size_t n = strlen(s);
    for (size_t off = 0; off < n;) {
        size_t k = step && n - off > step ? step : n - off;
        cr_assert_eq(ht_lines_feed(&l, s + off, k, collect, NULL), (long)k);
        off += k;
    }
    ht_lines_finish(&l, collect, NULL);
    ht_lines_free(&l);
}

Test(lines, every_chunking_gives_the_same_lines)
{
    const char *s = "one\ntwo\r\n\nthree-is-long\nlast";
    for (size_t step = 0; step <= 8; step++) {
        reset();
        feed(64, s, step);
        cr_assert_str_eq(got, "one|two\r||three-is-long|last|", "step %zu", step);
    }
}

Test(lines, long_lines_are_cut_at_the_bound_and_the_rest_dropped)
{
    for (size_t step = 0; step <= 5; step++) {
        reset();
        feed(5, "abcde\nabcdefgh\nxy\nabcdefghijklmnop", step);
        cr_assert_str_eq(got, "abcde|abcde~|xy|abcde~|", "step %zu", step);
    }
}

Test(lines, the_callback_stops_the_feed)
{
    ht_lines_t l;
    ht_lines_init(&l, 64);
    stop_after = 2;
    const char *s = "a\nb\nc\n";
    cr_assert_eq(ht_lines_feed(&l, s, strlen(s), collect, NULL), 4, "a and b consumed");
    cr_assert_str_eq(got, "a|b|");
    ht_lines_free(&l);
}

Test(lines, a_cut_stops_as_soon_as_the_bound_is_passed)
{
    ht_lines_t l;
    ht_lines_init(&l, 4);
    cr_assert_eq(ht_lines_feed(&l, "abc", 3, collect, NULL), 3);
    cr_assert_str_eq(got, "");
    cr_assert_eq(ht_lines_feed(&l, "defg", 4, collect, NULL), 4);
    cr_assert_str_eq(got, "abcd~|", "no newline needed to see the overflow");
    cr_assert_eq(ht_lines_feed(&l, "hi\nok\n", 6, collect, NULL), 6);
    cr_assert_str_eq(got, "abcd~|ok|");
    ht_lines_free(&l);
}
