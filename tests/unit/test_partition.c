/* shared/partition.c: the partitions a process serves, the keys of an id,
 * and where a submit goes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "shared/cluster.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/partition.h"

Test(partition, one_partition_is_todays_keyspace)
{
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 1), 0);
    cr_assert_eq(p.count, 1);
    cr_expect_str_eq(p.parts[0].keys.base, "ht:{default}:");
    cr_expect_str_eq(p.parts[0].keys.queue, "default");
    char id[HT_ID_LEN + 1], key[HT_KEY_MAX], want[HT_KEY_MAX];
    cr_assert_eq(ht_id_new(id), 0);
    cr_assert_eq(ht_parts_job_key(&p, id, key), 0);
    snprintf(want, sizeof want, "ht:{default}:job:%s", id);
    cr_expect_str_eq(key, want);
    unsigned rr = 0;
    cr_expect_eq(ht_parts_pick(&p, "acme", NULL, 0, &rr), 0);
    cr_expect_eq(ht_parts_pick(&p, "acme", "k", 1, &rr), 0);
    ht_parts_set_key(&p, key);
    cr_expect_str_eq(key, "ht:partitions:{default}");
    ht_parts_clear(&p);
}

Test(partition, six_partitions_have_distinct_tags_in_their_slot_ranges)
{
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 6), 0);
    cr_assert_eq(p.count, 6);
    for (unsigned i = 0; i < 6; i++) {
        const ht_keys_t *k = &p.parts[i].keys;
        cr_expect_eq(p.parts[i].n, 6);
        cr_expect_eq(p.parts[i].index, i);
        cr_expect_str_eq(k->queue, "default"); /* the job hash's queue field */
        unsigned slot = ht_cluster_keyslot(k->base, strlen(k->base));
        cr_expect(slot >= i * 16384 / 6 && slot < (i + 1) * 16384 / 6, "%s in slot %u", k->base,
                  slot);
        /* every key of a partition is in the same slot */
        cr_expect_eq(ht_cluster_keyslot(k->signal, strlen(k->signal)), slot);
        cr_expect_eq(ht_cluster_keyslot(k->wait[0], strlen(k->wait[0])), slot);
        for (unsigned j = 0; j < i; j++)
            cr_expect_str_neq(k->base, p.parts[j].keys.base);
    }
    ht_parts_clear(&p);
}

Test(partition, keys_of_an_id_follow_the_id)
{
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 6), 0);
    ht_keys_t scratch;
    for (unsigned i = 0; i < 6; i++) {
        char id[HT_ID_LEN + 1];
        cr_assert_eq(ht_id_new_in(id, i, 6), 0);
        const ht_keys_t *k = ht_parts_keys_of(&p, id, &scratch);
        cr_assert_not_null(k);
        cr_expect_eq(k, &p.parts[i].keys, "id %s of partition %u", id, i);
    }
    /* An id of an N not served (a v4 id: 0 of 1; one of 3) gets its keys
     * built, never those of another partition. */
    char id[HT_ID_LEN + 1];
    cr_assert_eq(ht_id_new(id), 0);
    const ht_keys_t *k = ht_parts_keys_of(&p, id, &scratch);
    cr_assert_eq(k, &scratch);
    cr_expect_str_eq(k->base, "ht:{default}:");
    cr_assert_eq(ht_id_new_in(id, 2, 3), 0);
    k = ht_parts_keys_of(&p, id, &scratch);
    char tag[HT_CLUSTER_TAG_MAX], want[HT_KEY_MAX];
    cr_assert_eq(ht_cluster_partition_tag("default", 2, 3, tag, sizeof tag), 0);
    snprintf(want, sizeof want, "ht:{%s}:", tag);
    cr_expect_str_eq(k->base, want);
    cr_expect_null(ht_parts_keys_of(&p, "not-an-id", &scratch));
    cr_expect_eq(ht_parts_job_key(&p, "../x", want), HT_EINVAL);
    ht_parts_clear(&p);
}

Test(partition, other_ns_are_served_after_the_own)
{
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 6), 0);
    cr_assert_eq(ht_parts_add(&p, 1), 0);
    cr_assert_eq(ht_parts_add(&p, 6), 0); /* already served: no-op */
    cr_assert_eq(ht_parts_add(&p, 1), 0);
    cr_expect_eq(p.count, 7);
    cr_expect_eq(p.n_ns, 2);
    cr_expect_eq(p.n, 6);
    cr_expect_str_eq(p.parts[6].keys.base, "ht:{default}:");
    char id[HT_ID_LEN + 1];
    ht_keys_t scratch;
    cr_assert_eq(ht_id_new(id), 0);
    cr_expect_eq(ht_parts_keys_of(&p, id, &scratch), &p.parts[6].keys);
    /* submits go only to the own N's partitions */
    unsigned rr = 0;
    for (int r = 0; r < 30; r++)
        cr_expect_lt(ht_parts_pick(&p, "t", NULL, 0, &rr), 6);
    cr_expect_eq(ht_parts_add(&p, 0), HT_EINVAL);
    cr_expect_eq(ht_parts_add(&p, 1025), HT_EINVAL);
    ht_parts_clear(&p);
}

Test(partition, shared_tags_are_served_once)
{
    /* 2 and 4 partitions: index 0 of both has the slot range starting at 0,
     * and "default.p0" is the tag of both when its slot is low enough; in
     * any case no tag is served twice. */
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 2), 0);
    cr_assert_eq(ht_parts_add(&p, 4), 0);
    cr_assert_eq(ht_parts_add(&p, 8), 0);
    for (size_t a = 0; a < p.count; a++)
        for (size_t b = a + 1; b < p.count; b++)
            cr_expect_str_neq(p.parts[a].keys.base, p.parts[b].keys.base);
    cr_expect_leq(p.count, 14);
    /* and every id of those Ns finds keys with its own tag */
    for (unsigned n = 2; n <= 8; n *= 2) {
        for (unsigned i = 0; i < n; i++) {
            char id[HT_ID_LEN + 1], tag[HT_CLUSTER_TAG_MAX], want[HT_KEY_MAX];
            ht_keys_t scratch;
            cr_assert_eq(ht_id_new_in(id, i, n), 0);
            cr_assert_eq(ht_cluster_partition_tag("default", i, n, tag, sizeof tag), 0);
            snprintf(want, sizeof want, "ht:{%s}:", tag);
            cr_expect_str_eq(ht_parts_keys_of(&p, id, &scratch)->base, want);
        }
    }
    ht_parts_clear(&p);
}

/* Every (i, N) of the recorded Ns, including those deduplicated into
 * another N's entry, finds a served entry with its own tag (never scratch
 * keys: a retry would call such a partition unserved). */
static void expect_all_served(unsigned n1, unsigned n2)
{
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, n1), 0);
    cr_assert_eq(ht_parts_add(&p, n2), 0);
    cr_expect_gt(p.n_aliases, 0, "%u and %u share a tag", n1, n2);
    cr_expect_eq(p.count + p.n_aliases, n1 + n2);
    unsigned ns[2] = {n1, n2};
    for (int w = 0; w < 2; w++) {
        for (unsigned i = 0; i < ns[w]; i++) {
            char id[HT_ID_LEN + 1], tag[HT_CLUSTER_TAG_MAX], want[HT_KEY_MAX];
            ht_keys_t scratch;
            cr_assert_eq(ht_id_new_in(id, i, ns[w]), 0);
            cr_assert_eq(ht_cluster_partition_tag("default", i, ns[w], tag, sizeof tag), 0);
            snprintf(want, sizeof want, "ht:{%s}:", tag);
            const ht_keys_t *k = ht_parts_keys_of(&p, id, &scratch);
            cr_assert_not_null(k);
            cr_expect_neq(k, &scratch, "%u of %u", i, ns[w]);
            cr_expect_str_eq(k->base, want);
            cr_expect(ht_parts_serves(&p, k));
            long j = ht_parts_find(&p, i, ns[w]);
            cr_assert_geq(j, 0);
            cr_expect_str_eq(p.parts[j].keys.base, want);
        }
    }
    /* a tag no recorded N has is not served */
    ht_keys_t other;
    cr_assert_eq(ht_keys_init_tag(&other, HT_QUEUE_DEFAULT, "default.elsewhere"), 0);
    cr_expect_not(ht_parts_serves(&p, &other));
    ht_parts_clear(&p);
}

Test(partition, deduplicated_partitions_are_served_under_every_n)
{
    expect_all_served(2, 3);
    expect_all_served(3, 2);
    expect_all_served(6, 12);
    expect_all_served(12, 6);
}

Test(partition, an_unrecorded_n_on_a_served_tag_finds_the_entry)
{
    /* partition 0 of 7 has the tag of partition 0 of 5 ("default.p0-13"
     * from 5 to 16 partitions) */
    char t5[HT_CLUSTER_TAG_MAX], t7[HT_CLUSTER_TAG_MAX];
    cr_assert_eq(ht_cluster_partition_tag("default", 0, 5, t5, sizeof t5), 0);
    cr_assert_eq(ht_cluster_partition_tag("default", 0, 7, t7, sizeof t7), 0);
    cr_assert_str_eq(t5, t7);
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 5), 0);
    char id[HT_ID_LEN + 1];
    ht_keys_t scratch;
    cr_assert_eq(ht_id_new_in(id, 0, 7), 0);
    cr_expect_eq(ht_parts_keys_of(&p, id, &scratch), &p.parts[0].keys);
    cr_expect_eq(ht_parts_find(&p, 0, 7), 0);
    ht_parts_clear(&p);
}

Test(partition, round_robin_visits_every_partition)
{
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 6), 0);
    unsigned rr = 4, seen[6] = {0};
    for (int r = 0; r < 60; r++)
        seen[ht_parts_pick(&p, "t", NULL, 0, &rr)]++;
    for (int i = 0; i < 6; i++)
        cr_expect_eq(seen[i], 10, "partition %d got %u", i, seen[i]);
    ht_parts_clear(&p);
}

Test(partition, idempotency_keys_pick_stably_and_spread)
{
    ht_parts_t p, q;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 6), 0);
    cr_assert_eq(ht_parts_init(&q, HT_QUEUE_DEFAULT, 6), 0); /* "another process" */
    unsigned rr1 = 0, rr2 = 3, seen[6] = {0};
    for (int r = 0; r < 600; r++) {
        char key[32];
        int len = snprintf(key, sizeof key, "order-%d", r);
        unsigned a = ht_parts_pick(&p, "acme", key, (size_t)len, &rr1);
        cr_expect_eq(a, ht_parts_pick(&q, "acme", key, (size_t)len, &rr2));
        cr_expect_eq(a, ht_parts_pick(&p, "acme", key, (size_t)len, &rr1), "not stable");
        seen[a]++;
    }
    for (int i = 0; i < 6; i++)
        cr_expect_gt(seen[i], 50, "partition %d got only %u of 600 keys", i, seen[i]);
    /* the round-robin state is not touched by keyed picks */
    cr_expect_eq(rr1, 0);
    /* the tenant is part of the choice: (a, bc) and (ab, c) differ in input */
    int differs = 0;
    for (int r = 0; r < 50; r++) {
        char key[32];
        int len = snprintf(key, sizeof key, "k%d", r);
        differs |= ht_parts_pick(&p, "t1", key, (size_t)len, &rr1) !=
                   ht_parts_pick(&p, "t2", key, (size_t)len, &rr1);
    }
    cr_expect(differs);
    ht_parts_clear(&p);
    ht_parts_clear(&q);
}

Test(partition, init_rejects)
{
    ht_parts_t p;
    cr_expect_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 0), HT_EINVAL);
    ht_parts_clear(&p);
    cr_expect_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 1025), HT_EINVAL);
    ht_parts_clear(&p);
    cr_expect_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, HT_PARTITIONS_MAX + 1), HT_EINVAL);
    ht_parts_clear(&p);
    cr_expect_eq(ht_parts_init(&p, "Bad{", 2), HT_EINVAL);
    ht_parts_clear(&p);
    unsigned n;
    cr_expect_eq(ht_parts_parse_n(0, &n), HT_EINVAL);
    cr_expect_eq(ht_parts_parse_n(6, &n), 0);
    cr_expect_eq(n, 6);
}

Test(partition, served_partitions_are_capped)
{
    /* two Ns of the largest size fit (N can change), a third does not, and
     * the refused one leaves p as it was */
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, HT_PARTITIONS_MAX), 0);
    cr_assert_eq(ht_parts_add(&p, HT_PARTITIONS_MAX - 1), 0);
    cr_assert_leq(p.count, HT_PARTITIONS_SERVED_MAX);
    size_t count = p.count, aliases = p.n_aliases, n_ns = p.n_ns;
    cr_expect_eq(ht_parts_add(&p, HT_PARTITIONS_MAX - 2), HT_EINVAL);
    cr_expect_eq(p.count, count);
    cr_expect_eq(p.n_aliases, aliases);
    cr_expect_eq(p.n_ns, n_ns);
    /* the CLI still counts it among the recorded Ns */
    cr_expect_eq(ht_parts_note_n(&p, HT_PARTITIONS_MAX - 2), 0);
    cr_expect_eq(ht_parts_note_n(&p, HT_PARTITIONS_MAX - 2), 0);
    cr_expect_eq(p.n_ns, n_ns + 1);
    cr_expect_eq(p.count, count);
    /* an old N above the config maximum is still servable (ids name it) */
    ht_parts_clear(&p);
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 2), 0);
    cr_expect_eq(ht_parts_add(&p, HT_PARTITIONS_MAX + 1), 0);
    ht_parts_clear(&p);
}
