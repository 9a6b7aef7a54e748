/* shared/redis_url.c: the three URL forms and clear refusals. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/error.h"
#include "shared/redis_url.h"

static ht_redis_url_t u;
static char err[256];

static void ok(const char *url)
{
    err[0] = '\0';
    cr_assert_eq(ht_redis_url_parse(url, &u, err, sizeof err), 0, "'%s': %s", url, err);
}

static void bad(const char *url, const char *want)
{
    cr_expect_eq(ht_redis_url_parse(url, &u, err, sizeof err), HT_EINVAL, "'%s' accepted", url);
    cr_expect(strstr(err, want), "'%s': error '%s' lacks '%s'", url, err, want);
}

Test(redis_url, tcp_forms)
{
    ok("redis://localhost");
    cr_expect_eq(u.kind, HT_REDIS_TCP);
    cr_expect_str_eq(u.host, "localhost");
    cr_expect_eq(u.port, 6379);
    cr_expect_eq(u.db, 0);
    cr_expect_str_eq(u.password, "");

    ok("redis://127.0.0.1:7001/3");
    cr_expect_str_eq(u.host, "127.0.0.1");
    cr_expect_eq(u.port, 7001);
    cr_expect_eq(u.db, 3);

    ok("redis://h:1/");
    cr_expect_eq(u.db, 0);

    ok("REDIS://[::1]:6380/2");
    cr_expect_str_eq(u.host, "::1");
    cr_expect_eq(u.port, 6380);
    cr_expect_eq(u.db, 2);

    ok("redis://[fe80::1%25eth0]");
    cr_expect_eq(u.port, 6379);
}

Test(redis_url, credentials_are_percent_decoded)
{
    ok("redis://:s3cr%40t%3a@cache:6379");
    cr_expect_str_eq(u.user, "");
    cr_expect_str_eq(u.password, "s3cr@t:");
    cr_expect_str_eq(u.host, "cache");

    ok("redis://al%20ice:pw@cache");
    cr_expect_str_eq(u.user, "al ice");
    cr_expect_str_eq(u.password, "pw");

    ok("redis://p@ss:w@rd@host:1");
    cr_expect_str_eq(u.user, "p@ss");
    cr_expect_str_eq(u.password, "w@rd");
    cr_expect_str_eq(u.host, "host");

    bad("redis://:bad%zz@h", "percent-escape");
    bad("redis://:bad%4@h", "percent-escape");
    bad("redis://:a%00b@h", "%00");
}

Test(redis_url, unix_form)
{
    ok("unix:///var/run/redis.sock");
    cr_expect_eq(u.kind, HT_REDIS_UNIX);
    cr_expect_str_eq(u.path, "/var/run/redis.sock");
    cr_expect_eq(u.db, 0);
    ok("unix:///tmp/r.sock?db=5");
    cr_expect_str_eq(u.path, "/tmp/r.sock");
    cr_expect_eq(u.db, 5);
    bad("unix://relative.sock", "absolute");
    bad("unix:///tmp/r.sock?timeout=1", "unknown parameter");
    bad("unix:///tmp/r.sock?db=x", "database");
    char longpath[200] = "unix:///";
    memset(longpath + 8, 'a', 150);
    bad(longpath, "too long");
}

Test(redis_url, cluster_form)
{
    ok("redis+cluster://10.0.0.1:7000,10.0.0.2:7001,[::1]:7002");
    cr_expect_eq(u.kind, HT_REDIS_CLUSTER);
    cr_expect_str_eq(u.host, "10.0.0.1");
    cr_expect_eq(u.port, 7000);
    cr_expect_eq(u.n_seeds, 3);
    cr_expect_str_eq(u.seeds[1].host, "10.0.0.2");
    cr_expect_eq(u.seeds[1].port, 7001);
    cr_expect_str_eq(u.seeds[2].host, "::1");
    cr_expect_eq(u.seeds[2].port, 7002);
    ok("redis+cluster://:pw@seed");
    cr_expect_eq(u.n_seeds, 1);
    cr_expect_str_eq(u.host, "seed");
    cr_expect_eq(u.port, 6379);
    cr_expect_str_eq(u.password, "pw");
    bad("redis+cluster://a:1,b:x", "bad port");
    bad("redis+cluster://a:1,", "missing host");
    bad("redis+cluster://a:1,,b:2", "missing host");
    bad("redis+cluster://a:1/1", "database");
    bad("redis+cluster://a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,a:14,a:15,a:16,a:17",
        "more than 16");
}

Test(redis_url, refusals)
{
    bad("http://localhost", "unsupported scheme 'http' (want redis://, unix:// or "
                            "redis+cluster://)");
    bad("rediss://localhost", "unsupported scheme 'rediss'");
    bad("localhost:6379", "no scheme");
    bad("", "empty");
    bad("redis://", "missing host");
    bad("redis://:pw@", "missing host");
    bad("redis://h:0", "bad port");
    bad("redis://h:65536", "bad port");
    bad("redis://h:12ab", "bad port");
    bad("redis://h:", "bad port");
    bad("redis://h/x", "database");
    bad("redis://h/-1", "database");
    bad("redis://h?db=1", "query");
    bad("redis://[::1", "unterminated");
    bad("redis://[::1]x", "after ']'");
    cr_expect_eq(ht_redis_url_parse(NULL, &u, err, sizeof err), HT_EINVAL);
}
