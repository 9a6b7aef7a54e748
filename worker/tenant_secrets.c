/* Per-tenant webhook signing secrets for the deliverer (see tenant_secrets.h). */
#include "worker/tenant_secrets.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/argv.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/tenant_secret.h"

#include "worker/job_ctx.h"

int ht_tsecrets_init(ht_tsecrets_t *c, char *err, size_t errlen)
{
    c->used_ = 0;
    int rc = ht_secretbox_keys_parse(c->key_text, &c->keys_, err, errlen);
    /* The text lives in the environment (or argv) block, which a process
     * of the same user can read in /proc/<pid>/environ (or cmdline): wiped
     * there, then taken out of what children inherit. */
    if (c->key_text)
        OPENSSL_cleanse((char *)c->key_text, strlen(c->key_text));
    unsetenv("HANGTIGHT_SECRETS_KEY");
    return rc;
}

void ht_tsecrets_clear(ht_tsecrets_t *c)
{
    ht_secretbox_keys_clear(&c->keys_);
    OPENSSL_cleanse(c->entries_, sizeof c->entries_);
    c->used_ = 0;
}

/* The entry of `tenant`, fresh or not; NULL when there is none. */
static ht_tsecrets_entry_t *find(ht_tsecrets_t *c, const char *tenant)
{
    for (size_t i = 0; i < c->used_; i++)
        if (strcmp(c->entries_[i].tenant, tenant) == 0)
            return &c->entries_[i];
    return NULL;
}

/* A slot for `tenant`, emptied: its own, a new one while there is room,
 * else the stalest. */
static ht_tsecrets_entry_t *slot_for(ht_tsecrets_t *c, const char *tenant)
{
    ht_tsecrets_entry_t *e = find(c, tenant);
    if (!e && c->used_ < HT_TSECRETS_CACHE_N)
        e = &c->entries_[c->used_++];
    if (!e) {
        e = &c->entries_[0];
        for (size_t i = 1; i < c->used_; i++)
            if (c->entries_[i].until_ms < e->until_ms)
                e = &c->entries_[i];
    }
    OPENSSL_cleanse(e, sizeof *e);
    snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
    return e;
}

/* Reads `tenant`'s live secrets from Redis into entry `e` and opens them. */
static int fetch(ht_tsecrets_t *c, ht_store_t *store, const char *tenant)
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
    ht_tsecrets_entry_t *e = slot_for(c, tenant);
    e->own = count > 0;
    e->until_ms = mono + c->cache_ms;
    size_t unopened = 0;
    for (size_t i = 0; i < count; i++) {
        const ht_tsecret_rec_t *r = &recs[i];
        /* Not kept past the end of a rotation window. */
        if (r->expires_ms && mono + (r->expires_ms - redis_now) < e->until_ms)
            e->until_ms = mono + (r->expires_ms - redis_now);
        unsigned char k[HT_TSECRET_KEY_LEN];
        if (ht_tsecret_open(&c->keys_, tenant, r->id, r->sealed, k) < 0)
            unopened++;
        else
            ht_webhook_secrets_add(&e->secrets, k, sizeof k); /* at most 4 are live */
        OPENSSL_cleanse(k, sizeof k);
    }
    if (unopened)
        ht_log(e->secrets.n ? HT_LOG_WARN : HT_LOG_ERROR,
               c->keys_.n ? "webhook: a tenant's secret does not open with HANGTIGHT_SECRETS_KEY"
                          : "webhook: a tenant has its own secrets but this worker has no "
                            "HANGTIGHT_SECRETS_KEY",
               "tenant", tenant, NULL);
out:
    ht_store_strings_free(strs);
    return rc;
}

int ht_tsecrets_for(ht_tsecrets_t *c, ht_store_t *store, const char *tenant,
                    const ht_webhook_secrets_t *fallback, const ht_webhook_secrets_t **out)
{
    *out = fallback;
    if (!tenant)
        tenant = "default";
    ht_tsecrets_entry_t *e = find(c, tenant);
    if (!e || ht_mono_ms() >= e->until_ms) {
        int rc = fetch(c, store, tenant);
        if (rc < 0)
            return rc;
        e = find(c, tenant);
    }
    if (!e->own)
        return 0;
    if (e->secrets.n == 0)
        return HT_EINVAL;
    *out = &e->secrets;
    return 0;
}
