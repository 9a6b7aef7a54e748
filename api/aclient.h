/* The api's Redis command client, one per api thread on its libuv loop:
 * calls (one command, or a MULTI ... EXEC group) sent to a single node or
 * routed over a Redis Cluster, each answered exactly once.  The commands
 * the api sends, and what their replies mean, are api/store.h's; this file
 * knows only Redis.  Connections are api/aconn.h's (login, reconnect,
 * timeouts); the routing rules are shared/cluster.h's, the same as the
 * blocking client's (shared/rconn.h).
 *
 *   redis://, unix://  one connection; every call goes there.
 *   redis+cluster://   one connection per master and a slot -> master table
 *                      built from CLUSTER SLOTS (asked of any ready
 *                      connection, else of the URL's seeds in turn).  A call
 *                      goes to the master of its routing key's slot (MULTI:
 *                      of the first command inside; keyless: any master).
 *                      Its formatted commands are kept until it is answered,
 *                      so that a MOVED (the slot has a new owner: remember
 *                      it, refresh the map, resend there) or an ASK (a
 *                      migration under way: ASKING + resend there, once) is
 *                      followed without the caller noticing, inside MULTI
 *                      too (where it shows as EXECABORT), up to 5 redirects.
 *                      READONLY or MASTERDOWN (the node is no master now)
 *                      drop that connection; those and CLUSTERDOWN /
 *                      TRYAGAIN fail the call as unavailable and mark the
 *                      map stale.  The map is asked for again on every tick
 *                      while it is stale, incomplete, or names a master we
 *                      cannot reach (a failover under way), so a promoted
 *                      replica is found within a tick of its promotion.
 *                      The node table holds up to 64 addresses (masters,
 *                      seeds, redirect targets); an entry nothing needs any
 *                      more is reused.
 *
 * Calls are sent only to a ready connection; otherwise they fail (within
 * the loop turn) with HT_EREDIS (callers answer 503), so a request never
 * waits on a dead Redis.  A cluster call whose redirect names a node still connecting waits
 * for that connect. */
#ifndef HT_API_ACLIENT_H
#define HT_API_ACLIENT_H

#include <h2o.h>
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <uv.h>

#include "shared/argv.h"
#include "shared/redis_url.h"

typedef struct ht_aclient ht_aclient_t;

/* Creates the client on `loop` (the calling thread's) and starts connecting;
 * `url` is copied.  `on_first` (may be NULL) fires once, from the loop, when
 * the first connect is settled: ready (a cluster: the map known and every
 * master reached or given up on) or not (refused, timed out, or still
 * unsettled HT_ACONN_CONNECT_TIMEOUT_MS after creation); either way the
 * thread may start serving.  Returns 0, HT_ENOMEM, or HT_EINVAL (a cluster
 * URL without seeds). */
int ht_aclient_new(ht_aclient_t **out, uv_loop_t *loop, const ht_redis_url_t *url,
                   void (*on_first)(void *data, int ready), void *data);

/* Fails every call in flight with HT_EREDIS (their callbacks fire now) and
 * closes the connections and the timer.  The memory is freed once libuv has
 * closed the timer, so the loop must run afterwards. */
void ht_aclient_close(ht_aclient_t *cl);

/* 1 while calls can be sent: the node is ready; a cluster's map covers
 * every slot. */
int ht_aclient_ready(const ht_aclient_t *cl);

/* Calls sent and not yet answered (the shutdown drain waits for 0). */
size_t ht_aclient_pending(const ht_aclient_t *cl);

/* ---- calls ------------------------------------------------------------ */

/* The caller's own callback, of any type: `finish` casts it back. */
typedef void (*ht_acall_cb)(void);

#define HT_ACALL_ARG_MAX 48

typedef struct ht_acall ht_acall_t;

/* Turns the reply into the caller's callback; runs exactly once per call
 * unless the call's request is gone first (below).  `r` (NULL unless err
 * is 0) and `call` are valid only during the call.  err: 0, HT_EREDIS
 * (unavailable: not connected, connection lost, Redis answered an error
 * that means "not now", redirects not followed), HT_EPROTO (Redis answered
 * another error, logged here; without `own_errors`), HT_EINVAL (a command
 * vector that overflowed), HT_ENOMEM. */
typedef void (*ht_acall_finish_fn)(const ht_acall_t *call, int err, const redisReply *r);

struct ht_acall {
    ht_acall_finish_fn finish;
    ht_acall_cb cb;             /* for finish */
    void *data;                 /* for finish */
    int own_errors;             /* error replies other than "unavailable" go to finish, err 0 */
    int all_replies;            /* n > 1 without MULTI: finish gets an array of every reply */
    char arg[HT_ACALL_ARG_MAX]; /* a short string finish needs, copied with the call */
};

/* Sends the n commands (1 to 4) of `cmds` back to back on one connection;
 * `call` (copied) gets the reply of the last one (MULTI ... EXEC: the EXEC),
 * or with all_replies an array of every command's reply, as EXEC's.  The command
 * vectors are cleared here, whatever happens.  On a failure to send,
 * `finish` runs before this returns (calls given no request) or from the
 * outbox's flush.  What call->data points to must live
 * until `finish` has run (for a call bound to a request: or until the
 * request is disposed of, whichever comes first).
 *
 * Request binding: a call given an h2o request is tied to it.  When h2o
 * disposes of the request first (an HTTP/2 client resets the stream, or
 * the connection closes), `finish` is dropped instead of run, because
 * everything it could touch lived in that request's pool.  Such a call is
 * not sent at once: it waits in an outbox until the loop is about to poll
 * (a uv_prepare handle), so that a request disposed of in the meantime
 * (HEADERS and RST_STREAM in one read) costs Redis nothing; and it holds a
 * place in the bounds of api/inflight.h until answered.  Calls given NULL
 * (timers, housekeeping) are sent at once and always finish.  Log lines written from
 * `finish` carry the request id current when the call was sent. */
void ht_aclient_send(ht_aclient_t *cl, h2o_req_t *req, ht_argv_t *cmds, size_t n,
                     const ht_acall_t *call);

#endif
