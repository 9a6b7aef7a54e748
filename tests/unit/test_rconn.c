/* The pure part of the blocking cluster client (shared/rconn.c): which
 * argument of a command routes it (the routing rule of issue 10).  The
 * network part is exercised against a real cluster by
 * tests/integration/test_cluster_store.sh. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/argv.h"
#include "shared/cluster.h"
#include "shared/error.h"
#include "shared/rconn.h"
#include "shared/store.h"

/* ht_cluster_key_index of a command given as words. */
static int key_index(size_t argc, const char *const *argv)
{
    size_t lens[16];
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return ht_cluster_key_index(argc, argv, lens);
}
#define KEY_INDEX(...)                                                                             \
    key_index(sizeof((const char *[]){__VA_ARGS__}) / sizeof(const char *),                        \
              (const char *[]){__VA_ARGS__})

Test(rconn, scripts_route_by_their_first_key)
{
    cr_assert_eq(KEY_INDEX("FCALL", "ht_claim", "5", "ht:{default}:wait:high", "b"), 3);
    cr_assert_eq(KEY_INDEX("fcall_ro", "ht_get", "1", "ht:{default}:job:x"), 3);
    cr_assert_eq(KEY_INDEX("EVAL", "return 1", "1", "ht:{default}:"), 3);
    cr_assert_eq(KEY_INDEX("EVALSHA", "abc", "2", "k1", "k2"), 3);
    cr_assert_eq(KEY_INDEX("EVAL_RO", "return 1", "1", "k"), 3);
    cr_assert_eq(KEY_INDEX("EVALSHA_RO", "abc", "1", "k"), 3);
}

Test(rconn, scripts_without_keys_go_to_any_master)
{
    cr_assert_eq(KEY_INDEX("EVAL", "return 1", "0"), -1);
    cr_assert_eq(KEY_INDEX("FCALL", "f", "0", "an-arg-not-a-key"), -1);
    cr_assert_eq(KEY_INDEX("FCALL", "f"), -1); /* malformed: Redis will say so */
}

Test(rconn, keyed_commands_route_by_argv1)
{
    cr_assert_eq(KEY_INDEX("HGET", "ht:schema", "version"), 1);
    cr_assert_eq(KEY_INDEX("HSET", "ht:types", "echo", "{}"), 1);
    cr_assert_eq(KEY_INDEX("BLPOP", "ht:{default}:signal", "1.000"), 1);
    cr_assert_eq(KEY_INDEX("hgetall", "ht:{default}:job:x"), 1);
}

Test(rconn, keyless_commands_go_to_any_master)
{
    cr_assert_eq(KEY_INDEX("PING"), -1);
    cr_assert_eq(KEY_INDEX("INFO", "memory"), -1);
    cr_assert_eq(KEY_INDEX("CONFIG", "GET", "maxmemory-policy"), -1);
    cr_assert_eq(KEY_INDEX("FUNCTION", "LOAD", "REPLACE", "#!lua name=x"), -1);
    cr_assert_eq(KEY_INDEX("function", "list"), -1);
    cr_assert_eq(KEY_INDEX("CLUSTER", "SLOTS"), -1);
    cr_assert_eq(KEY_INDEX("SUBSCRIBE", "ht:{default}:cancel"), -1);
    cr_assert_eq(KEY_INDEX("PUBLISH", "ht:{default}:cancel", "m"), -1);
    cr_assert_eq(KEY_INDEX("TIME"), -1);
    /* Only whole words match: FUNCTIONS is not FUNCTION. */
    cr_assert_eq(KEY_INDEX("FUNCTIONS", "x"), 1);
}

Test(rconn, every_call_of_a_queue_lands_in_one_slot)
{
    /* What the store sends for queue "default": the routing key of each
     * call hashes to the slot of {default}. */
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_claim", 5, 0);
    ht_argv_add(&a, "ht:{default}:wait:high");
    int k = ht_cluster_key_index(a.n, a.v, a.len);
    cr_assert_eq(k, 3);
    cr_assert_eq(ht_cluster_keyslot(a.v[k], a.len[k]), ht_cluster_keyslot("default", 7));
    ht_argv_clear(&a);
}

Test(rconn, unreachable_seeds_fail_cleanly_and_later_calls_retry)
{
    /* Nothing listens on port 1: every seed is tried, each failure is a
     * clean HT_EREDIS, and the rconn stays usable (calls reconnect). */
    ht_redis_url_t url;
    char err[128];
    cr_assert_eq(
        ht_redis_url_parse("redis+cluster://127.0.0.1:1,127.0.0.1:2", &url, err, sizeof err), 0);
    ht_rconn_t *c;
    cr_assert_eq(ht_rconn_open(&c, &url, 200), HT_EREDIS);
    cr_assert(strstr(ht_rconn_errstr(c), "127.0.0.1:2"), "%s", ht_rconn_errstr(c));
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "HGET");
    ht_argv_add(&a, "ht:schema");
    ht_argv_add(&a, "version");
    int rc = 0;
    cr_assert_null(ht_rconn_call(c, &a, 0, &rc));
    cr_assert_eq(rc, HT_EREDIS);
    /* The connects just failed: the call fails at once, no connect tried
     * (a failover must not stall a worker a connect timeout per call). */
    cr_assert(strstr(ht_rconn_errstr(c), "is down"), "%s", ht_rconn_errstr(c));
    cr_assert_eq(ht_rconn_masters(c), HT_EREDIS);
    /* No map: no master 0 to call (a bug of the caller, not an outage). */
    cr_assert_null(ht_rconn_call_master(c, 0, &a, &rc));
    cr_assert_eq(rc, HT_EINVAL);
    cr_assert_eq(ht_rconn_subscribe_many(c, (const char *[]){"ch"}, 1), HT_EREDIS);
    ht_rconn_close(c);

    cr_assert_eq(ht_redis_url_parse("redis://127.0.0.1:1", &url, err, sizeof err), 0);
    cr_assert_eq(ht_rconn_open(&c, &url, 200), HT_EREDIS);
    cr_assert(strstr(ht_rconn_errstr(c), "cannot connect to redis at 127.0.0.1:1"), "%s",
              ht_rconn_errstr(c));
    cr_assert_null(ht_rconn_call_master(c, 1, &a, &rc));
    cr_assert_eq(rc, HT_EINVAL);
    cr_assert_null(ht_rconn_call_master(c, 0, &a, &rc));
    cr_assert_eq(rc, HT_EREDIS);
    ht_argv_clear(&a);
    ht_rconn_close(c);
}

Test(store, unavailable_errors_are_told_from_bugs)
{
    /* A 503 (retry later), not a 500: README promises it for a Redis full,
     * loading, failing over, or short of replicas (min-replicas-to-write). */
    static const char *const unavailable[] = {
        "OOM command not allowed when used memory > 'maxmemory'.",
        "LOADING Redis is loading the dataset in memory",
        "BUSY Redis is busy running a script.",
        "MISCONF Redis is configured to save RDB snapshots",
        "READONLY You can't write against a read only replica.",
        "MASTERDOWN Link with MASTER is down",
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "UNBLOCKED force unblock from blocking operation",
        "NOREPLICAS Not enough good replicas to write.",
        "NOREPLICAS"};
    for (size_t i = 0; i < sizeof unavailable / sizeof unavailable[0]; i++)
        cr_assert(ht_store_error_is_unavailable(unavailable[i]), "%s", unavailable[i]);
    static const char *const bugs[] = {"ERR unknown command", "WRONGTYPE Operation against a key",
                                       "NOREPLICASX made up", "EXISTS job", "ERR NOREPLICAS"};
    for (size_t i = 0; i < sizeof bugs / sizeof bugs[0]; i++)
        cr_assert_not(ht_store_error_is_unavailable(bugs[i]), "%s", bugs[i]);
}
