/* Golden cases for ht_job_request_parse(): every folder under
 * tests/cases/job_request/ holds request.json (the raw body) and
 * expected.json (the problem document, or {"ok": true, ...} with the
 * normalised request for a valid body).  Adding a case is adding a folder. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/job.h"

/* The cases' clock: 2030-01-01T00:00:00Z, so run_at limits are stable. */
#define CASES_NOW_MS 1893456000000LL

static int64_t cases_clock(void)
{
    return CASES_NOW_MS;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    FILE *mem = open_memstream(&buf, &cap);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, mem);
    fclose(f);
    fclose(mem);
    *len = cap;
    return buf;
}

/* What the parser made of the body, in the shape of expected.json. */
static json_t *outcome(const char *body, size_t len)
{
    ht_job_request_t req;
    ht_problem_t problem = {0};
    ht_job_limits_t limits = {.max_payload_depth = 32};
    json_t *out;
    if (ht_job_request_parse(&req, body, len, &limits, &problem) == 0) {
        char when[HT_TIME_BUFSZ];
        /* delay_s and run_at appear only when given, so older cases stay. */
        out = json_pack("{s:b, s:s, s:O, s:O?, s:s, s:i, s:I, s:I, s:o*, s:o*}", "ok", 1,
                        "type", req.type, "payload", req.payload, "metadata", req.metadata,
                        "priority", ht_priority_name(req.priority), "max_attempts",
                        req.max_attempts, "timeout_s", (json_int_t)req.timeout_s, "ttl_s",
                        (json_int_t)req.ttl_s, "delay_s",
                        req.delay_s ? json_integer(req.delay_s) : NULL, "run_at",
                        req.run_at_ms ? json_string(ht_format_time(req.run_at_ms, when))
                                      : NULL);
        if (req.callback_url) /* only when given, so older cases stay */
            json_object_set_new(out, "callback_url", json_string(req.callback_url));
        cr_expect(problem.errors == NULL, "a valid request left errors behind");
    } else {
        out = ht_problem_to_json(&problem);
    }
    ht_job_request_clear(&req);
    ht_problem_clear(&problem);
    return out;
}

static int is_case(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

Test(job_request, golden_cases)
{
    ht_set_clock(cases_clock);
    const char *src = getenv("HT_SOURCE_DIR");
    cr_assert(src, "HT_SOURCE_DIR must name the source tree (ctest sets it)");
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/tests/cases/job_request", src);
    struct dirent **names;
    int n = scandir(dir, &names, is_case, alphasort);
    cr_assert(n >= 15, "expected at least 15 cases in %s, found %d", dir, n);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char path[2400];
        size_t len = 0, elen = 0;
        snprintf(path, sizeof path, "%s/%s/request.json", dir, names[i]->d_name);
        char *body = slurp(path, &len);
        snprintf(path, sizeof path, "%s/%s/expected.json", dir, names[i]->d_name);
        char *exp_text = slurp(path, &elen);
        cr_assert(body && exp_text, "case %s lacks request.json or expected.json",
                  names[i]->d_name);
        json_error_t jerr;
        json_t *expected = json_loadb(exp_text, elen, 0, &jerr);
        cr_assert(expected, "case %s: expected.json: %s", names[i]->d_name, jerr.text);
        json_t *actual = outcome(body, len);
        if (!json_equal(expected, actual)) {
            char *a = json_dumps(actual, JSON_INDENT(2) | JSON_ENSURE_ASCII);
            cr_log_error("case %s: got\n%s", names[i]->d_name, a);
            free(a);
            failed++;
        }
        json_decref(expected);
        json_decref(actual);
        free(body);
        free(exp_text);
        free(names[i]);
    }
    free(names);
    ht_set_clock(NULL);
    cr_expect_eq(failed, 0, "%d golden case(s) differ", failed);
}

/* The parser's result does not depend on the body being NUL-terminated. */
Test(job_request, body_is_length_delimited)
{
    const char body[] = "{\"type\": \"echo\"}GARBAGE";
    ht_job_request_t req;
    ht_problem_t problem = {0};
    cr_assert_eq(ht_job_request_parse(&req, body, 16, NULL, &problem), 0);
    cr_expect_str_eq(req.type, "echo");
    cr_expect(json_is_object(req.payload) && json_object_size(req.payload) == 0);
    ht_job_request_clear(&req);
    ht_problem_clear(&problem);
}

/* A private literal callback_url is refused unless the limits allow it
 * (HANGTIGHT_WEBHOOK_ALLOW_PRIVATE); a malformed one is refused either way. */
Test(job_request, callback_url_allow_private)
{
    const char body[] = "{\"type\": \"echo\", \"callback_url\": \"http://127.0.0.1:9/h\"}";
    ht_job_request_t req;
    ht_problem_t problem = {0};
    ht_job_limits_t strict = {.max_payload_depth = 32};
    ht_job_limits_t relaxed = {.max_payload_depth = 32, .allow_private_callbacks = 1};

    cr_assert_eq(ht_job_request_parse(&req, body, strlen(body), &strict, &problem), -1);
    json_t *err = json_array_get(problem.errors, 0);
    cr_expect_str_eq(json_string_value(json_object_get(err, "code")), "refused_callback_url");
    cr_expect_str_eq(json_string_value(json_object_get(err, "pointer")), "/callback_url");
    ht_job_request_clear(&req);
    ht_problem_clear(&problem);

    cr_assert_eq(ht_job_request_parse(&req, body, strlen(body), &relaxed, &problem), 0);
    cr_expect_str_eq(req.callback_url, "http://127.0.0.1:9/h");
    ht_job_request_clear(&req);
    ht_problem_clear(&problem);

    const char bad[] = "{\"type\": \"echo\", \"callback_url\": \"ftp://127.0.0.1/\"}";
    cr_assert_eq(ht_job_request_parse(&req, bad, strlen(bad), &relaxed, &problem), -1);
    err = json_array_get(problem.errors, 0);
    cr_expect_str_eq(json_string_value(json_object_get(err, "code")), "invalid_format");
    ht_job_request_clear(&req);
    ht_problem_clear(&problem);
}

/* ---- the same schema from a file submit's query parameters --------------- */

static int from_params(ht_job_request_t *req, ht_problem_t *p, const ht_job_param_t *params,
                       size_t n)
{
    static const char *const ignore[] = {"wait", "heartbeat", NULL};
    ht_job_limits_t limits = {.max_payload_depth = 4};
    return ht_job_request_from_params(req, params, n, ignore, &limits, p);
}

/* The pointers of the problem's errors, sorted, joined by spaces. */
static char *pointers(const ht_problem_t *p)
{
    json_t *list = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(p->errors, i, e) json_array_append(list, json_object_get(e, "pointer"));
    char *s = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return s;
}

Test(job_request, params_valid)
{
    const ht_job_param_t params[] = {
        {"type", "video.transcode"},
        {"priority", "low"},
        {"max_attempts", "7"},
        {"timeout_s", "60"},
        {"ttl_s", "3600"},
        {"delay_s", "0"},
        {"payload", "{\"a\":[1,2]}"},
        {"metadata", "{\"k\":\"v\"}"},
        {"wait", "30"},
        {"type", "ignored: the first one counts"},
    };
    ht_job_request_t req;
    ht_problem_t p = {0};
    cr_assert_eq(from_params(&req, &p, params, sizeof params / sizeof params[0]), 0);
    cr_expect_str_eq(req.type, "video.transcode");
    cr_expect_eq(req.priority, HT_PRIO_LOW);
    cr_expect_eq(req.max_attempts, 7);
    cr_expect_eq(req.timeout_s, 60);
    cr_expect_eq(req.ttl_s, 3600);
    char *payload = json_dumps(req.payload, JSON_COMPACT);
    cr_expect_str_eq(payload, "{\"a\":[1,2]}");
    free(payload);
    cr_expect_str_eq(json_string_value(json_object_get(req.metadata, "k")), "v");
    ht_job_request_clear(&req);
    ht_problem_clear(&p);
}

Test(job_request, params_defaults)
{
    const ht_job_param_t params[] = {{"type", "echo"}};
    ht_job_request_t req;
    ht_problem_t p = {0};
    cr_assert_eq(from_params(&req, &p, params, 1), 0);
    cr_expect_eq(req.max_attempts, HT_MAX_ATTEMPTS_DEFAULT);
    cr_expect(json_is_object(req.payload) && json_object_size(req.payload) == 0);
    ht_job_request_clear(&req);
}

/* Every bad parameter is listed, with the codes of the JSON body's. */
Test(job_request, params_problems)
{
    /* run_at: two problems, out of range (years ahead) and given with delay_s. */
    const ht_job_param_t params[] = {
        {"type", "Bad Type"},
        {"max_attempts", "0"},
        {"timeout_s", "3.5"},
        {"ttl_s", "soon"},
        {"priority", "urgent"},
        {"payload", "{\"a\":"},
        {"metadata", "[1]"},
        {"callback_url", "ftp://x"},
        {"colour", "blue"},
        {"delay_s", "5"},
        {"run_at", "2030-01-01T00:00:10Z"},
    };
    ht_job_request_t req;
    ht_problem_t p = {0};
    cr_assert_eq(from_params(&req, &p, params, sizeof params / sizeof params[0]), -1);
    cr_expect_eq(p.kind, HT_P_INVALID_FIELDS);
    char *got = pointers(&p);
    cr_expect_str_eq(got, "[\"/payload\",\"/type\",\"/metadata\",\"/priority\",\"/max_attempts\","
                          "\"/timeout_s\",\"/ttl_s\",\"/callback_url\",\"/run_at\",\"/run_at\","
                          "\"/colour\"]");
    free(got);
    cr_expect(strstr(p.detail, "query parameters") != NULL, "detail: %s", p.detail);
    json_t *first = json_array_get(p.errors, 0);
    cr_expect_str_eq(json_string_value(json_object_get(first, "code")), "invalid_format");
    ht_problem_clear(&p);
}

Test(job_request, params_type_required_and_too_deep_payload)
{
    const ht_job_param_t params[] = {{"payload", "[[[[[1]]]]]"}};
    ht_job_request_t req;
    ht_problem_t p = {0};
    cr_assert_eq(from_params(&req, &p, params, 1), -1);
    char *got = pointers(&p);
    cr_expect_str_eq(got, "[\"/type\",\"/payload\"]");
    free(got);
    ht_problem_clear(&p);
}
