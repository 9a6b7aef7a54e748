/* The job type table (see registry.h).  A plain growable array: a worker
 * serves a handful of types and looks one up once per job. */
#include "worker/registry.h"

#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/job.h"

#include "worker/builtins.h"

static ht_handler_entry_t *entries;
static const char **names;
static size_t count, cap;
static int builtins_added;

static const char *const builtin_names[] = {"sleep", "echo", "fail", "checksum", "gzip"};

int ht_registry_is_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof(builtin_names) / sizeof(builtin_names[0]); i++)
        if (strcmp(name, builtin_names[i]) == 0)
            return 1;
    return 0;
}

static int grow(void)
{
    size_t ncap = cap ? cap * 2 : 8;
    ht_handler_entry_t *e = realloc(entries, ncap * sizeof(*e));
    if (!e)
        return HT_ENOMEM;
    entries = e;
    const char **n = realloc(names, ncap * sizeof(*n));
    if (!n)
        return HT_ENOMEM;
    names = n;
    cap = ncap;
    return 0;
}

static int add(const char *name, ht_handler_fn fn, const void *data, int raw_payload)
{
    if (!name || !fn || !ht_job_type_valid(name))
        return HT_EINVAL;
    if (ht_registry_find(name))
        return HT_EEXIST;
    if (count == cap && grow() < 0)
        return HT_ENOMEM;
    char *copy = strdup(name);
    if (!copy)
        return HT_ENOMEM;
    entries[count] = (ht_handler_entry_t){copy, fn, data, raw_payload};
    names[count] = copy;
    count++;
    return 0;
}

int ht_registry_add(const char *name, ht_handler_fn fn, const void *data)
{
    /* Built-in names are reserved so that every worker means the same thing
     * by "sleep", whoever registers first. */
    if (name && ht_registry_is_builtin(name))
        return HT_EEXIST;
    return add(name, fn, data, 0);
}

int ht_registry_add_raw(const char *name, ht_handler_fn fn, const void *data)
{
    if (name && ht_registry_is_builtin(name))
        return HT_EEXIST;
    return add(name, fn, data, 1);
}

int ht_registry_add_builtins(void)
{
    if (builtins_added)
        return 0;
    int rc = 0;
    if ((rc = add("sleep", ht_builtin_sleep, NULL, 0)) < 0 ||
        (rc = add("echo", ht_builtin_echo, NULL, 0)) < 0 ||
        (rc = add("fail", ht_builtin_fail, NULL, 0)) < 0 ||
        (rc = add("checksum", ht_builtin_checksum, NULL, 0)) < 0 ||
        (rc = add("gzip", ht_builtin_gzip, NULL, 0)) < 0)
        return rc;
    builtins_added = 1;
    return 0;
}

const ht_handler_entry_t *ht_registry_find(const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

const char *const *ht_registry_names(size_t *n)
{
    *n = count;
    return names;
}

void ht_registry_clear(void)
{
    for (size_t i = 0; i < count; i++)
        free(entries[i].name);
    free(entries);
    free(names);
    entries = NULL;
    names = NULL;
    count = cap = 0;
    builtins_added = 0;
}

int ht_worker_register(const char *name, ht_handler_fn fn)
{
    return ht_registry_add(name, fn, NULL);
}
