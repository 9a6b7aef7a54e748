/* api/event_format.c: event ids, event log entries and notifications as
 * shared/library.lua writes them, the per-event document, SSE
 * framing. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

#include "api/event_format.h"

#define ID "0f8fad5b-d9cb-469f-a165-70867728950e"

Test(event_format, event_ids)
{
    cr_expect(ht_event_id_valid("1795669349839-0", 15));
    cr_expect(ht_event_id_valid("0-1", 3));
    cr_expect_not(ht_event_id_valid("1795669349839", 13), "no sequence");
    cr_expect_not(ht_event_id_valid("-1", 2));
    cr_expect_not(ht_event_id_valid("1-", 2));
    cr_expect_not(ht_event_id_valid("1-2-3", 5));
    cr_expect_not(ht_event_id_valid("1x-2", 4));
    cr_expect_not(ht_event_id_valid("123456789012345678901-0", 23), "over 20 digits");
    cr_expect_not(ht_event_id_valid("1-2", 2), "length counts, not the NUL");

    cr_expect_eq(ht_event_id_cmp("5-0", "5-0"), 0);
    cr_expect_lt(ht_event_id_cmp("5-0", "5-1"), 0);
    cr_expect_gt(ht_event_id_cmp("10-0", "9-7"), 0, "numeric, not text order");
    cr_expect_lt(ht_event_id_cmp("9-10", "10-0"), 0);
    cr_expect_gt(ht_event_id_cmp("7-10", "7-9"), 0);
    cr_expect_eq(ht_event_id_cmp("007-1", "7-01"), 0, "leading zeros");
}

/* An event log entry: "<v> <kind> <status> <attempt> <pct> <at> <msg>". */
Test(event_format, event_log_entry)
{
    ht_event_entry_t e;
    cr_assert_eq(ht_event_entry_parse(&e, "12 progress running 2 40 1795669350252 step 2 of 5"), 0);
    cr_expect_str_eq(e.id, "12-0");
    cr_expect_eq(e.progress, 1);
    cr_expect_eq(e.version, 12);
    cr_expect_eq(e.status, HT_JOB_RUNNING);
    cr_expect_eq(e.attempt, 2);
    cr_expect_eq(e.progress_pct, 40);
    cr_expect_eq(e.at, 1795669350252LL);
    cr_expect_str_eq(e.progress_msg, "step 2 of 5");

    cr_assert_eq(ht_event_entry_parse(&e, "3 status succeeded 1 - 1795669350300 "), 0);
    cr_expect_str_eq(e.id, "3-0");
    cr_expect_eq(e.progress, 0);
    cr_expect_eq(e.status, HT_JOB_SUCCEEDED);
    cr_expect_eq(e.progress_pct, -1, "'-': no percent");
    cr_expect_null(e.progress_msg, "empty message: none");
    /* Ids order by version, numerically. */
    cr_expect_lt(ht_event_id_cmp("9-0", "10-0"), 0);

    cr_expect_eq(ht_event_entry_parse(&e, ""), HT_EINVAL);
    cr_expect_eq(ht_event_entry_parse(&e, "3 status succeeded 1 -"), HT_EINVAL, "cut short");
    cr_expect_eq(ht_event_entry_parse(&e, "3 status nope 1 - 1 "), HT_EINVAL, "status");
    cr_expect_eq(ht_event_entry_parse(&e, "3 what succeeded 1 - 1 "), HT_EINVAL, "kind");
    cr_expect_eq(ht_event_entry_parse(&e, "x status succeeded 1 - 1 "), HT_EINVAL, "v");
    cr_expect_eq(ht_event_entry_parse(&e, "3 status succeeded 1 101 1 "), HT_EINVAL, "pct");
    cr_expect_eq(ht_event_entry_parse(&e, "3  status succeeded 1 - 1 "), HT_EINVAL, "empty word");
    cr_expect_eq(ht_event_entry_parse(&e, "3 status succeeded 1000001 - 1 "), HT_EINVAL, "attempt");
    cr_expect_eq(ht_event_entry_parse(&e, "3 status succeeded 1 - 1x "), HT_EINVAL, "at");
    cr_expect_eq(ht_event_entry_parse(&e, "123456789012345678901 status succeeded 1 - 1 "),
                 HT_EINVAL, "v over 20 digits");
    cr_expect_eq(ht_event_entry_parse(&e, "3 status succeeded 1 -5 1 "), HT_EINVAL, "pct");
}

Test(event_format, notifications)
{
    ht_event_note_t n;
    const char *s = "6 succeeded 1795669350453-0 status";
    cr_assert_eq(ht_event_note_parse(&n, s, strlen(s)), 0);
    cr_expect_eq(n.version, 6);
    cr_expect_eq(n.status, HT_JOB_SUCCEEDED);
    cr_expect_str_eq(n.event_id, "1795669350453-0");
    cr_expect_eq(n.progress, 0);
    s = "3 running 1795669350050-0 progress";
    cr_assert_eq(ht_event_note_parse(&n, s, strlen(s)), 0);
    cr_expect_eq(n.progress, 1);
    /* Length-bounded: what follows is not read. */
    cr_expect_eq(ht_event_note_parse(&n, "3 running 5-0 statusXYZ", 20), 0);

    const char *bad[] = {"",
                         "3 running 5-0",
                         "3 running 5-0 status extra",
                         "x running 5-0 status",
                         "3 runnin 5-0 status",
                         "3 running 5 status",
                         "3 running 5-0 stat",
                         "-3 running 5-0 status",
                         "<id> 1 queued"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(ht_event_note_parse(&n, bad[i], strlen(bad[i])), HT_EINVAL, "%s", bad[i]);
}

static ht_job_t finished_job(void)
{
    ht_job_t j;
    memset(&j, 0, sizeof(j));
    memcpy(j.id, ID, sizeof(j.id));
    j.type = "sleep";
    j.status = HT_JOB_SUCCEEDED;
    j.attempt = 1;
    j.max_attempts = 3;
    j.created_at = 1000;
    j.started_at = 2000;
    j.finished_at = 9000;
    j.progress_pct = 100;
    j.progress_msg = "step 3/3";
    j.progress_at = 8000;
    j.result = "{\"slept_ms\":600}";
    j.version = 6;
    return j;
}

/* The document as of an entry, as JSON (a new reference). */
static json_t *event_doc(const ht_job_t *j, const ht_event_entry_t *e)
{
    ht_buf_t b = HT_BUF_INIT;
    cr_assert_eq(ht_event_doc_append(&b, j, e), 0);
    json_error_t err;
    json_t *doc = json_loads(b.data, 0, &err);
    cr_assert_not_null(doc, "%s: %s", err.text, b.data);
    ht_buf_free(&b);
    return doc;
}

Test(event_format, doc_of_an_earlier_entry)
{
    ht_job_t j = finished_job(); /* borrowed strings: never cleared */
    ht_event_entry_t e = {.id = "1-0",
                          .progress = 1,
                          .version = 3,
                          .status = HT_JOB_RUNNING,
                          .attempt = 1,
                          .progress_pct = 33,
                          .progress_msg = "step 1/3",
                          .at = 4000};
    json_t *doc = event_doc(&j, &e);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "status")), "running");
    json_t *p = json_object_get(doc, "progress");
    cr_expect_eq(json_integer_value(json_object_get(p, "percent")), 33);
    cr_expect_str_eq(json_string_value(json_object_get(p, "message")), "step 1/3");
    cr_expect_str_eq(json_string_value(json_object_get(p, "updated_at")),
                     "1970-01-01T00:00:04.000Z");
    cr_expect(json_is_null(json_object_get(doc, "finished_at")), "not finished yet");
    cr_expect(json_is_null(json_object_get(doc, "result")), "no result yet");
    cr_expect_str_eq(json_string_value(json_object_get(doc, "started_at")),
                     "1970-01-01T00:00:02.000Z");
    json_decref(doc);

    ht_event_entry_t q = {.id = "1-0",
                          .version = 1,
                          .status = HT_JOB_QUEUED,
                          .attempt = 0,
                          .progress_pct = -1,
                          .at = 1000};
    doc = event_doc(&j, &q);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "status")), "queued");
    cr_expect(json_is_null(json_object_get(doc, "started_at")), "no attempt yet");
    p = json_object_get(doc, "progress");
    cr_expect(json_is_null(json_object_get(p, "percent")));
    cr_expect(json_is_null(json_object_get(p, "updated_at")));
    json_decref(doc);
}

Test(event_format, terminal_entry_equals_the_document)
{
    ht_job_t j = finished_job();
    ht_event_entry_t e = {.id = "9-0",
                          .version = 6,
                          .status = HT_JOB_SUCCEEDED,
                          .attempt = 1,
                          .progress_pct = 100,
                          .progress_msg = "step 3/3",
                          .at = 9000};
    ht_buf_t a = HT_BUF_INIT, b = HT_BUF_INIT;
    cr_assert_eq(ht_event_doc_append(&a, &j, &e), 0);
    cr_assert_eq(ht_job_doc_append(&b, &j), 0);
    cr_expect_str_eq(a.data, b.data, "the terminal event shows the final document");
    ht_buf_free(&a);
    ht_buf_free(&b);
}

Test(event_format, sse_framing)
{
    ht_job_t j = finished_job();
    j.progress_msg = "two\nlines\r and a CR"; /* escaped in the document */
    ht_buf_t doc = HT_BUF_INIT, b = HT_BUF_INIT;
    cr_assert_eq(ht_job_doc_append(&doc, &j), 0);
    cr_expect_null(strpbrk(doc.data, "\r\n"), "the document is one line");

    cr_assert_eq(ht_sse_job_event_append(&b, "5-0", "status", &j, NULL), 0);
    const char *data = "id: 5-0\nevent: status\ndata: ";
    cr_assert_eq(strncmp(b.data, data, strlen(data)), 0, "%s", b.data);
    cr_expect_eq(b.len, strlen(data) + doc.len + 2);
    cr_expect_eq(memcmp(b.data + strlen(data), doc.data, doc.len), 0);
    cr_expect_str_eq(b.data + b.len - 2, "\n\n");

    /* Appended after what is there, without an id line when there is none. */
    size_t before = b.len;
    ht_event_entry_t e = {.id = "6-0",
                          .progress = 1,
                          .version = 6,
                          .status = HT_JOB_RUNNING,
                          .attempt = 1,
                          .progress_pct = 50,
                          .at = 3000};
    cr_assert_eq(ht_sse_job_event_append(&b, "", "progress", &j, &e), 0);
    data = "event: progress\ndata: {";
    cr_expect_eq(strncmp(b.data + before, data, strlen(data)), 0, "%s", b.data + before);
    ht_buf_t at = HT_BUF_INIT;
    ht_event_doc_append(&at, &j, &e);
    cr_expect_eq(b.len - before, strlen(data) - 1 + at.len + 2);
    ht_buf_free(&at);
    ht_buf_free(&doc);
    ht_buf_free(&b);
}
