/* api/http.c: If-None-Match matching (RFC 9110 13.1.2: "*", lists, weak
 * comparison) and the query string handed to a handler, on a bare h2o
 * request. */
#include <criterion/criterion.h>
#include <string.h>

#include "api/http.h"

static h2o_req_t req;

static void setup(void)
{
    memset(&req, 0, sizeof req);
    h2o_mem_init_pool(&req.pool);
}

static void teardown(void)
{
    h2o_mem_clear_pool(&req.pool);
}

static void header(const char *value)
{
    h2o_add_header(&req.pool, &req.headers, H2O_TOKEN_IF_NONE_MATCH, NULL, value, strlen(value));
}

TestSuite(http, .init = setup, .fini = teardown);

Test(http, no_header_never_matches)
{
    cr_expect_eq(ht_http_if_none_match(&req, "\"3\""), 0);
}

Test(http, exact_tags)
{
    header("\"3\"");
    cr_expect_eq(ht_http_if_none_match(&req, "\"3\""), 1);
    cr_expect_eq(ht_http_if_none_match(&req, "\"4\""), 0);
    cr_expect_eq(ht_http_if_none_match(&req, "\"33\""), 0);
}

Test(http, star)
{
    header("*");
    cr_expect_eq(ht_http_if_none_match(&req, "\"9\""), 1);
}

Test(http, weak_tags_compare_weakly)
{
    header("W/\"5\"");
    cr_expect_eq(ht_http_if_none_match(&req, "\"5\""), 1);
    cr_expect_eq(ht_http_if_none_match(&req, "\"6\""), 0);
}

Test(http, lists_and_repeated_headers)
{
    header("\"1\", \"2\" ,W/\"7\"");
    cr_expect_eq(ht_http_if_none_match(&req, "\"2\""), 1);
    cr_expect_eq(ht_http_if_none_match(&req, "\"7\""), 1);
    cr_expect_eq(ht_http_if_none_match(&req, "\"8\""), 0);
    header("\"8\"");
    cr_expect_eq(ht_http_if_none_match(&req, "\"8\""), 1, "a second If-None-Match header counts");
}

Test(http, unquoted_garbage_does_not_match)
{
    header("3, W/3");
    cr_expect_eq(ht_http_if_none_match(&req, "\"3\""), 0);
}

/* A well-formed query string is handed over to read, decoded; none at all
 * reads as empty.  (A malformed one answers 400: tests/integration/
 * test_query.sh, which has a real request to answer.) */
Test(http, query_to_read)
{
    static const char path[] = "/v1/jobs?st%61tus=queued&&type=a+b";
    req.path = h2o_iovec_init(path, sizeof(path) - 1);
    req.query_at = 8;
    ht_query_t q;
    ht_query_param_t p;
    cr_assert_eq(ht_http_query_or_reply(&req, &q), 0);
    cr_assert_eq(ht_query_next(&q, &p), 1);
    cr_expect_str_eq(p.name, "status");
    cr_expect_str_eq(p.value, "queued");
    cr_assert_eq(ht_query_next(&q, &p), 1);
    cr_expect_str_eq(p.name, "type");
    cr_expect_str_eq(p.value, "a b");
    cr_expect_eq(ht_query_next(&q, &p), 0);

    req.query_at = SIZE_MAX;
    cr_assert_eq(ht_http_query_or_reply(&req, &q), 0);
    cr_expect_eq(ht_query_next(&q, &p), 0);
}
