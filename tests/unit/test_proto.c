/* worker/proto.c: the persistent handlers' line protocol, both ways. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "worker/proto.h"

#define ID "0b7e4a3c-8d2f-4c1a-9e5b-6f7a8b9c0d1e"

static ht_proto_answer_t a;

static void teardown(void)
{
    ht_proto_answer_clear(&a);
}

TestSuite(proto, .fini = teardown);

static char *line_of(const ht_proto_job_t *j)
{
    size_t len;
    char *l = ht_proto_job_line(j, &len);
    cr_assert_not_null(l);
    cr_assert_eq(l[len - 1], '\n', "one line, newline included");
    cr_assert_null(memchr(l, '\n', len - 1), "no other newline");
    char *s = strndup(l, len - 1);
    free(l);
    return s;
}

Test(proto, job_line_carries_the_payload_bytes_as_stored)
{
    /* Bytes jansson would rewrite: 1.10, 1e2, key order, escapes, spacing. */
    const char *payload = "{\"z\": 1.10, \"a\":[1e2, \"\\u00e9\"], \"s\":\"\\/\"}";
    ht_proto_job_t j = {.id = ID,
                        .type = "py.echo",
                        .attempt = 3,
                        .deadline_ms = 1795671520123LL,
                        .payload = payload,
                        .payload_len = strlen(payload)};
    char *l = line_of(&j);
    char want[512];
    snprintf(want, sizeof(want),
             "{\"id\":\"" ID "\",\"type\":\"py.echo\",\"attempt\":3,"
             "\"deadline_ms\":1795671520123,\"payload\":%s}",
             payload);
    cr_assert_str_eq(l, want);
    json_error_t jerr;
    json_t *v = json_loads(l, 0, &jerr);
    cr_assert_not_null(v, "the line is JSON: %s", jerr.text);
    json_decref(v);
    free(l);
}

Test(proto, job_line_keeps_to_one_line)
{
    const char *payload = "{\r\n  \"a\": 1,\n  \"b\": \"x\"\n}";
    ht_proto_job_t j = {
        .id = ID, .type = "t", .attempt = 1, .payload = payload, .payload_len = strlen(payload)};
    char *l = line_of(&j);
    cr_assert(strstr(l, "\"payload\":{    \"a\": 1,   \"b\": \"x\" }}") != NULL, "%s", l);
    free(l);
}

Test(proto, job_line_with_file_paths)
{
    ht_proto_job_t j = {.id = ID,
                        .type = "t",
                        .attempt = 1,
                        .payload = "null",
                        .payload_len = 4,
                        .input_path = "/blobs/in \"1\"\\x",
                        .output_path = "/blobs/out\n"};
    char *l = line_of(&j);
    json_error_t jerr;
    json_t *v = json_loads(l, 0, &jerr);
    cr_assert_not_null(v, "%s: %s", l, jerr.text);
    cr_assert_str_eq(json_string_value(json_object_get(v, "input_path")), "/blobs/in \"1\"\\x");
    cr_assert_str_eq(json_string_value(json_object_get(v, "output_path")), "/blobs/out\n");
    cr_assert(json_is_null(json_object_get(v, "payload")));
    json_decref(v);
    free(l);
}

static void parse(const char *line)
{
    ht_proto_answer_clear(&a);
    cr_assert_eq(ht_proto_parse(line, strlen(line), ID, &a), 0);
}

Test(proto, result_is_cut_out_as_written)
{
    parse("{\"id\":\"" ID "\",\"result\": {\"n\": 1.10, \"l\":[1e2, {\"}\": \"]\\\"\"}]} }");
    cr_assert_eq(a.kind, HT_PROTO_RESULT);
    cr_assert_str_eq(a.result, "{\"n\": 1.10, \"l\":[1e2, {\"}\": \"]\\\"\"}]}");
    parse("{\"result\":\"a,b\",\"id\":\"" ID "\"}\r");
    cr_assert_eq(a.kind, HT_PROTO_RESULT);
    cr_assert_str_eq(a.result, "\"a,b\"");
    parse("{\"id\":\"" ID "\",\"result\":null,\"extra\":[1]}");
    cr_assert_str_eq(a.result, "null");
    parse("{\"id\":\"" ID "\",\"result\":-12.5e-3}");
    cr_assert_str_eq(a.result, "-12.5e-3");
    parse("{\"id\":\"" ID "\",\"result\":true}");
    cr_assert_str_eq(a.result, "true");
}

Test(proto, result_with_output_content_type)
{
    parse("{\"id\":\"" ID "\",\"result\":{\"n\":1},\"output_content_type\":\"image/png\"}");
    cr_assert_eq(a.kind, HT_PROTO_RESULT);
    cr_assert_str_eq(a.result, "{\"n\":1}");
    cr_assert_str_eq(a.output_type, "image/png");
    parse("{\"id\":\"" ID "\",\"result\":1}");
    cr_assert_null(a.output_type, "no output_content_type: none");
    parse("{\"id\":\"" ID "\",\"result\":1,\"output_content_type\":7}");
    cr_assert_eq(a.kind, HT_PROTO_INVALID);
    cr_assert(strstr(a.why, "output_content_type"));
}

Test(proto, result_named_with_escapes_is_encoded)
{
    parse("{\"id\":\"" ID "\",\"res\\u0075lt\":[1, 2]}");
    cr_assert_eq(a.kind, HT_PROTO_RESULT);
    cr_assert_str_eq(a.result, "[1,2]");
}

Test(proto, errors)
{
    parse("{\"id\":\"" ID "\",\"error\":\"bad input\",\"retry\":false}");
    cr_assert_eq(a.kind, HT_PROTO_ERROR);
    cr_assert_str_eq(a.error, "bad input");
    cr_assert_eq(a.retry, 0);
    cr_assert_str_eq(a.code, "handler_error");
    parse("{\"id\":\"" ID "\",\"error\":\"later\",\"code\":\"rate_limited\"}");
    cr_assert_eq(a.retry, 1, "retry is true by default");
    cr_assert_str_eq(a.code, "rate_limited");
    parse("{\"id\":\"" ID "\",\"error\":\"x\",\"retry\":\"no\"}");
    cr_assert_eq(a.kind, HT_PROTO_INVALID);
    parse("{\"id\":\"" ID "\",\"error\":\"x\",\"code\":\"Bad Code\"}");
    cr_assert_eq(a.kind, HT_PROTO_INVALID);
    cr_assert(strstr(a.why, "code"));
    parse("{\"id\":\"" ID "\",\"error\":{\"m\":1}}");
    cr_assert_eq(a.kind, HT_PROTO_INVALID);
}

Test(proto, progress)
{
    parse("{\"id\":\"" ID "\",\"progress\":42.5,\"message\":\"half\"}");
    cr_assert_eq(a.kind, HT_PROTO_PROGRESS);
    cr_assert_eq(a.percent, 43);
    cr_assert_str_eq(a.message, "half");
    parse("{\"id\":\"" ID "\",\"progress\":250}");
    cr_assert_eq(a.percent, 100);
    cr_assert_null(a.message);
    parse("{\"id\":\"" ID "\",\"progress\":-3}");
    cr_assert_eq(a.percent, 0);
    parse("{\"id\":\"" ID "\",\"progress\":null,\"message\":\"thinking\"}");
    cr_assert_eq(a.percent, -1);
    cr_assert_str_eq(a.message, "thinking");
    parse("{\"id\":\"" ID "\",\"progress\":\"50\"}");
    cr_assert_eq(a.kind, HT_PROTO_INVALID);
}

Test(proto, protocol_errors)
{
    static const char *bad[] = {
        "hello from a stray print()",
        "[1, 2]",
        "\"" ID "\"",
        "{\"result\": 1}",
        "{\"id\": 7, \"result\": 1}",
        "{\"id\":\"" ID "\"}",
        "{\"id\":\"" ID "\",\"message\":\"no percent\"}",
        "{\"id\":\"" ID "\",\"result\":1,\"error\":\"x\"}",
        "{\"id\":\"" ID "\",\"result\":1,\"result\":2}",
        "{\"id\":\"" ID "\",\"result\":1} trailing",
        "{\"id\":\"" ID "\",\"result\":\"\\u0000\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse(bad[i]);
        cr_assert_eq(a.kind, HT_PROTO_INVALID, "accepted: %s", bad[i]);
        cr_assert(a.why[0], "no reason for: %s", bad[i]);
    }
    parse("{\"id\":\"another-job\",\"result\":1}");
    cr_assert_eq(a.kind, HT_PROTO_INVALID);
    cr_assert(strstr(a.why, "another-job") && strstr(a.why, ID), "%s", a.why);
}

Test(proto, blank_lines_are_ignored)
{
    parse("");
    cr_assert_eq(a.kind, HT_PROTO_BLANK);
    parse("\r");
    cr_assert_eq(a.kind, HT_PROTO_BLANK);
}
