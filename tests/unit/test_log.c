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
    cr_expect_str_eq(s, "{\"ts\":\"2026-11-26T04:26:36.123Z\",\"level\":\"info\",\"proc\":\"api\","
                        "\"msg\":\"listening\",\"addr\":\"127.0.0.1:8080\"}\n"
                        "{\"ts\":\"2026-11-26T04:26:36.123Z\",\"level\":\"error\",\"proc\":\"api\","
                        "\"msg\":\"quote \\\" and\\nnewline\",\"job_id\":\"x\",\"empty\":\"\"}\n");
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

/* ht_log_enabled says whether ht_log writes a line of that level: each
 * level at each lowest level, against what ht_log wrote. */
static ht_log_level_t lowest;
static int level_line;

static void one_line(void)
{
    ht_log_init("worker", lowest);
    ht_log((ht_log_level_t)level_line, "probe", NULL);
}

Test(log, enabled_matches_what_is_written)
{
    for (int min = HT_LOG_DEBUG; min <= HT_LOG_ERROR; min++) {
        for (int l = HT_LOG_DEBUG; l <= HT_LOG_ERROR; l++) {
            lowest = (ht_log_level_t)min;
            level_line = l;
            const char *s = capture(one_line);
            int written = strstr(s, "\"probe\"") != NULL;
            cr_expect_eq(ht_log_enabled((ht_log_level_t)l), written, "lowest %d, level %d", min, l);
            cr_expect_eq(written, l >= min, "lowest %d, level %d", min, l);
        }
    }
    ht_log_init("worker", HT_LOG_INFO);
}

static void with_request(void)
{
    ht_set_clock(pinned);
    ht_log_init("api", HT_LOG_INFO);
    ht_log_set_request_id("req-1");
    ht_log(HT_LOG_INFO, "job submitted", "id", "j1", NULL);
    ht_logj(HT_LOG_INFO, "request", json_pack("{s:i, s:s}", "status", 202, "path", "/v1/jobs"));
    ht_log_set_request_id(NULL);
    ht_log(HT_LOG_WARN, "no request", NULL);
    ht_logj(HT_LOG_DEBUG, "below the level", json_pack("{s:i}", "n", 1));
    ht_logj(HT_LOG_INFO, "no fields", NULL);
    ht_set_clock(NULL);
}

Test(log, request_id_job_id_and_typed_fields)
{
    const char *s = capture(with_request);
    cr_expect_str_eq(s, "{\"ts\":\"2026-11-26T04:26:36.123Z\",\"level\":\"info\",\"proc\":\"api\","
                        "\"msg\":\"job submitted\",\"request_id\":\"req-1\",\"job_id\":\"j1\"}\n"
                        "{\"ts\":\"2026-11-26T04:26:36.123Z\",\"level\":\"info\",\"proc\":\"api\","
                        "\"msg\":\"request\",\"request_id\":\"req-1\",\"status\":202,"
                        "\"path\":\"/v1/jobs\"}\n"
                        "{\"ts\":\"2026-11-26T04:26:36.123Z\",\"level\":\"warn\",\"proc\":\"api\","
                        "\"msg\":\"no request\"}\n"
                        "{\"ts\":\"2026-11-26T04:26:36.123Z\",\"level\":\"info\",\"proc\":\"api\","
                        "\"msg\":\"no fields\"}\n");
}

Test(log, request_id_is_bounded)
{
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ht_log_set_request_id(big);
    cr_expect_eq(strlen(ht_log_request_id()), HT_LOG_REQID_MAX);
    ht_log_set_request_id("");
    cr_expect_null(ht_log_request_id());
}
