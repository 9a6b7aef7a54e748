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
#include "shared/partition.h"
#include "shared/redis_url.h"

#include "api/listen.h"
#include "api/metrics_counters.h"
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
    long request_timeout_ms;   /* h2o's HTTP/1 req_timeout: head+body deadline, idle keep-alive */
    size_t max_url_bytes;      /* longer request target: 414 (api/guard.h); 0 = no limit */
    size_t max_header_bytes;   /* larger request head: 431 (api/guard.h); 0 = no limit */
    /* Tenants (api/auth.h, api/tenants.h): */
    double rate_per_s;         /* each tenant's request rate limit; 0 = none */
    long rate_burst;           /* requests a tenant may send at once above the rate */
    long max_held_per_tenant;  /* held sync requests and long polls per tenant; 0 = no cap */
    long max_streams_per_tenant; /* SSE streams per tenant; 0 = no cap */
    int metrics_public;        /* /metrics without an API key */
    int host_check;            /* open mode on loopback: ht_auth_host_or_reply() */
    int access_log;            /* one JSON line per finished request (api/access_log.h) */
    const ht_parts_t *parts;   /* partitions served (api/parts.h); NULL: t->keys only */
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
    ht_api_counters_t counters; /* this thread's figures for GET /metrics (api/metrics.h) */
    unsigned part_rr;           /* round-robin state of submits over partitions */
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

/* Every thread of `s` (*n of them; NULL and 0 for NULL), for GET /metrics
 * to sum their counters. */
ht_api_thread_t *ht_server_threads(ht_server_t *s, size_t *n);

/* Fills `gc` (h2o_config_init()ed here) as every api thread uses it: the
 * limits from `cfg` (borrowed, must outlive gc) and one catch-all handler
 * that runs ht_router_dispatch().  A context built on it must live inside an
 * ht_api_thread_t (handlers find their thread from the context).  Exposed
 * for fuzz/fuzz_http.c, which serves requests without listening. */
void ht_server_globalconf_init(h2o_globalconf_t *gc, const ht_api_config_t *cfg);

/* The per-thread part of a server thread's setup, on the thread that will
 * run t->loop (uv_loop_init()ed; t->cfg and t->keys set): metrics binding,
 * h2o context on `gc`, Redis store, types cache, pub/sub.  `on_first` fires
 * as ht_astore_new() says.  Returns 0 or a negative code.  Exposed for
 * fuzz/fuzz_http.c, so the fuzzed thread is built like a real one. */
int ht_api_thread_init(ht_api_thread_t *t, h2o_globalconf_t *gc,
                       void (*on_first)(void *data, int ready), void *data);

/* Opens the listening sockets (cfg->listen gets the real port) and starts
 * the threads.  `cfg` is borrowed and must outlive the server.  Returns 0, or
 * a negative code with a message in err (nothing left running). */
int ht_server_start(ht_server_t **out, ht_api_config_t *cfg, char *err, size_t errlen);

/* Stops accepting, lets in-flight requests finish briefly, joins the
 * threads and frees everything.  Call from the thread that started it. */
void ht_server_stop(ht_server_t *s);

#endif
