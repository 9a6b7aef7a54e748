/* shared/config.c: defaults < environment < flags, strict integers, --help,
 * and the usage text. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shared/config.h"
#include "shared/error.h"

static const char *listen_addr;
static long threads;
static int verbose;
static const char *redis_url;
static long drain;

static const ht_option_t opts[] = {
    {"listen", "HANGTIGHT_LISTEN", HT_OPT_STRING, "127.0.0.1:8080",
     "address to listen on, ADDR = host:port", 0, 0, &listen_addr},
    {"threads", "HANGTIGHT_THREADS", HT_OPT_INT, "4", "event-loop threads", 1, 64, &threads},
    {"verbose", "HANGTIGHT_VERBOSE", HT_OPT_FLAG, NULL, "log at debug level", 0, 0, &verbose},
    {"redis-url", NULL, HT_OPT_STRING, NULL, "Redis to use", 0, 0, &redis_url},
    {"drain-s", NULL, HT_OPT_INT, NULL, "when draining (SIGTERM), wait SECONDS", 0, 0, &drain},
};
#define N (sizeof opts / sizeof opts[0])

static char err[256];
static int first;

static int parse(int argc, char **argv)
{
    err[0] = '\0';
    first = -1;
    return ht_options_parse(opts, N, argc, argv, &first, err, sizeof err);
}

static void clean_env(void)
{
    unsetenv("HANGTIGHT_LISTEN");
    unsetenv("HANGTIGHT_THREADS");
    unsetenv("HANGTIGHT_VERBOSE");
}

TestSuite(config, .init = clean_env);

Test(config, defaults)
{
    char *argv[] = {"prog", NULL};
    cr_assert_eq(parse(1, argv), 0, "%s", err);
    cr_expect_str_eq(listen_addr, "127.0.0.1:8080");
    cr_expect_eq(threads, 4);
    cr_expect_eq(verbose, 0);
    cr_expect_null(redis_url);
    cr_expect_eq(first, 1);
}

Test(config, env_overrides_default_and_flag_overrides_env)
{
    setenv("HANGTIGHT_LISTEN", "0.0.0.0:9000", 1);
    setenv("HANGTIGHT_THREADS", "8", 1);
    setenv("HANGTIGHT_VERBOSE", "true", 1);
    char *argv0[] = {"prog", NULL};
    cr_assert_eq(parse(1, argv0), 0, "%s", err);
    cr_expect_str_eq(listen_addr, "0.0.0.0:9000");
    cr_expect_eq(threads, 8);
    cr_expect_eq(verbose, 1);

    char *argv[] = {"prog", "--listen", "[::1]:1", "--threads=2", NULL};
    cr_assert_eq(parse(4, argv), 0, "%s", err);
    cr_expect_str_eq(listen_addr, "[::1]:1");
    cr_expect_eq(threads, 2);
}

Test(config, empty_env_means_default)
{
    setenv("HANGTIGHT_THREADS", "", 1);
    setenv("HANGTIGHT_LISTEN", "", 1);
    char *argv[] = {"prog", NULL};
    cr_assert_eq(parse(1, argv), 0, "%s", err);
    cr_expect_eq(threads, 4);
    cr_expect_str_eq(listen_addr, "127.0.0.1:8080");
}

Test(config, flags_take_no_value)
{
    char *argv[] = {"prog", "--verbose", "submit", "--threads", "x", NULL};
    cr_assert_eq(parse(5, argv), 0, "%s", err);
    cr_expect_eq(verbose, 1);
    cr_expect_eq(first, 2, "stops at the first operand");
    cr_expect_eq(threads, 4, "options after the operand belong to it");

    char *argv2[] = {"prog", "--verbose=1", NULL};
    cr_expect_eq(parse(2, argv2), HT_EINVAL);
    cr_expect(strstr(err, "--verbose"), "%s", err);
}

Test(config, double_dash_ends_options)
{
    char *argv[] = {"prog", "--threads", "3", "--", "--listen", NULL};
    cr_assert_eq(parse(5, argv), 0, "%s", err);
    cr_expect_eq(threads, 3);
    cr_expect_eq(first, 4);
    cr_expect_str_eq(listen_addr, "127.0.0.1:8080");
}

Test(config, strict_integers_name_their_source)
{
    const char *bad[] = {"12abc", "", " 3", "3 ", "0x10", "1.5", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"prog", "--threads", (char *)bad[i], NULL};
        cr_expect_eq(parse(3, argv), HT_EINVAL, "'%s' accepted", bad[i]);
        cr_expect(strstr(err, "--threads"), "error does not name the flag: %s", err);
    }
    char *argv[] = {"prog", "--threads=65", NULL};
    cr_expect_eq(parse(2, argv), HT_EINVAL);
    cr_expect(strstr(err, "out of range 1..64"), "%s", err);

    setenv("HANGTIGHT_THREADS", "0", 1);
    char *argv2[] = {"prog", NULL};
    cr_expect_eq(parse(1, argv2), HT_EINVAL);
    cr_expect(strstr(err, "HANGTIGHT_THREADS"), "error does not name the variable: %s", err);
}

Test(config, bad_env_bool)
{
    setenv("HANGTIGHT_VERBOSE", "maybe", 1);
    char *argv[] = {"prog", NULL};
    cr_expect_eq(parse(1, argv), HT_EINVAL);
    cr_expect(strstr(err, "HANGTIGHT_VERBOSE"), "%s", err);
}

Test(config, unknown_and_missing_values)
{
    char *argv[] = {"prog", "--nope", NULL};
    cr_expect_eq(parse(2, argv), HT_EINVAL);
    cr_expect(strstr(err, "--nope"), "%s", err);
    char *argv2[] = {"prog", "-x", NULL};
    cr_expect_eq(parse(2, argv2), HT_EINVAL);
    char *argv3[] = {"prog", "--listen", NULL};
    cr_expect_eq(parse(2, argv3), HT_EINVAL);
    cr_expect(strstr(err, "needs a value"), "%s", err);
    char *argv4[] = {"prog", "--liste=x", NULL};
    cr_expect_eq(parse(2, argv4), HT_EINVAL, "prefixes are not abbreviations");
}

Test(config, help_wins)
{
    char *argv[] = {"prog", "--threads", "bad", "--help", NULL};
    cr_expect_eq(parse(4, argv), 1);
    char *argv2[] = {"prog", "-h", NULL};
    cr_expect_eq(parse(2, argv2), 1);
    setenv("HANGTIGHT_THREADS", "bad", 1);
    char *argv3[] = {"prog", "--nope", "--help", NULL};
    cr_expect_eq(parse(3, argv3), 1);
    /* A value that looks like -h is a value, not a request for help. */
    unsetenv("HANGTIGHT_THREADS");
    char *argv4[] = {"prog", "--listen", "-h", NULL};
    cr_expect_eq(parse(3, argv4), 0);
    cr_expect_str_eq(listen_addr, "-h");
}

Test(config, usage_lists_every_option)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ht_options_usage(f, "hangtight-api", "[options]", opts, N);
    fclose(f);
    cr_expect(strstr(text, "usage: hangtight-api [options]\n"), "%s", text);
    cr_expect(strstr(text, "  --listen ADDR   (HANGTIGHT_LISTEN, default 127.0.0.1:8080)\n"
                           "      address to listen on, ADDR = host:port\n"),
              "%s", text);
    cr_expect(strstr(text, "  --threads N   (HANGTIGHT_THREADS, default 4)\n"), "%s", text);
    cr_expect(strstr(text, "  --verbose   (HANGTIGHT_VERBOSE)\n"), "%s", text);
    cr_expect(strstr(text, "  --redis-url VALUE\n      Redis to use\n"), "%s", text);
    cr_expect(strstr(text, "  --drain-s SECONDS\n"), "%s", text);
    cr_expect(strstr(text, "--help"), "%s", text);
    free(text);
}
