/* shared/problem.c: the problem-type table and problem+json rendering. */
#include <criterion/criterion.h>
#include <string.h>

#include "shared/problem.h"

Test(problem, table_has_every_kind)
{
    static const struct {
        ht_problem_kind_t kind;
        int status;
        const char *code;
    } want[] = {
        {HT_P_MALFORMED_JSON, 400, "malformed-json"},
        {HT_P_BAD_REQUEST, 400, "bad-request"},
        {HT_P_DIGEST_MISMATCH, 400, "digest-mismatch"},
        {HT_P_UNAUTHORIZED, 401, "unauthorized"},
        {HT_P_FORBIDDEN, 403, "forbidden"},
        {HT_P_NOT_FOUND, 404, "not-found"},
        {HT_P_JOB_NOT_FOUND, 404, "job-not-found"},
        {HT_P_SCHEDULE_NOT_FOUND, 404, "schedule-not-found"},
        {HT_P_METHOD_NOT_ALLOWED, 405, "method-not-allowed"},
        {HT_P_REQUEST_TIMEOUT, 408, "request-timeout"},
        {HT_P_CONFLICT, 409, "conflict"},
        {HT_P_STALE_TOKEN, 409, "stale-token"},
        {HT_P_JOB_CANCELED, 409, "job-canceled"},
        {HT_P_TOO_LARGE, 413, "payload-too-large"},
        {HT_P_URI_TOO_LONG, 414, "uri-too-long"},
        {HT_P_UNSUPPORTED_MEDIA, 415, "unsupported-media-type"},
        {HT_P_RANGE_NOT_SATISFIABLE, 416, "range-not-satisfiable"},
        {HT_P_EXPECTATION_FAILED, 417, "expectation-failed"},
        {HT_P_INVALID_FIELDS, 422, "invalid-fields"},
        {HT_P_RATE_LIMITED, 429, "rate-limited"},
        {HT_P_OVER_CAP, 429, "over-cap"},
        {HT_P_HEADERS_TOO_LARGE, 431, "headers-too-large"},
        {HT_P_INTERNAL, 500, "internal"},
        {HT_P_NOT_IMPLEMENTED, 501, "not-implemented"},
        {HT_P_UNAVAILABLE, 503, "unavailable"},
        {HT_P_INSUFFICIENT_STORAGE, 507, "insufficient-storage"},
    };
    cr_assert_eq(sizeof want / sizeof want[0], HT_P__COUNT);
    for (size_t i = 0; i < HT_P__COUNT; i++) {
        const ht_problem_type_t *t = ht_problem_type(want[i].kind);
        cr_expect_eq(t->status, want[i].status, "%s", want[i].code);
        cr_expect_str_eq(t->code, want[i].code);
        cr_expect(t->title && *t->title, "%s has no title", want[i].code);
    }
    /* Out of range falls back to internal rather than reading past the table. */
    cr_expect_eq(ht_problem_type(HT_P__COUNT)->status, 500);
}

Test(problem, simple_document_omits_empty_parts)
{
    ht_problem_t p = {0};
    ht_problem_set(&p, HT_P_JOB_NOT_FOUND, NULL);
    json_t *doc = ht_problem_to_json(&p);
    json_t *want = json_pack("{s:s, s:s, s:i}", "type", "urn:hangtight:problem:job-not-found",
                             "title", ht_problem_type(HT_P_JOB_NOT_FOUND)->title, "status", 404);
    cr_expect(json_equal(doc, want));
    cr_expect_null(json_object_get(doc, "detail"));
    cr_expect_null(json_object_get(doc, "errors"));
    json_decref(doc);
    json_decref(want);
    ht_problem_clear(&p);
}

Test(problem, detail_and_errors)
{
    ht_problem_t p = {0};
    ht_problem_set(&p, HT_P_BAD_REQUEST, "bad %s %d", "thing", 7);
    ht_problem_add_error(&p, "/max_attempts", "out_of_range", "must be between %d and %d", 1,
                         25);
    ht_problem_add_error(&p, "", "invalid_type", "must be an object");
    cr_expect_eq(p.kind, HT_P_INVALID_FIELDS, "adding an error makes it a 422");
    json_t *doc = ht_problem_to_json(&p);
    ht_problem_clear(&p); /* the document must not depend on the problem */
    cr_expect_null(p.errors);
    json_t *want = json_pack(
        "{s:s, s:s, s:i, s:s, s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}", "type",
        "urn:hangtight:problem:invalid-fields", "title",
        ht_problem_type(HT_P_INVALID_FIELDS)->title, "status", 422, "detail", "bad thing 7",
        "errors", "pointer", "/max_attempts", "code", "out_of_range", "detail",
        "must be between 1 and 25", "pointer", "", "code", "invalid_type", "detail",
        "must be an object");
    char *got = json_dumps(doc, JSON_SORT_KEYS);
    cr_expect(json_equal(doc, want), "%s", got);
    free(got);
    json_decref(doc);
    json_decref(want);
}

Test(problem, detail_cut_mid_character_stays_valid_utf8)
{
    ht_problem_t p = {0};
    char big[600];
    memset(big, 'a', 510);
    strcpy(big + 510, "\xc3\xa9\xc3\xa9"); /* "éé" straddles the 512-byte cut */
    ht_problem_set(&p, HT_P_BAD_REQUEST, "%s", big);
    json_t *doc = ht_problem_to_json(&p);
    const char *d = json_string_value(json_object_get(doc, "detail"));
    cr_assert_not_null(d);
    cr_expect_eq(strlen(d), 510);
    json_decref(doc);
    ht_problem_clear(&p);
}

Test(problem, field_errors_are_capped_and_counted)
{
    ht_problem_t p = {0};
    for (int i = 0; i < HT_PROBLEM_ERRORS_MAX + 1000; i++)
        ht_problem_add_error(&p, "/x", "unknown_field", "field %d", i);
    json_t *doc = ht_problem_to_json(&p);
    cr_expect_eq(json_array_size(json_object_get(doc, "errors")), HT_PROBLEM_ERRORS_MAX);
    cr_expect_eq(json_integer_value(json_object_get(doc, "errors_omitted")), 1000);
    json_decref(doc);
    ht_problem_clear(&p);
}
