/* The Redis keyspace, named in one place (its layout and rules are in
 * migrations/0002_events.lua).  Every key of a queue carries the queue's hash
 * tag, "{default}", so each function call touches one Cluster slot. */
#ifndef HT_KEYS_H
#define HT_KEYS_H

#include <stddef.h>

#include "shared/job.h"

#define HT_QUEUE_DEFAULT "default"
#define HT_KEY_SCHEMA "ht:schema" /* hash: version, applied_at */
#define HT_KEY_TYPES "ht:types"   /* hash: type -> JSON {"worker", "at"} */
#define HT_KEY_MAX 128

typedef struct {
    char queue[64];
    char job_prefix[HT_KEY_MAX]; /* "ht:{default}:job:" */
    char wait[3][HT_KEY_MAX];    /* indexed by ht_priority_t */
    char active[HT_KEY_MAX];
    char fence[HT_KEY_MAX];
    char signal[HT_KEY_MAX];
    char channel[HT_KEY_MAX];    /* base of the per-job pub/sub channels "<channel>:<id>" */
} ht_keys_t;

/* Names the keys of `queue` ([a-z0-9_.-]{1,63}).  Returns 0 or HT_EINVAL. */
int ht_keys_init(ht_keys_t *k, const char *queue);

/* Writes "ht:{default}:job:<id>" into out[HT_KEY_MAX]. */
void ht_keys_job(const ht_keys_t *k, const char *id, char out[HT_KEY_MAX]);

#endif
