/* One api thread's state, and the configuration every thread reads: what
 * request handlers and the per-thread machinery (held requests, event
 * streams, partitions) reach from a request.  The threads themselves are
 * started, run and stopped by api/server.h; this header depends on none of
 * the code that uses it, so that code depends on the server in one
 * direction only. */
#ifndef HT_API_THREAD_H
#define HT_API_THREAD_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "shared/keys.h"
#include "shared/partition.h"
#include "shared/redis_url.h"
#include "shared/secretbox.h"

#include "api/aclient.h"
#include "api/listen.h"
#include "api/metrics_counters.h"
#include "api/pubsub.h"
#include "api/types.h"

typedef struct {
    ht_listen_addr_t listen; /* resolved; the port is the real one once started */
    ht_redis_url_t redis;
    size_t threads;
    size_t max_body_bytes;
    long heartbeat_ms; /* default heartbeat of held requests and SSE streams */
    long max_wait_s;   /* cap on Prefer: wait=N */
    long failed_ttl_s; /* a failed job is kept at least this long (HANGTIGHT_FAILED_TTL_S) */
    int log_every_job; /* every change logged and published, watched or not */
    int webhook_allow_private; /* callback_url may name private addresses (dev, tests) */
    long request_timeout_ms;   /* h2o's HTTP/1 req_timeout: head+body deadline, idle keep-alive */
    size_t max_url_bytes;      /* longer request target: 414 (api/guard.h); 0 = no limit */
    size_t max_header_bytes;   /* larger request head: 431 (api/guard.h); 0 = no limit */
    /* Tenants (api/auth.h, api/tenants.h): */
    double rate_per_s;           /* each tenant's request rate limit; 0 = none */
    long rate_burst;             /* requests a tenant may send at once above the rate */
    long max_held_per_tenant;    /* held sync requests and long polls per tenant; 0 = no cap */
    long max_streams_per_tenant; /* SSE streams per tenant; 0 = no cap */
    int metrics_public;          /* /metrics without an API key */
    int host_check;              /* open mode on loopback: ht_auth_host_or_reply() */
    int access_log;              /* one JSON line per finished request (api/access_log.h) */
    const ht_parts_t *parts;     /* partitions served (api/parts.h); NULL: t->keys only */
    /* Hostile load (api/inflight.h, api/server.c); 0: no bound. */
    long max_connections;         /* connections open in this process */
    long max_streams_per_conn;    /* HTTP/2 requests one connection runs at once (h2o) */
    long max_inflight;            /* Redis calls of requests in flight in this process */
    long max_inflight_per_tenant; /* ... of one tenant's requests */
    long max_inflight_per_conn;   /* ... of one connection's requests */
    long max_resets;              /* requests a connection may abandon per 10 s */
    int h2c;                      /* serve cleartext HTTP/2 (prior knowledge, Upgrade: h2c) */
    /* Durable submits (api/jobs.c): WAIT for this many replicas (0: no WAIT)
     * before a submit's answer, up to wait_timeout_ms. */
    long wait_replicas;
    long wait_timeout_ms;
    int schedule_seconds;        /* cron expressions may have a seconds field (tests) */
    /* Tenant webhook secrets (api/webhook_secrets.c): */
    const ht_secretbox_keys_t *secrets_keys; /* HANGTIGHT_SECRETS_KEY; NULL: none (POST 501) */
    long webhook_rotation_s;                 /* how long a replaced secret keeps signing */
    /* The HTTP worker API (api/worker_api.h): the lease of its claims and
     * the backoff of its failed attempts, as hangtight-worker's settings of
     * the same names say; how long a remote worker is remembered. */
    long lease_ms;      /* HANGTIGHT_LEASE_MS */
    long grace_ms;      /* HANGTIGHT_TIMEOUT_GRACE_MS */
    long retry_base_ms; /* HANGTIGHT_RETRY_BASE_MS */
    long retry_max_ms;  /* HANGTIGHT_RETRY_MAX_MS */
    long worker_ttl_s;  /* HANGTIGHT_WORKER_TTL_S */
} ht_api_config_t;

typedef struct ht_wapi ht_wapi_t;

typedef struct ht_server ht_server_t;

/* Everything one api thread owns: its loop, its h2o context, its Redis
 * client and subscriber, its caches and counters.  Nothing in it is shared
 * with another thread, so handlers never need locks. */
typedef struct {
    size_t index;
    const ht_api_config_t *cfg; /* borrowed, read-only */
    ht_server_t *server;
    uv_loop_t loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    ht_aclient_t *store; /* Redis commands (api/store.h) */
    /* Submits when cfg->wait_replicas > 0 (NULL otherwise): WAIT blocks
     * its connection, so it is not the one every other call shares. */
    ht_aclient_t *durable;
    ht_types_t *types;
    ht_pubsub_t *pubsub;        /* job change notifications (api/pubsub.h) */
    ht_wapi_t *wapi;            /* the HTTP worker API's state (api/worker_api.h) */
    ht_keys_t keys;             /* of the default queue, unpartitioned */
    ht_api_counters_t counters; /* this thread's figures for GET /metrics (api/metrics.h) */
    unsigned part_rr;           /* round-robin state of submits over partitions */
    /* private: api/server.c's */
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

/* The thread serving `req` (borrowed; lives as long as the server).  Every
 * h2o context the api serves on is the `ctx` of an ht_api_thread_t. */
static inline ht_api_thread_t *ht_api_thread_of(h2o_req_t *req)
{
    return H2O_STRUCT_FROM_MEMBER(ht_api_thread_t, ctx, req->conn->ctx);
}

#endif
