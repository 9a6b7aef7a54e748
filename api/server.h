/* The HTTP server: h2o's global configuration, and one thread per
 * --threads, each with its own libuv loop, h2o context, listening socket
 * (SO_REUSEPORT on the shared address) and async Redis connection.  Nothing
 * is shared between threads at run time but the read-only configuration.
 *
 * Life of a thread: connect Redis -> accept (once Redis answered or was
 * found down: requests then get 503 until it comes back) -> on stop: close
 * the listener, let requests waiting on Redis finish (up to ~3 s), close
 * idle connections, close Redis, tear the loop down. */
#ifndef HT_API_SERVER_H
#define HT_API_SERVER_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "shared/keys.h"
#include "shared/redis_url.h"

#include "api/listen.h"
#include "api/pubsub.h"
#include "api/store.h"
#include "api/types.h"

typedef struct {
    ht_listen_addr_t listen; /* resolved; the port is the real one once started */
    ht_redis_url_t redis;
    size_t threads;
    size_t max_body_bytes;
    long heartbeat_ms; /* default heartbeat of held requests and SSE streams */
    long max_wait_s;   /* cap on Prefer: wait=N */
    long failed_ttl_s; /* a failed job is kept at least this long (HANGTIGHT_FAILED_TTL_S) */
    int webhook_allow_private; /* callback_url may name private addresses (dev, tests) */
} ht_api_config_t;

typedef struct ht_server ht_server_t;

/* Everything one api thread owns.  Handlers reach it from a request with
 * ht_api_thread_of().  Later features hang their per-thread state here
 * (the pub/sub connection for sync waits and SSE, metrics counters, rate
 * limit buckets), so handlers never need locks. */
typedef struct {
    size_t index;
    const ht_api_config_t *cfg; /* borrowed, read-only */
    ht_server_t *server;
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    ht_astore_t *store;
    ht_types_t *types;
    ht_pubsub_t *pubsub; /* job change notifications (api/pubsub.h) */
    ht_keys_t keys; /* of the default queue (queues come with a later issue) */
    /* private */
    uv_thread_t tid_;
    int listen_fd_;
    uv_tcp_t listener_;
    int listening_;
    uv_async_t stop_;
    uv_timer_t drain_;
    int draining_;
    int drain_phase_;
    uint64_t phase_since_;
    int clean_;
} ht_api_thread_t;

/* The thread serving `req` (borrowed; lives as long as the server). */
ht_api_thread_t *ht_api_thread_of(h2o_req_t *req);

/* Opens the listening sockets (cfg->listen gets the real port) and starts
 * the threads.  `cfg` is borrowed and must outlive the server.  Returns 0, or
 * a negative code with a message in err (nothing left running). */
int ht_server_start(ht_server_t **out, ht_api_config_t *cfg, char *err, size_t errlen);

/* Stops accepting, lets in-flight requests finish briefly, joins the
 * threads and frees everything.  Call from the thread that started it. */
void ht_server_stop(ht_server_t *s);

#endif
