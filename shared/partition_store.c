/* The partition set in Redis (see partition_store.h): one SADD and one
 * SMEMBERS at start, plain LLEN/ZCARD counts for the CLI report. */
#include "shared/partition_store.h"

#include <stdlib.h>

#include "shared/error.h"

int ht_parts_record(const ht_parts_t *p, ht_store_t *s)
{
    char key[HT_KEY_MAX];
    ht_parts_set_key(p, key);
    ht_argv_t a;
    long long added;
    ht_argv_init(&a);
    ht_argv_add(&a, "SADD");
    ht_argv_add(&a, key);
    ht_argv_addf(&a, "%u", p->n);
    return ht_store_cmd_int(s, &a, &added);
}

int ht_parts_sync(ht_parts_t *p, ht_store_t *s, int record)
{
    char key[HT_KEY_MAX];
    ht_parts_set_key(p, key);
    ht_argv_t a;
    int rc;
    if (record && (rc = ht_parts_record(p, s)) < 0)
        return rc;
    char **v;
    size_t n;
    ht_argv_init(&a);
    ht_argv_add(&a, "SMEMBERS");
    ht_argv_add(&a, key);
    if ((rc = ht_store_cmd_strings(s, &a, &v, &n)) < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char *end;
        long value = strtol(v[i], &end, 10);
        unsigned other;
        /* A member that is no N (written by hand) is ignored, not fatal. */
        if (*end == '\0' && ht_parts_parse_n(value, &other) == 0)
            rc = ht_parts_add(p, other);
    }
    ht_store_strings_free(v);
    return rc;
}

static int count(ht_store_t *s, const char *cmd, const char *key, long long *out)
{
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, cmd);
    ht_argv_add(&a, key);
    return ht_store_cmd_int(s, &a, out);
}

int ht_parts_load(ht_store_t *s, const ht_keys_t *k, ht_part_load_t *out)
{
    long long n[3];
    int rc;
    out->queued = 0;
    for (int i = 0; i < 3; i++) {
        if ((rc = count(s, "LLEN", k->wait[i], &n[i])) < 0)
            return rc;
        out->queued += n[i];
    }
    if ((rc = count(s, "ZCARD", k->scheduled, &out->scheduled)) < 0 ||
        (rc = count(s, "ZCARD", k->active, &out->running)) < 0 ||
        (rc = count(s, "ZCARD", k->deliveries, &out->deliveries)) < 0)
        return rc;
    return 0;
}

int ht_parts_forget(ht_parts_t *p, ht_store_t *s, unsigned n)
{
    char key[HT_KEY_MAX];
    ht_parts_set_key(p, key);
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "SREM");
    ht_argv_add(&a, key);
    ht_argv_addf(&a, "%u", n);
    long long removed;
    return ht_store_cmd_int(s, &a, &removed);
}
