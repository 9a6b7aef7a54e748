/* shared/log.c: one compact JSON object per line, fields in order, levels. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"

static int64_t pinned(void)
{
    return 1795667196123LL;
}

/* Runs the logging in `fn` with stderr sent to a temp file; returns what
 * was written (static buffer). */
static char out[8192];

static const char *capture(void (*fn)(void))
{
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return out;
}

static void two_lines(void)
{
    ht_set_clock(pinned);
    ht_log_init("api", HT_LOG_INFO);
    ht_log(HT_LOG_INFO, "listening", "addr", "127.0.0.1:8080", NULL);
    ht_log(HT_LOG_DEBUG, "not shown", NULL);
    ht_log(HT_LOG_ERROR, "quote \" and\nnewline", "id", "x", "empty", "", NULL);
    ht_set_clock(NULL);
}

Test(log, json_lines)
{
    const char *s = capture(two_lines);
    cr_expect_str_eq(s,
                     "{\"ts\":\"2026-11-26T04:26:36.123Z\",\"level\":\"info\",\"proc\":\"api\","
                     "\"msg\":\"listening\",\"addr\":\"127.0.0.1:8080\"}\n"
                     "{\"ts\":\"2026-11-26T04:26:36.123Z\",\"level\":\"error\",\"proc\":\"api\","
                     "\"msg\":\"quote \\\" and\\nnewline\",\"id\":\"x\",\"empty\":\"\"}\n");
}

static void bad_utf8(void)
{
    ht_log_init("worker", HT_LOG_DEBUG);
    ht_log(HT_LOG_DEBUG, "bytes", "stderr", "\xff\xfe", NULL);
}

Test(log, invalid_utf8_value_still_logs_a_line)
{
    const char *s = capture(bad_utf8);
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    cr_assert_not_null(j, "not JSON: %s (%s)", s, e.text);
    cr_expect_str_eq(json_string_value(json_object_get(j, "level")), "debug");
    cr_expect_str_eq(json_string_value(json_object_get(j, "proc")), "worker");
    cr_expect_not_null(json_object_get(j, "stderr"));
    json_decref(j);
}

Test(log, level_parse)
{
    ht_log_level_t l = HT_LOG_ERROR;
    cr_expect_eq(ht_log_level_parse("debug", &l), 0);
    cr_expect_eq(l, HT_LOG_DEBUG);
    cr_expect_eq(ht_log_level_parse("warn", &l), 0);
    cr_expect_eq(l, HT_LOG_WARN);
    cr_expect_eq(ht_log_level_parse("WARNING", &l), HT_EINVAL);
    cr_expect_eq(ht_log_level_parse(NULL, &l), HT_EINVAL);
}
