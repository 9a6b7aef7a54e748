/* The Redis keyspace, named in one place (its layout and rules are in
 * migrations/0004_webhooks.lua).  Every key of a queue carries the queue's hash
 * tag, "{default}", so each function call touches one Cluster slot. */
#ifndef HT_KEYS_H
#define HT_KEYS_H

#include <stddef.h>

#include "shared/job.h"

#define HT_QUEUE_DEFAULT "default"
#define HT_KEY_SCHEMA "ht:schema" /* hash: version, applied_at */
#define HT_KEY_TYPES "ht:types"   /* hash: type -> JSON {"worker", "at"} */
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
    char jobs[HT_KEY_MAX];       /* zset id -> created_at: every job, for listing */
    char status[6][HT_KEY_MAX];  /* zset id -> created_at per status, indexed by ht_job_status_t */
    char expiry[HT_KEY_MAX];     /* zset id -> when the finished job expires */
    char stats[HT_KEY_MAX];      /* hash of totals */
    char cancel_channel[HT_KEY_MAX]; /* pub/sub "<id> <token>": cancel a running job */
    char deliveries[HT_KEY_MAX]; /* zset id -> when its webhook delivery is due (ms) */
} ht_keys_t;

/* Names the keys of `queue` ([a-z0-9_.-]{1,63}).  Returns 0 or HT_EINVAL. */
int ht_keys_init(ht_keys_t *k, const char *queue);

/* Writes "ht:{default}:job:<id>" into out[HT_KEY_MAX]. */
void ht_keys_job(const ht_keys_t *k, const char *id, char out[HT_KEY_MAX]);

/* Writes the idempotency key of (tenant, key) into out[HT_KEY_MAX]:
 * "ht:{default}:idem:<tenant>:<sha256(key) hex>".  Hashing keeps the name
 * short and free of separators whatever the client sent.  Returns 0, or
 * HT_EINVAL when the tenant name would not fit. */
int ht_keys_idem(const ht_keys_t *k, const char *tenant, const char *key, size_t keylen,
                 char out[HT_KEY_MAX]);

#endif
