/* Names of the Redis keys of one queue (layout: docs/keyspace.md). */
#include "shared/keys.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "shared/cluster.h"
#include "shared/error.h"

static int queue_name_valid(const char *q)
{
    size_t len = q ? strlen(q) : 0;
    if (len < 1 || len > 63)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = q[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

int ht_keys_init(ht_keys_t *k, const char *queue)
{
    return ht_keys_init_tag(k, queue, queue);
}

int ht_keys_init_tag(ht_keys_t *k, const char *queue, const char *tag)
{
    memset(k, 0, sizeof *k);
    if (!queue_name_valid(queue) || !tag || !tag[0] || strlen(tag) >= HT_CLUSTER_TAG_MAX ||
        strpbrk(tag, "{}"))
        return HT_EINVAL;
    snprintf(k->queue, sizeof k->queue, "%s", queue);
    /* Lengths are bounded: a 96-byte tag + short suffix < HT_KEY_MAX. */
    snprintf(k->job_prefix, HT_KEY_MAX, "ht:{%s}:job:", tag);
    snprintf(k->wait[HT_PRIO_HIGH], HT_KEY_MAX, "ht:{%s}:wait:high", tag);
    snprintf(k->wait[HT_PRIO_DEFAULT], HT_KEY_MAX, "ht:{%s}:wait:default", tag);
    snprintf(k->wait[HT_PRIO_LOW], HT_KEY_MAX, "ht:{%s}:wait:low", tag);
    snprintf(k->active, HT_KEY_MAX, "ht:{%s}:active", tag);
    snprintf(k->fence, HT_KEY_MAX, "ht:{%s}:fence", tag);
    snprintf(k->signal, HT_KEY_MAX, "ht:{%s}:signal", tag);
    snprintf(k->channel, HT_KEY_MAX, "ht:{%s}:events", tag);
    snprintf(k->base, HT_KEY_MAX, "ht:{%s}:", tag);
    snprintf(k->scheduled, HT_KEY_MAX, "ht:{%s}:scheduled", tag);
    snprintf(k->tenants, HT_KEY_MAX, "ht:{%s}:tenants", tag);
    snprintf(k->cancel_channel, HT_KEY_MAX, "ht:{%s}:cancel", tag);
    snprintf(k->deliveries, HT_KEY_MAX, "ht:{%s}:deliveries", tag);
    snprintf(k->sched_due, HT_KEY_MAX, "ht:{%s}:sched:due", tag);
    snprintf(k->gone, HT_KEY_MAX, "ht:{%s}:gone", tag);
    return 0;
}

int ht_tenant_valid(const char *tenant)
{
    size_t n = 0;
    for (const char *p = tenant; *p; p++, n++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                 (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-';
        if (!ok || n >= HT_TENANT_MAX)
            return 0;
    }
    return n > 0;
}

int ht_keys_tenant(const ht_keys_t *k, const char *tenant, const char *what, char out[HT_KEY_MAX])
{
    if (!ht_tenant_valid(tenant))
        return HT_EINVAL;
    int n = snprintf(out, HT_KEY_MAX, "%st:%s:%s", k->base, tenant, what ? what : "");
    return n > 0 && n < HT_KEY_MAX ? 0 : HT_EINVAL;
}

int ht_keys_tenant_status(const ht_keys_t *k, const char *tenant, ht_job_status_t status,
                          char out[HT_KEY_MAX])
{
    char what[32];
    snprintf(what, sizeof(what), "status:%s", ht_job_status_name(status));
    return ht_keys_tenant(k, tenant, what, out);
}

int ht_keys_rate(const char *tenant, char out[HT_KEY_MAX])
{
    if (!ht_tenant_valid(tenant))
        return HT_EINVAL;
    snprintf(out, HT_KEY_MAX, "ht:rate:{%s}", tenant);
    return 0;
}

int ht_keys_whsec(const char *tenant, char out[HT_KEY_MAX])
{
    if (!ht_tenant_valid(tenant))
        return HT_EINVAL;
    snprintf(out, HT_KEY_MAX, "ht:whsec:{%s}", tenant);
    return 0;
}

void ht_keys_job(const ht_keys_t *k, const char *id, char out[HT_KEY_MAX])
{
    /* An id is 36 bytes and the prefix at most 71, so this never truncates
     * for a real id; a longer string is cut rather than overflowing. */
    size_t p = strnlen(k->job_prefix, HT_KEY_MAX - 1);
    size_t n = strnlen(id, HT_KEY_MAX - 1 - p);
    memcpy(out, k->job_prefix, p);
    memcpy(out + p, id, n);
    out[p + n] = '\0';
}

void ht_keys_sched(const ht_keys_t *k, const char *id, char out[HT_KEY_MAX])
{
    /* As ht_keys_job: never truncated for a real id and base. */
    snprintf(out, HT_KEY_MAX, "%.200ssched:%.36s", k->base, id);
}

int ht_keys_idem(const ht_keys_t *k, const char *tenant, const char *key, size_t keylen,
                 char out[HT_KEY_MAX])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    SHA256((const unsigned char *)key, keylen, digest);
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    int n = snprintf(out, HT_KEY_MAX, "%sidem:%s:%s", k->base, tenant, hex);
    return n > 0 && n < HT_KEY_MAX ? 0 : HT_EINVAL;
}
