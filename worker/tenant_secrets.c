/* Per-tenant webhook signing secrets for the deliverer (see tenant_secrets.h). */
#include "worker/tenant_secrets.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/argv.h"
#include "shared/error.h"
#include "shared/keys.h"
#include "shared/log.h"
#include "shared/secretbox.h"
#include "shared/tenant_secret.h"

#include "worker/job_ctx.h"

typedef struct {
    char tenant[HT_TENANT_MAX + 1];
    int64_t until_ms;             /* monotonic: fresh before this */
    int own;                      /* the tenant has live secrets of its own */
    ht_webhook_secrets_t secrets; /* those this worker could open, newest first */
} entry_t;

ht_tsecrets_settings_t ht_tsecrets_settings;

/* The process' keys and cache (see tenant_secrets.h for who touches them). */
static struct {
    ht_secretbox_keys_t keys;
    entry_t entries[HT_TSECRETS_CACHE_N];
    size_t used;
} cache;

int ht_tsecrets_init(char *err, size_t errlen)
{
    const char *text = ht_tsecrets_settings.key_text;
    cache.used = 0;
    int rc = ht_secretbox_keys_parse(text, &cache.keys, err, errlen);
    /* The text lives in the environment (or argv) block, which a process
     * of the same user can read in /proc/<pid>/environ (or cmdline): wiped
     * there, then taken out of what children inherit. */
    if (text)
        OPENSSL_cleanse((char *)text, strlen(text));
    unsetenv("HANGTIGHT_SECRETS_KEY");
    return rc;
}

void ht_tsecrets_clear(void)
{
    ht_secretbox_keys_clear(&cache.keys);
    OPENSSL_cleanse(cache.entries, sizeof cache.entries);
    cache.used = 0;
}

/* The entry of `tenant`, fresh or not; NULL when there is none. */
static entry_t *find(const char *tenant)
{
    for (size_t i = 0; i < cache.used; i++)
        if (strcmp(cache.entries[i].tenant, tenant) == 0)
            return &cache.entries[i];
    return NULL;
}

/* A slot for `tenant`, emptied: its own, a new one while there is room,
 * else the stalest. */
static entry_t *slot_for(const char *tenant)
{
    entry_t *e = find(tenant);
    if (!e && cache.used < HT_TSECRETS_CACHE_N)
        e = &cache.entries[cache.used++];
    if (!e) {
        e = &cache.entries[0];
        for (size_t i = 1; i < cache.used; i++)
            if (cache.entries[i].until_ms < e->until_ms)
                e = &cache.entries[i];
    }
    OPENSSL_cleanse(e, sizeof *e);
    snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
    return e;
}

/* Reads `tenant`'s live secrets from Redis into its cache entry and opens them. */
static int fetch(ht_store_t *store, const char *tenant)
{
    char key[HT_KEY_MAX];
    if (ht_keys_whsec(tenant, key) < 0)
        return HT_EINVAL;
    ht_argv_t a;
    ht_argv_fcall(&a, "ht_whsec_list", 1, 1);
    ht_argv_add(&a, key);
    char **strs = NULL;
    size_t n = 0;
    int rc = ht_store_cmd_strings(store, &a, &strs, &n);
    if (rc < 0)
        return rc;
    ht_tsecret_rec_t recs[HT_TSECRET_LIVE_MAX];
    size_t count = 0;
    int64_t redis_now = 0, mono = ht_mono_ms();
    rc = ht_tsecret_parse_list((const char *const *)strs, n, &redis_now, recs, &count);
    if (rc < 0) {
        ht_log(HT_LOG_ERROR, "webhook: unexpected answer of ht_whsec_list", "tenant", tenant, NULL);
        goto out;
    }
    entry_t *e = slot_for(tenant);
    e->own = count > 0;
    e->until_ms = mono + ht_tsecrets_settings.cache_ms;
    size_t unopened = 0;
    for (size_t i = 0; i < count; i++) {
        const ht_tsecret_rec_t *r = &recs[i];
        /* Not kept past the end of a rotation window. */
        if (r->expires_ms && mono + (r->expires_ms - redis_now) < e->until_ms)
            e->until_ms = mono + (r->expires_ms - redis_now);
        unsigned char k[HT_TSECRET_KEY_LEN];
        if (ht_tsecret_open(&cache.keys, tenant, r->id, r->sealed, k) < 0)
            unopened++;
        else
            ht_webhook_secrets_add(&e->secrets, k, sizeof k); /* at most 4 are live */
        OPENSSL_cleanse(k, sizeof k);
    }
    if (unopened)
        ht_log(e->secrets.n ? HT_LOG_WARN : HT_LOG_ERROR,
               cache.keys.n ? "webhook: a tenant's secret does not open with HANGTIGHT_SECRETS_KEY"
                            : "webhook: a tenant has its own secrets but this worker has no "
                              "HANGTIGHT_SECRETS_KEY",
               "tenant", tenant, NULL);
out:
    ht_store_strings_free(strs);
    return rc;
}

int ht_tsecrets_for(ht_store_t *store, const char *tenant, const ht_webhook_secrets_t *fallback,
                    const ht_webhook_secrets_t **out)
{
    *out = fallback;
    if (!tenant)
        tenant = "default";
    entry_t *e = find(tenant);
    if (!e || ht_mono_ms() >= e->until_ms) {
        int rc = fetch(store, tenant);
        if (rc < 0)
            return rc;
        e = find(tenant);
    }
    if (!e->own)
        return 0;
    if (e->secrets.n == 0)
        return HT_EINVAL;
    *out = &e->secrets;
    return 0;
}
