/* Redis Cluster arithmetic (shared/cluster.c) against the cluster
 * specification's examples and Redis' own answers. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/cluster.h"
#include "shared/cluster_reply.h"
#include "shared/error.h"

static unsigned slot(const char *key)
{
    return ht_cluster_keyslot(key, strlen(key));
}

Test(cluster, crc16_reference_value)
{
    /* The spec: "The CRC16 of 123456789 is 0x31C3" (XMODEM). */
    cr_assert_eq(ht_crc16("123456789", 9), 0x31C3);
    cr_assert_eq(ht_crc16("", 0), 0);
}

Test(cluster, keyslot_matches_redis)
{
    /* CLUSTER KEYSLOT answers of redis-server 7.0 for these keys. */
    cr_assert_eq(slot("foo"), 12182);
    cr_assert_eq(slot("bar"), 5061);
    cr_assert_eq(slot("somekey"), 11058);
    cr_assert_eq(slot("123456789"), 0x31C3 % 16384);
    cr_assert_eq(slot(""), 0);
    cr_assert_eq(slot("foo{}{bar}"), 8363);
    cr_assert_eq(slot("foo{{bar}}zap"), 4015);
    cr_assert_eq(slot("foo{bar}{zap}"), 5061);
    cr_assert_eq(slot("foo{bar"), 15278);
}

Test(cluster, hash_tags_as_the_spec_says)
{
    /* {user1000}.following and {user1000}.followers: the same slot. */
    cr_assert_eq(slot("{user1000}.following"), slot("{user1000}.followers"));
    cr_assert_eq(slot("{user1000}.following"), slot("user1000"));
    /* foo{}{bar}: the first {} is empty, so the whole key is hashed. */
    cr_assert_eq(slot("foo{}{bar}"), ht_crc16("foo{}{bar}", 10) % 16384);
    /* foo{{bar}}zap: the tag is "{bar". */
    cr_assert_eq(slot("foo{{bar}}zap"), slot("{bar"));
    cr_assert_eq(slot("foo{{bar}}zap"), ht_crc16("{bar", 4) % 16384);
    /* foo{bar}{zap}: only the first tag counts. */
    cr_assert_eq(slot("foo{bar}{zap}"), slot("bar"));
    /* No closing brace: the whole key. */
    cr_assert_eq(slot("foo{bar"), ht_crc16("foo{bar", 7) % 16384);
    /* Every key of a queue shares its tag's slot. */
    cr_assert_eq(slot("ht:{default}:job:8c0e7f4e"), slot("ht:{default}:wait:high"));
    cr_assert_eq(slot("ht:{default}:t:acme:jobs"), slot("default"));
}

Test(cluster, map_from_ranges)
{
    ht_cluster_range_t r[] = {
        {0, 5460, "127.0.0.1", 7000},
        {5461, 10922, "127.0.0.1", 7001},
        {10923, 16383, "", 7002}, /* a node that does not know its address */
        {16000, 16383, "127.0.0.1", 7000}, /* a later range wins its slots */
    };
    ht_cluster_map_t m;
    cr_assert_eq(ht_cluster_map_build(&m, r, 4, "10.0.0.9"), 0);
    cr_assert_eq(m.n_nodes, 3);
    cr_assert_str_eq(m.nodes[m.owner[0]].host, "127.0.0.1");
    cr_assert_eq(m.nodes[m.owner[5460]].port, 7000);
    cr_assert_eq(m.nodes[m.owner[5461]].port, 7001);
    cr_assert_str_eq(m.nodes[m.owner[12000]].host, "10.0.0.9");
    cr_assert_eq(m.nodes[m.owner[16000]].port, 7000);
    cr_assert_eq(ht_cluster_map_uncovered(&m), 0);
    ht_cluster_map_clear(&m);

    ht_cluster_range_t part[] = {{0, 99, "h", 1}};
    cr_assert_eq(ht_cluster_map_build(&m, part, 1, NULL), 0);
    cr_assert_eq(ht_cluster_map_uncovered(&m), 16384 - 100);
    ht_cluster_map_clear(&m);

    ht_cluster_range_t bad[] = {{0, 16384, "h", 1}};
    cr_assert_eq(ht_cluster_map_build(&m, bad, 1, NULL), HT_EINVAL);
    ht_cluster_range_t bad_port[] = {{0, 1, "h", 0}};
    cr_assert_eq(ht_cluster_map_build(&m, bad_port, 1, NULL), HT_EINVAL);
    ht_cluster_range_t no_host[] = {{0, 1, "", 7000}};
    cr_assert_eq(ht_cluster_map_build(&m, no_host, 1, NULL), HT_EINVAL);
}

Test(cluster, redirects)
{
    ht_redirect_t r;
    const char *moved = "MOVED 3999 127.0.0.1:6381";
    cr_assert_eq(ht_cluster_parse_redirect(moved, strlen(moved), &r), HT_REDIRECT_MOVED);
    cr_assert_eq(r.slot, 3999);
    cr_assert_str_eq(r.host, "127.0.0.1");
    cr_assert_eq(r.port, 6381);

    const char *ask = "ASK 3999 127.0.0.1:6381";
    cr_assert_eq(ht_cluster_parse_redirect(ask, strlen(ask), &r), HT_REDIRECT_ASK);
    cr_assert_eq(r.port, 6381);

    const char *v6 = "MOVED 1 [::1]:7000";
    cr_assert_eq(ht_cluster_parse_redirect(v6, strlen(v6), &r), HT_REDIRECT_MOVED);
    cr_assert_str_eq(r.host, "::1");
    const char *v6bare = "MOVED 1 ::1:7000";
    cr_assert_eq(ht_cluster_parse_redirect(v6bare, strlen(v6bare), &r), HT_REDIRECT_MOVED);
    cr_assert_str_eq(r.host, "::1");
    cr_assert_eq(r.port, 7000);
    const char *self = "MOVED 12 :7002";
    cr_assert_eq(ht_cluster_parse_redirect(self, strlen(self), &r), HT_REDIRECT_MOVED);
    cr_assert_str_eq(r.host, "");

    static const char *const not_redirects[] = {
        "ERR unknown command", "MOVED", "MOVED 3999", "MOVED x 1.2.3.4:1", "MOVED 16384 h:1",
        "MOVED 1 h", "MOVED 1 h:", "MOVED 1 h:99999", "MOVED 1 h:0", "ASK 1 h:1x", "moved 1 h:1",
    };
    for (size_t i = 0; i < sizeof(not_redirects) / sizeof(not_redirects[0]); i++)
        cr_assert_eq(ht_cluster_parse_redirect(not_redirects[i], strlen(not_redirects[i]), &r),
                     HT_REDIRECT_NONE, "%s", not_redirects[i]);
}

Test(cluster, partition_tags_spread_over_the_slot_space)
{
    char tag[HT_CLUSTER_TAG_MAX];
    cr_assert_eq(ht_cluster_partition_tag("default", 0, 1, tag, sizeof(tag)), 0);
    cr_assert_str_eq(tag, "default", "one partition keeps the queue's own tag");

    /* 6 partitions on 3 evenly split masters: two on each. */
    int per_master[3] = {0, 0, 0};
    for (unsigned i = 0; i < 6; i++) {
        cr_assert_eq(ht_cluster_partition_tag("default", i, 6, tag, sizeof(tag)), 0);
        unsigned s = slot(tag);
        cr_assert(s >= i * 16384 / 6 && s < (i + 1) * 16384 / 6, "%s in slot %u", tag, s);
        per_master[s <= 5460 ? 0 : s <= 10922 ? 1 : 2]++;
        /* The same answer every time: every process finds the same tags. */
        char again[HT_CLUSTER_TAG_MAX];
        ht_cluster_partition_tag("default", i, 6, again, sizeof(again));
        cr_assert_str_eq(tag, again);
    }
    cr_assert(per_master[0] == 2 && per_master[1] == 2 && per_master[2] == 2);

    for (unsigned n = 2; n <= 1024; n *= 4)
        for (unsigned i = 0; i < n; i += n / 2 + 1) {
            cr_assert_eq(ht_cluster_partition_tag("q", i, n, tag, sizeof(tag)), 0);
            unsigned s = slot(tag);
            cr_assert(s >= i * 16384 / n && s < (i + 1) * 16384 / n);
        }
    cr_assert_eq(ht_cluster_partition_tag("default", 6, 6, tag, sizeof(tag)), HT_EINVAL);
    cr_assert_eq(ht_cluster_partition_tag("default", 0, 0, tag, sizeof(tag)), HT_EINVAL);
    cr_assert_eq(ht_cluster_partition_tag("default", 0, 1025, tag, sizeof(tag)), HT_EINVAL);
}

/* ---- CLUSTER SLOTS reply -> map (cluster_reply.c) ----------------------- */

static redisReply *parse_resp(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    cr_assert(rd);
    cr_assert_eq(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    void *reply = NULL;
    cr_assert_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
    cr_assert(reply, "incomplete RESP in the test");
    redisReaderFree(rd);
    return reply;
}

Test(cluster, map_from_slots_reply)
{
    /* Two ranges: 0-8191 on 127.0.0.1:7000 (with a replica), 8192-16383
     * on a node that does not know its address (""). */
    redisReply *r = parse_resp("*2\r\n"
                               "*4\r\n:0\r\n:8191\r\n"
                               "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
                               "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nir\r\n"
                               "*3\r\n:8192\r\n:16383\r\n"
                               "*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n");
    ht_cluster_map_t m;
    cr_assert_eq(ht_cluster_map_from_reply(&m, r, "10.1.1.1"), 0);
    cr_expect_eq(m.n_nodes, 2);
    cr_expect_str_eq(m.nodes[m.owner[0]].host, "127.0.0.1");
    cr_expect_eq(m.nodes[m.owner[8191]].port, 7000);
    cr_expect_str_eq(m.nodes[m.owner[8192]].host, "10.1.1.1");
    cr_expect_eq(m.nodes[m.owner[16383]].port, 7001);
    cr_expect_eq(ht_cluster_map_uncovered(&m), 0);
    ht_cluster_map_clear(&m);
    freeReplyObject(r);

    /* Not an array of ranges: a protocol error, no map. */
    r = parse_resp("*1\r\n*2\r\n:0\r\n:5\r\n");
    cr_expect_eq(ht_cluster_map_from_reply(&m, r, "h"), HT_EPROTO);
    freeReplyObject(r);
    r = parse_resp("-ERR This instance has cluster support disabled\r\n");
    cr_expect_eq(ht_cluster_map_from_reply(&m, r, "h"), HT_EPROTO);
    freeReplyObject(r);
}

Test(cluster, error_replies_say_what_to_do_with_the_node)
{
    static const struct {
        const char *err;
        ht_cluster_err_action_t want;
    } cases[] = {
        {"READONLY You can't write against a read only replica.", HT_CLUSTER_ERR_DROP},
        {"MASTERDOWN Link with MASTER is down", HT_CLUSTER_ERR_DROP},
        {"UNBLOCKED force unblock from blocking operation", HT_CLUSTER_ERR_DROP},
        {"CLUSTERDOWN The cluster is down", HT_CLUSTER_ERR_STALE_MAP},
        {"TRYAGAIN Multiple keys request during rehashing of slot", HT_CLUSTER_ERR_STALE_MAP},
        {"CLUSTERDOWN", HT_CLUSTER_ERR_STALE_MAP},
        /* Unavailable for now, but the node and the map are fine. */
        {"OOM command not allowed when used memory > 'maxmemory'.", HT_CLUSTER_ERR_NONE},
        {"LOADING Redis is loading the dataset in memory", HT_CLUSTER_ERR_NONE},
        {"BUSY Redis is busy running a script.", HT_CLUSTER_ERR_NONE},
        {"MISCONF Redis is configured to save RDB snapshots", HT_CLUSTER_ERR_NONE},
        {"NOREPLICAS Not enough good replicas to write.", HT_CLUSTER_ERR_NONE},
        {"ERR unknown command", HT_CLUSTER_ERR_NONE},
        {"READONLYX not a code", HT_CLUSTER_ERR_NONE},
        {"", HT_CLUSTER_ERR_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(ht_cluster_error_action(cases[i].err), cases[i].want, "%s", cases[i].err);
}
