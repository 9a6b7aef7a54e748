/* The secrets a webhook delivery is signed with: the job's tenant's own
 * live secrets when it has any (shared/tenant_secret.h: read from Redis
 * with ht_whsec_list, opened with HANGTIGHT_SECRETS_KEY), and only those;
 * the operator's HANGTIGHT_WEBHOOK_SECRET for a tenant without its own.
 *
 * What was read is kept per tenant for up to --webhook-secrets-cache-ms,
 * so a delivery costs no Redis call while its tenant's entry is fresh: a
 * revoked secret may sign for that long, a tenant's first secret may take
 * that long to be used.  An entry never outlives the first end of a
 * rotated-out secret it holds (reckoned from Redis' clock), so a secret
 * stops signing when its rotation window ends.  The cache is the webhook
 * thread's alone (no lock): at most HT_TSECRETS_CACHE_N tenants, the
 * stalest entry giving way.  Internal to worker/. */
#ifndef HT_WORKER_TENANT_SECRETS_H
#define HT_WORKER_TENANT_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "shared/keys.h"
#include "shared/secretbox.h"
#include "shared/store.h"
#include "shared/webhook.h"

#define HT_TSECRETS_CACHE_N 256

typedef struct {
    char tenant[HT_TENANT_MAX + 1];
    int64_t until_ms;             /* monotonic: fresh before this */
    int own;                      /* the tenant has live secrets of its own */
    ht_webhook_secrets_t secrets; /* those this worker could open, newest first */
} ht_tsecrets_entry_t;

typedef struct {
    const char *key_text; /* --secrets-key as given; NULL: none */
    long cache_ms;        /* --webhook-secrets-cache-ms; 0: read Redis every time */
    /* private */
    ht_secretbox_keys_t keys_;
    ht_tsecrets_entry_t entries_[HT_TSECRETS_CACHE_N];
    size_t used_;
} ht_tsecrets_t;

/* Parses key_text into the keys (after the options are read; before any
 * thread starts), overwrites key_text where it lies (the environment or
 * argv) and takes HANGTIGHT_SECRETS_KEY out of the process' environment,
 * so neither /proc/<pid>/environ nor a handler process shows it.  Returns
 * 0, or HT_EINVAL with the reason in err. */
int ht_tsecrets_init(ht_tsecrets_t *c, char *err, size_t errlen);

/* Wipes the keys and every cached secret. */
void ht_tsecrets_clear(ht_tsecrets_t *c);

/* The secrets to sign a delivery of `tenant` (NULL: "default") with.
 * Returns 0 with *out set: the tenant's own secrets, or `fallback` (which
 * may hold none: the delivery goes unsigned) when it has none.  Returns
 * HT_EINVAL when the tenant has secrets of its own but this worker can
 * open none of them (no or another HANGTIGHT_SECRETS_KEY; logged): the
 * delivery must not be sent.  Any other negative code: Redis could not be
 * asked (ht_store_errstr() says why); try again later.  *out lives until
 * the next call. */
int ht_tsecrets_for(ht_tsecrets_t *c, ht_store_t *store, const char *tenant,
                    const ht_webhook_secrets_t *fallback, const ht_webhook_secrets_t **out);

#endif
