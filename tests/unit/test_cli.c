/* cli/args.c and the URL helper of cli/http.c: options anywhere on the
 * command line, "--", usage errors. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdlib.h>

#include "cli/cli.h"

static const char *url;
static long attempts;
static int verbose;

static const ht_option_t opts[] = {
    {"url", NULL, HT_OPT_STRING, "http://default", "base URL", 0, 0, &url},
    {"max-attempts", NULL, HT_OPT_INT, NULL, "attempts", 1, 25, &attempts},
    {"verbose", NULL, HT_OPT_FLAG, NULL, "chatty", 0, 0, &verbose},
};
#define NOPTS (sizeof opts / sizeof opts[0])

static int parse(int argc, char **argv, ht_cli_args_t *args)
{
    return ht_cli_parse(opts, NOPTS, argc, argv, "ARGS", args);
}

Test(cli_args, options_before_between_and_after_positionals)
{
    char *argv[] = {"submit", "--url", "http://x", "echo", "--max-attempts=4", "{}", "--verbose"};
    ht_cli_args_t a;
    cr_assert_eq(parse(7, argv, &a), 0);
    cr_assert_eq(a.npos, 2);
    cr_assert_str_eq(a.pos[0], "echo");
    cr_assert_str_eq(a.pos[1], "{}");
    cr_assert_str_eq(url, "http://x");
    cr_assert_eq(attempts, 4);
    cr_assert_eq(verbose, 1);
}

Test(cli_args, value_after_flag_is_not_a_positional)
{
    char *argv[] = {"submit", "echo", "--max-attempts", "7"};
    ht_cli_args_t a;
    cr_assert_eq(parse(4, argv, &a), 0);
    cr_assert_eq(a.npos, 1);
    cr_assert_eq(attempts, 7);
    cr_assert_str_eq(url, "http://default");
}

Test(cli_args, double_dash_ends_options)
{
    char *argv[] = {"submit", "--", "--verbose", "-"};
    ht_cli_args_t a;
    cr_assert_eq(parse(4, argv, &a), 0);
    cr_assert_eq(a.npos, 2);
    cr_assert_str_eq(a.pos[0], "--verbose");
    cr_assert_str_eq(a.pos[1], "-");
    cr_assert_eq(verbose, 0);
}

Test(cli_args, bad_values_and_unknown_flags_are_usage_errors)
{
    char *range[] = {"submit", "--max-attempts", "99"};
    char *unknown[] = {"submit", "x", "--nope"};
    char *notnum[] = {"submit", "--max-attempts=many"};
    ht_cli_args_t a;
    cr_assert_eq(parse(3, range, &a), HT_CLI_USAGE);
    cr_assert_eq(parse(3, unknown, &a), HT_CLI_USAGE);
    cr_assert_eq(parse(2, notnum, &a), HT_CLI_USAGE);
}

Test(cli_args, too_many_positionals)
{
    char *argv[HT_CLI_MAX_POSITIONAL + 2] = {"status"};
    for (int i = 1; i < HT_CLI_MAX_POSITIONAL + 2; i++)
        argv[i] = "x";
    ht_cli_args_t a;
    cr_assert_eq(parse(HT_CLI_MAX_POSITIONAL + 2, argv, &a), HT_CLI_USAGE);
}

Test(cli_args, help_returns_one, .init = cr_redirect_stdout)
{
    char *argv[] = {"status", "abc", "--help"};
    ht_cli_args_t a;
    cr_assert_eq(parse(3, argv, &a), 1);
}

Test(cli_http, join_url_drops_doubled_slashes)
{
    char *u = ht_cli_join_url("http://h:1/", "/v1/jobs");
    cr_assert_str_eq(u, "http://h:1/v1/jobs");
    free(u);
    u = ht_cli_join_url("http://h:1", "/v1/jobs");
    cr_assert_str_eq(u, "http://h:1/v1/jobs");
    free(u);
    u = ht_cli_join_url("http://h:1/base//", "/x");
    cr_assert_str_eq(u, "http://h:1/base/x");
    free(u);
}
