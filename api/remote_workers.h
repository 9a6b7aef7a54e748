/* Remote workers (the HTTP worker API) as one api thread sees them, and
 * what it writes of them to Redis:
 *
 *   - the types each serves, in HT_KEY_TYPES (FCALL ht_types_remote), so
 *     that the api accepts submits of those types: written when a worker
 *     names a set of types this thread has not written for it, and every
 *     TYPES_EVERY_MS after; the library drops a remote entry that nobody
 *     wrote for HANGTIGHT_WORKER_TTL_S (never an entry a hangtight-worker
 *     wrote);
 *   - its record in HT_KEY_WORKERS, beside the hangtight-workers' records:
 *     {"id": "http:<name>", "kind": "http", "name", "key", "types",
 *     "at"}, written at most every RECORD_EVERY_MS per worker, for /metrics
 *     and the dashboard (last seen; the jobs it holds are counted from the
 *     jobs themselves, ht_workers_held).
 *
 * So a remote worker's calls cost no Redis command of their own but one a
 * few seconds.  A worker's id is "http:" and its name: the name its claims
 * give, or its worker key's name.
 *
 * Everything here runs on the thread's loop; the first write of a new
 * worker or set of types goes out before the call that announced it, on
 * the same connection, so Redis has it before that call's answer. */
#ifndef HT_API_REMOTE_WORKERS_H
#define HT_API_REMOTE_WORKERS_H

#include <stddef.h>

#include "api/thread.h"

/* A worker name: 1 to HT_REMOTE_NAME_MAX of A-Z a-z 0-9 _ . : @ -. */
#define HT_REMOTE_NAME_MAX  64
#define HT_REMOTE_ID_PREFIX "http:"
int ht_remote_name_valid(const char *name, size_t len);

typedef struct ht_remotes ht_remotes_t;

/* The thread's registry, writing through t->store.  Returns 0 or
 * HT_ENOMEM. */
int ht_remotes_new(ht_remotes_t **out, ht_api_thread_t *t);
void ht_remotes_free(ht_remotes_t *r);

/* Notes a claim of worker `id` ("http:<name>") for types[n] (n >= 1,
 * sorted), made with worker key `key` (NULL: the worker API is open). */
void ht_remotes_seen(ht_remotes_t *r, const char *id, const char *key, const char *const *types,
                     size_t n);

#endif
