/* api/pubsub.c against a real redis-server (started here on a free
 * loopback port; the tests are skipped when there is none): "ready" after
 * the subscription and never from ht_watch_add, fan-out, removal from
 * inside callbacks, watching again while the UNSUBSCRIBE is in flight,
 * "ready" again after the connection is killed, and a close that leaves
 * nothing behind (ASan). */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "shared/keys.h"
#include "shared/redis_url.h"

#include "api/pubsub.h"
#include "tests/unit/redis_child.h"

static redis_child_t redis;
static redisContext *rc; /* a plain client: PUBLISH, PUBSUB, CLIENT KILL */
static uv_loop_t loop;
static ht_pubsub_t *ps, *other;

static void setup(void)
{
    redis_child_start(&redis, NULL, NULL);
    rc = redis.rc;
    char url_s[64], err[128];
    ht_redis_url_t url;
    ht_keys_t k;
    snprintf(url_s, sizeof(url_s), "redis://127.0.0.1:%d", redis.port);
    cr_assert_eq(ht_redis_url_parse(url_s, &url, err, sizeof(err)), 0);
    ht_keys_init(&k, HT_QUEUE_DEFAULT);
    uv_loop_init(&loop);
    cr_assert_eq(ht_pubsub_new(&ps, &loop, &url, &k), 0);
}

static void teardown(void)
{
    ht_pubsub_close(other); /* a test's second subscriber, if any */
    other = NULL;
    if (ps) {
        ht_pubsub_close(ps);
        uv_run(&loop, UV_RUN_DEFAULT);
        cr_expect_eq(uv_loop_close(&loop), 0, "every handle closed");
        ps = NULL;
    }
    rc = NULL;
    redis_child_stop(&redis);
}

TestSuite(pubsub, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers ------------------------------------------------------------ */

typedef struct {
    int ready, events;
    ht_job_event_t last;
    char last_log_id[64];
    ht_watch_t *self;        /* set to remove itself on the next event */
    ht_watch_t *also_remove; /* another watch to remove on the next event */
} seen_t;

static void on_event(void *data, const ht_job_event_t *ev)
{
    seen_t *s = data;
    if (!ev) {
        s->ready++;
        return;
    }
    s->events++;
    s->last = *ev;
    snprintf(s->last_log_id, sizeof(s->last_log_id), "%s", ev->log_id);
    s->last.log_id = s->last_log_id;
    s->last.id = NULL; /* borrowed: not valid after the call */
    if (s->also_remove) {
        ht_watch_remove(s->also_remove);
        s->also_remove = NULL;
    }
    if (s->self) {
        ht_watch_t *w = s->self;
        s->self = NULL;
        ht_watch_remove(w);
    }
}

static void publish(const char *id, const char *msg)
{
    redisReply *r = redisCommand(rc, "PUBLISH ht:{default}:events:%s %s", id, msg);
    cr_assert_not_null(r);
    freeReplyObject(r);
}

static long long numsub(const char *id)
{
    redisReply *r = redisCommand(rc, "PUBSUB NUMSUB ht:{default}:events:%s", id);
    cr_assert(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    long long n = r->element[1]->integer;
    freeReplyObject(r);
    return n;
}

/* ---- tests -------------------------------------------------------------- */

Test(pubsub, ready_then_events)
{
    seen_t s = {0};
    ht_watch_t *w = ht_watch_add(ps, "j1", on_event, &s);
    cr_assert_not_null(w);
    cr_expect_eq(s.ready, 0, "never called from within ht_watch_add");
    cr_assert_eq(run_until(&loop, &s.ready, 1, 3000), 1, "ready once subscribed");
    cr_expect_eq(numsub("j1"), 1);
    publish("j1", "3 running 1795669350050-0 progress");
    publish("j2", "1 queued 1-0 status"); /* another job: not ours */
    publish("j1", "garbage");             /* unreadable: ignored */
    publish("j1", "4 succeeded 1795669350051-0 status");
    cr_assert_eq(run_until(&loop, &s.events, 2, 3000), 2);
    run_for(&loop, 100);
    cr_expect_eq(s.events, 2, "only j1's readable events");
    cr_expect_eq(s.last.version, 4);
    cr_expect_eq(s.last.status, HT_JOB_SUCCEEDED);
    cr_expect_str_eq(s.last.log_id, "1795669350051-0");
    cr_expect_eq(s.last.progress, 0);
    cr_expect_eq(ht_pubsub_watch_count(ps), 1);
    ht_watch_remove(w);
    cr_expect_eq(ht_pubsub_watch_count(ps), 0);
    run_for(&loop, 200);
    cr_expect_eq(numsub("j1"), 0, "unsubscribed with the last watch");
}

Test(pubsub, second_watch_of_an_active_job)
{
    seen_t a = {0}, b = {0};
    ht_watch_t *wa = ht_watch_add(ps, "j1", on_event, &a);
    cr_assert_eq(run_until(&loop, &a.ready, 1, 3000), 1);
    ht_watch_t *wb = ht_watch_add(ps, "j1", on_event, &b);
    cr_expect_eq(b.ready, 0, "not from within ht_watch_add, even when active");
    cr_assert_eq(run_until(&loop, &b.ready, 1, 3000), 1, "ready on the next loop turn");
    cr_expect_eq(a.ready, 1, "the first watch is not told again");
    publish("j1", "2 running 2-0 status");
    run_until(&loop, &b.events, 1, 3000);
    run_until(&loop, &a.events, 1, 3000);
    cr_expect_eq(a.events, 1);
    cr_expect_eq(b.events, 1);
    cr_expect_eq(numsub("j1"), 1, "one subscription per thread, not per watch");
    ht_watch_remove(wa);
    publish("j1", "3 running 3-0 progress");
    run_until(&loop, &b.events, 2, 3000);
    cr_expect_eq(a.events, 1, "no callback after removal");
    cr_expect_eq(b.events, 2);
    ht_watch_remove(wb);
}

Test(pubsub, removal_inside_callbacks)
{
    seen_t a = {0}, b = {0};
    ht_watch_t *wa = ht_watch_add(ps, "j1", on_event, &a);
    ht_watch_t *wb = ht_watch_add(ps, "j1", on_event, &b);
    run_until(&loop, &a.ready, 1, 3000);
    run_until(&loop, &b.ready, 1, 3000);
    cr_assert_eq(a.ready + b.ready, 2);
    /* Whichever is called first removes itself and the other. */
    a.self = wa;
    a.also_remove = wb;
    b.self = wb;
    b.also_remove = wa;
    publish("j1", "2 running 2-0 status");
    run_for(&loop, 300);
    cr_expect_eq(a.events + b.events, 1, "the other one is not called after its removal");
    cr_expect_eq(ht_pubsub_watch_count(ps), 0);
    run_for(&loop, 200);
    cr_expect_eq(numsub("j1"), 0);
}

Test(pubsub, watched_again_while_leaving)
{
    seen_t a = {0}, b = {0};
    ht_watch_t *wa = ht_watch_add(ps, "j1", on_event, &a);
    cr_assert_eq(run_until(&loop, &a.ready, 1, 3000), 1);
    ht_watch_remove(wa);                                   /* UNSUBSCRIBE goes out ... */
    ht_watch_t *wb = ht_watch_add(ps, "j1", on_event, &b); /* ... and a watch arrives */
    cr_assert_eq(run_until(&loop, &b.ready, 1, 3000), 1, "ready once subscribed again");
    cr_expect_eq(numsub("j1"), 1, "subscribed after all");
    publish("j1", "2 running 2-0 status");
    cr_expect_eq(run_until(&loop, &b.events, 1, 3000), 1, "and events arrive");
    cr_expect_eq(a.events, 0);
    ht_watch_remove(wb);

    /* Many quick flips end in the state of the last one. */
    ht_watch_t *w = NULL;
    seen_t c = {0};
    for (int i = 0; i < 50; i++) {
        w = ht_watch_add(ps, "j2", on_event, &c);
        if (i < 49)
            ht_watch_remove(w);
        if (i % 7 == 0)
            uv_run(&loop, UV_RUN_NOWAIT);
    }
    run_for(&loop, 300);
    cr_expect_eq(numsub("j2"), 1);
    publish("j2", "5 running 5-0 status");
    cr_expect_eq(run_until(&loop, &c.events, 1, 3000), 1);
    ht_watch_remove(w);
    run_for(&loop, 300);
    cr_expect_eq(numsub("j2"), 0);
}

Test(pubsub, ready_again_after_reconnect)
{
    seen_t s = {0};
    ht_watch_t *w = ht_watch_add(ps, "j1", on_event, &s);
    cr_assert_eq(run_until(&loop, &s.ready, 1, 3000), 1);
    redisReply *r = redisCommand(rc, "CLIENT KILL TYPE pubsub");
    cr_assert(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    cr_assert_eq(run_until(&loop, &s.ready, 2, 5000), 2, "ready again once subscribed again");
    publish("j1", "7 running 7-0 progress");
    cr_expect_eq(run_until(&loop, &s.events, 1, 3000), 1);
    cr_expect_eq(s.last.progress, 1);
    ht_watch_remove(w);
}

Test(pubsub, close_with_live_watches)
{
    seen_t s = {0};
    for (int i = 0; i < 300; i++) {
        char id[16];
        snprintf(id, sizeof(id), "j%d", i);
        cr_assert_not_null(ht_watch_add(ps, id, on_event, &s));
    }
    run_until(&loop, &s.ready, 300, 5000);
    cr_expect_eq(s.ready, 300, "every watch ready (the table grew)");
    cr_expect_eq(ht_pubsub_watch_count(ps), 300);
    /* teardown closes with all of them live: ASan reports anything left */
}

Test(pubsub, cluster_url_moves_on_to_the_next_seed)
{
    /* A cluster URL whose first seed refuses: the subscriber tries the
     * next seed (any node hears every PUBLISH of a cluster; this one is a
     * single node, which pub/sub cannot tell apart). */
    char url_s[96], err[128];
    ht_redis_url_t url;
    ht_keys_t k;
    snprintf(url_s, sizeof(url_s), "redis+cluster://127.0.0.1:%d,127.0.0.1:%d",
             redis_child_free_port(), redis.port);
    cr_assert_eq(ht_redis_url_parse(url_s, &url, err, sizeof(err)), 0);
    ht_keys_init(&k, HT_QUEUE_DEFAULT);
    cr_assert_eq(ht_pubsub_new(&other, &loop, &url, &k), 0);
    seen_t s = {0};
    ht_watch_t *w = ht_watch_add(other, "j1", on_event, &s);
    cr_assert_eq(run_until(&loop, &s.ready, 1, 5000), 1, "ready through the second seed");
    publish("j1", "2 running 2-0 status");
    cr_expect_eq(run_until(&loop, &s.events, 1, 3000), 1);
    ht_watch_remove(w);
}
