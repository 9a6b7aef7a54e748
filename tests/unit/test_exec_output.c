/* worker/exec_output.c: the exec handler's stdout protocol. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "worker/exec_output.h"

static ht_exec_output_t *p;

static void setup(void)
{
    p = ht_exec_output_new(0);
    cr_assert_not_null(p);
}

static void teardown(void)
{
    ht_exec_output_free(p);
}

static void feed(const char *s)
{
    cr_assert_eq(ht_exec_output_feed(p, s, strlen(s)), 0);
}

/* The result as compact JSON text, or "(none)". */
static char *result_text(void)
{
    json_t *r = ht_exec_output_result(p);
    return r ? json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS) : strdup("(none)");
}

static void assert_result(const char *want)
{
    char *got = result_text();
    cr_assert_str_eq(got, want);
    free(got);
}

TestSuite(exec_output, .init = setup, .fini = teardown);

Test(exec_output, progress_line)
{
    int pct = -5;
    const char *msg = NULL;
    feed("{\"progress\": 42, \"message\": \"halfway\"}\n");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 1);
    cr_assert_eq(pct, 42);
    cr_assert_str_eq(msg, "halfway");
    /* Taken once only. */
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 0);
    assert_result("(none)");
}

Test(exec_output, progress_without_message_and_rounding_and_clamping)
{
    int pct;
    const char *msg = "x";
    feed("{\"progress\": 12.6}\n");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 1);
    cr_assert_eq(pct, 13);
    cr_assert_null(msg);
    feed("{\"progress\": 250}\n");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 1);
    cr_assert_eq(pct, 100);
    feed("{\"progress\": -3, \"message\": 7}\n");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 1);
    cr_assert_eq(pct, 0);
    cr_assert_null(msg, "a non-string message is dropped");
}

Test(exec_output, latest_progress_wins)
{
    int pct;
    const char *msg;
    feed("{\"progress\": 10, \"message\": \"a\"}\n{\"progress\": 20, \"message\": \"b\"}\n");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 1);
    cr_assert_eq(pct, 20);
    cr_assert_str_eq(msg, "b");
}

Test(exec_output, non_numeric_progress_is_a_result)
{
    int pct;
    const char *msg;
    feed("{\"progress\": \"soon\"}\n");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 0);
    assert_result("{\"progress\":\"soon\"}");
}

Test(exec_output, last_result_wins_and_any_json_value_counts)
{
    feed("{\"a\": 1}\n");
    assert_result("{\"a\":1}");
    feed("[1, 2]\n");
    assert_result("[1,2]");
    feed("\"text\"\n");
    assert_result("\"text\"");
    feed("null\n");
    assert_result("null");
    feed("{\"progress\": 50}\n"); /* progress does not replace the result */
    assert_result("null");
}

Test(exec_output, non_json_lines_are_ignored)
{
    feed("{\"ok\": true}\n");
    feed("starting up...\n\n   \n{not json}\n{\"unterminated\": \n");
    assert_result("{\"ok\":true}");
}

Test(exec_output, partial_lines_across_feeds)
{
    int pct;
    const char *msg;
    feed("{\"prog");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 0);
    feed("ress\": 7");
    feed("5}");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 0, "no newline yet");
    feed("\n{\"res\":");
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 1);
    cr_assert_eq(pct, 75);
    assert_result("(none)");
    feed(" \"x\"}\n");
    assert_result("{\"res\":\"x\"}");
}

Test(exec_output, byte_at_a_time)
{
    const char *s = "{\"progress\": 5}\r\n{\"v\": [1, \"\\u00e9\"]}\r\n";
    for (size_t i = 0; s[i]; i++)
        cr_assert_eq(ht_exec_output_feed(p, s + i, 1), 0);
    int pct;
    const char *msg;
    cr_assert_eq(ht_exec_output_take_progress(p, &pct, &msg), 1);
    cr_assert_eq(pct, 5);
    assert_result("{\"v\":[1,\"\xc3\xa9\"]}");
}

Test(exec_output, crlf_line_endings)
{
    feed("{\"a\": 1}\r\n");
    assert_result("{\"a\":1}");
}

Test(exec_output, last_line_without_newline_needs_finish)
{
    feed("{\"a\": 1}\n{\"b\": 2}");
    assert_result("{\"a\":1}");
    cr_assert_eq(ht_exec_output_finish(p), 0);
    assert_result("{\"b\":2}");
}

Test(exec_output, error_line_is_permanent_when_retry_false)
{
    int retry = -1;
    cr_assert_null(ht_exec_output_error(p, &retry));
    feed("{\"error\": \"bad input\", \"retry\": false}\n");
    cr_assert_str_eq(ht_exec_output_error(p, &retry), "bad input");
    cr_assert_eq(retry, 0);
    assert_result("(none)");
}

Test(exec_output, error_line_retryable_by_default_and_last_wins)
{
    int retry = -1;
    feed("{\"error\": \"first\", \"retry\": false}\n{\"error\": \"second\"}\n");
    cr_assert_str_eq(ht_exec_output_error(p, &retry), "second");
    cr_assert_eq(retry, 1);
    feed("{\"error\": \"third\", \"retry\": true}\n");
    cr_assert_str_eq(ht_exec_output_error(p, &retry), "third");
    cr_assert_eq(retry, 1);
}

Test(exec_output, non_string_error_is_a_result)
{
    feed("{\"error\": null, \"value\": 3}\n");
    cr_assert_null(ht_exec_output_error(p, NULL));
    assert_result("{\"error\":null,\"value\":3}");
}

Test(exec_output, line_over_the_limit_is_an_error_state)
{
    ht_exec_output_free(p);
    p = ht_exec_output_new(16);
    feed("{\"a\": 1}\n");
    cr_assert_eq(ht_exec_output_state(p), HT_EXEC_OUTPUT_OK);
    feed("0123456789abcdef"); /* exactly at the limit: still fine */
    cr_assert_eq(ht_exec_output_state(p), HT_EXEC_OUTPUT_OK);
    feed("X");
    cr_assert_eq(ht_exec_output_state(p), HT_EXEC_OUTPUT_TOO_LARGE);
    /* Further input is ignored, whole lines included. */
    feed("\n{\"b\": 2}\n");
    cr_assert_eq(ht_exec_output_state(p), HT_EXEC_OUTPUT_TOO_LARGE);
    assert_result("{\"a\":1}");
}

Test(exec_output, line_at_the_limit_parses)
{
    ht_exec_output_free(p);
    p = ht_exec_output_new(8);
    feed("[1,2,34]\n");
    cr_assert_eq(ht_exec_output_state(p), HT_EXEC_OUTPUT_OK);
    assert_result("[1,2,34]");
    feed("[1,2,345]\n");
    cr_assert_eq(ht_exec_output_state(p), HT_EXEC_OUTPUT_TOO_LARGE);
}

Test(exec_output, default_limit_is_one_mebibyte)
{
    size_t n = HT_EXEC_LINE_MAX;
    char *big = malloc(n + 2);
    big[0] = '"';
    memset(big + 1, 'a', n - 2);
    big[n - 1] = '"';
    big[n] = '\n';
    cr_assert_eq(ht_exec_output_feed(p, big, n + 1), 0);
    cr_assert_eq(ht_exec_output_state(p), HT_EXEC_OUTPUT_OK);
    cr_assert_eq(json_string_length(ht_exec_output_result(p)), n - 2);
    memset(big, 'b', n + 1);
    cr_assert_eq(ht_exec_output_feed(p, big, n + 1), 0);
    cr_assert_eq(ht_exec_output_state(p), HT_EXEC_OUTPUT_TOO_LARGE);
    free(big);
}

Test(exec_output, invalid_utf8_line_is_ignored)
{
    feed("{\"a\": 1}\n\"\xff\xfe\"\n");
    assert_result("{\"a\":1}");
}

Test(exec_output, output_content_type_line)
{
    cr_assert_null(ht_exec_output_content_type(p));
    feed("{\"output_content_type\": \"text/csv\"}\n{\"rows\": 3}\n");
    cr_assert_str_eq(ht_exec_output_content_type(p), "text/csv");
    assert_result("{\"rows\":3}");
    feed("{\"output_content_type\": \"application/gzip\", \"other\": 1}\n");
    cr_assert_str_eq(ht_exec_output_content_type(p), "application/gzip", "the last one wins");
    assert_result("{\"rows\":3}");
    feed("{\"output_content_type\": 5}\n");
    assert_result("{\"output_content_type\":5}");
    cr_assert_str_eq(ht_exec_output_content_type(p), "application/gzip",
                     "a non-string one is a result");
}
