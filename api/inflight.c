/* Connections, abandoned requests and Redis calls in flight (see
 * inflight.h). */
#include "api/inflight.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/log.h"

#include "api/http.h"
#include "api/metrics_counters.h"

static atomic_long n_conns;         /* connections open in the process */
static atomic_long n_calls;         /* Redis calls of requests in flight in the process */
static atomic_llong refused_log_at; /* uv_now() of the last "at the cap" log line */

struct ht_inflight_conn {
    const ht_api_config_t *cfg;
    uv_loop_t *loop;
    h2o_socket_t *sock; /* NULL once h2o closed it */
    long refs;          /* 1 while the socket is open, + 1 per call held */
    long calls;         /* Redis calls of its requests in flight */
    h2o_linklist_t tickets;
    uint64_t window_at; /* start of the current reset window */
    long resets;        /* requests abandoned in it */
    int cut;            /* closed for too many resets */
};

/* A request's tie to its connection, in req->pool. */
typedef struct {
    h2o_linklist_t link; /* in conn->tickets */
    h2o_req_t *req;
    ht_inflight_conn_t *conn;
    ht_tenant_t *tenant; /* set by ht_inflight_admit_or_reply */
} ticket_t;

static void conn_unref(ht_inflight_conn_t *c)
{
    if (--c->refs == 0)
        free(c);
}

static void on_sock_close(void *data)
{
    ht_inflight_conn_t *c = data;
    c->sock = NULL;
    atomic_fetch_sub(&n_conns, 1);
    conn_unref(c);
}

int ht_inflight_conn_open(ht_api_thread_t *t, h2o_socket_t *sock)
{
    long max = t->cfg->max_connections;
    long cur = atomic_load(&n_conns);
    do {
        if (max > 0 && cur >= max) {
            long long now = (long long)uv_now(&t->loop), last = atomic_load(&refused_log_at);
            if (now - last >= 1000 && atomic_compare_exchange_strong(&refused_log_at, &last, now)) {
                char v[24];
                snprintf(v, sizeof(v), "%ld", max);
                ht_log(HT_LOG_WARN, "connection refused: the process serves its maximum",
                       "max_connections", v, NULL);
            }
            ht_metrics_add(HT_M_CONNS_REFUSED, 1);
            return -1;
        }
    } while (!atomic_compare_exchange_weak(&n_conns, &cur, cur + 1));
    ht_inflight_conn_t *c = calloc(1, sizeof(*c));
    if (!c) {
        atomic_fetch_sub(&n_conns, 1);
        return -1;
    }
    c->cfg = t->cfg;
    c->loop = &t->loop;
    c->sock = sock;
    c->refs = 1;
    h2o_linklist_init_anchor(&c->tickets);
    c->window_at = uv_now(&t->loop);
    sock->on_close.cb = on_sock_close;
    sock->on_close.data = c;
    return 0;
}

/* The record of req's connection; NULL when it has none (a socket that
 * did not come through ht_inflight_conn_open). */
static ht_inflight_conn_t *conn_of(h2o_req_t *req)
{
    if (!req->conn || !req->conn->callbacks || !req->conn->callbacks->get_socket)
        return NULL;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (!sock || sock->on_close.cb != on_sock_close)
        return NULL;
    return sock->on_close.data;
}

static ticket_t *ticket_of(h2o_req_t *req)
{
    ht_inflight_conn_t *c = conn_of(req);
    if (!c)
        return NULL;
    /* Newest first: the request asking is most often the newest.  A
     * connection has at most h2o's concurrent streams (HTTP/1: one). */
    for (h2o_linklist_t *l = c->tickets.prev; l != &c->tickets; l = l->prev) {
        ticket_t *tk = H2O_STRUCT_FROM_MEMBER(ticket_t, link, l);
        if (tk->req == req)
            return tk;
    }
    return NULL;
}

/* Too many abandoned requests: end the connection.  Only a syscall on the
 * socket, so it is safe from inside h2o's disposal of a request. */
static void cut(ht_inflight_conn_t *c)
{
    char v[24];
    c->cut = 1;
    ht_metrics_add(HT_M_CONNS_CUT, 1);
    snprintf(v, sizeof(v), "%ld", c->resets);
    ht_log(HT_LOG_WARN, "connection closed: too many abandoned requests (stream resets)", "resets",
           v, NULL);
    if (c->sock) {
        int fd = h2o_socket_get_fd(c->sock);
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR);
    }
}

static void on_ticket_dispose(void *p)
{
    ticket_t *tk = p;
    ht_inflight_conn_t *c = tk->conn;
    h2o_linklist_unlink(&tk->link);
    /* No answer started: the client reset the stream or left. */
    if (tk->req->res.status == 0 && !c->cut && c->sock) {
        uint64_t now = uv_now(c->loop);
        if (now - c->window_at >= HT_INFLIGHT_RESET_WINDOW_MS) {
            c->window_at = now;
            c->resets = 0;
        }
        if (++c->resets > c->cfg->max_resets && c->cfg->max_resets > 0)
            cut(c);
    }
    conn_unref(c);
}

void ht_inflight_begin(ht_api_thread_t *t, h2o_req_t *req)
{
    (void)t;
    ht_inflight_conn_t *c = conn_of(req);
    if (!c)
        return;
    ticket_t *tk = h2o_mem_alloc_shared(&req->pool, sizeof(*tk), on_ticket_dispose);
    memset(tk, 0, sizeof(*tk));
    tk->req = req;
    tk->conn = c;
    tk->tenant = NULL;
    c->refs++;
    h2o_linklist_insert(&c->tickets, &tk->link);
}

static void refused(void)
{
    ht_metrics_add(HT_M_INFLIGHT_REFUSED, 1);
}

int ht_inflight_admit_or_reply(ht_api_thread_t *t, h2o_req_t *req, ht_tenant_t *who)
{
    const ht_api_config_t *cfg = t->cfg;
    ticket_t *tk = ticket_of(req);
    ht_inflight_conn_t *c = tk ? tk->conn : NULL;
    if (c && c->cut)
        return refused(),
               ht_http_problem(req, HT_P_UNAVAILABLE,
                               "this connection is being closed: it abandoned more than %ld "
                               "requests in %d s",
                               cfg->max_resets, HT_INFLIGHT_RESET_WINDOW_MS / 1000);
    if (cfg->max_inflight > 0 && atomic_load(&n_calls) >= cfg->max_inflight)
        return refused(),
               ht_http_problem(req, HT_P_UNAVAILABLE,
                               "this server has %ld requests waiting on the job store, its "
                               "limit; retry later",
                               cfg->max_inflight);
    if (who && cfg->max_inflight_per_tenant > 0 &&
        atomic_load(&who->used[HT_TENANT_INFLIGHT]) >= cfg->max_inflight_per_tenant)
        return refused(),
               ht_http_problem(req, HT_P_RATE_LIMITED,
                               "tenant '%s' has %ld requests waiting on the job store on this "
                               "server, its limit; retry later",
                               who->name, cfg->max_inflight_per_tenant);
    if (c && cfg->max_inflight_per_conn > 0 && c->calls >= cfg->max_inflight_per_conn)
        return refused(),
               ht_http_problem(req, HT_P_UNAVAILABLE,
                               "this connection has %ld requests waiting on the job store, its "
                               "limit; retry later",
                               cfg->max_inflight_per_conn);
    if (tk)
        tk->tenant = who;
    return 0;
}

void ht_inflight_take(h2o_req_t *req, ht_inflight_hold_t *hold)
{
    ticket_t *tk = ticket_of(req);
    hold->conn = tk ? tk->conn : NULL;
    hold->tenant = tk ? tk->tenant : NULL;
    hold->counted = 1;
    atomic_fetch_add(&n_calls, 1);
    if (hold->tenant)
        atomic_fetch_add(&hold->tenant->used[HT_TENANT_INFLIGHT], 1);
    if (hold->conn) {
        hold->conn->calls++;
        hold->conn->refs++;
    }
}

void ht_inflight_give(ht_inflight_hold_t *hold)
{
    if (!hold->counted)
        return;
    hold->counted = 0;
    atomic_fetch_sub(&n_calls, 1);
    if (hold->tenant)
        atomic_fetch_sub(&hold->tenant->used[HT_TENANT_INFLIGHT], 1);
    if (hold->conn) {
        hold->conn->calls--;
        conn_unref(hold->conn);
    }
}

long ht_inflight_calls(void)
{
    return atomic_load(&n_calls);
}

long ht_inflight_connections(void)
{
    return atomic_load(&n_conns);
}
