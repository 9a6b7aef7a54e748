/* Remote workers as one api thread sees them (see remote_workers.h): a
 * small table of the workers that called, and the writes it decides. */
#include "api/remote_workers.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/migrations.h"

#include "api/store.h"

#define RECORD_EVERY_MS 10000
#define TYPES_EVERY_MS  60000
/* Workers this thread remembers; past it the one seen longest ago goes
 * (it is written again, once, if it calls again). */
#define TABLE_MAX 4096

typedef struct {
    char id[sizeof(HT_REMOTE_ID_PREFIX) + HT_REMOTE_NAME_MAX];
    uint64_t types_hash; /* of the types last written for it */
    int64_t types_at;    /* when they were written (ms) */
    int64_t record_at;   /* when its record was written (ms) */
    int64_t seen_at;
} entry_t;

struct ht_remotes {
    ht_api_thread_t *t;
    entry_t *e;
    size_t n, cap;
    int failing; /* the last write failed (logged once until one succeeds) */
};

int ht_remote_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > HT_REMOTE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '@' || c == '-'))
            return 0;
    }
    return 1;
}

int ht_remotes_new(ht_remotes_t **out, ht_api_thread_t *t)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return HT_ENOMEM;
    (*out)->t = t;
    return 0;
}

void ht_remotes_free(ht_remotes_t *r)
{
    if (!r)
        return;
    free(r->e);
    free(r);
}

/* FNV-1a over the types, each ended by a NUL: the same set in the same
 * order (the claim parser sorts them) hashes the same. */
static uint64_t types_hash(const char *const *types, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        for (const char *p = types[i];; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
            if (!*p)
                break;
        }
    }
    return h;
}

static entry_t *find_or_add(ht_remotes_t *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->e[i].id, id) == 0)
            return &r->e[i];
    if (r->n == r->cap && r->cap < TABLE_MAX) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        entry_t *e = realloc(r->e, cap * sizeof(*e));
        if (!e)
            return NULL;
        r->e = e;
        r->cap = cap;
    }
    size_t at = r->n;
    if (r->n == r->cap) {
        at = 0; /* full: the one seen longest ago makes room */
        for (size_t i = 1; i < r->n; i++)
            if (r->e[i].seen_at < r->e[at].seen_at)
                at = i;
    } else {
        r->n++;
    }
    memset(&r->e[at], 0, sizeof(r->e[at]));
    snprintf(r->e[at].id, sizeof(r->e[at].id), "%s", id);
    return &r->e[at];
}

static void on_written(void *data, int err, long long value)
{
    ht_remotes_t *r = data;
    (void)value;
    if (err && !r->failing)
        ht_log(HT_LOG_WARN, "remote worker not recorded in redis; retried on its next call",
               "error", ht_strerror(err), NULL);
    else if (!err && r->failing)
        ht_log(HT_LOG_INFO, "remote workers recorded in redis again", NULL);
    r->failing = err != 0;
}

/* {"id", "kind": "http", "name", "key"?, "types", "at", "schema"} (the
 * api's keyspace schema): a new string or NULL. */
static char *record(const char *id, const char *key, const char *const *types, size_t n,
                    int64_t now)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        json_array_append_new(list, json_string(types[i]));
    json_t *rec = list ? json_pack("{s:s, s:s, s:s, s:o, s:I, s:i}", "id", id, "kind", "http",
                                   "name", id + sizeof(HT_REMOTE_ID_PREFIX) - 1, "types", list,
                                   "at", (json_int_t)now, "schema", ht_schema_required())
                       : NULL;
    if (rec && key)
        json_object_set_new(rec, "key", json_string(key));
    char *text = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    return text;
}

void ht_remotes_seen(ht_remotes_t *r, const char *id, const char *key, const char *const *types,
                     size_t n)
{
    entry_t *e = find_or_add(r, id);
    if (!e)
        return;
    int64_t now = ht_now_ms();
    uint64_t h = types_hash(types, n);
    e->seen_at = now;
    int new_types = n > 0 && (h != e->types_hash || now - e->types_at >= TYPES_EVERY_MS);
    if (new_types) {
        ht_astore_types_remote(r->t->store, id, (long long)r->t->cfg->worker_ttl_s * 1000, types, n,
                               on_written, r);
        e->types_hash = h;
        e->types_at = now;
    }
    if (new_types || now - e->record_at >= RECORD_EVERY_MS) {
        char *text = record(id, key, types, n, now);
        if (text)
            ht_astore_worker_record(r->t->store, id, text, on_written, r);
        free(text);
        e->record_at = now;
    }
}
