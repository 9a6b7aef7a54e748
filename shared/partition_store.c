/* The partition set in Redis (see partition_store.h): one SADD and one
 * SMEMBERS at start, a partition's counts (one script) for the CLI report. */
#include "shared/partition_store.h"

#include <stdio.h>
#include <stdlib.h>

#include "shared/error.h"
#include "shared/id.h"
#include "shared/log.h"

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
        if (*end == '\0' && value >= 1 && value <= HT_ID_PARTITIONS_MAX) {
            other = (unsigned)value;
            rc = ht_parts_add(p, other);
            /* Too many partitions in all: a process that serves refuses to
             * run with part of them; the CLI (record == 0) still lists the
             * N, to report and retire. */
            if (rc == HT_EINVAL && !record)
                rc = ht_parts_note_n(p, other);
            else if (rc == HT_EINVAL)
                ht_log(HT_LOG_ERROR, "cannot serve a recorded N: too many partitions in all",
                       "n", v[i], "hint",
                       "retire an old N (hangtight partitions --retire N): README "
                       "\"Scaling out\" limits",
                       NULL);
        }
    }
    ht_store_strings_free(v);
    return rc;
}

/* The counts in one script: read by separate commands, a job moving
 * between two sets in between (a claim: queued -> active; a promote:
 * scheduled -> queued) would be counted in neither, and a retire could drop
 * a partition that holds it.  Queued jobs are the depth hash's sum (the
 * wait structure, docs/keyspace.md), plus any ids left in the priority
 * lists of a keyspace not migrated yet.  A script runs atomically; its keys
 * share the partition's hash tag (one slot), and EVAL is routed by its
 * first key. */
static const char load_script[] =
    "local q = 0\n"
    "for _, v in ipairs(redis.call('HVALS', KEYS[1])) do\n"
    "  q = q + math.max(0, tonumber(v) or 0)\n"
    "end\n"
    "for i = 2, 4 do q = q + redis.call('LLEN', KEYS[i]) end\n"
    "local r = {tostring(q)}\n"
    "for i = 5, 7 do r[#r + 1] = tostring(redis.call('ZCARD', KEYS[i])) end\n"
    "return r\n";

int ht_parts_load(ht_store_t *s, const ht_keys_t *k, ht_part_load_t *out)
{
    ht_argv_t a;
    ht_argv_init(&a);
    char depth[sizeof(k->base) + sizeof("depth")];
    snprintf(depth, sizeof(depth), "%sdepth", k->base);
    ht_argv_add(&a, "EVAL");
    ht_argv_add(&a, load_script);
    ht_argv_add(&a, "7");
    ht_argv_add(&a, depth);
    for (int i = 0; i < 3; i++)
        ht_argv_add(&a, k->wait[i]);
    ht_argv_add(&a, k->scheduled);
    ht_argv_add(&a, k->active);
    ht_argv_add(&a, k->deliveries);
    char **v;
    size_t n;
    int rc = ht_store_cmd_strings(s, &a, &v, &n);
    if (rc < 0)
        return rc;
    long long c[4];
    for (size_t i = 0; rc == 0 && i < 4; i++) {
        char *end;
        c[i] = i < n ? strtoll(v[i], &end, 10) : -1;
        if (i >= n || *end != '\0' || c[i] < 0)
            rc = HT_EPROTO;
    }
    ht_store_strings_free(v);
    if (rc < 0)
        return rc;
    out->queued = c[0];
    out->scheduled = c[1];
    out->running = c[2];
    out->deliveries = c[3];
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
