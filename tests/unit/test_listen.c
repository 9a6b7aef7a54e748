/* api/listen.c: the --listen forms, refusals, and the SO_REUSEPORT group
 * (one port shared by every thread, a second server refused). */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "shared/error.h"

#include "api/listen.h"

static ht_listen_addr_t a;
static char err[256], text[128];

static const char *parsed(const char *s)
{
    err[0] = '\0';
    cr_assert_eq(ht_listen_parse(s, &a, err, sizeof err), 0, "'%s': %s", s, err);
    ht_listen_format(&a, text, sizeof text);
    return text;
}

static void bad(const char *s, const char *want)
{
    cr_expect_eq(ht_listen_parse(s, &a, err, sizeof err), HT_EINVAL, "'%s' accepted", s);
    cr_expect(strstr(err, want), "'%s': error '%s' lacks '%s'", s, err, want);
}

Test(listen, forms)
{
    cr_expect_str_eq(parsed("127.0.0.1:8080"), "127.0.0.1:8080");
    cr_expect_str_eq(parsed("[::1]:9000"), "[::1]:9000");
    cr_expect_str_eq(parsed(":8081"), "0.0.0.0:8081");
    cr_expect_str_eq(parsed("127.0.0.1:0"), "127.0.0.1:0");
}

Test(listen, refusals)
{
    bad("8080", "want host:port");
    bad("127.0.0.1:", "port must be");
    bad("127.0.0.1:65536", "port must be");
    bad("127.0.0.1:80x", "port must be");
    bad("[::1]8080", "[v6addr]:port");
    bad("no-such-host.invalid:80", "no-such-host.invalid");
}

Test(listen, threads_share_one_port_and_a_second_server_is_refused)
{
    int fds[3], other[1];
    parsed("127.0.0.1:0");
    cr_assert_eq(ht_listen_open(&a, fds, 3, err, sizeof err), 0, "%s", err);
    ht_listen_format(&a, text, sizeof text);
    cr_expect_str_neq(text, "127.0.0.1:0", "the kernel's port is written back");

    ht_listen_addr_t again = a;
    cr_expect_lt(ht_listen_open(&again, other, 1, err, sizeof err), 0,
                 "a second server on %s was allowed to share the port", text);
    cr_expect(strstr(err, "in use"), "error: %s", err);
    for (int i = 0; i < 3; i++)
        close(fds[i]);
}
