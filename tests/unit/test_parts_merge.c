/* api/parts.c: the merge of a partitioned listing.  Each partition is an
 * index read as ht_list reads it (newest first, created_at then id, `limit`
 * entries scanned from after a position, a type filter dropping some of
 * them: short pages that are not the end); pages are followed through the
 * encoded cursor, and every job must come exactly once, in the order of a
 * single index.  Also a cursor made by an api of another N (positions
 * matched by tag, shared/partition.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/id.h"
#include "shared/partition.h"

#include "api/parts.h"

#define MAXP 8
#define MAXJ 64

typedef struct {
    long long score;
    char id[HT_ID_LEN + 1];
    int match; /* passes the type filter */
} entry_t;

typedef struct {
    unsigned n, index;
    entry_t e[MAXJ]; /* newest first */
    size_t count;
} index_t;

static int cmp_newest(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return -strcmp(x->id, y->id);
}

/* ht_list on one index: scans up to `limit` entries after (score, id) (or
 * from the top), returns the matching ones, `next` the last scanned ("" when
 * the index ended within the scan). */
static void list(const index_t *ix, int state, long long score, const char *id, int limit,
                 ht_api_merge_part_t *mp, long long *scores, char (*ids)[HT_ID_LEN + 1],
                 char *next)
{
    size_t i = 0;
    if (state == 2) /* after the position: skip it and everything newer */
        while (i < ix->count && (ix->e[i].score > score ||
                                 (ix->e[i].score == score && strcmp(ix->e[i].id, id) >= 0)))
            i++;
    size_t scanned = 0, got = 0;
    next[0] = '\0';
    for (; i < ix->count && scanned < (size_t)limit; i++, scanned++) {
        if (ix->e[i].match) {
            scores[got] = ix->e[i].score;
            memcpy(ids[got], ix->e[i].id, HT_ID_LEN + 1);
            got++;
        }
        if (scanned + 1 == (size_t)limit)
            snprintf(next, HT_ID_LEN + 32, "%lld:%s", ix->e[i].score, ix->e[i].id);
    }
    mp->got = got;
    mp->scores = scores;
    mp->ids = (const char(*)[HT_ID_LEN + 1])ids;
    mp->next = next;
    mp->taken = 0;
}

/* Pages through `nix` indexes with `limit`; the api of each page serves
 * the partitions of `who[page % 2]` (its entries follow the indexes: a
 * partition found by tag).  Returns the ids listed, in order, into out. */
static size_t page_all(index_t *ix, size_t nix, int limit, const ht_parts_t *who[2],
                       char (*out)[HT_ID_LEN + 1], size_t max)
{
    char cursor[8192] = "";
    size_t listed = 0;
    for (int page = 0; page < 200; page++) {
        const ht_parts_t *p = who[page % 2];
        cr_assert_eq(p->count, nix, "both apis serve the same tags");
        /* the api's partitions, in its order, each the index of its tag */
        ht_api_merge_part_t mp[MAXP];
        long long scores[MAXP][MAXJ];
        char ids[MAXP][MAXJ][HT_ID_LEN + 1], nexts[MAXP][HT_ID_LEN + 32];
        const index_t *of[MAXP];
        memset(mp, 0, sizeof mp);
        for (size_t i = 0; i < p->count; i++) {
            of[i] = NULL;
            for (size_t j = 0; j < nix; j++) {
                long f = ht_parts_find(p, ix[j].index, ix[j].n);
                if (f == (long)i)
                    of[i] = &ix[j];
            }
            cr_assert_not_null(of[i]);
            mp[i].n = p->parts[i].n;
            mp[i].index = p->parts[i].index;
        }
        if (cursor[0]) {
            ht_api_cursor_pos_t pos[MAXP];
            size_t n;
            cr_assert_eq(ht_api_cursor_decode(cursor, pos, MAXP, &n), 0, "%s", cursor);
            for (size_t k = 0; k < n; k++) {
                long i = ht_parts_find(p, pos[k].index, pos[k].n);
                cr_assert_geq(i, 0, "position %u of %u", pos[k].index, pos[k].n);
                mp[i].state = pos[k].state;
                mp[i].score = pos[k].score;
                memcpy(mp[i].id, pos[k].id, sizeof(mp[i].id));
            }
        }
        for (size_t i = 0; i < p->count; i++) {
            if (mp[i].state == 1)
                continue;
            list(of[i], mp[i].state, mp[i].score, mp[i].id, limit, &mp[i], scores[i], ids[i],
                 nexts[i]);
        }
        size_t order[MAXJ], npos;
        ht_api_cursor_pos_t pos[MAXP];
        int more;
        size_t taken[MAXP] = {0};
        size_t got = ht_api_merge(mp, p->count, limit, order, pos, &npos, &more);
        cr_assert_leq(got, (size_t)limit);
        for (size_t k = 0; k < got; k++) {
            cr_assert_lt(listed, max);
            memcpy(out[listed++], ids[order[k]][taken[order[k]]++], HT_ID_LEN + 1);
        }
        if (!more)
            return listed;
        if (npos == 0) {
            snprintf(cursor, sizeof cursor, "AQ");
        } else {
            cr_assert_eq(ht_api_cursor_encode(pos, npos, cursor, sizeof cursor), 0);
        }
    }
    cr_assert_fail("the listing does not end");
    return listed;
}

/* Jobs over the partitions of `who[0]`, with many created_at ties (a tick
 * of 3 for 40 jobs), the type filter passing `match_every`-th ones. */
static void check(const ht_parts_t *who[2], int limit, int match_every)
{
    const ht_parts_t *p = who[0];
    index_t ix[MAXP];
    memset(ix, 0, sizeof ix);
    size_t nix = p->count;
    for (size_t i = 0; i < nix; i++) {
        ix[i].n = p->parts[i].n;
        ix[i].index = p->parts[i].index;
    }
    entry_t all[MAXJ];
    size_t nall = 0, want = 0;
    for (int j = 0; j < 40; j++) {
        index_t *x = &ix[(size_t)(j * 7 + j / 5) % nix];
        entry_t *e = &x->e[x->count++];
        e->score = 1764150000000LL + j / 3; /* ties, across partitions too */
        cr_assert_eq(ht_id_new_in(e->id, x->index, x->n), 0);
        e->match = j % match_every == 0;
        all[nall++] = *e;
        want += e->match;
    }
    for (size_t i = 0; i < nix; i++)
        qsort(ix[i].e, ix[i].count, sizeof(entry_t), cmp_newest);
    qsort(all, nall, sizeof(entry_t), cmp_newest);
    char got[MAXJ][HT_ID_LEN + 1];
    size_t n = page_all(ix, nix, limit, who, got, MAXJ);
    cr_assert_eq(n, want, "limit %d, every %d: %zu listed of %zu", limit, match_every, n, want);
    size_t k = 0;
    for (size_t j = 0; j < nall; j++) {
        if (!all[j].match)
            continue;
        cr_expect_str_eq(got[k], all[j].id, "entry %zu (limit %d, every %d)", k, limit,
                         match_every);
        k++;
    }
}

Test(parts_merge, ties_and_short_pages_list_every_job_once_in_order)
{
    ht_parts_t p;
    cr_assert_eq(ht_parts_init(&p, HT_QUEUE_DEFAULT, 6), 0);
    const ht_parts_t *who[2] = {&p, &p};
    for (int limit = 1; limit <= 7; limit += 2)
        for (int every = 1; every <= 3; every++)
            check(who, limit, every);
    ht_parts_clear(&p);
}

Test(parts_merge, a_cursor_from_an_api_of_another_n)
{
    /* Ns 2 and 3 recorded by both apis; one runs with 2, the other with 3:
     * partition 0 ("default.p0") is (0, 2) to one and (0, 3) to the other */
    ht_parts_t a, b;
    cr_assert_eq(ht_parts_init(&a, HT_QUEUE_DEFAULT, 2), 0);
    cr_assert_eq(ht_parts_add(&a, 3), 0);
    cr_assert_eq(ht_parts_init(&b, HT_QUEUE_DEFAULT, 3), 0);
    cr_assert_eq(ht_parts_add(&b, 2), 0);
    cr_assert_eq(a.count, b.count);
    cr_assert_neq(a.parts[0].n, b.parts[0].n);
    const ht_parts_t *who[2] = {&a, &b};
    for (int limit = 1; limit <= 5; limit += 2)
        for (int every = 1; every <= 2; every++)
            check(who, limit, every);
    ht_parts_clear(&a);
    ht_parts_clear(&b);
}

Test(parts_merge, the_cursor_leaves_partitions_at_their_start_out)
{
    /* one page of 1 over 3 partitions */
    ht_api_merge_part_t mp[3];
    memset(mp, 0, sizeof mp);
    long long scores[1] = {5};
    char ids[1][HT_ID_LEN + 1];
    cr_assert_eq(ht_id_new_in(ids[0], 1, 3), 0);
    for (unsigned i = 0; i < 3; i++) {
        mp[i].n = 3;
        mp[i].index = i;
        mp[i].next = "";
    }
    /* partition 1 answered one job and more to come; 0 and 2 were not
     * reached before the limit: their pages hold newer-or-equal nothing */
    mp[1].got = 1;
    mp[1].scores = scores;
    mp[1].ids = (const char(*)[HT_ID_LEN + 1])ids;
    char next[HT_ID_LEN + 32];
    snprintf(next, sizeof next, "5:%s", ids[0]);
    mp[1].next = next;
    mp[0].state = 0;
    mp[2].state = 1; /* done before */
    size_t order[1], npos;
    ht_api_cursor_pos_t pos[3];
    int more;
    cr_assert_eq(ht_api_merge(mp, 3, 1, order, pos, &npos, &more), 1);
    cr_expect(more);
    /* 0 answered nothing and its index ended: done; 1 at its job; 2 done */
    cr_expect_eq(npos, 3);
    memset(mp, 0, sizeof mp);
    for (unsigned i = 0; i < 3; i++) {
        mp[i].n = 3;
        mp[i].index = i;
        mp[i].next = "x"; /* not a position: ignored */
    }
    mp[1].got = 1;
    mp[1].scores = scores;
    mp[1].ids = (const char(*)[HT_ID_LEN + 1])ids;
    mp[1].next = next;
    mp[0].got = 0;
    mp[0].next = next; /* scanned, matched nothing, not at its end */
    /* limit 0: nothing taken; 1 stays at its start and is left out, 0
     * moves to its scan's end, 2 (no position after its page) is done */
    cr_assert_eq(ht_api_merge(mp, 3, 0, order, pos, &npos, &more), 0);
    cr_expect(more);
    cr_assert_eq(npos, 2, "the partition still at its start is left out");
    cr_expect_eq(pos[0].index, 0);
    cr_expect_eq(pos[0].state, 2);
    cr_expect_eq(pos[1].index, 2);
    cr_expect_eq(pos[1].state, 1);
}
