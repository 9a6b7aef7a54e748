/* The api's threads and their h2o wiring (see server.h), after h2o's
 * examples/libh2o/simple.c: libuv accepts, h2o takes the socket.  One
 * catch-all h2o handler hands every request to the router. */
#include "api/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/error.h"
#include "shared/log.h"

#include "api/events.h"
#include "api/files.h"
#include "api/guard.h"
#include "api/inflight.h"
#include "api/intake.h"
#include "api/router.h"
#include "api/wait.h"
#include "api/worker_api.h"

/* Shutdown: requests waiting on Redis get DRAIN_REQUESTS_MS to finish, then
 * idle keep-alive connections are closed and get DRAIN_CONNS_MS to go. */
#define DRAIN_TICK_MS     20
#define DRAIN_REQUESTS_MS 3000
#define DRAIN_CONNS_MS    1000

/* A server whose threads could not be torn down cleanly stays reachable
 * here, so that leak checkers see h2o's leftovers as still in use. */
static struct ht_server *unclean_server;

struct ht_server {
    h2o_globalconf_t globalconf;
    ht_api_config_t *cfg;
    size_t n;
    ht_api_thread_t *threads;
};

typedef struct {
    h2o_handler_t super;
} catchall_handler_t;

ht_api_thread_t *ht_server_threads(ht_server_t *s, size_t *n)
{
    *n = s ? s->n : 0;
    return s ? s->threads : NULL;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    ht_router_dispatch(ht_api_thread_of(req), req);
    return 0; /* always answered (or will be, from a callback) */
}

/* ---- accepting -------------------------------------------------------- */

static void on_accept(uv_stream_t *listener, int status)
{
    ht_api_thread_t *t = listener->data;
    if (status != 0)
        return;
    uv_tcp_t *conn = h2o_mem_alloc(sizeof(*conn));
    uv_tcp_init(listener->loop, conn);
    if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, (uv_close_cb)free);
        return;
    }
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    if (ht_inflight_conn_open(t, sock) < 0) {
        h2o_socket_close(sock); /* over --max-connections: closed at once */
        return;
    }
    h2o_accept(&t->accept_ctx, sock);
    ht_intake_accept(sock); /* file submits' bodies from the socket (api/intake.h) */
}

static void start_listening(ht_api_thread_t *t)
{
    int rc;
    if (t->listening_ || t->draining_)
        return;
    uv_tcp_init(&t->loop, &t->listener_);
    t->listener_.data = t;
    t->listening_ = 1; /* from here the handle must be closed */
    if ((rc = uv_tcp_open(&t->listener_, t->listen_fd_)) == 0) {
        t->listen_fd_ = -1; /* owned by the handle now */
        rc = uv_listen((uv_stream_t *)&t->listener_, SOMAXCONN, on_accept);
    }
    if (rc != 0)
        ht_log(HT_LOG_ERROR, "cannot accept connections", "detail", uv_strerror(rc), NULL);
}

/* The thread's Redis client answered (or found Redis down): serve. */
static void on_store_first(void *data, int ready)
{
    (void)ready;
    start_listening(data);
}

/* ---- stopping --------------------------------------------------------- */

/* Makes h2o see end-of-stream on every accepted connection still open, so
 * idle keep-alive connections close through h2o's own path.  Only the read
 * side: a response still being written is not cut. */
static void shut_reading(uv_handle_t *h, void *arg)
{
    ht_api_thread_t *t = arg;
    uv_os_fd_t fd;
    if (h->type != UV_TCP || h == (uv_handle_t *)&t->listener_ || uv_is_closing(h))
        return;
    if (uv_fileno(h, &fd) == 0)
        shutdown(fd, SHUT_RD);
}

static int no_connections(ht_api_thread_t *t)
{
    return h2o_linklist_is_empty(&t->ctx.http1._conns) &&
           h2o_linklist_is_empty(&t->ctx.http2._conns);
}

static void on_drain_tick(uv_timer_t *timer)
{
    ht_api_thread_t *t = timer->data;
    uint64_t waited = uv_now(&t->loop) - t->phase_since_;
    if (t->drain_phase_ == 0) {
        /* File copies stop at their next piece once told (ht_files_stop). */
        if ((ht_aclient_pending(t->store) > 0 ||
             (t->durable && ht_aclient_pending(t->durable) > 0) || ht_files_pending() > 0) &&
            waited < DRAIN_REQUESTS_MS)
            return;
        uv_walk(&t->loop, shut_reading, t);
        t->drain_phase_ = 1;
        t->phase_since_ = uv_now(&t->loop);
        return;
    }
    if (!no_connections(t) && waited < DRAIN_CONNS_MS)
        return;
    t->clean_ = no_connections(t);
    if (!t->clean_)
        ht_log(HT_LOG_WARN, "connections still open at exit", NULL);
    /* Closing the store fails whatever still waits on Redis (503). */
    ht_aclient_close(t->store);
    t->store = NULL;
    ht_aclient_close(t->durable);
    t->durable = NULL;
    ht_wapi_close(t->wapi); /* after the store: its calls are all answered */
    t->wapi = NULL;
    ht_types_close(t->types);
    t->types = NULL;
    /* Every request is gone by now (or the thread is left as it is), so no
     * watch is left to be removed after this. */
    ht_pubsub_close(t->pubsub);
    t->pubsub = NULL;
    ht_intake_thread_close();
    uv_close((uv_handle_t *)&t->drain_, NULL);
    uv_close((uv_handle_t *)&t->stop_, NULL);
    uv_stop(&t->loop); /* h2o_context_dispose() runs the loop itself */
}

static void on_stop(uv_async_t *async)
{
    ht_api_thread_t *t = async->data;
    if (t->draining_)
        return;
    t->draining_ = 1;
    if (t->listening_)
        uv_close((uv_handle_t *)&t->listener_, NULL);
    /* HTTP/2 gets GOAWAY; HTTP/1 answers carry Connection: close. */
    h2o_context_request_shutdown(&t->ctx);
    ht_files_stop();
    /* Held requests and event streams never end on their own: answer and
     * end them now, so their connections can close. */
    ht_wait_release_all();
    ht_wapi_release_all(t->wapi);
    ht_events_shutdown();
    t->drain_phase_ = 0;
    t->phase_since_ = uv_now(&t->loop);
    uv_timer_start(&t->drain_, on_drain_tick, DRAIN_TICK_MS, DRAIN_TICK_MS);
}

/* ---- a thread --------------------------------------------------------- */

int ht_api_thread_init(ht_api_thread_t *t, h2o_globalconf_t *gc,
                       void (*on_first)(void *data, int ready), void *data)
{
    int rc;
    ht_metrics_bind(&t->counters);
    h2o_context_init(&t->ctx, &t->loop, gc);
    t->accept_ctx.ctx = &t->ctx;
    t->accept_ctx.hosts = gc->hosts;
    if ((rc = ht_aclient_new(&t->store, &t->loop, &t->cfg->redis, on_first, data)) < 0 ||
        (t->cfg->wait_replicas > 0 &&
         (rc = ht_aclient_new(&t->durable, &t->loop, &t->cfg->redis, NULL, NULL)) < 0) ||
        (rc = ht_types_new(&t->types, &t->loop, t->store)) < 0 ||
        (rc = ht_pubsub_new(&t->pubsub, &t->loop, &t->cfg->redis, &t->keys)) < 0 ||
        (rc = ht_wapi_new(&t->wapi, t)) < 0)
        return rc;
    ht_pubsub_set_parts(t->pubsub, t->cfg->parts);
    return 0;
}

static void thread_main(void *arg)
{
    ht_api_thread_t *t = arg;
    int rc;
    uv_timer_init(&t->loop, &t->drain_);
    t->drain_.data = t;
    if ((rc = ht_api_thread_init(t, &t->server->globalconf, on_store_first, t)) < 0) {
        ht_log(HT_LOG_ERROR, "thread setup failed", "detail", ht_strerror(rc), NULL);
        abort(); /* out of memory at startup: nothing sensible to serve */
    }

    uv_run(&t->loop, UV_RUN_DEFAULT);

    if (!t->clean_)
        return; /* h2o still holds connections: leave everything as it is */
    if (t->listen_fd_ >= 0)
        close(t->listen_fd_);
    /* h2o_context_request_shutdown() armed HTTP/2's one-second GOAWAY resend
     * timer; h2o_context_dispose() asserts that no timer is armed.  With no
     * connections left there is nothing for it to do. */
    if (h2o_timeout_is_linked(&t->ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&t->ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&t->ctx);
    uv_run(&t->loop, UV_RUN_DEFAULT); /* the close callbacks of what is left */
    if (uv_loop_close(&t->loop) != 0)
        ht_log(HT_LOG_WARN, "event loop not empty at exit", NULL);
}

void ht_server_globalconf_init(h2o_globalconf_t *gc, const ht_api_config_t *cfg)
{
    h2o_config_init(gc);
    gc->server_name = h2o_iovec_init(H2O_STRLIT("hangtight/" HT_VERSION));
    /* h2o answers a body over this limit itself, with a text/plain 413 and a
     * closed connection, before any handler runs.  Keeping it well above
     * --max-body-bytes lets jobs.c answer the ordinary oversize cases with
     * problem+json; h2o's answer only meets bodies over this bound. */
    size_t ours = cfg->max_body_bytes;
    size_t bound = ours * 4 > ours + (1u << 20) ? ours * 4 : ours + (1u << 20);
    /* With a blob store, a file of up to HANGTIGHT_MAX_UPLOAD_BYTES must get
     * through (h2o has one limit for every body): a JSON body over its own
     * limit is then read (into a spool file, api/files.h) before jobs.c
     * refuses it. */
    if (ht_files_enabled() && ht_files_config()->max_upload_bytes > bound)
        bound = (size_t)ht_files_config()->max_upload_bytes;
    gc->max_request_entity_size = bound;
    /* The slowloris deadline: h2o arms it when it starts reading a request
     * (and never re-arms it per byte), so a head plus body dribbled slower
     * than this is cut off by closing the connection (see api/guard.h). */
    if (cfg->request_timeout_ms > 0)
        gc->http1.req_timeout = (uint64_t)cfg->request_timeout_ms;
    /* Cleartext HTTP/2, by prior knowledge ("PRI * HTTP/2.0") or by
     * Upgrade: h2c: both hang on this one h2o switch. */
    gc->http1.upgrade_to_http2 = cfg->h2c != 0;
    /* Requests one HTTP/2 connection runs at once; h2o queues the rest of
     * the (at most 100) open streams until one ends. */
    if (cfg->max_streams_per_conn > 0)
        gc->http2.max_concurrent_requests_per_connection = (size_t)cfg->max_streams_per_conn;
    h2o_hostconf_t *host =
        h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    ht_guard_register(host); /* h2o's own 400/413/417 answers as problem+json */
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    catchall_handler_t *h = (void *)h2o_create_handler(path, sizeof(*h));
    h->super.on_req = on_req;
}

int ht_server_start(ht_server_t **out, ht_api_config_t *cfg, char *err, size_t errlen)
{
    *out = NULL;
    ht_server_t *s = calloc(1, sizeof(*s));
    int *fds = calloc(cfg->threads, sizeof(*fds));
    if (!s || !fds || !(s->threads = calloc(cfg->threads, sizeof(*s->threads)))) {
        free(s ? s->threads : NULL);
        free(s);
        free(fds);
        snprintf(err, errlen, "out of memory");
        return HT_ENOMEM;
    }
    s->cfg = cfg;
    s->n = cfg->threads;
    int rc = ht_listen_open(&cfg->listen, fds, s->n, err, errlen);
    if (rc < 0) {
        free(fds);
        free(s->threads);
        free(s);
        return rc;
    }
    ht_server_globalconf_init(&s->globalconf, cfg);
    for (size_t i = 0; i < s->n; i++) {
        ht_api_thread_t *t = &s->threads[i];
        t->index = i;
        t->cfg = cfg;
        t->server = s;
        t->listen_fd_ = fds[i];
        ht_keys_init(&t->keys, HT_QUEUE_DEFAULT);
        /* Loop and stop handle exist before the thread does, so that
         * ht_server_stop() can always signal it. */
        uv_loop_init(&t->loop);
        uv_async_init(&t->loop, &t->stop_, on_stop);
        t->stop_.data = t;
        uv_thread_create(&t->tid_, thread_main, t);
    }
    free(fds);
    *out = s;
    return 0;
}

void ht_server_stop(ht_server_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        uv_async_send(&s->threads[i].stop_);
    int all_clean = 1;
    for (size_t i = 0; i < s->n; i++) {
        uv_thread_join(&s->threads[i].tid_);
        all_clean &= s->threads[i].clean_;
    }
    if (!all_clean) {
        unclean_server = s; /* some thread still holds h2o state */
        return;
    }
    h2o_config_dispose(&s->globalconf);
    free(s->threads);
    free(s);
}
