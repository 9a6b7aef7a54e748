/* The table of job types this worker serves: built-ins, handlers that a
 * C user registered, and the exec and persistent handlers of
 * HANGTIGHT_HANDLERS.  Filled on
 * one thread before the slot threads start, read-only afterwards. */
#ifndef HT_WORKER_REGISTRY_H
#define HT_WORKER_REGISTRY_H

#include <stddef.h>

#include "worker/handler.h"

typedef struct {
    char *name;
    ht_handler_fn fn;
    const void *data; /* borrowed, handed to the handler through its ctx */
    int raw_payload;  /* fn gets payload NULL and reads ht_job_payload_text() */
} ht_handler_entry_t;

/* Adds a type.  `data` is borrowed and must outlive the worker.  Returns 0,
 * HT_EINVAL (invalid name), HT_EEXIST or HT_ENOMEM. */
int ht_registry_add(const char *name, ht_handler_fn fn, const void *data);

/* The same for a handler that takes the stored payload bytes as they are
 * (exec and persistent handlers hand them on to their programs): the slot
 * does not parse them for it. */
int ht_registry_add_raw(const char *name, ht_handler_fn fn, const void *data);

/* Adds sleep, echo, fail, checksum and gzip (once; later calls do nothing). */
int ht_registry_add_builtins(void);

/* 1 when `name` is a built-in type (reserved even before they are added). */
int ht_registry_is_builtin(const char *name);

/* The entry serving `name`, or NULL.  Borrowed. */
const ht_handler_entry_t *ht_registry_find(const char *name);

/* Every registered type name, in registration order: a borrowed array. */
const char *const *ht_registry_names(size_t *n);

/* Empties the table (tests and process exit). */
void ht_registry_clear(void);

#endif
