/* api/parts.c: the cursor of a partitioned listing round-trips, and
 * anything it did not make is refused (never read out of bounds). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "shared/error.h"
#include "shared/id.h"

#include "api/parts.h"

Test(parts_cursor, round_trip)
{
    ht_api_cursor_pos_t in[7], out[16];
    for (unsigned i = 0; i < 6; i++) {
        in[i].n = 6;
        in[i].index = i;
        in[i].state = (int)(i % 3);
        in[i].score = 1764150000000LL + i;
        cr_assert_eq(ht_id_new_in(in[i].id, i, 6), 0);
    }
    in[6] = (ht_api_cursor_pos_t){.n = 1, .index = 0, .state = 2, .score = 281474976710655LL};
    cr_assert_eq(ht_id_new(in[6].id), 0);
    char s[512];
    cr_assert_eq(ht_api_cursor_encode(in, 7, s, sizeof s), 0);
    for (const char *p = s; *p; p++)
        cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    size_t n;
    cr_assert_eq(ht_api_cursor_decode(s, out, 16, &n), 0, "%s", s);
    cr_assert_eq(n, 7);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(out[i].n, in[i].n);
        cr_expect_eq(out[i].index, in[i].index);
        cr_expect_eq(out[i].state, in[i].state);
        if (in[i].state == 2) {
            cr_expect_eq(out[i].score, in[i].score);
            cr_expect_str_eq(out[i].id, in[i].id);
        }
    }
    /* too small a buffer is refused, not overrun */
    cr_expect_eq(ht_api_cursor_encode(in, 7, s, 20), HT_EINVAL);
}

Test(parts_cursor, forgeries_are_refused)
{
    ht_api_cursor_pos_t pos[4], out[8];
    size_t n;
    for (unsigned i = 0; i < 4; i++) {
        pos[i] = (ht_api_cursor_pos_t){.n = 4, .index = i, .state = 2, .score = 1000 + i};
        cr_assert_eq(ht_id_new_in(pos[i].id, i, 4), 0);
    }
    char good[256];
    cr_assert_eq(ht_api_cursor_encode(pos, 4, good, sizeof good), 0);
    const char *bad[] = {"", "x", "1764150000000:0f8fad5b-d9cb-469f-a165-70867728950e",
                         "AQ==", "!!!!", "AgAAAA", "AQAAAw", /* version 2; i >= n */
                         "AQAAAA-", "ASAAAA" /* state 2 without its position */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(ht_api_cursor_decode(bad[i], out, 8, &n), HT_EINVAL, "'%s' accepted", bad[i]);
    /* every truncation and every single-character change is either refused
     * or decodes to positions of valid partitions with valid ids */
    size_t len = strlen(good);
    for (size_t cut = 0; cut < len; cut++) {
        char s[256];
        memcpy(s, good, cut);
        s[cut] = '\0';
        if (ht_api_cursor_decode(s, out, 8, &n) == 0)
            for (size_t k = 0; k < n; k++)
                cr_expect(out[k].index < out[k].n);
    }
    for (size_t at = 0; at < len; at++) {
        char s[256];
        memcpy(s, good, len + 1);
        s[at] = s[at] == 'A' ? 'z' : 'A';
        if (ht_api_cursor_decode(s, out, 8, &n) == 0)
            for (size_t k = 0; k < n; k++) {
                cr_expect(out[k].index < out[k].n);
                cr_expect(out[k].state != 2 || ht_id_valid(out[k].id, HT_ID_LEN));
            }
    }
    /* more positions than room */
    cr_expect_eq(ht_api_cursor_decode(good, out, 3, &n), HT_EINVAL);
}
