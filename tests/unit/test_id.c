/* shared/id.c: UUIDv4 shape, validation, and that ids do not repeat. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/id.h"

Test(id, new_is_lowercase_v4)
{
    char id[HT_ID_LEN + 1];
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(ht_id_new(id), 0);
        cr_assert_eq(strlen(id), HT_ID_LEN);
        cr_assert(ht_id_valid(id, strlen(id)), "'%s' not valid", id);
        cr_assert_eq(id[14], '4');
        cr_assert(strchr("89ab", id[19]) != NULL, "variant nibble of '%s'", id);
        for (const char *p = id; *p; p++)
            cr_assert(!(*p >= 'A' && *p <= 'Z'), "uppercase in '%s'", id);
    }
}

Test(id, ids_differ)
{
    enum { N = 1000 };
    static char ids[N][HT_ID_LEN + 1];
    for (int i = 0; i < N; i++)
        cr_assert_eq(ht_id_new(ids[i]), 0);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            cr_assert_str_neq(ids[i], ids[j]);
}

Test(id, every_random_bit_varies)
{
    /* OR and AND over many ids: each of the 122 random bits must be seen both
     * set and clear, i.e. no nibble is stuck (p of a false failure ~ 2^-900). */
    char id[HT_ID_LEN + 1], seen_or[HT_ID_LEN + 1] = {0}, seen_and[HT_ID_LEN + 1];
    memset(seen_and, 0x0f, HT_ID_LEN);
    for (int i = 0; i < 1000; i++) {
        ht_id_new(id);
        for (int k = 0; k < HT_ID_LEN; k++) {
            if (id[k] == '-')
                continue;
            int v = id[k] <= '9' ? id[k] - '0' : id[k] - 'a' + 10;
            seen_or[k] |= (char)v;
            seen_and[k] &= (char)v;
        }
    }
    for (int k = 0; k < HT_ID_LEN; k++) {
        if (k == 8 || k == 13 || k == 18 || k == 23 || k == 14)
            continue;
        int fixed = k == 19 ? 0x8 : 0; /* variant: top two bits are 10 */
        cr_expect_eq(seen_or[k], 0xf - (k == 19 ? 0x4 : 0), "nibble %d never sets a bit", k);
        cr_expect_eq(seen_and[k], fixed, "nibble %d never clears a bit", k);
    }
}

Test(id, valid_rejects)
{
    const char *ok = "0f8fad5b-d9cb-469f-a165-70867728950e";
    cr_expect(ht_id_valid(ok, strlen(ok)));
    cr_expect(!ht_id_valid(ok, strlen(ok) - 1));
    cr_expect(!ht_id_valid("0F8FAD5B-D9CB-469F-A165-70867728950E", 36));
    cr_expect(!ht_id_valid("0f8fad5b-d9cb-169f-a165-70867728950e", 36)); /* v1 */
    cr_expect(!ht_id_valid("0f8fad5b-d9cb-469f-c165-70867728950e", 36)); /* variant */
    cr_expect(!ht_id_valid("0f8fad5bxd9cb-469f-a165-70867728950e", 36));
    cr_expect(!ht_id_valid("0f8fad5b-d9cb-469f-a165-70867728950g", 36));
    cr_expect(!ht_id_valid("../../etc/passwd", 16));
    cr_expect(!ht_id_valid(NULL, 0));
}
