/* api/event_format.c: log ids, log entries and notifications as
 * shared/library.lua writes them, the per-event document, SSE
 * framing. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

#include "api/event_format.h"

#define ID "0f8fad5b-d9cb-469f-a165-70867728950e"

Test(event_format, log_ids)
{
    cr_expect(ht_log_id_valid("1795669349839-0", 15));
    cr_expect(ht_log_id_valid("0-1", 3));
    cr_expect_not(ht_log_id_valid("1795669349839", 13), "no sequence");
    cr_expect_not(ht_log_id_valid("-1", 2));
    cr_expect_not(ht_log_id_valid("1-", 2));
    cr_expect_not(ht_log_id_valid("1-2-3", 5));
    cr_expect_not(ht_log_id_valid("1x-2", 4));
    cr_expect_not(ht_log_id_valid("123456789012345678901-0", 23), "over 20 digits");
    cr_expect_not(ht_log_id_valid("1-2", 2), "length counts, not the NUL");

    cr_expect_eq(ht_log_id_cmp("5-0", "5-0"), 0);
    cr_expect_lt(ht_log_id_cmp("5-0", "5-1"), 0);
    cr_expect_gt(ht_log_id_cmp("10-0", "9-7"), 0, "numeric, not text order");
    cr_expect_lt(ht_log_id_cmp("9-10", "10-0"), 0);
    cr_expect_gt(ht_log_id_cmp("7-10", "7-9"), 0);
    cr_expect_eq(ht_log_id_cmp("007-1", "7-01"), 0, "leading zeros");
}

Test(event_format, log_entry)
{
    const char *const f[] = {"kind", "progress", "v", "4", "status", "running", "attempt", "2",
                             "pct", "67", "msg", "step 2/3", "at", "1795669350252",
                             "later", "ignored"};
    ht_log_entry_t e;
    cr_assert_eq(ht_log_entry_parse(&e, "1795669350252-0", 16, f), 0);
    cr_expect_str_eq(e.id, "1795669350252-0");
    cr_expect_eq(e.progress, 1);
    cr_expect_eq(e.version, 4);
    cr_expect_eq(e.status, HT_JOB_RUNNING);
    cr_expect_eq(e.attempt, 2);
    cr_expect_eq(e.progress_pct, 67);
    cr_expect_str_eq(e.progress_msg, "step 2/3");
    cr_expect_eq(e.at, 1795669350252);

    const char *const g[] = {"kind", "status", "v", "1", "status", "queued", "attempt", "0",
                             "pct", "", "msg", "", "at", "1"};
    cr_assert_eq(ht_log_entry_parse(&e, "1-0", 14, g), 0);
    cr_expect_eq(e.progress, 0);
    cr_expect_eq(e.progress_pct, -1, "'' is no percent");
    cr_expect_null(e.progress_msg, "'' is no message");
}

Test(event_format, bad_log_entries)
{
    ht_log_entry_t e;
    const char *const no_v[] = {"kind", "status", "status", "queued"};
    cr_expect_eq(ht_log_entry_parse(&e, "1-0", 4, no_v), HT_EINVAL);
    const char *const bad_kind[] = {"kind", "other", "v", "1", "status", "queued"};
    cr_expect_eq(ht_log_entry_parse(&e, "1-0", 6, bad_kind), HT_EINVAL);
    const char *const bad_status[] = {"kind", "status", "v", "1", "status", "done"};
    cr_expect_eq(ht_log_entry_parse(&e, "1-0", 6, bad_status), HT_EINVAL);
    const char *const bad_pct[] = {"kind", "status", "v", "1", "status", "queued", "pct", "101"};
    cr_expect_eq(ht_log_entry_parse(&e, "1-0", 8, bad_pct), HT_EINVAL);
    const char *const ok[] = {"kind", "status", "v", "1", "status", "queued"};
    cr_expect_eq(ht_log_entry_parse(&e, "nope", 6, ok), HT_EINVAL, "bad id");
    cr_expect_eq(ht_log_entry_parse(&e, "1-0", 6, ok), 0);
}

/* The list log: "<v> <kind> <status> <attempt> <pct> <at> <msg>". */
Test(event_format, compact_log_entry)
{
    ht_log_entry_t e;
    cr_assert_eq(ht_log_entry_parse_compact(&e, "12 progress running 2 40 1795669350252 step 2 of 5"),
                 0);
    cr_expect_str_eq(e.id, "12-0");
    cr_expect_eq(e.progress, 1);
    cr_expect_eq(e.version, 12);
    cr_expect_eq(e.status, HT_JOB_RUNNING);
    cr_expect_eq(e.attempt, 2);
    cr_expect_eq(e.progress_pct, 40);
    cr_expect_eq(e.at, 1795669350252LL);
    cr_expect_str_eq(e.progress_msg, "step 2 of 5");

    cr_assert_eq(ht_log_entry_parse_compact(&e, "3 status succeeded 1 - 1795669350300 "), 0);
    cr_expect_str_eq(e.id, "3-0");
    cr_expect_eq(e.progress, 0);
    cr_expect_eq(e.status, HT_JOB_SUCCEEDED);
    cr_expect_eq(e.progress_pct, -1, "'-': no percent");
    cr_expect_null(e.progress_msg, "empty message: none");
    /* Ids order by version, numerically. */
    cr_expect_lt(ht_log_id_cmp("9-0", "10-0"), 0);

    cr_expect_eq(ht_log_entry_parse_compact(&e, ""), HT_EINVAL);
    cr_expect_eq(ht_log_entry_parse_compact(&e, "3 status succeeded 1 -"), HT_EINVAL, "cut short");
    cr_expect_eq(ht_log_entry_parse_compact(&e, "3 status nope 1 - 1 "), HT_EINVAL, "status");
    cr_expect_eq(ht_log_entry_parse_compact(&e, "3 what succeeded 1 - 1 "), HT_EINVAL, "kind");
    cr_expect_eq(ht_log_entry_parse_compact(&e, "x status succeeded 1 - 1 "), HT_EINVAL, "v");
    cr_expect_eq(ht_log_entry_parse_compact(&e, "3 status succeeded 1 101 1 "), HT_EINVAL, "pct");
    cr_expect_eq(ht_log_entry_parse_compact(&e, "3  status succeeded 1 - 1 "), HT_EINVAL,
                 "empty word");
}

Test(event_format, notifications)
{
    ht_event_note_t n;
    const char *s = "6 succeeded 1795669350453-0 status";
    cr_assert_eq(ht_event_note_parse(&n, s, strlen(s)), 0);
    cr_expect_eq(n.version, 6);
    cr_expect_eq(n.status, HT_JOB_SUCCEEDED);
    cr_expect_str_eq(n.log_id, "1795669350453-0");
    cr_expect_eq(n.progress, 0);
    s = "3 running 1795669350050-0 progress";
    cr_assert_eq(ht_event_note_parse(&n, s, strlen(s)), 0);
    cr_expect_eq(n.progress, 1);
    /* Length-bounded: what follows is not read. */
    cr_expect_eq(ht_event_note_parse(&n, "3 running 5-0 statusXYZ", 20), 0);

    const char *bad[] = {"", "3 running 5-0", "3 running 5-0 status extra", "x running 5-0 status",
                         "3 runnin 5-0 status", "3 running 5 status", "3 running 5-0 stat",
                         "-3 running 5-0 status", "<id> 1 queued"};
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

Test(event_format, doc_of_an_earlier_entry)
{
    ht_job_t j = finished_job(); /* borrowed strings: never cleared */
    ht_log_entry_t e = {.id = "1-0", .progress = 1, .version = 3, .status = HT_JOB_RUNNING,
                        .attempt = 1, .progress_pct = 33, .progress_msg = "step 1/3",
                        .at = 4000};
    json_t *doc = ht_event_doc(&j, &e);
    cr_assert_not_null(doc);
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

    ht_log_entry_t q = {.id = "1-0", .version = 1, .status = HT_JOB_QUEUED, .attempt = 0,
                        .progress_pct = -1, .at = 1000};
    doc = ht_event_doc(&j, &q);
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
    ht_log_entry_t e = {.id = "9-0", .version = 6, .status = HT_JOB_SUCCEEDED, .attempt = 1,
                        .progress_pct = 100, .progress_msg = "step 3/3", .at = 9000};
    json_t *doc = ht_event_doc(&j, &e), *plain = ht_job_to_json(&j);
    cr_expect(json_equal(doc, plain), "the terminal event shows the final document");
    json_decref(doc);
    json_decref(plain);
}

Test(event_format, sse_framing)
{
    size_t len;
    char *s = ht_sse_format("5-0", "status", "{\"a\":1}", &len);
    cr_assert_not_null(s);
    cr_expect_str_eq(s, "id: 5-0\nevent: status\ndata: {\"a\":1}\n\n");
    cr_expect_eq(len, strlen(s));
    free(s);
    s = ht_sse_format(NULL, "progress", "one\ntwo\r\n", &len);
    cr_expect_str_eq(s, "event: progress\ndata: one\ndata: two\ndata: \n\n");
    cr_expect_eq(len, strlen(s));
    free(s);
    s = ht_sse_format("", "status", "", &len);
    cr_expect_str_eq(s, "event: status\ndata: \n\n");
    free(s);
}
