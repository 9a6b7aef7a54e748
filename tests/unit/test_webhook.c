/* shared/webhook.c: secrets parsing, signing (the Standard Webhooks spec's
 * example vector) and verification. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/webhook.h"

#define SPEC_SECRET  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID      "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS      1614265330LL
#define SPEC_BODY    "{\"test\": 2432232314}"
#define SPEC_SIG     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define OTHER_SECRET "whsec_c2Vjb25kIHNlY3JldCBrZXk="

static ht_webhook_secrets_t parse_ok(const char *list)
{
    ht_webhook_secrets_t s;
    char err[128] = "";
    cr_assert_eq(ht_webhook_secrets_parse(list, &s, err, sizeof err), 0, "%s: %s", list, err);
    return s;
}

Test(webhook, parses_lists)
{
    ht_webhook_secrets_t s = parse_ok(SPEC_SECRET);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.len[0], 24);
    s = parse_ok(" " SPEC_SECRET ", " OTHER_SECRET " ");
    cr_assert_eq(s.n, 2);
    cr_assert_eq(s.len[1], strlen("second secret key"));
    cr_assert_eq(memcmp(s.key[1], "second secret key", s.len[1]), 0);
    s = parse_ok("");
    cr_assert_eq(s.n, 0);
}

Test(webhook, refuses_bad_secrets)
{
    const char *bad[] = {
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* no prefix */
        "whsec_",                           /* empty key */
        "whsec_abc",                        /* not a multiple of 4 */
        "whsec_ab!d",                       /* not base64 */
        SPEC_SECRET "," SPEC_SECRET "," SPEC_SECRET "," SPEC_SECRET "," SPEC_SECRET, /* 5 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ht_webhook_secrets_t s;
        char err[128] = "";
        cr_assert_eq(ht_webhook_secrets_parse(bad[i], &s, err, sizeof err), HT_EINVAL, "%s",
                     bad[i]);
        cr_assert_neq(err[0], '\0');
        cr_assert_eq(s.n, 0);
    }
}

Test(webhook, signs_the_spec_example)
{
    ht_webhook_secrets_t s = parse_ok(SPEC_SECRET);
    char *sig = ht_webhook_signature(&s, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
    cr_assert_str_eq(sig, SPEC_SIG);
    free(sig);
}

Test(webhook, signs_once_per_secret)
{
    ht_webhook_secrets_t s = parse_ok(SPEC_SECRET " " OTHER_SECRET);
    char *sig = ht_webhook_signature(&s, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
    cr_assert_eq(strncmp(sig, SPEC_SIG " v1,", strlen(SPEC_SIG) + 4), 0, "%s", sig);
    cr_assert_eq(strlen(sig), 2 * strlen(SPEC_SIG) + 1);
    free(sig);
    ht_webhook_secrets_t none = parse_ok("");
    cr_assert_null(ht_webhook_signature(&none, SPEC_ID, SPEC_TS, SPEC_BODY, 3));
}

Test(webhook, verifies_the_spec_example)
{
    ht_webhook_secrets_t s = parse_ok(SPEC_SECRET);
    size_t n = strlen(SPEC_BODY);
    cr_assert_eq(
        ht_webhook_verify(&s, SPEC_ID, "1614265330", SPEC_SIG, SPEC_BODY, n, SPEC_TS + 100, 300),
        0);
    /* One matching signature among others is enough (rotation). */
    cr_assert_eq(ht_webhook_verify(&s, SPEC_ID, "1614265330",
                                   "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " SPEC_SIG,
                                   SPEC_BODY, n, SPEC_TS, 300),
                 0);
    /* A receiver holding the old and the new secret verifies either. */
    ht_webhook_secrets_t both = parse_ok(OTHER_SECRET "," SPEC_SECRET);
    cr_assert_eq(
        ht_webhook_verify(&both, SPEC_ID, "1614265330", SPEC_SIG, SPEC_BODY, n, SPEC_TS, 300), 0);
}

Test(webhook, refuses_what_does_not_match)
{
    ht_webhook_secrets_t s = parse_ok(SPEC_SECRET);
    ht_webhook_secrets_t other = parse_ok(OTHER_SECRET);
    size_t n = strlen(SPEC_BODY);
    const char *ts = "1614265330";
    cr_assert_eq(ht_webhook_verify(&other, SPEC_ID, ts, SPEC_SIG, SPEC_BODY, n, SPEC_TS, 300),
                 HT_EINVAL);
    cr_assert_eq(ht_webhook_verify(&s, "msg_other", ts, SPEC_SIG, SPEC_BODY, n, SPEC_TS, 300),
                 HT_EINVAL);
    cr_assert_eq(ht_webhook_verify(&s, SPEC_ID, "1614265331", SPEC_SIG, SPEC_BODY, n, SPEC_TS, 300),
                 HT_EINVAL);
    cr_assert_eq(
        ht_webhook_verify(&s, SPEC_ID, ts, SPEC_SIG, "{\"test\": 2432232315}", n, SPEC_TS, 300),
        HT_EINVAL);
    cr_assert_eq(ht_webhook_verify(&s, SPEC_ID, ts,
                                   "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", SPEC_BODY, n,
                                   SPEC_TS, 300),
                 HT_EINVAL);
    cr_assert_eq(ht_webhook_verify(&s, SPEC_ID, ts, "", SPEC_BODY, n, SPEC_TS, 300), HT_EINVAL);
    cr_assert_eq(ht_webhook_verify(&s, SPEC_ID, "x", SPEC_SIG, SPEC_BODY, n, SPEC_TS, 300),
                 HT_EINVAL);
}

Test(webhook, refuses_stale_and_future_timestamps)
{
    ht_webhook_secrets_t s = parse_ok(SPEC_SECRET);
    size_t n = strlen(SPEC_BODY);
    const char *ts = "1614265330";
    cr_assert_eq(ht_webhook_verify(&s, SPEC_ID, ts, SPEC_SIG, SPEC_BODY, n, SPEC_TS + 300, 300), 0);
    cr_assert_eq(ht_webhook_verify(&s, SPEC_ID, ts, SPEC_SIG, SPEC_BODY, n, SPEC_TS + 301, 300),
                 HT_EINVAL);
    cr_assert_eq(ht_webhook_verify(&s, SPEC_ID, ts, SPEC_SIG, SPEC_BODY, n, SPEC_TS - 301, 300),
                 HT_EINVAL);
}

/* A key added as bytes signs like the same key given as whsec_ text, and
 * formats back to that text. */
Test(webhook, adds_and_formats_keys)
{
    ht_webhook_secrets_t parsed = parse_ok(SPEC_SECRET), added = {0};
    cr_assert_eq(ht_webhook_secrets_add(&added, parsed.key[0], parsed.len[0]), 0);
    char *a = ht_webhook_signature(&parsed, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
    char *b = ht_webhook_signature(&added, SPEC_ID, SPEC_TS, SPEC_BODY, strlen(SPEC_BODY));
    cr_assert_str_eq(b, SPEC_SIG);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
    char text[64];
    cr_assert_eq(ht_webhook_secret_format(parsed.key[0], parsed.len[0], text, sizeof text), 0);
    cr_assert_str_eq(text, SPEC_SECRET);
    cr_assert_eq(ht_webhook_secret_format(parsed.key[0], parsed.len[0], text, strlen(SPEC_SECRET)),
                 HT_EINVAL, "no room for the NUL");
    for (int i = 1; i < HT_WEBHOOK_SECRETS_MAX; i++)
        cr_assert_eq(ht_webhook_secrets_add(&added, parsed.key[0], parsed.len[0]), 0);
    cr_assert_eq(ht_webhook_secrets_add(&added, parsed.key[0], parsed.len[0]), HT_EINVAL,
                 "at most HT_WEBHOOK_SECRETS_MAX");
    ht_webhook_secrets_t empty = {0};
    cr_assert_eq(ht_webhook_secrets_add(&empty, parsed.key[0], 0), HT_EINVAL, "empty key");
}
