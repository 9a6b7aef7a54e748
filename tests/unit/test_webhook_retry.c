/* worker/webhook.c's pure parts: judging an attempt, Retry-After, the
 * retry delay and the delivery's body. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "worker/webhook.h"

/* A draw of exactly *state: the delay is *state modulo (cap + 1). */
static uint64_t fixed(void *state)
{
    return *(uint64_t *)state;
}

Test(webhook_retry, judges_attempts)
{
    cr_assert_eq(ht_webhook_judge(0, 0, 200), HT_DELIVERY_DELIVERED);
    cr_assert_eq(ht_webhook_judge(0, 0, 204), HT_DELIVERY_DELIVERED);
    cr_assert_eq(ht_webhook_judge(0, 0, 299), HT_DELIVERY_DELIVERED);
    cr_assert_eq(ht_webhook_judge(0, 0, 410), HT_DELIVERY_FAILED);
    cr_assert_eq(ht_webhook_judge(0, 0, 302), HT_DELIVERY_RETRY); /* redirects not followed */
    cr_assert_eq(ht_webhook_judge(0, 0, 429), HT_DELIVERY_RETRY);
    cr_assert_eq(ht_webhook_judge(0, 0, 404), HT_DELIVERY_RETRY);
    cr_assert_eq(ht_webhook_judge(0, 0, 503), HT_DELIVERY_RETRY);
    cr_assert_eq(ht_webhook_judge(1, 0, 0), HT_DELIVERY_RETRY);  /* timeout, connect */
    cr_assert_eq(ht_webhook_judge(1, 1, 0), HT_DELIVERY_FAILED); /* refused address */
}

Test(webhook_retry, parses_retry_after)
{
    cr_assert_eq(ht_webhook_retry_after_ms("120", 0), 120000);
    cr_assert_eq(ht_webhook_retry_after_ms("0", 0), 0);
    cr_assert_eq(ht_webhook_retry_after_ms("99999999", 0), 3600000); /* capped */
    cr_assert_eq(ht_webhook_retry_after_ms("12x", 0), -1);
    cr_assert_eq(ht_webhook_retry_after_ms("", 0), -1);
    cr_assert_eq(ht_webhook_retry_after_ms(NULL, 0), -1);
    cr_assert_eq(ht_webhook_retry_after_ms("soon", 0), -1);
    /* Wed, 21 Oct 2015 07:28:00 GMT is 1445412480. */
    cr_assert_eq(ht_webhook_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 - 30),
                 30000);
    cr_assert_eq(ht_webhook_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", 1445412480 + 30), 0);
}

Test(webhook_retry, delay_is_full_jitter_with_a_floor)
{
    uint64_t r = 5000;
    cr_assert_eq(ht_webhook_retry_delay_ms(5000, 1, -1, fixed, &r), 5000, "cap of attempt 1");
    r = 20000;
    cr_assert_eq(ht_webhook_retry_delay_ms(5000, 3, -1, fixed, &r), 20000, "cap of attempt 3");
    r = 20001;
    cr_assert_eq(ht_webhook_retry_delay_ms(5000, 3, -1, fixed, &r), 0, "cap + 1 wraps to 0");
    cr_assert_eq(ht_webhook_retry_delay_ms(5000, 3, 7000, fixed, &r), 7000, "Retry-After floor");
    r = 5000;
    cr_assert_eq(ht_webhook_retry_delay_ms(5000, 1, 7000, fixed, &r), 7000);
    cr_assert_eq(ht_webhook_retry_delay_ms(5000, 1, 3000, fixed, &r), 5000);
    r = 3600000;
    cr_assert_eq(ht_webhook_retry_delay_ms(5000, 30, -1, fixed, &r), 3600000, "an hour at most");
    r = 3600001;
    cr_assert_eq(ht_webhook_retry_delay_ms(5000, 30, -1, fixed, &r), 0);
}

/* The body is {"type", "timestamp", "data": <the job document>}, with the
 * document's text exactly ht_job_doc_append's, as jansson would print it. */
Test(webhook_retry, delivery_body)
{
    ht_job_t j;
    memset(&j, 0, sizeof(j));
    strcpy(j.id, "0f8fad5b-d9cb-469f-a165-70867728950e");
    j.type = "video.transcode";
    j.status = HT_JOB_FAILED;
    j.attempt = 3;
    j.max_attempts = 3;
    j.created_at = 1795667196123LL;
    j.finished_at = 1795667199000LL;
    j.progress_pct = -1;
    j.error = "{\"code\":\"handler_failed\",\"message\":\"caf\u00e9 \\\"x\\\"\"}";
    j.callback_url = "https://example.com/hook";
    j.cb_state = "pending";

    ht_buf_t body = HT_BUF_INIT, doc = HT_BUF_INIT;
    cr_assert_eq(ht_webhook_body_append(&body, &j, 1795667200007LL), 0);
    cr_assert_eq(ht_job_doc_append(&doc, &j), 0);
    const char *head = "{\"type\":\"job.failed\",\"timestamp\":\"2026-11-26T04:26:40.007Z\","
                       "\"data\":";
    cr_assert_eq(strncmp(body.data, head, strlen(head)), 0, "%s", body.data);
    cr_expect_eq(body.len, strlen(head) + doc.len + 1);
    cr_expect_eq(memcmp(body.data + strlen(head), doc.data, doc.len), 0);
    cr_expect_str_eq(body.data + body.len - 1, "}");

    json_t *tree = json_loads(body.data, 0, NULL);
    cr_assert_not_null(tree, "the body is JSON: %s", body.data);
    char *again = json_dumps(tree, JSON_COMPACT);
    cr_expect_str_eq(again, body.data, "as jansson prints it");
    free(again);
    json_decref(tree);
    ht_buf_free(&body);
    ht_buf_free(&doc);
}
