/* shared/id.c: UUIDv4 shape, validation, and that ids do not repeat (across
 * refills of the random pool, and across fork()). */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/error.h"
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

/* ---- partitioned ids (v8) ------------------------------------------------ */

Test(id, partition_round_trip)
{
    static const unsigned cases[][2] = {{0, 1}, {0, 2},       {1, 2},    {0, 6},    {5, 6},
                                        {3, 7}, {1023, 1024}, {0, 1024}, {511, 512}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int rep = 0; rep < 50; rep++) {
            char id[HT_ID_LEN + 1];
            unsigned i = 99, n = 99;
            cr_assert_eq(ht_id_new_in(id, cases[c][0], cases[c][1]), 0);
            cr_assert_eq(strlen(id), HT_ID_LEN);
            cr_assert(ht_id_valid(id, HT_ID_LEN), "'%s' not valid", id);
            cr_assert_eq(ht_id_partition(id, HT_ID_LEN, &i, &n), 0);
            cr_assert_eq(i, cases[c][0], "%s: index %u", id, i);
            cr_assert_eq(n, cases[c][1], "%s: n %u", id, n);
            cr_assert_eq(id[14], cases[c][1] == 1 ? '4' : '8', "version of %s", id);
            cr_assert(strchr("89ab", id[19]) != NULL, "variant nibble of '%s'", id);
        }
    }
}

Test(id, partition_layout_is_the_last_20_bits)
{
    /* The documented example: last digits 01401 = partition 1 of 6. */
    const char *id = "0f8fad5b-d9cb-869f-a165-708677201401";
    unsigned i, n;
    cr_assert_eq(ht_id_partition(id, strlen(id), &i, &n), 0);
    cr_expect_eq(i, 1);
    cr_expect_eq(n, 6);
    char made[HT_ID_LEN + 1];
    cr_assert_eq(ht_id_new_in(made, 1, 6), 0);
    cr_expect_str_eq(made + 31, "01401");
    /* A v4 id is partition 0 of 1, whatever its last digits say. */
    const char *v4 = "0f8fad5b-d9cb-469f-a165-708677201401";
    cr_assert_eq(ht_id_partition(v4, strlen(v4), &i, &n), 0);
    cr_expect_eq(i, 0);
    cr_expect_eq(n, 1);
}

Test(id, partition_rejects)
{
    char id[HT_ID_LEN + 1];
    cr_expect_eq(ht_id_new_in(id, 0, 0), HT_EINVAL);
    cr_expect_eq(ht_id_new_in(id, 2, 2), HT_EINVAL);
    cr_expect_eq(ht_id_new_in(id, 0, 1025), HT_EINVAL);
    unsigned i, n;
    /* v8 with i >= N (5 of 5: N - 1 = 4, i = 5 -> 0x01005) */
    cr_expect(!ht_id_valid("0f8fad5b-d9cb-869f-a165-708677201005", 36));
    /* v8 claiming N = 1 (we make v4 for that) */
    cr_expect(!ht_id_valid("0f8fad5b-d9cb-869f-a165-708677200000", 36));
    /* other versions, bad variant, uppercase */
    cr_expect(!ht_id_valid("0f8fad5b-d9cb-769f-a165-708677201401", 36));
    cr_expect(!ht_id_valid("0f8fad5b-d9cb-869f-c165-708677201401", 36));
    cr_expect(!ht_id_valid("0f8fad5b-d9cb-869f-a165-70867720140A", 36));
    cr_expect_eq(ht_id_partition("0f8fad5b-d9cb-869f-a165-708677201005", 36, &i, &n), HT_EINVAL);
    cr_expect_eq(ht_id_partition(NULL, 0, &i, &n), HT_EINVAL);
}

Test(id, partitioned_random_bits_vary)
{
    /* The 102 random bits of v8 ids: every nibble before the partition
     * field varies (bar the fixed version and variant bits). */
    char id[HT_ID_LEN + 1];
    int seen_or[HT_ID_LEN] = {0}, seen_and[HT_ID_LEN];
    for (int k = 0; k < HT_ID_LEN; k++)
        seen_and[k] = 0xf;
    for (int r = 0; r < 1000; r++) {
        cr_assert_eq(ht_id_new_in(id, 3, 6), 0);
        for (int k = 0; k < HT_ID_LEN; k++) {
            if (id[k] == '-')
                continue;
            int v = id[k] <= '9' ? id[k] - '0' : id[k] - 'a' + 10;
            seen_or[k] |= v;
            seen_and[k] &= v;
        }
    }
    for (int k = 0; k < 31; k++) {
        if (k == 8 || k == 13 || k == 18 || k == 23 || k == 14)
            continue;
        cr_expect_eq(seen_or[k], 0xf - (k == 19 ? 0x4 : 0), "nibble %d never sets a bit", k);
        cr_expect_eq(seen_and[k], k == 19 ? 0x8 : 0, "nibble %d never clears a bit", k);
    }
}

/* Random bytes come from a per-thread pool: a child of fork() must not hand
 * out the ids its parent hands out next. */
Test(id, fork_child_does_not_repeat_the_parent)
{
    char first[HT_ID_LEN + 1], mine[HT_ID_LEN + 1], theirs[HT_ID_LEN + 1] = {0};
    cr_assert_eq(ht_id_new(first), 0); /* the pool now holds the next ids */
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char id[HT_ID_LEN + 1];
        int ok = ht_id_new(id) == 0 && write(fd[1], id, HT_ID_LEN) == HT_ID_LEN;
        _exit(ok ? 0 : 1);
    }
    close(fd[1]);
    cr_assert_eq(read(fd[0], theirs, HT_ID_LEN), HT_ID_LEN);
    close(fd[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(ht_id_new(mine), 0);
    cr_assert(ht_id_valid(theirs, HT_ID_LEN));
    cr_assert_str_neq(mine, theirs);
    cr_assert_str_neq(first, theirs);
}

/* Ids made across more than one refill of the pool never repeat. */
Test(id, ids_differ_across_refills)
{
    enum { N = 3000 };
    static char ids[N][HT_ID_LEN + 1];
    for (int i = 0; i < N; i++)
        cr_assert_eq(ht_id_new_in(ids[i], (unsigned)(i % 4), 4), 0);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            cr_assert(strcmp(ids[i], ids[j]) != 0, "id %d repeats id %d", j, i);
}
