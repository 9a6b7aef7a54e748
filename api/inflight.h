/* Bounds on the work hostile clients can make the api and Redis do: the
 * connections one process serves, the requests a connection may abandon
 * (HTTP/2 stream resets, CVE-2023-44487 "rapid reset"), and the Redis calls
 * in flight per connection, per tenant and per process.
 *
 * Connections: server.c hands every accepted socket to
 * ht_inflight_conn_open(), which counts it against cfg->max_connections
 * (over it the socket is closed at once) and hangs a record on the socket's
 * on_close hook (h2o 2.2.5's public h2o_socket_t.on_close, unused by h2o
 * for server sockets), so a request finds its connection's record through
 * the public conn->callbacks->get_socket().
 *
 * Requests: ht_inflight_begin() ties each request to its connection's
 * record.  A request that h2o disposes of before any answer was started
 * (the client reset the stream or closed the connection) is counted as
 * abandoned; a connection that abandons more than cfg->max_resets requests
 * within HT_INFLIGHT_RESET_WINDOW_MS is closed (shutdown(2) of its socket:
 * h2o then sees end-of-stream and closes the connection through its own
 * path; h2o 2.2.5 has no public way to send one connection a GOAWAY).
 *
 * Redis calls: api/aclient.c takes a hold (ht_inflight_take) for each call
 * bound to a request and gives it back (ht_inflight_give) when Redis has
 * answered it or it was dropped unsent, whatever became of the request.
 * ht_inflight_admit_or_reply() refuses a /v1 request at once when its
 * connection, its tenant or the process is at its bound: 503 with
 * Retry-After (connection, process) or 429 (the tenant's own bound).
 *
 * Threads: a connection's record is touched only by the thread that
 * accepted it; the process and tenant counts are atomics. */
#ifndef HT_API_INFLIGHT_H
#define HT_API_INFLIGHT_H

#include <h2o.h>

#include "api/tenants.h"
#include "api/thread.h"

/* The window of the reset limit. */
#define HT_INFLIGHT_RESET_WINDOW_MS 10000

typedef struct ht_inflight_conn ht_inflight_conn_t;

/* Counts the new connection `sock` of thread `t` and attaches its record.
 * Returns 0, or -1 when the process serves cfg->max_connections already
 * (logged, at most once a second): the caller closes the socket. */
int ht_inflight_conn_open(ht_api_thread_t *t, h2o_socket_t *sock);

/* Ties `req` to its connection's record for the reset count (every
 * request the router sees, before anything can answer it). */
void ht_inflight_begin(ht_api_thread_t *t, h2o_req_t *req);

/* The bounds on Redis calls in flight, for a /v1 request of tenant `who`
 * (NULL: none counted per tenant).  Returns 0 when the request may go on,
 * or -1 after answering 503 (its connection, or the process, at its bound;
 * or its connection being closed for too many resets) or 429 (the tenant
 * at its bound), with Retry-After: 1. */
int ht_inflight_admit_or_reply(ht_api_thread_t *t, h2o_req_t *req, ht_tenant_t *who);

/* What one Redis call holds while in flight: its place in the counts. */
typedef struct {
    ht_inflight_conn_t *conn; /* NULL: not counted per connection */
    ht_tenant_t *tenant;      /* NULL: not counted per tenant */
    int counted;              /* 1 once taken, until given back */
} ht_inflight_hold_t;

/* A call of `req` is about to go to Redis: counts it for the process, and
 * for the request's connection and tenant when known. */
void ht_inflight_take(h2o_req_t *req, ht_inflight_hold_t *hold);

/* The call was answered or dropped: gives its place back (once). */
void ht_inflight_give(ht_inflight_hold_t *hold);

/* Calls in flight in the process; connections open in the process. */
long ht_inflight_calls(void);
long ht_inflight_connections(void);

#endif
