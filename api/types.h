/* Which job types the api accepts: the built-ins (sleep, echo, fail) always,
 * and every type some worker registered in HT_KEY_TYPES (workers HSET their
 * types when they start, exec handler types included).  Each api thread
 * keeps its own copy of that hash's keys, refreshed every ~5 s, and asks
 * Redis (HEXISTS) before refusing a type it does not know, so a worker that
 * started a moment ago is never refused. */
#ifndef HT_API_TYPES_H
#define HT_API_TYPES_H

#include <h2o.h>
#include <uv.h>

#include "api/store.h"

typedef struct ht_types ht_types_t;

/* Creates the cache on `loop`, loading it now and every few seconds through
 * `store` (borrowed; must outlive the cache).  Returns 0 or HT_ENOMEM. */
int ht_types_new(ht_types_t **out, uv_loop_t *loop, ht_aclient_t *store);

/* Stops refreshing; the memory is freed once libuv closed the timer. */
void ht_types_close(ht_types_t *t);

/* 1 when `type` is a built-in or in the cached set (no I/O). */
int ht_types_known(const ht_types_t *t, const char *type);

/* Decides for a type not in the cache, on behalf of `req` (not NULL): `cb`
 * fires exactly once, unless h2o disposes of `req` first (see api/store.h),
 * with err 0 and served 1/0, or err < 0 when Redis could not be asked.  A
 * served type joins the cache. */
typedef void (*ht_types_cb)(void *data, int err, int served);
void ht_types_check(ht_types_t *t, h2o_req_t *req, const char *type, ht_types_cb cb, void *data);

/* The field error's detail for a type no worker serves (a printf format
 * taking the type). */
#define HT_TYPES_UNSERVED "no worker serves type '%s' (built in: sleep, echo, fail)"

/* Answers 422 for a type no worker serves: one field error, unknown_type,
 * at `pointer` (where the type stands in the body). */
void ht_types_refuse(h2o_req_t *req, const char *pointer, const char *type);

#endif
