/* libFuzzer harness: the HTTP front door.  Each input is the bytes a client
 * sends on one connection; they go over a socketpair into h2o and the
 * api's real handler chain (api/server.c's globalconf: guard, router,
 * handlers), as h2o's own fuzz/driver.cc does with its handlers.  A thread
 * plays the client (writes everything, half-closes, reads until the server
 * closes); the fuzzer's thread runs the api thread's loop.
 *
 * Redis: the store points at a closed port (HT_FUZZ_REDIS_URL overrides),
 * so what gets past validation is answered 503 by the store layer; parsing,
 * framing, routing and validation are what is fuzzed.  Built as a
 * libFuzzer binary (HT_FUZZ) and as a corpus replay test. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/keys.h"
#include "shared/log.h"
#include "shared/redis_url.h"

#include "api/auth.h"
#include "api/server.h"

/* The client gives up on a server that neither answers nor closes. */
#define CLIENT_READ_TIMEOUT_MS 3000
/* A connection still open this long after the client is gone is a hang. */
#define HANG_MS 15000

static struct {
    ht_api_config_t cfg;
    h2o_globalconf_t gc;
    ht_api_thread_t t; /* handlers find it from the context inside */
    uv_async_t wake;
    int store_first;
} F;

static void on_store_first(void *data, int ready)
{
    (void)data, (void)ready;
    F.store_first = 1;
}

static void on_wake(uv_async_t *a)
{
    (void)a; /* only ends uv_run(UV_RUN_ONCE) */
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_http: %s\n", what);
    abort();
}

/* A one-thread api without a listener, as api/server.c's thread_main
 * builds it (ht_api_thread_init() is the part they share). */
static void setup(void)
{
    char err[256];
    const char *url = getenv("HT_FUZZ_REDIS_URL");
    ht_log_init("api", getenv("HT_FUZZ_LOG") ? HT_LOG_DEBUG : HT_LOG_ERROR);
    ht_api_config_t *cfg = &F.cfg;
    cfg->threads = 1;
    cfg->max_body_bytes = 64 * 1024;
    cfg->heartbeat_ms = 1000;
    cfg->max_wait_s = 1;
    cfg->failed_ttl_s = 604800;
    cfg->request_timeout_ms = 2000;
    cfg->max_url_bytes = 8192;
    cfg->max_header_bytes = 32768;
    if (ht_redis_url_parse(url ? url : "redis://127.0.0.1:1", &cfg->redis, err, sizeof(err)) < 0)
        die(err);
    ht_api_thread_t *t = &F.t;
    t->cfg = cfg;
    uv_loop_init(&t->loop);
    uv_async_init(&t->loop, &F.wake, on_wake);
    ht_keys_init(&t->keys, HT_QUEUE_DEFAULT);
    /* As api/main.c: the process-wide key table (none: the api runs open,
     * every request is tenant "default"), then the thread. */
    if (ht_auth_install(getenv("HT_FUZZ_API_KEYS_FILE"), NULL, NULL, err, sizeof(err)) < 0)
        die(err);
    ht_server_globalconf_init(&F.gc, cfg);
    if (ht_api_thread_init(t, &F.gc, on_store_first, NULL) < 0)
        die("thread setup failed");
    /* Serve once the store knows whether Redis is there, like the api. */
    while (!F.store_first)
        uv_run(&t->loop, UV_RUN_ONCE);
}

typedef struct {
    int fd;
    const uint8_t *data;
    size_t size;
    atomic_int done;
} client_t;

/* Writes the input, half-closes, then reads whatever the server answers
 * until it closes (or stops answering). */
static void *client_main(void *arg)
{
    client_t *c = arg;
    size_t off = 0;
    while (off < c->size) {
        struct pollfd pfd = {c->fd, POLLOUT, 0};
        if (poll(&pfd, 1, CLIENT_READ_TIMEOUT_MS) <= 0)
            break; /* the server stopped reading: fine, it may have answered */
        ssize_t n = send(c->fd, c->data + off, c->size - off, MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            break; /* closed by the server */
        if (n > 0)
            off += (size_t)n;
    }
    shutdown(c->fd, SHUT_WR);
    char buf[16384];
    int show = getenv("HT_FUZZ_SHOW") != NULL; /* print the answers (debugging) */
    for (;;) {
        struct pollfd pfd = {c->fd, POLLIN, 0};
        if (poll(&pfd, 1, CLIENT_READ_TIMEOUT_MS) <= 0) {
            if (show)
                fprintf(stderr, "[client: no answer for %d ms]\n", CLIENT_READ_TIMEOUT_MS);
            break;
        }
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            if (show)
                fprintf(stderr, "[closed by the server]\n");
            break;
        }
        if (show && n > 0)
            fwrite(buf, 1, (size_t)n, stderr);
    }
    close(c->fd); /* a server still writing now gets an error and closes */
    atomic_store(&c->done, 1);
    uv_async_send(&F.wake);
    return NULL;
}

static int connections_open(void)
{
    return !h2o_linklist_is_empty(&F.t.ctx.http1._conns) ||
           !h2o_linklist_is_empty(&F.t.ctx.http2._conns);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        die("socketpair failed");
    /* The server end, as api/server.c's on_accept hands it to h2o. */
    uv_tcp_t *conn = h2o_mem_alloc(sizeof(*conn));
    uv_tcp_init(&F.t.loop, conn);
    if (uv_tcp_open(conn, fds[0]) != 0)
        die("uv_tcp_open failed");
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
    h2o_accept(&F.t.accept_ctx, sock);

    client_t client = {.fd = fds[1], .data = data, .size = size};
    pthread_t tid;
    if (pthread_create(&tid, NULL, client_main, &client) != 0)
        die("pthread_create failed");
    uint64_t start = uv_now(&F.t.loop);
    while (!atomic_load(&client.done) || connections_open()) {
        uv_run(&F.t.loop, UV_RUN_ONCE);
        if (uv_now(&F.t.loop) - start > HANG_MS)
            die("a connection stayed open after the client left");
    }
    pthread_join(tid, NULL);
    return 0;
}
