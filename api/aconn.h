/* One async Redis connection of the api: a hiredis async context on the
 * thread's libuv loop, its login, and the state machine that notices a dead
 * peer and reconnects.  The api's two Redis clients are built on it:
 * api/aclient.h (commands: one node, or one connection per cluster master)
 * and api/pubsub.h (the thread's subscriber).
 *
 *     [down] --tick, wanted--> [connecting] --PING answered--> [ready]
 *       ^                          |                          |
 *       +-- refused, no answer within HT_ACONN_CONNECT_TIMEOUT_MS, login
 *           refused; connection lost, a socket error, a reply overdue by
 *           HT_ACONN_REPLY_TIMEOUT_MS, ht_aconn_drop() ------------------+
 *
 * The owner runs one timer for its connections and calls ht_aconn_tick() on
 * each every HT_ACONN_TICK_MS: a lost Redis is tried again at that pace
 * (a fixed backoff: the first retry comes one tick after the loss, never in
 * a tight loop).  hiredis async has no connect timeout of its own and its
 * libuv adapter ignores poll errors (a refused or reset connection is never
 * reported to hiredis), so the tick checks both.
 *
 * Where it connects: a node's own address (ht_aconn_init with a host), else
 * the URL's: its socket path, its host, or for a cluster URL its seeds in
 * turn, one more after each failure (a subscriber hears every node's
 * PUBLISH, so any node will do).  The login (AUTH when the URL has a
 * password, SELECT when asked and the URL names a database) is queued
 * ahead of every command, then a PING: the connection is [ready] when Redis
 * answers it (a stopped Redis still completes TCP connects); a refusal
 * drops the connection.  A call failed for an overdue reply may still run
 * when a stopped Redis resumes (it has the bytes): a submit answered 503
 * that way may exist, which is why clients retry with an Idempotency-Key.
 *
 * Replies owed: the owner counts what it sends (ht_aconn_sent) and what is
 * answered (ht_aconn_answered) in `pending`; a connection whose oldest owed
 * reply is overdue is presumed dead.  When hiredis gives a callback a NULL
 * reply the connection is going away: ht_aconn_lost() says so.
 *
 * Hooks (ht_aconn_opts_t) fire from the loop only: on_ready when the state
 * becomes [ready], on_down when it leaves [connecting] or [ready] (not when
 * a connect fails inside ht_aconn_connect(), where it never left [down], and
 * not in ht_aconn_close()).  hiredis fails the replies still owed with NULL
 * after on_down has returned.
 *
 * Error texts are logged where they happen, never kept in shared storage:
 * each api thread has its own connections and nothing here is shared
 * between threads. */
#ifndef HT_API_ACONN_H
#define HT_API_ACONN_H

#include <hiredis/async.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "shared/cluster.h"
#include "shared/redis_url.h"

#define HT_ACONN_TICK_MS            500
#define HT_ACONN_CONNECT_TIMEOUT_MS 2000
/* Every command the api sends is O(1) on the Redis side, so a reply this
 * late means the connection is dead even if no error was seen. */
#define HT_ACONN_REPLY_TIMEOUT_MS 3000

typedef enum { HT_ACONN_DOWN, HT_ACONN_CONNECTING, HT_ACONN_READY } ht_aconn_state_t;

typedef struct ht_aconn ht_aconn_t;

/* What kind of connection it is; borrowed, must outlive the connection (a
 * static const in the owner's file). */
typedef struct {
    const char *label; /* of log lines: "<label> unavailable", "<label> connected" */
    int select_db;     /* SELECT the URL's database (keyed commands) */
    int keepalive;     /* TCP keepalive: the connection may be silent for long */
    int quiet_start;   /* no log line for Redis being away until the first connect */
    void (*on_ready)(ht_aconn_t *c);
    void (*on_down)(ht_aconn_t *c);
} ht_aconn_opts_t;

struct ht_aconn {
    /* read-only for the owner */
    redisAsyncContext *ac; /* NULL while down */
    ht_aconn_state_t state;
    int port; /* a node's own address; 0: the URL's */
    char host[HT_CLUSTER_HOST_MAX];
    char name[HT_CLUSTER_HOST_MAX + 8]; /* "host:port" of a node or a seed, for log lines */
    /* the owner's */
    void *data;
    int wanted;     /* 1: kept connected.  0: not reconnected, and closed once ready and idle */
    size_t pending; /* replies owed (ht_aconn_sent, ht_aconn_answered) */
    /* private */
    uv_loop_t *loop_;
    const ht_redis_url_t *url_;
    const ht_aconn_opts_t *opts_;
    uint64_t state_since_;   /* uv_now() when the state was entered */
    uint64_t last_progress_; /* uv_now() of the last reply, or of sending into an idle pipe */
    int outage_logged_;      /* one warning per outage, not one per retry */
    int ever_ready_;
    int seed_; /* a cluster URL's seed tried now, when no node address is set */
};

/* Prepares `c` in [down], wanted, with nothing sent.  `url` (the login, and
 * the address unless `host` is given) and `opts` are borrowed and must
 * outlive c; `host` (a node's address, with `port`) is copied.  Returns 0,
 * or HT_EINVAL when `host` is too long. */
int ht_aconn_init(ht_aconn_t *c, uv_loop_t *loop, const ht_redis_url_t *url, const char *host,
                  int port, const ht_aconn_opts_t *opts, void *data);

/* Starts connecting now, from [down] (elsewhere it does nothing).  A connect
 * that fails at once is logged and leaves c in [down], for the next tick. */
void ht_aconn_connect(ht_aconn_t *c);

/* The state machine's clock: call every HT_ACONN_TICK_MS. */
void ht_aconn_tick(ht_aconn_t *c);

/* Closes the connection from our side; `why` (NULL: a deliberate close) is
 * logged as an outage.  hiredis fails the replies owed with NULL. */
void ht_aconn_drop(ht_aconn_t *c, const char *why);

/* A deliberate, final close: like ht_aconn_drop(c, NULL), without on_down,
 * and c is no longer wanted.  hiredis fails the replies owed with NULL as
 * this returns (or, called from a callback of c's own context, once that
 * callback returns), and their callbacks may still touch c: free c on a
 * later loop turn (the owners free it in a handle's close callback). */
void ht_aconn_close(ht_aconn_t *c);

/* A reply callback of `ac` got NULL: if `ac` is c's connection, it is gone. */
void ht_aconn_lost(ht_aconn_t *c, const redisAsyncContext *ac);

/* One command sent on c that owes a reply; one such reply received. */
/* Hold c's writes: commands queued meanwhile are written together, at once,
 * by ht_aconn_write_held (no wait for the loop to report writability). */
void ht_aconn_hold_writes(ht_aconn_t *c);
void ht_aconn_write_held(ht_aconn_t *c);

/* A hiredis reader that builds its replies as the connections do (in one
 * block, emptied when a reply is freed: see aconn.c), for tests.  Its
 * replies are freed with r->fn->freeObject, one at a time, before the next
 * is read; NULL when out of memory. */
redisReader *ht_aconn_reader_new(void);
void ht_aconn_reader_free(redisReader *r);

void ht_aconn_sent(ht_aconn_t *c);
void ht_aconn_answered(ht_aconn_t *c);

#endif
