/* The api's side of partitioned queues (shared/partition.h): which keys a
 * request uses, and the reads that span every partition (GET /v1/jobs
 * merges the partitions' pages; /v1/queues and /metrics add their
 * figures).  With one partition served, all of this is the plain call on
 * t->keys, so nothing observable changes. */
#ifndef HT_API_PARTS_H
#define HT_API_PARTS_H

#include <h2o.h>

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/partition.h"

#include "api/store.h"
#include "api/thread.h"

/* The keys of the partition of job `id` (a valid id), borrowed: an entry
 * of the served partitions, or built into *scratch. */
const ht_keys_t *ht_api_keys_of(ht_api_thread_t *t, const char *id, ht_keys_t *scratch);

/* 1 when keys `k` (ht_api_keys_of) are those of a partition this api
 * serves (compared by tag: another N's (i, N) may share it). */
int ht_api_serves(const ht_api_thread_t *t, const ht_keys_t *k);

/* The partitions this api serves (shared/partition.h): how many, and the
 * keys of the i-th (t->keys alone when the queue is not partitioned). */
size_t ht_api_served(const ht_api_thread_t *t);
const ht_keys_t *ht_api_served_keys(ht_api_thread_t *t, size_t i);

/* The partition a new job goes to (ht_parts_pick: by (tenant, key) when
 * the request has an Idempotency-Key, else round-robin per thread), as its
 * keys; *index and *n say which, for the job's id (ht_id_new_in). */
const ht_keys_t *ht_api_submit_keys(ht_api_thread_t *t, const char *tenant, const char *key,
                                    size_t keylen, unsigned *index, unsigned *n);

/* Every served partition's ht_queue_stats (tenant's) or ht_metrics,
 * added name by name (histogram buckets add bucket-wise: they are
 * cumulative counts of the same bounds), then `cb` once. */
void ht_api_queue_stats_all(ht_api_thread_t *t, h2o_req_t *req, const char *tenant,
                            ht_astore_stats_cb cb, void *data);
void ht_api_metrics_all(ht_api_thread_t *t, h2o_req_t *req, ht_astore_stats_cb cb, void *data);
/* The jobs held by each worker whose id starts with `prefix` (FCALL_RO
 * ht_workers_held), added worker by worker over the partitions. */
void ht_api_workers_held_all(ht_api_thread_t *t, h2o_req_t *req, const char *prefix,
                             ht_astore_stats_cb cb, void *data);

/* One page of the tenant's listing over every served partition, newest
 * first (created_at, then id, as ht_list orders one index), `docs` the
 * job documents' JSON text (ht_job_doc_append; n of them, borrowed for the
 * call), `next` the cursor ("" at the end).
 * The cursor records each partition's position (opaque: base64url of a
 * small binary record); a cursor it did not make is HT_EINVAL.  A single
 * "score:id" cursor of an unpartitioned listing is accepted as the
 * position of every partition. */
typedef void (*ht_api_page_cb)(void *data, int err, const char *next, size_t n,
                               const h2o_iovec_t *docs);
void ht_api_list_all(ht_api_thread_t *t, h2o_req_t *req, const char *tenant, int has_status,
                     ht_job_status_t status, int limit, const char *cursor, const char *type,
                     ht_api_page_cb cb, void *data);

/* 1 when the listing spans several partitions (ht_api_list_all), 0 when it
 * is the single ht_list call of old. */
int ht_api_partitioned(const ht_api_thread_t *t);

/* Cursor codec, exposed for the unit test: positions of `n` partitions
 * ((n_i, index_i, state_i: 0 from the start, 1 done, 2 at (score_i,
 * id_i))). */
typedef struct {
    unsigned n, index;
    int state;
    long long score;
    char id[HT_ID_LEN + 1];
} ht_api_cursor_pos_t;
/* The longest cursor: every servable partition at a position (3 bytes of
 * (state, n, index), 6 of created_at, 16 of id), base64url. */
#define HT_API_CURSOR_MAX ((1 + HT_PARTITIONS_SERVED_MAX * 25 + 2) / 3 * 4)
/* Writes the cursor into out[outlen].  Returns 0 or HT_EINVAL (too long). */
int ht_api_cursor_encode(const ht_api_cursor_pos_t *pos, size_t n, char *out, size_t outlen);
/* Reads a cursor into pos[max]; *n entries.  Returns 0 or HT_EINVAL. */
int ht_api_cursor_decode(const char *s, ht_api_cursor_pos_t *pos, size_t max, size_t *n);

/* The merge of the partitions' pages, exposed for the unit test.  One
 * partition: where its page started (state, score, id; POS_* as in the
 * cursor: 0 start, 1 done, 2 at), what ht_list answered (got entries, newest
 * first, and its cursor `next`, "" at the index's end), and `taken` (out). */
typedef struct {
    unsigned n, index;
    int state;
    long long score;
    char id[HT_ID_LEN + 1];
    size_t got;
    const long long *scores;
    const char (*ids)[HT_ID_LEN + 1];
    const char *next;
    size_t taken;
} ht_api_merge_part_t;
/* Takes at most `limit` entries, newest first, while no partition could
 * still hold a newer one; order[k] is the partition of the k-th.  Writes
 * the new positions of the partitions not at their start into pos[n] (*npos
 * of them) and *more (0: every partition done).  Returns how many it took. */
size_t ht_api_merge(ht_api_merge_part_t *pp, size_t n, int limit, size_t *order,
                    ht_api_cursor_pos_t *pos, size_t *npos, int *more);

#endif
