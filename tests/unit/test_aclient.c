/* api/aclient.c and the connection under it (api/aconn.c) on a single node,
 * against a real redis-server (started here on a free loopback port; the
 * tests are skipped when there is none): on_first from the loop and never
 * from ht_aclient_new, the login (AUTH, SELECT), and every call's finish
 * run exactly once: answered, failed at once while Redis is away or for a
 * bad call, failed when the connection is killed under it (and the client
 * connected again), when its reply is overdue, and when the client is
 * closed.  The cluster paths are tests/integration/test_cluster_api.sh's. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "shared/argv.h"
#include "shared/error.h"
#include "shared/redis_url.h"

#include "api/aclient.h"
#include "api/aconn.h"
#include "tests/unit/redis_child.h"

static redis_child_t redis = {.pid = -1};
static uv_loop_t loop;
static ht_aclient_t *cl;
static int first_calls, first_ready;

static void on_first(void *data, int ready)
{
    (void)data;
    first_calls++;
    first_ready = ready;
}

/* Creates the client for `url_s` on a fresh loop. */
static void open_client(const char *url_s)
{
    char err[128];
    ht_redis_url_t url;
    cr_assert_eq(ht_redis_url_parse(url_s, &url, err, sizeof(err)), 0, "%s", err);
    uv_loop_init(&loop);
    first_calls = first_ready = 0;
    cr_assert_eq(ht_aclient_new(&cl, &loop, &url, on_first, NULL), 0);
    cr_expect_eq(first_calls, 0, "on_first never fires from within ht_aclient_new");
}

/* Starts redis-server (extra arguments, NULL-terminated), then the client
 * on `url_fmt` (a format taking the port), and waits until it is ready. */
static void open_ready(const char *const *extra, const char *password, const char *url_fmt)
{
    char url_s[128];
    redis_child_start(&redis, extra, password);
    snprintf(url_s, sizeof(url_s), url_fmt, redis.port);
    open_client(url_s);
    cr_assert_eq(run_until(&loop, &first_calls, 1, 5000), 1, "on_first fires");
    cr_assert_eq(first_ready, 1, "ready");
    cr_assert(ht_aclient_ready(cl));
}

static void teardown(void)
{
    if (cl) {
        ht_aclient_close(cl);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0, "every handle closed");
        cl = NULL;
    }
    redis_child_stop(&redis);
}

TestSuite(aclient, .fini = teardown, .timeout = 60);

/* ---- calls -------------------------------------------------------------- */

typedef struct {
    int calls;
    int err;
    int type;
    long long integer;
    size_t elements;
    char str[64];
    uint64_t at; /* uv_now() when finished */
} got_t;

static void on_got(const ht_acall_t *call, int err, const redisReply *r)
{
    got_t *g = call->data;
    g->calls++;
    g->err = err;
    g->at = uv_now(&loop);
    if (r) {
        g->type = r->type;
        g->integer = r->integer;
        g->elements = r->elements;
        snprintf(g->str, sizeof(g->str), "%s", r->str ? r->str : "");
    }
}

/* One command of the NULL-terminated words. */
static void words(ht_argv_t *a, va_list ap)
{
    ht_argv_init(a);
    for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *))
        ht_argv_add(a, w);
}

static void send_cmd(got_t *g, ...)
{
    ht_argv_t a;
    va_list ap;
    va_start(ap, g);
    words(&a, ap);
    va_end(ap);
    ht_acall_t call = {.finish = on_got, .data = g};
    ht_aclient_send(cl, NULL, &a, 1, &call);
}

/* CLIENT KILL of every client but the plain one; returns how many. */
static long long kill_clients(void)
{
    redisReply *r = redisCommand(redis.rc, "CLIENT KILL TYPE normal SKIPME yes");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

/* Runs the loop until the client is ready again, up to ms. */
static int until_ready(int ms)
{
    for (int waited = 0; waited < ms && !ht_aclient_ready(cl); waited += 50)
        run_for(&loop, 50);
    return ht_aclient_ready(cl);
}

/* ---- tests -------------------------------------------------------------- */

Test(aclient, answers_in_the_selected_database)
{
    open_ready(NULL, NULL, "redis://127.0.0.1:%d/2");
    got_t set = {0}, get = {0};
    send_cmd(&set, "SET", "k", "v", NULL);
    send_cmd(&get, "GET", "k", NULL);
    cr_expect_eq(set.calls + get.calls, 0, "answered from the loop");
    cr_expect_eq(ht_aclient_pending(cl), 2);
    cr_assert_eq(run_until(&loop, &get.calls, 1, 3000), 1);
    cr_expect_eq(set.calls, 1);
    cr_expect_eq(set.err, 0);
    cr_expect_str_eq(set.str, "OK");
    cr_expect_eq(get.err, 0);
    cr_expect_str_eq(get.str, "v");
    cr_expect_eq(ht_aclient_pending(cl), 0);
    redisReply *r = redisCommand(redis.rc, "SELECT 2");
    freeReplyObject(r);
    r = redisCommand(redis.rc, "GET k");
    cr_assert(r && r->type == REDIS_REPLY_STRING);
    cr_expect_str_eq(r->str, "v", "written to database 2 (SELECT at login)");
    freeReplyObject(r);
}

Test(aclient, a_transaction_answers_once_with_exec)
{
    open_ready(NULL, NULL, "redis://127.0.0.1:%d");
    ht_argv_t a[4];
    const char *const cmds[4][3] = {{"MULTI"}, {"SET", "t", "1"}, {"INCR", "t"}, {"EXEC"}};
    for (size_t i = 0; i < 4; i++) {
        ht_argv_init(&a[i]);
        for (size_t j = 0; j < 3 && cmds[i][j]; j++)
            ht_argv_add(&a[i], cmds[i][j]);
    }
    got_t g = {0};
    ht_acall_t call = {.finish = on_got, .data = &g};
    ht_aclient_send(cl, NULL, a, 4, &call);
    cr_assert_eq(run_until(&loop, &g.calls, 1, 3000), 1);
    run_for(&loop, 100);
    cr_expect_eq(g.calls, 1, "once, for EXEC");
    cr_expect_eq(g.err, 0);
    cr_expect_eq(g.type, REDIS_REPLY_ARRAY);
    cr_expect_eq(g.elements, 2);
}

Test(aclient, error_replies)
{
    open_ready(NULL, NULL, "redis://127.0.0.1:%d");
    got_t plain = {0}, own = {0};
    send_cmd(&plain, "NOSUCHCOMMAND", NULL);
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "NOSUCHCOMMAND");
    ht_acall_t call = {.finish = on_got, .data = &own, .own_errors = 1};
    ht_aclient_send(cl, NULL, &a, 1, &call);
    cr_assert_eq(run_until(&loop, &own.calls, 1, 3000), 1);
    cr_expect_eq(plain.calls, 1);
    cr_expect_eq(plain.err, HT_EPROTO, "an error reply is a protocol error");
    cr_expect_eq(own.err, 0, "unless the call judges error replies itself");
    cr_expect_eq(own.type, REDIS_REPLY_ERROR);
}

Test(aclient, login_with_a_password)
{
    static const char *const extra[] = {"--requirepass", "s3cret", NULL};
    open_ready(extra, "s3cret", "redis://:s3cret@127.0.0.1:%d");
    got_t g = {0};
    send_cmd(&g, "PING", NULL);
    cr_assert_eq(run_until(&loop, &g.calls, 1, 3000), 1);
    cr_expect_eq(g.err, 0);
    cr_expect_str_eq(g.str, "PONG");
}

Test(aclient, bad_calls_fail_at_once)
{
    open_ready(NULL, NULL, "redis://127.0.0.1:%d");
    got_t none = {0}, overflow = {0};
    ht_acall_t call = {.finish = on_got, .data = &none};
    ht_aclient_send(cl, NULL, NULL, 0, &call);
    cr_expect_eq(none.calls, 1);
    cr_expect_eq(none.err, HT_EINVAL, "no command");
    ht_argv_t a;
    ht_argv_init(&a);
    ht_argv_add(&a, "x");
    ht_argv_add(&a, NULL); /* an add that failed (as past HT_ARGV_LIMIT) flags the vector */
    cr_assert(a.overflow);
    call.data = &overflow;
    ht_aclient_send(cl, NULL, &a, 1, &call);
    cr_expect_eq(overflow.calls, 1);
    cr_expect_eq(overflow.err, HT_EINVAL, "an overflowed vector is never sent");
    run_for(&loop, 100);
    cr_expect_eq(none.calls + overflow.calls, 2, "once each");
}

Test(aclient, calls_fail_at_once_while_redis_is_away)
{
    char url_s[64];
    snprintf(url_s, sizeof(url_s), "redis://127.0.0.1:%d", redis_child_free_port());
    open_client(url_s);
    got_t g = {0};
    send_cmd(&g, "PING", NULL);
    cr_expect_eq(g.calls, 1, "before ht_aclient_send returns");
    cr_expect_eq(g.err, HT_EREDIS);
    cr_assert_eq(run_until(&loop, &first_calls, 1, 5000), 1, "on_first: the connect was refused");
    cr_expect_eq(first_ready, 0);
    run_for(&loop, 700); /* retried on the tick: still refused, on_first not again */
    cr_expect_eq(first_calls, 1);
    cr_expect_eq(g.calls, 1);
}

Test(aclient, a_connect_failing_at_once_is_reported_from_the_loop)
{
    /* A missing unix socket fails inside redisAsyncConnectUnix. */
    open_client("unix:///nonexistent/hangtight-test.sock");
    cr_assert_eq(run_until(&loop, &first_calls, 1, 3000), 1, "on_first on the first tick");
    cr_expect_eq(first_ready, 0);
    cr_expect_not(ht_aclient_ready(cl));
}

Test(aclient, a_killed_connection_fails_its_calls_once_and_comes_back)
{
    open_ready(NULL, NULL, "redis://127.0.0.1:%d");
    got_t blocked = {0};
    send_cmd(&blocked, "BLPOP", "nothing-comes", "20", NULL);
    run_for(&loop, 200); /* sent */
    cr_expect_eq(kill_clients(), 1);
    cr_assert_eq(run_until(&loop, &blocked.calls, 1, 3000), 1);
    cr_expect_eq(blocked.err, HT_EREDIS, "a lost connection is unavailability");
    cr_expect_eq(ht_aclient_pending(cl), 0);
    cr_assert(until_ready(5000), "connected again on the tick");
    got_t g = {0};
    send_cmd(&g, "PING", NULL);
    cr_assert_eq(run_until(&loop, &g.calls, 1, 3000), 1);
    cr_expect_eq(g.err, 0);
    cr_expect_eq(blocked.calls, 1, "once");
}

Test(aclient, an_overdue_reply_means_a_dead_connection)
{
    open_ready(NULL, NULL, "redis://127.0.0.1:%d");
    got_t blocked = {0};
    send_cmd(&blocked, "BLPOP", "nothing-comes", "30", NULL);
    uint64_t sent = uv_now(&loop);
    cr_assert_eq(run_until(&loop, &blocked.calls, 1, 15000), 1,
                 "failed long before BLPOP's own 30 s");
    cr_expect_eq(blocked.err, HT_EREDIS);
    cr_expect_geq(blocked.at - sent, HT_ACONN_REPLY_TIMEOUT_MS, "not before the reply is overdue");
    cr_assert(until_ready(5000), "connected again");
    run_for(&loop, 100);
    cr_expect_eq(blocked.calls, 1, "once");
}

Test(aclient, close_fails_the_calls_in_flight)
{
    open_ready(NULL, NULL, "redis://127.0.0.1:%d");
    got_t blocked = {0};
    send_cmd(&blocked, "BLPOP", "nothing-comes", "20", NULL);
    run_for(&loop, 100);
    ht_aclient_close(cl);
    cl = NULL;
    cr_expect_eq(blocked.calls, 1, "during ht_aclient_close");
    cr_expect_eq(blocked.err, HT_EREDIS);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0, "every handle closed");
    cr_expect_eq(blocked.calls, 1, "once");
}
