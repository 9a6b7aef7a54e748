/* worker/counts.c against a real redis-server holding the function library:
 * the counts are summed per partition and sent in one ht_count_add each;
 * a batch whose reply was lost after Redis applied it (the store's timeout
 * while Redis sleeps) is sent again with its seq and counted once; a batch
 * a Redis without the library could not take is kept and sent later.  And
 * the outcome whose reply was lost the same way: answered again, once. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "shared/error.h"
#include "shared/keys.h"
#include "shared/migrations.h"
#include "shared/redis_url.h"
#include "shared/store.h"

#include "redis_child.h"
#include "worker/counts.h"

#define P1 "ht:{default}:"
#define P2 "ht:{p2}:"

static redis_child_t redis;
static ht_store_t *store;
static ht_counts_t *counts;

static void setup(void)
{
    const char *extra[] = {"--enable-debug-command", "yes", NULL};
    redis_child_start(&redis, extra, NULL);
    char text[64], err[256];
    snprintf(text, sizeof(text), "redis://127.0.0.1:%d", redis.port);
    ht_redis_url_t url;
    cr_assert_eq(ht_redis_url_parse(text, &url, err, sizeof(err)), 0, "%s", err);
    /* A short reply timeout: the lost reply below is a timeout. */
    cr_assert_eq(ht_store_open(&store, &url, 300), 0);
    ht_migrate_result_t res;
    cr_assert_eq(ht_store_migrate(store, &ht_keyspace, &res), 0, "%s", ht_store_errstr(store));
    cr_assert_eq(ht_counts_new(&counts, "host:1:abcdef"), 0);
}

static void teardown(void)
{
    ht_counts_free(counts);
    ht_store_close(store);
    redis_child_stop(&redis);
}

/* HGET key field as a number (0 when absent). */
static long long hget(const char *key, const char *field)
{
    redisReply *r = redisCommand(redis.rc, "HGET %s %s", key, field);
    cr_assert_not_null(r);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

static long long seq_of(const char *base)
{
    redisReply *r = redisCommand(redis.rc, "GET %scounted:host:1:abcdef", base);
    cr_assert_not_null(r);
    long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : 0;
    freeReplyObject(r);
    return v;
}

static ht_job_t job_of(char *type, char *tenant)
{
    ht_job_t job;
    memset(&job, 0, sizeof(job));
    job.type = type;
    job.tenant = tenant;
    return job;
}

TestSuite(counts, .init = setup, .fini = teardown, .timeout = 60);

Test(counts, summed_per_partition_one_call_each)
{
    ht_job_t echo = job_of("echo", NULL), fail = job_of("fail", "acme");
    ht_counts_started(counts, P1, &echo, "5 3");
    ht_counts_started(counts, P1, &echo, "");
    ht_counts_started(counts, P1, &fail, "25 20");
    ht_counts_ended(counts, P1, &echo, HT_JOB_SUCCEEDED, "10 7");
    ht_counts_ended(counts, P1, &echo, HT_JOB_SUCCEEDED, "10 2");
    ht_counts_ended(counts, P1, &fail, HT_JOB_SCHEDULED, "+Inf 4000000");
    ht_counts_ended(counts, P1, &fail, HT_JOB_FAILED, "");
    ht_counts_started(counts, P2, &echo, "5 1");
    cr_assert_eq(ht_counts_flush(counts, store), 0, "%s", ht_store_errstr(store));

    cr_assert_eq(hget(P1 "metrics", "jobs:started:echo"), 2);
    cr_assert_eq(hget(P1 "metrics", "jobs:started:fail"), 1);
    cr_assert_eq(hget(P1 "metrics", "jobs:succeeded:echo"), 2);
    cr_assert_eq(hget(P1 "metrics", "jobs:retried:fail"), 1);
    cr_assert_eq(hget(P1 "metrics", "jobs:failed:fail"), 1);
    cr_assert_eq(hget(P1 "t:default:stats", "succeeded"), 2);
    cr_assert_eq(hget(P1 "t:acme:stats", "retried"), 1);
    cr_assert_eq(hget(P1 "t:acme:stats", "failed"), 1);
    cr_assert_eq(hget(P1 "hist:wait", "5"), 1);
    cr_assert_eq(hget(P1 "hist:wait", "25"), 1);
    cr_assert_eq(hget(P1 "hist:wait", "sum_ms"), 23);
    cr_assert_eq(hget(P1 "hist:run", "10"), 2);
    cr_assert_eq(hget(P1 "hist:run", "+Inf"), 1);
    cr_assert_eq(hget(P1 "hist:run", "sum_ms"), 4000009);
    cr_assert_eq(hget(P2 "metrics", "jobs:started:echo"), 1);
    cr_assert_eq(hget(P2 "hist:wait", "sum_ms"), 1);
    cr_assert_eq(seq_of(P1), 1);
    cr_assert_eq(seq_of(P2), 1);

    /* Nothing new: no call, no new batch. */
    cr_assert_eq(ht_counts_flush(counts, store), 0);
    cr_assert_eq(seq_of(P1), 1);
    ht_counts_started(counts, P1, &echo, "");
    cr_assert_eq(ht_counts_flush(counts, store), 0);
    cr_assert_eq(seq_of(P1), 2);
    cr_assert_eq(seq_of(P2), 1);
    cr_assert_eq(hget(P1 "metrics", "jobs:started:echo"), 3);
}

Test(counts, a_lost_reply_counts_once)
{
    ht_job_t echo = job_of("echo", NULL);
    ht_counts_started(counts, P1, &echo, "5 3");
    /* Redis sleeps past the store's 300 ms: the flush's call times out,
     * and Redis applies it when it wakes (its reply goes nowhere). */
    redisAppendCommand(redis.rc, "DEBUG SLEEP 1");
    int done = 0;
    while (!done)
        cr_assert_eq(redisBufferWrite(redis.rc, &done), REDIS_OK);
    cr_assert_lt(ht_counts_flush(counts, store), 0, "a flush while Redis sleeps");
    redisReply *r;
    cr_assert_eq(redisGetReply(redis.rc, (void **)&r), REDIS_OK);
    freeReplyObject(r);
    for (int i = 0; i < 100 && seq_of(P1) != 1; i++)
        usleep(20 * 1000);
    cr_assert_eq(seq_of(P1), 1, "Redis applied the batch whose reply was lost");
    cr_assert_eq(hget(P1 "metrics", "jobs:started:echo"), 1);

    /* Counted meanwhile: summed apart, sent after the resent batch. */
    ht_counts_started(counts, P1, &echo, "");
    cr_assert_eq(ht_counts_flush(counts, store), 0, "%s", ht_store_errstr(store));
    cr_assert_eq(hget(P1 "metrics", "jobs:started:echo"), 2, "the lost batch once, then the new");
    cr_assert_eq(hget(P1 "hist:wait", "5"), 1);
    cr_assert_eq(hget(P1 "hist:wait", "sum_ms"), 3);
    cr_assert_eq(seq_of(P1), 2);
}

Test(counts, kept_while_redis_cannot_take_them)
{
    ht_job_t echo = job_of("echo", NULL);
    ht_counts_ended(counts, P1, &echo, HT_JOB_CANCELED, "50 40");
    redisReply *r = redisCommand(redis.rc, "FUNCTION FLUSH");
    cr_assert(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    cr_assert_eq(ht_counts_flush(counts, store), HT_ESCHEMA, "a Redis without the library");
    ht_counts_ended(counts, P1, &echo, HT_JOB_CANCELED, "");
    cr_assert_eq(ht_counts_flush(counts, store), HT_ESCHEMA);
    ht_migrate_result_t res;
    cr_assert_eq(ht_store_migrate(store, &ht_keyspace, &res), 0, "%s", ht_store_errstr(store));
    cr_assert_eq(hget(P1 "metrics", "jobs:canceled:echo"), 0);
    cr_assert_eq(ht_counts_flush(counts, store), 0, "%s", ht_store_errstr(store));
    cr_assert_eq(hget(P1 "metrics", "jobs:canceled:echo"), 2);
    cr_assert_eq(hget(P1 "t:default:stats", "canceled"), 2);
    cr_assert_eq(hget(P1 "hist:run", "50"), 1);
    cr_assert_eq(seq_of(P1), 2, "the kept batch, then the one counted meanwhile");
}

/* The outcome's own call: a completion whose reply was lost after Redis
 * stored it is answered again when the same attempt sends it again (the
 * caller counts it once), and stays stale for anything else. */
Test(counts, a_lost_outcome_reply_is_answered_again)
{
    ht_keys_t k;
    cr_assert_eq(ht_keys_init(&k, "default"), 0);
    const char *id = "0b6f3a2e-8c4d-4f5e-9a1b-2c3d4e5f6a7b";
    char jobkey[HT_KEY_MAX];
    ht_keys_job(&k, id, jobkey);
    redisReply *r =
        redisCommand(redis.rc, "FCALL ht_submit 3 %s %s %s %s %s 0 %s %s type echo payload {}",
                     jobkey, k.wait[HT_PRIO_DEFAULT], k.signal, id, k.channel, "", "");
    cr_assert(r && r->type == REDIS_REPLY_ARRAY, "ht_submit: %s", r ? r->str : "no reply");
    freeReplyObject(r);
    ht_claimer_t who = {"host:1:abcdef", 10000, 30000, "echo"};
    ht_job_t job;
    ht_counted_t counted;
    cr_assert_eq(ht_store_claim(store, &k, &who, &job, &counted), 1, "%s", ht_store_errstr(store));
    cr_assert_neq(counted.wait[0], '\0', "the first start's wait");

    /* Stored while the reply is lost: Redis sleeps past the store's timeout. */
    redisAppendCommand(redis.rc, "DEBUG SLEEP 1");
    int done = 0;
    while (!done)
        cr_assert_eq(redisBufferWrite(redis.rc, &done), REDIS_OK);
    ht_job_status_t status;
    cr_assert_lt(ht_store_complete_next(store, &k, &job, HT_OUTCOME_SUCCEEDED, "{\"ok\":1}", 0, 0,
                                        NULL, &who, NULL, NULL, &counted, &status),
                 0);
    cr_assert_eq(redisGetReply(redis.rc, (void **)&r), REDIS_OK);
    freeReplyObject(r);
    int stored = 0;
    for (int i = 0; i < 100 && !stored; i++) {
        r = redisCommand(redis.rc, "HGET %s status", jobkey);
        stored = r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "succeeded") == 0;
        freeReplyObject(r);
        if (!stored)
            usleep(20 * 1000);
    }
    cr_assert(stored, "Redis stored the outcome whose reply was lost");

    /* The same outcome again: answered as stored, with the attempt's run. */
    cr_assert_eq(ht_store_complete_next(store, &k, &job, HT_OUTCOME_SUCCEEDED, "{\"ok\":1}", 0, 0,
                                        NULL, &who, NULL, NULL, &counted, &status),
                 0, "%s", ht_store_errstr(store));
    cr_assert_eq(status, HT_JOB_SUCCEEDED);
    /* Its bucket: the run histogram's first bound (ms) at or above it
     * (shared/library.lua); Redis may have run the call before or after its
     * sleep. */
    static const long long bounds[] = {10, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
    long long ms = hget(jobkey, "finished_at") - hget(jobkey, "started_at"), le = 0;
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]) && !le; i++)
        le = ms <= bounds[i] ? bounds[i] : 0;
    cr_assert(le > 0, "a run of %lld ms", ms);
    char want[HT_COUNTED_MAX];
    snprintf(want, sizeof(want), "%lld %lld", le, ms);
    cr_assert_str_eq(counted.run, want);
    cr_assert_eq(hget(P1 "metrics", "jobs:succeeded:echo"), 0, "counted by the caller");

    /* Another outcome of the attempt, or one Redis is to count: stale. */
    cr_assert_eq(ht_store_complete_next(store, &k, &job, HT_OUTCOME_FAILED, "{\"code\":\"x\"}", 0,
                                        0, NULL, &who, NULL, NULL, &counted, &status),
                 HT_ESTALE);
    cr_assert_eq(ht_store_complete_next(store, &k, &job, HT_OUTCOME_SUCCEEDED, "{\"ok\":1}", 0, 0,
                                        NULL, &who, NULL, NULL, NULL, NULL),
                 HT_ESTALE);
    cr_assert_eq(hget(P1 "metrics", "jobs:succeeded:echo"), 0);
    ht_job_clear(&job);
}
