/* The api's side of partitioned queues (see parts.h): key choice, figures
 * added over the partitions, and the listing merged from their pages.
 *
 * Listing merge.  Each partition's index is read with ht_list from that
 * partition's own position, `limit` jobs at most; the page is then the
 * newest `limit` of what came back, taken in order (created_at, id
 * descending, the order ht_list walks one index) as long as no partition
 * could still hold something newer: a partition that returned all it had
 * fetched, but not its end, is known only down to its cursor, so the merge
 * stops before the first job older than such a cursor.  Each partition's
 * new position is the last job taken from it, or its own cursor when all it
 * returned was taken ("done" at its end).  A page therefore never skips or
 * repeats a job, as with one partition. */
#include "api/parts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/hex.h"
#include "shared/id.h"
#include "shared/partition.h"

/* ---- keys ------------------------------------------------------------- */

static const ht_parts_t *parts_of(const ht_api_thread_t *t)
{
    return t->cfg ? t->cfg->parts : NULL;
}

int ht_api_serves(const ht_api_thread_t *t, const ht_keys_t *k)
{
    const ht_parts_t *p = parts_of(t);
    return !p || k == &t->keys || ht_parts_serves(p, k);
}

int ht_api_partitioned(const ht_api_thread_t *t)
{
    const ht_parts_t *p = parts_of(t);
    return p && p->count > 1;
}

const ht_keys_t *ht_api_keys_of(ht_api_thread_t *t, const char *id, ht_keys_t *scratch)
{
    const ht_parts_t *p = parts_of(t);
    const ht_keys_t *k = p ? ht_parts_keys_of(p, id, scratch) : NULL;
    return k ? k : &t->keys;
}

const ht_keys_t *ht_api_submit_keys(ht_api_thread_t *t, const char *tenant, const char *key,
                                    size_t keylen, unsigned *index, unsigned *n)
{
    const ht_parts_t *p = parts_of(t);
    *index = 0;
    *n = 1;
    if (!p)
        return &t->keys;
    *index = ht_parts_pick(p, tenant, key, keylen, &t->part_rr);
    *n = p->n;
    return &p->parts[*index].keys;
}

size_t ht_api_served(const ht_api_thread_t *t)
{
    const ht_parts_t *p = parts_of(t);
    return p ? p->count : 1;
}

const ht_keys_t *ht_api_served_keys(ht_api_thread_t *t, size_t i)
{
    const ht_parts_t *p = parts_of(t);
    return p ? &p->parts[i].keys : &t->keys;
}

/* ---- figures added over the partitions ---------------------------------- */

typedef struct {
    ht_astore_stats_cb cb;
    void *data;
    h2o_req_t *req;
    size_t pending;
    int err;
    size_t n, cap;
    const char **names; /* in the request's pool */
    long long *values;
} sum_t;

static void sum_add(sum_t *s, const char *name, long long v)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->names[i], name) == 0) {
            s->values[i] += v;
            return;
        }
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const char **names = h2o_mem_alloc_pool(&s->req->pool, cap * sizeof(*names));
        long long *values = h2o_mem_alloc_pool(&s->req->pool, cap * sizeof(*values));
        if (s->n) {
            memcpy(names, s->names, s->n * sizeof(*names));
            memcpy(values, s->values, s->n * sizeof(*values));
        }
        s->names = names;
        s->values = values;
        s->cap = cap;
    }
    s->names[s->n] = h2o_strdup(&s->req->pool, name, SIZE_MAX).base;
    s->values[s->n++] = v;
}

static void on_part_stats(void *data, int err, size_t n, const char *const *names,
                          const long long *values)
{
    sum_t *s = data;
    if (err && !s->err)
        s->err = err;
    for (size_t i = 0; !err && i < n; i++)
        sum_add(s, names[i], values[i]);
    if (--s->pending > 0)
        return;
    s->cb(s->data, s->err, s->err ? 0 : s->n, s->err ? NULL : s->names, s->err ? NULL : s->values);
}

static sum_t *sum_new(ht_api_thread_t *t, h2o_req_t *req, ht_astore_stats_cb cb, void *data)
{
    sum_t *s = h2o_mem_alloc_pool(&req->pool, sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->cb = cb;
    s->data = data;
    s->req = req;
    s->pending = ht_api_served(t);
    return s;
}

/* A read of flat counters from every served partition, summed. */
typedef void (*stats_read_fn)(ht_aclient_t *s, h2o_req_t *req, const ht_keys_t *k, const char *arg,
                              ht_astore_stats_cb cb, void *data);

static void stats_all(ht_api_thread_t *t, h2o_req_t *req, stats_read_fn read, const char *arg,
                      ht_astore_stats_cb cb, void *data)
{
    if (ht_api_served(t) == 1) {
        read(t->store, req, ht_api_served_keys(t, 0), arg, cb, data);
        return;
    }
    sum_t *s = sum_new(t, req, cb, data);
    size_t n = s->pending;
    for (size_t i = 0; i < n; i++)
        read(t->store, req, ht_api_served_keys(t, i), arg, on_part_stats, s);
}

void ht_api_queue_stats_all(ht_api_thread_t *t, h2o_req_t *req, const char *tenant,
                            ht_astore_stats_cb cb, void *data)
{
    stats_all(t, req, ht_astore_queue_stats, tenant, cb, data);
}

void ht_api_workers_held_all(ht_api_thread_t *t, h2o_req_t *req, const char *prefix,
                             ht_astore_stats_cb cb, void *data)
{
    stats_all(t, req, ht_astore_workers_held, prefix, cb, data);
}

void ht_api_metrics_all(ht_api_thread_t *t, h2o_req_t *req, ht_astore_stats_cb cb, void *data)
{
    if (ht_api_served(t) == 1) {
        ht_astore_metrics(t->store, req, ht_api_served_keys(t, 0), cb, data);
        return;
    }
    sum_t *s = sum_new(t, req, cb, data);
    size_t n = s->pending;
    for (size_t i = 0; i < n; i++)
        ht_astore_metrics(t->store, req, ht_api_served_keys(t, i), on_part_stats, s);
}

/* ---- the cursor --------------------------------------------------------- */

#define CURSOR_VERSION 1
enum { POS_START = 0, POS_DONE = 1, POS_AT = 2 };

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_value(char c)
{
    const char *p = c ? strchr(b64url, c) : NULL;
    return p ? (int)(p - b64url) : -1;
}

int ht_api_cursor_encode(const ht_api_cursor_pos_t *pos, size_t n, char *out, size_t outlen)
{
    size_t cap = 1 + n * 25, len = 0;
    unsigned char *b = malloc(cap);
    if (!b)
        return HT_ENOMEM;
    b[len++] = CURSOR_VERSION;
    for (size_t i = 0; i < n; i++) {
        unsigned long v = ((unsigned long)pos[i].state << 20) |
                          ((unsigned long)(pos[i].n - 1) << 10) | pos[i].index;
        b[len++] = (unsigned char)(v >> 16);
        b[len++] = (unsigned char)(v >> 8);
        b[len++] = (unsigned char)v;
        if (pos[i].state != POS_AT)
            continue;
        for (int k = 5; k >= 0; k--)
            b[len++] = (unsigned char)((unsigned long long)pos[i].score >> (8 * k));
        for (size_t h = 0; h < HT_ID_LEN; h++) {
            if (pos[i].id[h] == '-')
                continue;
            b[len] =
                (unsigned char)(ht_hex_digit(pos[i].id[h]) << 4 | ht_hex_digit(pos[i].id[h + 1]));
            len++;
            h++;
        }
    }
    size_t o = 0;
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i += 3) {
        unsigned long v = (unsigned long)b[i] << 16;
        size_t have = len - i >= 3 ? 3 : len - i;
        if (have > 1)
            v |= (unsigned long)b[i + 1] << 8;
        if (have > 2)
            v |= b[i + 2];
        size_t chars = have + 1;
        if (o + chars + 1 > outlen) {
            rc = HT_EINVAL;
            break;
        }
        for (size_t c = 0; c < chars; c++)
            out[o++] = b64url[(v >> (18 - 6 * c)) & 63];
    }
    free(b);
    if (rc == 0)
        out[o] = '\0';
    return rc;
}

/* "score:id" (ht_list's own cursor) -> one position; 0 or HT_EINVAL. */
static int parse_plain(const char *s, long long *score, char id[HT_ID_LEN + 1])
{
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || colon - s > 15 || strlen(colon + 1) != HT_ID_LEN ||
        !ht_id_valid(colon + 1, HT_ID_LEN))
        return HT_EINVAL;
    long long v = 0;
    for (const char *p = s; p < colon; p++) {
        if (*p < '0' || *p > '9')
            return HT_EINVAL;
        v = v * 10 + (*p - '0');
    }
    *score = v;
    memcpy(id, colon + 1, HT_ID_LEN + 1);
    return 0;
}

int ht_api_cursor_decode(const char *s, ht_api_cursor_pos_t *pos, size_t max, size_t *n)
{
    static const char hex[] = "0123456789abcdef";
    *n = 0;
    size_t slen = strlen(s);
    if (slen < 2 || slen % 4 == 1)
        return HT_EINVAL;
    size_t cap = slen * 3 / 4 + 3, len = 0;
    unsigned char *b = malloc(cap);
    if (!b)
        return HT_ENOMEM;
    unsigned long acc = 0;
    int bits = 0;
    for (size_t i = 0; i < slen; i++) {
        int v = b64_value(s[i]);
        if (v < 0) {
            free(b);
            return HT_EINVAL;
        }
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b[len++] = (unsigned char)(acc >> bits);
        }
    }
    int rc = len >= 1 && b[0] == CURSOR_VERSION ? 0 : HT_EINVAL;
    size_t i = 1;
    while (rc == 0 && i < len) {
        if (i + 3 > len || *n >= max) {
            rc = HT_EINVAL;
            break;
        }
        unsigned long v = (unsigned long)b[i] << 16 | (unsigned long)b[i + 1] << 8 | b[i + 2];
        i += 3;
        ht_api_cursor_pos_t *p = &pos[*n];
        memset(p, 0, sizeof(*p));
        p->state = (int)(v >> 20);
        p->n = (unsigned)((v >> 10) & 0x3ff) + 1;
        p->index = (unsigned)(v & 0x3ff);
        if (p->state > POS_AT || p->index >= p->n) {
            rc = HT_EINVAL;
            break;
        }
        if (p->state == POS_AT) {
            if (i + 22 > len) {
                rc = HT_EINVAL;
                break;
            }
            unsigned long long score = 0;
            for (int k = 0; k < 6; k++)
                score = score << 8 | b[i++];
            p->score = (long long)score;
            size_t o = 0;
            for (int k = 0; k < 16; k++) {
                if (k == 4 || k == 6 || k == 8 || k == 10)
                    p->id[o++] = '-';
                p->id[o++] = hex[b[i] >> 4];
                p->id[o++] = hex[b[i] & 15];
                i++;
            }
            p->id[o] = '\0';
            if (!ht_id_valid(p->id, HT_ID_LEN))
                rc = HT_EINVAL;
        }
        (*n)++;
    }
    free(b);
    return rc;
}

/* ---- the merged listing --------------------------------------------------- */

typedef struct {
    ht_api_merge_part_t mp; /* its position, what ht_list answered, taken */
    ht_buf_t docs;          /* the documents of what ht_list answered, one after another */
    size_t *doc_end;        /* where each ends in docs */
    long long *scores;
    char (*ids)[HT_ID_LEN + 1];
    char next[HT_ID_LEN + 32]; /* "" at the index's end */
} part_page_t;

typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    ht_api_page_cb cb;
    void *data;
    int limit;
    size_t n, pending;
    int err;
    part_page_t *pp;
} merge_t;

static void merge_dispose(void *p)
{
    merge_t *m = p;
    for (size_t i = 0; m->pp && i < m->n; i++) {
        ht_buf_free(&m->pp[i].docs);
        free(m->pp[i].doc_end);
        free(m->pp[i].scores);
        free(m->pp[i].ids);
    }
    free(m->pp);
}

/* >0 when (as, aid) comes before (bs, bid) in a listing (newer). */
static int newer(long long as, const char *aid, long long bs, const char *bid)
{
    if (as != bs)
        return as > bs ? 1 : -1;
    return strcmp(aid, bid);
}

size_t ht_api_merge(ht_api_merge_part_t *pp, size_t n, int limit, size_t *order,
                    ht_api_cursor_pos_t *pos, size_t *npos, int *more)
{
    size_t emitted = 0;
    while (emitted < (size_t)(limit > 0 ? limit : 0)) {
        ht_api_merge_part_t *best = NULL;
        size_t best_i = 0;
        for (size_t i = 0; i < n; i++) {
            ht_api_merge_part_t *p = &pp[i];
            if (p->taken < p->got &&
                (!best || newer(p->scores[p->taken], p->ids[p->taken], best->scores[best->taken],
                                best->ids[best->taken]) > 0)) {
                best = p;
                best_i = i;
            }
        }
        if (!best)
            break;
        /* A partition read only down to its cursor may hold newer jobs. */
        int blocked = 0;
        for (size_t i = 0; i < n && !blocked; i++) {
            ht_api_merge_part_t *q = &pp[i];
            long long qs;
            char qid[HT_ID_LEN + 1];
            if (q->state == POS_DONE || q->taken < q->got || !q->next[0] ||
                parse_plain(q->next, &qs, qid) < 0)
                continue;
            blocked = newer(best->scores[best->taken], best->ids[best->taken], qs, qid) < 0;
        }
        if (blocked)
            break;
        best->taken++;
        order[emitted++] = best_i;
    }
    /* New positions.  A partition still at its start is left out (the
     * decoder starts a missing partition at its top): deep paging over many
     * partitions keeps the cursor as short as the partitions touched. */
    *more = 0;
    *npos = 0;
    for (size_t i = 0; i < n; i++) {
        ht_api_merge_part_t *p = &pp[i];
        ht_api_cursor_pos_t *q = &pos[*npos];
        q->n = p->n;
        q->index = p->index;
        q->state = p->state;
        q->score = p->score;
        memcpy(q->id, p->id, sizeof(q->id));
        if (p->state != POS_DONE) {
            if (p->taken == p->got) {
                if (!p->next[0] || parse_plain(p->next, &q->score, q->id) < 0)
                    q->state = POS_DONE;
                else
                    q->state = POS_AT;
            } else if (p->taken > 0) {
                q->state = POS_AT;
                q->score = p->scores[p->taken - 1];
                memcpy(q->id, p->ids[p->taken - 1], sizeof(q->id));
            }
            *more |= q->state != POS_DONE;
        }
        *npos += q->state != POS_START;
    }
    return emitted;
}

static void finish_merge(merge_t *m)
{
    if (m->err) {
        m->cb(m->data, m->err, "", 0, NULL);
        return;
    }
    size_t lim = m->limit > 0 ? (size_t)m->limit : 1;
    h2o_iovec_t *out = malloc(lim * sizeof(*out));
    size_t *order = malloc(lim * sizeof(*order));
    size_t *taken = calloc(m->n ? m->n : 1, sizeof(*taken));
    ht_api_merge_part_t *mp = calloc(m->n ? m->n : 1, sizeof(*mp));
    ht_api_cursor_pos_t *pos = calloc(m->n ? m->n : 1, sizeof(*pos));
    size_t cap = 2 + (m->n * 25 + 3) / 3 * 4;
    char *next = malloc(cap);
    if (!out || !order || !taken || !mp || !pos || !next) {
        m->cb(m->data, HT_ENOMEM, "", 0, NULL);
    } else {
        for (size_t i = 0; i < m->n; i++) {
            mp[i] = m->pp[i].mp;
            mp[i].scores = m->pp[i].scores;
            mp[i].ids = (const char(*)[HT_ID_LEN + 1]) m->pp[i].ids;
            mp[i].next = m->pp[i].next;
        }
        size_t npos;
        int more;
        size_t emitted = ht_api_merge(mp, m->n, m->limit, order, pos, &npos, &more);
        for (size_t k = 0; k < emitted; k++) {
            const part_page_t *p = &m->pp[order[k]];
            size_t j = taken[order[k]]++, start = j ? p->doc_end[j - 1] : 0;
            out[k] = h2o_iovec_init(p->docs.data + start, p->doc_end[j] - start);
        }
        if (!more)
            next[0] = '\0';
        else if (npos == 0)                  /* nothing taken anywhere yet: all at their start */
            snprintf(next, cap, "%s", "AQ"); /* just the version byte */
        else if (ht_api_cursor_encode(pos, npos, next, cap) < 0)
            next[0] = '\0';
        m->cb(m->data, 0, next, emitted, out);
    }
    free(out);
    free(order);
    free(taken);
    free(mp);
    free(pos);
    free(next);
}

static void on_part_page(void *data, int err, const char *next, size_t n, const ht_job_t *jobs);

typedef struct {
    merge_t *m;
    size_t i;
} page_ref_t;

static void on_part_page(void *data, int err, const char *next, size_t n, const ht_job_t *jobs)
{
    page_ref_t *ref = data;
    merge_t *m = ref->m;
    part_page_t *p = &m->pp[ref->i];
    if (err && !m->err)
        m->err = err;
    if (!err && n > 0) {
        p->doc_end = calloc(n, sizeof(*p->doc_end));
        p->scores = calloc(n, sizeof(*p->scores));
        p->ids = calloc(n, sizeof(*p->ids));
        if (!p->doc_end || !p->scores || !p->ids) {
            m->err = HT_ENOMEM;
        } else {
            for (size_t j = 0; j < n; j++) {
                if (ht_job_doc_append(&p->docs, &jobs[j]) < 0) {
                    m->err = HT_ENOMEM;
                    break;
                }
                p->doc_end[j] = p->docs.len;
                p->scores[j] = (long long)jobs[j].created_at;
                memcpy(p->ids[j], jobs[j].id, sizeof(p->ids[j]));
                p->mp.got++;
            }
        }
    }
    if (!err)
        snprintf(p->next, sizeof(p->next), "%s",
                 next && strlen(next) < sizeof(p->next) ? next : "");
    if (--m->pending == 0)
        finish_merge(m);
}

void ht_api_list_all(ht_api_thread_t *t, h2o_req_t *req, const char *tenant, int has_status,
                     ht_job_status_t status, int limit, const char *cursor, const char *type,
                     ht_api_page_cb cb, void *data)
{
    const ht_parts_t *parts = parts_of(t);
    merge_t *m = h2o_mem_alloc_shared(&req->pool, sizeof(*m), merge_dispose);
    memset(m, 0, sizeof(*m));
    m->t = t;
    m->req = req;
    m->cb = cb;
    m->data = data;
    m->limit = limit;
    m->n = parts->count;
    m->pp = calloc(m->n, sizeof(*m->pp));
    if (!m->pp) {
        cb(data, HT_ENOMEM, "", 0, NULL);
        return;
    }
    /* Where each partition starts. */
    if (cursor && cursor[0]) {
        long long score;
        char id[HT_ID_LEN + 1];
        if (parse_plain(cursor, &score, id) == 0) {
            for (size_t i = 0; i < m->n; i++) { /* an unpartitioned listing's cursor */
                m->pp[i].mp.state = POS_AT;
                m->pp[i].mp.score = score;
                memcpy(m->pp[i].mp.id, id, sizeof(id));
            }
        } else {
            size_t max = m->n + 64, got = 0;
            ht_api_cursor_pos_t *pos = calloc(max, sizeof(*pos));
            int rc = pos ? ht_api_cursor_decode(cursor, pos, max, &got) : HT_ENOMEM;
            /* Positions of partitions not served any more are dropped; a
             * partition served since the first page starts at its top. */
            /* Matched by tag, not by (i, N): an api of another N names a
             * partition both serve by its own (i, N). */
            for (size_t k = 0; rc == 0 && k < got; k++) {
                long i = ht_parts_find(parts, pos[k].index, pos[k].n);
                if (i < 0)
                    continue;
                m->pp[i].mp.state = pos[k].state;
                m->pp[i].mp.score = pos[k].score;
                memcpy(m->pp[i].mp.id, pos[k].id, sizeof(pos[k].id));
            }
            free(pos);
            if (rc < 0) {
                cb(data, rc, "", 0, NULL);
                return;
            }
        }
    }
    for (size_t i = 0; i < m->n; i++) {
        m->pp[i].mp.n = parts->parts[i].n;
        m->pp[i].mp.index = parts->parts[i].index;
        m->pending += m->pp[i].mp.state != POS_DONE;
    }
    if (m->pending == 0) {
        m->err = 0;
        finish_merge(m);
        return;
    }
    size_t pending = m->pending;
    for (size_t i = 0; i < m->n && pending > 0; i++) {
        part_page_t *p = &m->pp[i];
        if (p->mp.state == POS_DONE)
            continue;
        pending--;
        const ht_keys_t *k = &parts->parts[i].keys;
        char index[HT_KEY_MAX], from[HT_ID_LEN + 32] = "";
        int rc = has_status ? ht_keys_tenant_status(k, tenant, status, index)
                            : ht_keys_tenant(k, tenant, "jobs", index);
        if (p->mp.state == POS_AT)
            snprintf(from, sizeof(from), "%lld:%s", p->mp.score, p->mp.id);
        page_ref_t *ref = h2o_mem_alloc_pool(&req->pool, sizeof(*ref));
        ref->m = m;
        ref->i = i;
        if (rc < 0) {
            on_part_page(ref, HT_EINVAL, "", 0, NULL);
            continue;
        }
        ht_astore_list(t->store, req, k, index, limit, from, type, on_part_page, ref);
    }
}
