/* The HTTP server: h2o's global configuration, and one thread per
 * --threads (api/thread.h), each with its own libuv loop, h2o context,
 * listening socket (SO_REUSEPORT on the shared address), Redis client
 * (api/aclient.h) and subscriber (api/pubsub.h).  Nothing is shared
 * between threads at run time but the read-only configuration.
 *
 * Life of a thread: connect Redis -> accept (once Redis answered or was
 * found down: requests then get 503 until it comes back) -> on stop: close
 * the listener, let requests waiting on Redis finish (up to ~3 s), close
 * idle connections, close Redis, tear the loop down. */
#ifndef HT_API_SERVER_H
#define HT_API_SERVER_H

#include <h2o.h>
#include <stddef.h>

#include "api/store.h"
#include "api/thread.h"

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
 * h2o context on `gc`, Redis client, types cache, pub/sub.  `on_first` fires
 * as ht_aclient_new() says.  Returns 0 or a negative code.  Exposed for
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
