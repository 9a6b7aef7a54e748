/* The partitions a process serves and how a job finds its partition (see
 * partition.h). */
#include "shared/partition.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/cluster.h"
#include "shared/error.h"
#include "shared/id.h"

static int part_init(ht_part_t *part, const char *queue, unsigned index, unsigned n)
{
    char tag[HT_CLUSTER_TAG_MAX];
    int rc = ht_cluster_partition_tag(queue, index, n, tag, sizeof tag);
    if (rc < 0)
        return rc;
    part->n = n;
    part->index = index;
    return ht_keys_init_tag(&part->keys, queue, tag);
}

static long served_tag(const ht_parts_t *p, const char *base)
{
    for (size_t j = 0; j < p->count; j++)
        if (strcmp(p->parts[j].keys.base, base) == 0)
            return (long)j;
    return -1;
}

static int has_n(const ht_parts_t *p, unsigned n)
{
    for (size_t j = 0; j < p->n_ns; j++)
        if (p->ns[j] == n)
            return 1;
    return 0;
}

/* Room for one more N in p->ns (the caller then appends it). */
static int reserve_n(ht_parts_t *p)
{
    unsigned *ns = realloc(p->ns, (p->n_ns + 1) * sizeof(*ns));
    if (!ns)
        return HT_ENOMEM;
    p->ns = ns;
    return 0;
}

/* Appends the n partitions of N = n (room for them is reserved). */
static int add_parts(ht_parts_t *p, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        ht_part_t part;
        int rc = part_init(&part, p->queue, i, n);
        if (rc < 0)
            return rc;
        /* Two Ns may pick the same tag for some index (the tag depends on
         * the slot range, not on N): one key set, served once, and the
         * other (i, N) remembered as an alias of it so that its ids find
         * the served entry. */
        long j = served_tag(p, part.keys.base);
        if (j < 0 && p->count >= HT_PARTITIONS_SERVED_MAX)
            return HT_EINVAL;
        if (j < 0) {
            p->parts[p->count++] = part;
            continue;
        }
        ht_part_alias_t *al = realloc(p->aliases, (p->n_aliases + 1) * sizeof(*al));
        if (!al)
            return HT_ENOMEM;
        p->aliases = al;
        p->aliases[p->n_aliases++] = (ht_part_alias_t){.n = n, .index = i, .part = (size_t)j};
    }
    return 0;
}

int ht_parts_add(ht_parts_t *p, unsigned n)
{
    if (n < 1 || n > HT_ID_PARTITIONS_MAX)
        return HT_EINVAL;
    if (has_n(p, n))
        return 0;
    if (reserve_n(p) < 0)
        return HT_ENOMEM;
    ht_part_t *parts = realloc(p->parts, (p->count + n) * sizeof(*parts));
    if (!parts)
        return HT_ENOMEM;
    p->parts = parts;
    size_t count0 = p->count, aliases0 = p->n_aliases;
    int rc = add_parts(p, n);
    if (rc < 0) { /* all or nothing */
        p->count = count0;
        p->n_aliases = aliases0;
        return rc;
    }
    p->ns[p->n_ns++] = n;
    return 0;
}

int ht_parts_note_n(ht_parts_t *p, unsigned n)
{
    if (has_n(p, n))
        return 0;
    if (reserve_n(p) < 0)
        return HT_ENOMEM;
    p->ns[p->n_ns++] = n;
    return 0;
}

int ht_parts_init(ht_parts_t *p, const char *queue, unsigned n)
{
    memset(p, 0, sizeof(*p));
    ht_keys_t probe;
    if (ht_keys_init(&probe, queue) < 0 || n < 1 || n > HT_PARTITIONS_MAX)
        return HT_EINVAL;
    snprintf(p->queue, sizeof(p->queue), "%s", queue);
    p->n = n;
    return ht_parts_add(p, n);
}

void ht_parts_clear(ht_parts_t *p)
{
    free(p->parts);
    free(p->ns);
    free(p->aliases);
    memset(p, 0, sizeof(*p));
}

void ht_parts_set_key(const ht_parts_t *p, char out[HT_KEY_MAX])
{
    snprintf(out, HT_KEY_MAX, HT_KEY_PARTITIONS_FMT, p->queue);
}

/* (index, n) as served or aliased: its entry, else -1 (no tag computed). */
static long find_recorded(const ht_parts_t *p, unsigned index, unsigned n)
{
    for (size_t j = 0; j < p->count; j++)
        if (p->parts[j].n == n && p->parts[j].index == index)
            return (long)j;
    for (size_t j = 0; j < p->n_aliases; j++)
        if (p->aliases[j].n == n && p->aliases[j].index == index)
            return (long)p->aliases[j].part;
    return -1;
}

long ht_parts_find(const ht_parts_t *p, unsigned index, unsigned n)
{
    long j = find_recorded(p, index, n);
    if (j >= 0)
        return j;
    /* An N not recorded may still land on a served tag. */
    ht_part_t part;
    if (part_init(&part, p->queue, index, n) < 0)
        return -1;
    return served_tag(p, part.keys.base);
}

int ht_parts_serves(const ht_parts_t *p, const ht_keys_t *k)
{
    return served_tag(p, k->base) >= 0;
}

const ht_keys_t *ht_parts_keys_of(const ht_parts_t *p, const char *id, ht_keys_t *scratch)
{
    unsigned index, n;
    if (!id || ht_id_partition(id, strlen(id), &index, &n) < 0)
        return NULL;
    long j = find_recorded(p, index, n);
    if (j >= 0)
        return &p->parts[j].keys;
    /* An N not recorded: build its keys, and use the served entry when
     * that tag is served anyway (the same keys, but the caller can tell a
     * served partition by its address). */
    ht_part_t part;
    if (part_init(&part, p->queue, index, n) < 0)
        return NULL;
    j = served_tag(p, part.keys.base);
    if (j >= 0)
        return &p->parts[j].keys;
    *scratch = part.keys;
    return scratch;
}

int ht_parts_job_key(const ht_parts_t *p, const char *id, char out[HT_KEY_MAX])
{
    ht_keys_t scratch;
    const ht_keys_t *k = ht_parts_keys_of(p, id, &scratch);
    if (!k)
        return HT_EINVAL;
    ht_keys_job(k, id, out);
    return 0;
}

/* FNV-1a, 64 bits: stable across processes and builds (the choice of an
 * idempotent submit's partition must be the same everywhere). */
static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

unsigned ht_parts_pick(const ht_parts_t *p, const char *tenant, const char *key, size_t keylen,
                       unsigned *rr)
{
    if (p->n <= 1)
        return 0;
    if (key) {
        uint64_t h = 0xcbf29ce484222325ULL;
        h = fnv1a(h, tenant ? tenant : "", tenant ? strlen(tenant) + 1 : 1); /* with its NUL */
        h = fnv1a(h, key, keylen);
        return (unsigned)(h % p->n);
    }
    unsigned i = *rr % p->n;
    *rr = i + 1;
    return i;
}

int ht_parts_parse_n(long value, unsigned *n)
{
    if (value < 1 || value > HT_PARTITIONS_MAX)
        return HT_EINVAL;
    *n = (unsigned)value;
    return 0;
}
