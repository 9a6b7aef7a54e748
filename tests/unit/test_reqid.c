/* api/reqid.c and api/access_log.c: which client ids are taken, made ids,
 * and paths made safe for a log line. */
#include <criterion/criterion.h>
#include <string.h>

#include "api/access_log.h"
#include "api/reqid.h"

Test(reqid, valid)
{
    cr_expect(ht_reqid_valid("abc-123", 7));
    cr_expect(ht_reqid_valid("a._:/+=@-Z9", 11));
    cr_expect(!ht_reqid_valid("", 0));
    cr_expect(!ht_reqid_valid("has space", 9));
    cr_expect(!ht_reqid_valid("quote\"", 6));
    cr_expect(!ht_reqid_valid("nul\0x", 5));
    cr_expect(!ht_reqid_valid("\xc3\xa9", 2));
    char big[HT_REQID_MAX + 2];
    memset(big, 'a', sizeof(big));
    cr_expect(ht_reqid_valid(big, HT_REQID_MAX));
    cr_expect(!ht_reqid_valid(big, HT_REQID_MAX + 1));
}

Test(reqid, made_ids_are_valid_and_distinct)
{
    char a[HT_REQID_MAX + 1], b[HT_REQID_MAX + 1];
    ht_reqid_make(3, a);
    ht_reqid_make(3, b);
    cr_expect(ht_reqid_valid(a, strlen(a)));
    cr_expect_str_neq(a, b);
    cr_expect(strncmp(a, b, 11) == 0, "same process prefix and thread: %s %s", a, b);
    cr_expect(strstr(a, "-3-") == a + 8, "%s", a);
}

Test(reqid, paths_for_the_log)
{
    char out[32];
    ht_access_path("/v1/jobs?x=1", 12, out, sizeof(out));
    cr_expect_str_eq(out, "/v1/jobs?x=1");
    ht_access_path("/a\xff\n\"b", 6, out, sizeof(out));
    cr_expect_str_eq(out, "/a%FF%0A\"b");
    char longp[100];
    memset(longp, 'x', sizeof(longp));
    ht_access_path(longp, sizeof(longp), out, sizeof(out));
    cr_expect(strlen(out) < sizeof(out));
    cr_expect(strcmp(out + strlen(out) - 3, "...") == 0, "%s", out);
    ht_access_path("\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe\xfe", 10, out, 8);
    cr_expect_str_eq(out, "%FE...");
}
