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
 * stops signing when its rotation window ends.
 *
 * One per process, like the handler registry: the settings are filled by
 * the worker's option table, ht_tsecrets_init() runs before any thread
 * starts, and from then on only the webhook delivery thread (webhook.c)
 * calls ht_tsecrets_for(), so the cache needs no lock.  At most
 * HT_TSECRETS_CACHE_N tenants are cached, the stalest entry giving way.
 * Internal to worker/. */
#ifndef HT_WORKER_TENANT_SECRETS_H
#define HT_WORKER_TENANT_SECRETS_H

#include <stddef.h>

#include "shared/store.h"
#include "shared/webhook.h"

#define HT_TSECRETS_CACHE_N 256

/* The worker's settings of this module, targets of its option table. */
typedef struct {
    const char *key_text; /* --secrets-key as given; NULL: none */
    long cache_ms;        /* --webhook-secrets-cache-ms; 0: read Redis every time */
} ht_tsecrets_settings_t;

extern ht_tsecrets_settings_t ht_tsecrets_settings;

/* Parses the settings' key_text into the keys, overwrites key_text where
 * it lies (the environment or argv) and takes HANGTIGHT_SECRETS_KEY out of
 * the process' environment, so neither /proc/<pid>/environ nor a handler
 * process shows it.  Returns 0, or HT_EINVAL with the reason in err. */
int ht_tsecrets_init(char *err, size_t errlen);

/* Wipes the keys and every cached secret. */
void ht_tsecrets_clear(void);

/* The secrets to sign a delivery of `tenant` (NULL: "default") with.
 * Returns 0 with *out set: the tenant's own secrets, or `fallback` (which
 * may hold none: the delivery goes unsigned) when it has none.  Returns
 * HT_EINVAL when the tenant has secrets of its own but this worker can
 * open none of them (no or another HANGTIGHT_SECRETS_KEY; logged): the
 * delivery must not be sent.  Any other negative code: Redis could not be
 * asked (ht_store_errstr() says why); try again later.  *out lives until
 * the next call. */
int ht_tsecrets_for(ht_store_t *store, const char *tenant, const ht_webhook_secrets_t *fallback,
                    const ht_webhook_secrets_t **out);

#endif
