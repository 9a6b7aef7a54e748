/* Request ids: every request the router sees gets one, taken from the
 * client's X-Request-Id when it is sane (1..HT_REQID_MAX characters of
 * [A-Za-z0-9._:/+=@-]; anything else is replaced, never echoed), or made
 * here: "<8 hex, random per process>-<thread index>-<counter>", unique
 * without coordination and cheap.  It is sent back as X-Request-Id on every
 * answer, errors included, and carried by every log line written while the
 * request is handled:
 *  - synchronously: it is the thread's current request id (shared/log.h)
 *    from ht_reqid_begin() until the scope ends;
 *  - in store callbacks: api/aclient.c records the current id with each
 *    call bound to a request and restores it around the callback.
 *
 * One line at the top of ht_router_dispatch (api/router.c) does it all:
 *
 *     HT_REQID_SCOPE(t, req);
 *
 * which also arranges for the request's end to be counted and, with
 * --access-log, logged (api/access_log.h). */
#ifndef HT_API_REQID_H
#define HT_API_REQID_H

#include <h2o.h>
#include <stddef.h>

#include "api/server.h"

#define HT_REQID_MAX 128 /* fits shared/log.h's HT_LOG_REQID_MAX */

/* 1 when the client's value s[0..len) may be used as the request id. */
int ht_reqid_valid(const char *s, size_t len);

/* Writes a new id for a request of thread `thread_index` into
 * out[HT_REQID_MAX + 1]. */
void ht_reqid_make(size_t thread_index, char out[HT_REQID_MAX + 1]);

/* Gives `req` its id (X-Request-Id on the answer, the thread's current
 * log id, the access hook) and returns it (in req->pool). */
const char *ht_reqid_begin(ht_api_thread_t *t, h2o_req_t *req);

/* Ends the synchronous part: the thread has no current request id. */
void ht_reqid_end(const char *const *scope);

#define HT_REQID_SCOPE(t, req)                                                                     \
    const char *ht_reqid_scope_ __attribute__((cleanup(ht_reqid_end), unused)) =                   \
        ht_reqid_begin((t), (req))

#endif
