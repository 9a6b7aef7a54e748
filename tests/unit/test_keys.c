/* shared/keys.c: key names as documented in docs/keyspace.md. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/error.h"
#include "shared/keys.h"

Test(keys, default_queue)
{
    ht_keys_t k;
    cr_assert_eq(ht_keys_init(&k, HT_QUEUE_DEFAULT), 0);
    cr_expect_str_eq(k.queue, "default");
    cr_expect_str_eq(k.job_prefix, "ht:{default}:job:");
    cr_expect_str_eq(k.wait[HT_PRIO_HIGH], "ht:{default}:wait:high");
    cr_expect_str_eq(k.wait[HT_PRIO_DEFAULT], "ht:{default}:wait:default");
    cr_expect_str_eq(k.wait[HT_PRIO_LOW], "ht:{default}:wait:low");
    cr_expect_str_eq(k.active, "ht:{default}:active");
    cr_expect_str_eq(k.fence, "ht:{default}:fence");
    cr_expect_str_eq(k.signal, "ht:{default}:signal");
    cr_expect_str_eq(k.channel, "ht:{default}:events");
    char job[HT_KEY_MAX];
    ht_keys_job(&k, "0f8fad5b-d9cb-469f-a165-70867728950e", job);
    cr_expect_str_eq(job, "ht:{default}:job:0f8fad5b-d9cb-469f-a165-70867728950e");
}

Test(keys, longest_queue_fits)
{
    char q[64];
    memset(q, 'q', 63);
    q[63] = '\0';
    ht_keys_t k;
    cr_assert_eq(ht_keys_init(&k, q), 0);
    char job[HT_KEY_MAX];
    ht_keys_job(&k, "0f8fad5b-d9cb-469f-a165-70867728950e", job);
    cr_expect_eq(strlen(job), strlen("ht:{}:job:") + 63 + 36);
    cr_expect_eq(strlen(k.wait[HT_PRIO_DEFAULT]), strlen("ht:{}:wait:default") + 63);
}

Test(keys, bad_queue_names)
{
    char q[65];
    memset(q, 'q', 64);
    q[64] = '\0';
    const char *bad[] = {"", "Default", "a b", "a}b", "a{b", "a:b", q};
    ht_keys_t k;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_eq(ht_keys_init(&k, bad[i]), HT_EINVAL, "'%s' accepted", bad[i]);
    cr_expect_eq(ht_keys_init(&k, NULL), HT_EINVAL);
    cr_expect_eq(ht_keys_init(&k, "video.hd-2_x"), 0);
}
