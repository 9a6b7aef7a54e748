/* The Redis keyspace, named in one place (its layout and rules are in
 * docs/keyspace.md).  Every key of a queue carries the queue's hash
 * tag, "{default}", so each function call touches one Cluster slot.  A
 * partitioned queue (shared/partition.h) has one such key set per
 * partition, each under its own tag. */
#ifndef HT_KEYS_H
#define HT_KEYS_H

#include <stddef.h>

#include "shared/job.h"

#define HT_QUEUE_DEFAULT "default"
#define HT_KEY_SCHEMA "ht:schema" /* hash: version, applied_at */
#define HT_KEY_TYPES "ht:types"   /* hash: type -> JSON {"worker", "at"} */
/* hash: worker id -> JSON {"id", "at", "concurrency", "handlers": {type:
 * {"processes", "running", "busy", "restarts", "failing"}}}, refreshed by
 * each worker every few seconds (worker/lease.c); read by /metrics. */
#define HT_KEY_WORKERS "ht:workers"
/* hash: the operator's caps as set, "tenant:<name>" -> JSON {"max_queued",
 * "max_running", "max_priority", "weight"}, "type:<name>" -> JSON
 * {"max_running"} (api/operator.c); each partition holds its share of
 * them in its own "ht:{<tag>}:limits", which the claim reads. */
#define HT_KEY_LIMITS "ht:limits:{" HT_QUEUE_DEFAULT "}"
#define HT_KEY_MAX 256

typedef struct {
    char queue[64];
    char job_prefix[HT_KEY_MAX]; /* "ht:{default}:job:" */
    char wait[3][HT_KEY_MAX];    /* indexed by ht_priority_t */
    char active[HT_KEY_MAX];
    char fence[HT_KEY_MAX];
    char signal[HT_KEY_MAX];
    char channel[HT_KEY_MAX];    /* base of the per-job pub/sub channels "<channel>:<id>" */
    char base[HT_KEY_MAX];       /* "ht:{default}:": the prefix every key below starts with */
    char scheduled[HT_KEY_MAX];  /* zset id -> due ms */
    char tenants[HT_KEY_MAX];    /* set of tenant names with jobs (their indexes: ht_keys_tenant) */
    char cancel_channel[HT_KEY_MAX]; /* pub/sub "<id> <token>": cancel a running job */
    char deliveries[HT_KEY_MAX]; /* zset id -> when its webhook delivery is due (ms) */
    char sched_due[HT_KEY_MAX];  /* zset schedule id -> its next run (ms), unpaused ones */
    char gone[HT_KEY_MAX];       /* list of blob keys of expired jobs (ht_trim -> api/sweeper.c) */
} ht_keys_t;

/* The lease of the blob store's orphan sweep (api/sweeper.h): one api
 * process sweeps at a time. */
#define HT_KEY_BLOB_SWEEP "ht:blobsweep"

/* Names the keys of `queue` ([a-z0-9_.-]{1,63}).  Returns 0 or HT_EINVAL. */
int ht_keys_init(ht_keys_t *k, const char *queue);

/* Names the keys of one partition of `queue`: k->queue is the queue's name
 * (what job hashes record), every key carries the hash tag `tag`
 * ("ht:{<tag>}:..."; ht_cluster_partition_tag(), shared/partition.h).
 * ht_keys_init(k, q) is ht_keys_init_tag(k, q, q).  Returns 0 or HT_EINVAL
 * (a bad queue name, or a tag that is empty, holds '{' or '}', or is longer
 * than HT_CLUSTER_TAG_MAX). */
int ht_keys_init_tag(ht_keys_t *k, const char *queue, const char *tag);

/* Writes "ht:{default}:job:<id>" into out[HT_KEY_MAX]. */
void ht_keys_job(const ht_keys_t *k, const char *id, char out[HT_KEY_MAX]);

/* Writes "ht:{default}:sched:<id>", a schedule's hash, into out[HT_KEY_MAX]. */
void ht_keys_sched(const ht_keys_t *k, const char *id, char out[HT_KEY_MAX]);

/* A tenant name: 1 to HT_TENANT_MAX of [A-Za-z0-9_.-].  1 or 0. */
#define HT_TENANT_MAX 64
int ht_tenant_valid(const char *tenant);

/* Writes the prefix of `tenant`'s listing indexes, "ht:{default}:t:<tenant>:",
 * into out[HT_KEY_MAX]; `what` (may be NULL) is appended: "jobs",
 * "status:<s>" (ht_keys_tenant_status), "stats", "scheds" (its
 * schedules).  Returns 0, or HT_EINVAL for an invalid tenant name. */
int ht_keys_tenant(const ht_keys_t *k, const char *tenant, const char *what, char out[HT_KEY_MAX]);
int ht_keys_tenant_status(const ht_keys_t *k, const char *tenant, ht_job_status_t status,
                          char out[HT_KEY_MAX]);

/* Writes the rate limiter key of `tenant`, "ht:rate:{<tenant>}" (its own
 * hash tag: tenants spread over a cluster).  Returns 0 or HT_EINVAL. */
int ht_keys_rate(const char *tenant, char out[HT_KEY_MAX]);

/* Writes the key of `tenant`'s webhook signing secrets (shared/tenant_secret.h),
 * "ht:whsec:{<tenant>}" (its own hash tag, like the rate key).  Returns 0
 * or HT_EINVAL. */
int ht_keys_whsec(const char *tenant, char out[HT_KEY_MAX]);

/* Writes the idempotency key of (tenant, key) into out[HT_KEY_MAX]:
 * "ht:{default}:idem:<tenant>:<sha256(key) hex>".  Hashing keeps the name
 * short and free of separators whatever the client sent.  Returns 0, or
 * HT_EINVAL when the tenant name would not fit. */
int ht_keys_idem(const ht_keys_t *k, const char *tenant, const char *key, size_t keylen,
                 char out[HT_KEY_MAX]);

#endif
