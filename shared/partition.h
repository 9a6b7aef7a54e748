/* Partitioned queues (issue 10): HANGTIGHT_PARTITIONS=N splits a queue into
 * N partitions, partition i of N keeping all its keys under the hash tag
 * ht_cluster_partition_tag(queue, i, N) (N = 1: "default", today's keys),
 * so a queue's load spreads over the masters of a Redis Cluster while every
 * function call still touches one slot.
 *
 * What a process needs to know about them, with no I/O here:
 *   - the partitions it serves: those of its own N first (it submits only
 *     there), then those of every other N recorded in Redis
 *     (HT_KEY_PARTITIONS: each process adds its N at start), so jobs made
 *     under an earlier N keep being run, listed and counted after a change
 *     of N; partitions of different Ns that land on the same tag are served
 *     once;
 *   - the keys of a job from its id alone (shared/id.h: the id carries its
 *     partition, i of N);
 *   - where a submit goes: round-robin over the own N's partitions, or, for
 *     a request with an Idempotency-Key, the partition a hash of (tenant,
 *     key) picks, so that a replay meets the first request's record.
 *
 * An ht_parts_t is built once at start and read-only afterwards: threads
 * share it without locks. */
#ifndef HT_PARTITION_H
#define HT_PARTITION_H

#include <stddef.h>

#include "shared/keys.h"

/* The set of the Ns processes run with (SADD at start; `hangtight
 * partitions --retire N` removes one).  Its own hash tag is the queue's, so
 * on a cluster it lives with partition 0 of 1. */
#define HT_KEY_PARTITIONS_FMT "ht:partitions:{%s}"
/* The largest N a process runs with, and the most partitions (distinct
 * tags, every recorded N together) one serves: a listing's cursor holds a
 * position per partition it touched (api/parts.h) and must fit in a URL,
 * and room for two Ns of the largest size lets N change.  Ids and tags can
 * name up to HT_ID_PARTITIONS_MAX (shared/id.h): the format's capacity. */
#define HT_PARTITIONS_MAX 64
#define HT_PARTITIONS_SERVED_MAX (2 * HT_PARTITIONS_MAX)

typedef struct {
    unsigned n, index; /* partition index of n */
    ht_keys_t keys;
} ht_part_t;

/* An (index, n) whose tag another N's partition already serves: it reads
 * and writes that entry's keys. */
typedef struct {
    unsigned n, index;
    size_t part; /* into parts[] */
} ht_part_alias_t;

typedef struct {
    char queue[64];
    unsigned n;       /* this process' N: it submits to parts[0..n) */
    ht_part_t *parts; /* every served partition, own N's first */
    size_t count;
    unsigned *ns;     /* the Ns served, own first */
    size_t n_ns;
    ht_part_alias_t *aliases; /* (i, N)s deduplicated into a served entry */
    size_t n_aliases;
} ht_parts_t;

/* The partitions of `n` (1..HT_PARTITIONS_MAX) of `queue`.  Returns 0, HT_EINVAL or
 * HT_ENOMEM; ht_parts_clear() after either. */
int ht_parts_init(ht_parts_t *p, const char *queue, unsigned n);
void ht_parts_clear(ht_parts_t *p);

/* Serves the partitions of another N (1..HT_ID_PARTITIONS_MAX) too (a
 * no-op for one already served).  Returns 0, HT_EINVAL (bad n, or more than
 * HT_PARTITIONS_SERVED_MAX partitions in all: p unchanged) or HT_ENOMEM. */
int ht_parts_add(ht_parts_t *p, unsigned n);

/* Counts `n` in p->ns without serving its partitions: the CLI's view of a
 * record holding more than one process may serve, so that it can still
 * report and retire.  Returns 0 or HT_ENOMEM. */
int ht_parts_note_n(ht_parts_t *p, unsigned n);

/* The Redis key of the recorded Ns into out[HT_KEY_MAX]. */
void ht_parts_set_key(const ht_parts_t *p, char out[HT_KEY_MAX]);

/* The served entry (index into p->parts) of partition `index` of `n`: its
 * own, the one it was deduplicated into (same tag), or, for an N not
 * recorded, the entry with the same tag.  -1 when its tag is not served. */
long ht_parts_find(const ht_parts_t *p, unsigned index, unsigned n);

/* 1 when keys `k` (by their tag) are those of a served partition. */
int ht_parts_serves(const ht_parts_t *p, const ht_keys_t *k);

/* The keys of the partition holding job `id`: the served entry of its tag
 * (ht_parts_find), else built into *scratch (a partition no process of the
 * recorded Ns serves).  NULL when `id` is not a valid id. */
const ht_keys_t *ht_parts_keys_of(const ht_parts_t *p, const char *id, ht_keys_t *scratch);

/* Fills out[HT_KEY_MAX] with the key of job `id`'s hash.  Returns 0 or
 * HT_EINVAL (not an id). */
int ht_parts_job_key(const ht_parts_t *p, const char *id, char out[HT_KEY_MAX]);

/* Which of the own N's partitions a new job goes to: with an idempotency
 * key (key != NULL), the one a hash of (tenant, key) picks, the same in
 * every process of this N; else the next after *rr (the caller's
 * round-robin state, advanced). */
unsigned ht_parts_pick(const ht_parts_t *p, const char *tenant, const char *key, size_t keylen,
                       unsigned *rr);

/* HANGTIGHT_PARTITIONS as a process got it: 1..HT_PARTITIONS_MAX.  Returns
 * 0 or HT_EINVAL. */
int ht_parts_parse_n(long value, unsigned *n);

#endif
