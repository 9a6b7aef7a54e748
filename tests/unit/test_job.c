/* shared/job.c: names, the stored hash form and the public job document. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/job.h"

#define ID "0f8fad5b-d9cb-469f-a165-70867728950e"

/* Builds the (strs, lens) arrays of an HGETALL reply from a NULL-ended
 * list of field, value strings. */
static int from_pairs(ht_job_t *job, const char *const *pairs)
{
    size_t n = 0, lens[128];
    while (pairs[n]) {
        lens[n] = strlen(pairs[n]);
        n++;
    }
    return ht_job_from_hash(job, NULL, n, pairs, lens);
}

static const char *const running[] = {"id",
                                      ID,
                                      "type",
                                      "video.transcode",
                                      "queue",
                                      "default",
                                      "tenant",
                                      "t1",
                                      "status",
                                      "running",
                                      "priority",
                                      "high",
                                      "payload",
                                      "{\"ms\":5}",
                                      "metadata",
                                      "{\"k\":\"v\"}",
                                      "attempt",
                                      "2",
                                      "max_attempts",
                                      "3",
                                      "timeout_s",
                                      "300",
                                      "ttl_s",
                                      "86400",
                                      "created_at",
                                      "1795667196123",
                                      "started_at",
                                      "1795667197000",
                                      "progress_pct",
                                      "42",
                                      "progress_msg",
                                      "half way",
                                      "progress_at",
                                      "1795667198000",
                                      "token",
                                      "17",
                                      "version",
                                      "5",
                                      "worker",
                                      "w-1",
                                      "brand_new_field",
                                      "ignored",
                                      NULL};

Test(job, names_round_trip)
{
    for (int s = HT_JOB_SCHEDULED; s <= HT_JOB_CANCELED; s++) {
        ht_job_status_t back;
        cr_assert_eq(ht_job_status_parse(ht_job_status_name(s), &back), 0);
        cr_expect_eq(back, s);
    }
    cr_expect_str_eq(ht_job_status_name(HT_JOB_SUCCEEDED), "succeeded");
    ht_job_status_t st;
    cr_expect_eq(ht_job_status_parse("done", &st), HT_EINVAL);
    cr_expect(ht_job_status_terminal(HT_JOB_FAILED));
    cr_expect(ht_job_status_terminal(HT_JOB_CANCELED));
    cr_expect(!ht_job_status_terminal(HT_JOB_RUNNING));
    cr_expect(!ht_job_status_terminal(HT_JOB_QUEUED));
    ht_priority_t p;
    cr_expect_eq(ht_priority_parse("low", &p), 0);
    cr_expect_eq(p, HT_PRIO_LOW);
    cr_expect_eq(ht_priority_parse("urgent", &p), HT_EINVAL);
    cr_expect_str_eq(ht_priority_name(HT_PRIO_HIGH), "high");
}

Test(job, type_valid)
{
    cr_expect(ht_job_type_valid("video.transcode-2_x"));
    cr_expect(!ht_job_type_valid(""));
    cr_expect(!ht_job_type_valid("Video"));
    cr_expect(!ht_job_type_valid("a b"));
    cr_expect(!ht_job_type_valid(NULL));
    char t[66];
    memset(t, 'a', 65);
    t[65] = '\0';
    cr_expect(!ht_job_type_valid(t));
    t[64] = '\0';
    cr_expect(ht_job_type_valid(t));
}

Test(job, from_hash_reads_every_field)
{
    ht_job_t j;
    cr_assert_eq(from_pairs(&j, running), 0);
    cr_expect_str_eq(j.id, ID);
    cr_expect_str_eq(j.type, "video.transcode");
    cr_expect_str_eq(j.queue, "default");
    cr_expect_str_eq(j.tenant, "t1");
    cr_expect_eq(j.status, HT_JOB_RUNNING);
    cr_expect_eq(j.priority, HT_PRIO_HIGH);
    cr_expect_str_eq(j.payload, "{\"ms\":5}");
    cr_expect_str_eq(j.metadata, "{\"k\":\"v\"}");
    cr_expect_null(j.result);
    cr_expect_null(j.error);
    cr_expect_null(j.callback_url);
    cr_expect_eq(j.attempt, 2);
    cr_expect_eq(j.max_attempts, 3);
    cr_expect_eq(j.timeout_s, 300);
    cr_expect_eq(j.ttl_s, 86400);
    cr_expect_eq(j.created_at, 1795667196123LL);
    cr_expect_eq(j.started_at, 1795667197000LL);
    cr_expect_eq(j.finished_at, 0);
    cr_expect_eq(j.progress_pct, 42);
    cr_expect_str_eq(j.progress_msg, "half way");
    cr_expect_eq(j.progress_at, 1795667198000LL);
    cr_expect_eq(j.token, 17);
    cr_expect_eq(j.version, 5);
    cr_expect_str_eq(j.worker, "w-1");
    ht_job_clear(&j);
    cr_expect_null(j.type);
}

Test(job, progress_pct_empty_or_absent_is_none)
{
    const char *const empty[] = {"id",           ID, "type",         "echo", "status", "running",
                                 "progress_pct", "", "progress_msg", "",     NULL};
    ht_job_t j;
    cr_assert_eq(from_pairs(&j, empty), 0);
    cr_expect_eq(j.progress_pct, -1);
    cr_expect_null(j.progress_msg);
    ht_job_clear(&j);
    const char *const absent[] = {"id", ID, "type", "echo", "status", "queued", NULL};
    cr_assert_eq(from_pairs(&j, absent), 0);
    cr_expect_eq(j.progress_pct, -1);
    cr_expect_eq(j.priority, HT_PRIO_DEFAULT);
    ht_job_clear(&j);
}

Test(job, from_hash_refuses_bad_identity_and_numbers)
{
    const char *const cases[][9] = {
        {"type", "echo", "status", "queued", NULL},
        {"id", ID, "status", "queued", NULL},
        {"id", ID, "type", "echo", NULL},
        {"id", "not-an-id", "type", "echo", "status", "queued", NULL},
        {"id", ID, "type", "Bad Type", "status", "queued", NULL},
        {"id", ID, "type", "echo", "status", "exploded", NULL},
        {"id", ID, "type", "echo", "status", "queued", "attempt", "2x", NULL},
        {"id", ID, "type", "echo", "status", "queued", "created_at", " 5", NULL},
        {"id", ID, "type", "echo", "status", "queued", "progress_pct", "101", NULL},
        {"id", ID, "type", "echo", "status", "queued", "token", "99999999999999999999", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ht_job_t j;
        cr_expect_eq(from_pairs(&j, cases[i]), HT_EINVAL, "case %zu accepted", i);
        ht_job_clear(&j);
    }
}

/* A job hash holds no id field (shared/library.lua): the reader takes the
 * id of the key it read. */
Test(job, from_hash_takes_the_id_of_the_key)
{
    const char *strs[] = {"type", "echo", "status", "queued", "version", "1"};
    size_t lens[] = {4, 4, 6, 6, 7, 1};
    ht_job_t j;
    cr_assert_eq(ht_job_from_hash(&j, ID, 6, strs, lens), 0);
    cr_expect_str_eq(j.id, ID);
    cr_expect_eq(j.status, HT_JOB_QUEUED);
    ht_job_clear(&j);
    cr_expect_eq(ht_job_from_hash(&j, NULL, 6, strs, lens), HT_EINVAL, "no id at all");
    ht_job_clear(&j);
    cr_expect_eq(ht_job_from_hash(&j, "not-an-id", 6, strs, lens), HT_EINVAL, "a bad key id");
    ht_job_clear(&j);
}

Test(job, from_hash_refuses_embedded_nul)
{
    const char *strs[] = {"id", ID, "type", "echo", "status", "queued", "worker", "a\0b"};
    size_t lens[] = {2, 36, 4, 4, 6, 6, 6, 3};
    ht_job_t j;
    cr_expect_eq(ht_job_from_hash(&j, NULL, 8, strs, lens), HT_EINVAL);
    ht_job_clear(&j);
}

/* The document's text (ht_job_doc_append): free() it. */
static char *render(const ht_job_t *j)
{
    ht_buf_t b = HT_BUF_INIT;
    cr_assert_eq(ht_job_doc_append(&b, j), 0);
    char *s = ht_buf_steal(&b, NULL);
    cr_assert_not_null(s);
    return s;
}

/* The document read back as JSON: a new reference. */
static json_t *doc_of(const ht_job_t *j)
{
    char *s = render(j);
    json_error_t err;
    json_t *doc = json_loads(s, 0, &err);
    cr_assert_not_null(doc, "%s: %s", err.text, s);
    free(s);
    return doc;
}

Test(job, document_of_a_running_job)
{
    ht_job_t j;
    cr_assert_eq(from_pairs(&j, running), 0);
    char *s = render(&j);
    cr_expect_str_eq(
        s, "{\"id\":\"" ID "\",\"type\":\"video.transcode\",\"status\":\"running\","
           "\"priority\":\"high\",\"progress\":{\"percent\":42,\"message\":\"half way\","
           "\"updated_at\":\"2026-11-26T04:26:38.000Z\"},\"attempt\":2,\"max_attempts\":3,"
           "\"timeout_s\":300,\"ttl_s\":86400,\"created_at\":\"2026-11-26T04:26:36.123Z\","
           "\"run_at\":null,\"started_at\":\"2026-11-26T04:26:37.000Z\",\"finished_at\":null,"
           "\"result\":null,"
           "\"error\":null,\"metadata\":{\"k\":\"v\"},\"schedule_id\":null,\"callback\":null,"
           "\"links\":{\"self\":\"/v1/jobs/" ID "\",\"events\":\"/v1/jobs/" ID "/events\","
           "\"cancel\":\"/v1/jobs/" ID "\"}}");
    cr_expect_null(strstr(s, "payload"), "the payload is not part of the document");
    free(s);
    ht_job_clear(&j);
}

Test(job, document_of_a_finished_job)
{
    const char *const done[] = {"id",
                                ID,
                                "type",
                                "echo",
                                "status",
                                "failed",
                                "attempt",
                                "3",
                                "max_attempts",
                                "3",
                                "timeout_s",
                                "10",
                                "ttl_s",
                                "60",
                                "created_at",
                                "1000",
                                "started_at",
                                "2000",
                                "finished_at",
                                "3000",
                                "result",
                                "[1,\"two\"]",
                                "error",
                                "{\"code\":\"handler_failed\",\"message\":\"boom\"}",
                                "callback_url",
                                "https://example.com/hook",
                                "schedule_id",
                                "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                                "run_at",
                                "1000",
                                NULL};
    ht_job_t j;
    cr_assert_eq(from_pairs(&j, done), 0);
    char *s = render(&j);
    cr_expect_str_eq(
        s, "{\"id\":\"" ID "\",\"type\":\"echo\",\"status\":\"failed\","
           "\"priority\":\"default\",\"progress\":{\"percent\":null,\"message\":null,"
           "\"updated_at\":null},\"attempt\":3,\"max_attempts\":3,"
           "\"timeout_s\":10,\"ttl_s\":60,\"created_at\":\"1970-01-01T00:00:01.000Z\","
           "\"run_at\":\"1970-01-01T00:00:01.000Z\",\"started_at\":\"1970-01-01T00:00:02.000Z\","
           "\"finished_at\":\"1970-01-01T00:00:03.000Z\",\"result\":[1,\"two\"],"
           "\"error\":{\"code\":\"handler_failed\",\"message\":\"boom\"},\"metadata\":{},"
           "\"schedule_id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\","
           "\"callback\":{\"url\":\"https://example.com/hook\",\"state\":null,"
           "\"attempts\":0,\"last_status\":null,\"last_attempt_at\":null},"
           "\"links\":{\"self\":\"/v1/jobs/" ID "\",\"events\":\"/v1/jobs/" ID "/events\","
           "\"retry\":\"/v1/jobs/" ID "/retry\"}}");
    free(s);
    ht_job_clear(&j);
}

/* The callback object of each delivery stage (the cb_* hash fields). */
static json_t *callback_of(const char *const *pairs)
{
    ht_job_t j;
    cr_assert_eq(from_pairs(&j, pairs), 0);
    json_t *doc = doc_of(&j);
    json_t *cb = json_incref(json_object_get(doc, "callback"));
    json_decref(doc);
    ht_job_clear(&j);
    return cb;
}

Test(job, callback_delivery_state)
{
    const char *const unfinished[] = {"id",     ID,        "type",         "echo",
                                      "status", "running", "callback_url", "https://example.com/h",
                                      NULL};
    json_t *cb = callback_of(unfinished);
    cr_expect_str_eq(json_string_value(json_object_get(cb, "url")), "https://example.com/h");
    cr_expect(json_is_null(json_object_get(cb, "state")), "no state before the job ends");
    cr_expect_eq(json_integer_value(json_object_get(cb, "attempts")), 0);
    json_decref(cb);

    const char *const retrying[] = {"id",
                                    ID,
                                    "type",
                                    "echo",
                                    "status",
                                    "succeeded",
                                    "callback_url",
                                    "https://e.com/h",
                                    "cb_state",
                                    "pending",
                                    "cb_attempts",
                                    "2",
                                    "cb_last_status",
                                    "503",
                                    "cb_last_at",
                                    "3000",
                                    "cb_id",
                                    "msg_x_1",
                                    NULL};
    cb = callback_of(retrying);
    char *s = json_dumps(cb, JSON_COMPACT);
    cr_expect_str_eq(s, "{\"url\":\"https://e.com/h\",\"state\":\"pending\",\"attempts\":2,"
                        "\"last_status\":503,"
                        "\"last_attempt_at\":\"1970-01-01T00:00:03.000Z\"}");
    free(s);
    json_decref(cb);

    const char *const timed_out[] = {"id",
                                     ID,
                                     "type",
                                     "echo",
                                     "status",
                                     "failed",
                                     "callback_url",
                                     "https://e.com/h",
                                     "cb_state",
                                     "failed",
                                     "cb_attempts",
                                     "8",
                                     "cb_last_status",
                                     "timeout",
                                     "cb_last_at",
                                     "4000",
                                     NULL};
    cb = callback_of(timed_out);
    cr_expect_str_eq(json_string_value(json_object_get(cb, "state")), "failed");
    cr_expect_eq(json_integer_value(json_object_get(cb, "attempts")), 8);
    cr_expect_str_eq(json_string_value(json_object_get(cb, "last_status")), "timeout");
    json_decref(cb);

    /* cb_state left over on a job that runs again shows no state. */
    const char *const again[] = {
        "id",       ID,       "type", "echo", "status", "queued", "callback_url", "https://e.com/h",
        "cb_state", "failed", NULL};
    cb = callback_of(again);
    cr_expect(json_is_null(json_object_get(cb, "state")));
    json_decref(cb);

    const char *const none[] = {"id",        ID,         "type",      "echo", "status",
                                "succeeded", "cb_state", "delivered", NULL};
    cb = callback_of(none);
    cr_expect(json_is_null(cb), "no callback_url: callback is null");
    json_decref(cb);
}

Test(job, unparsable_stored_json_renders_as_string)
{
    const char *const odd[] = {
        "id",        ID,      "type",       "echo",         "status",        "succeeded", "result",
        "{not json", "error", "plain text", "progress_msg", "bad \xff byte", NULL};
    ht_job_t j;
    cr_assert_eq(from_pairs(&j, odd), 0);
    json_t *doc = doc_of(&j);
    cr_assert_not_null(doc);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "result")), "{not json");
    cr_expect_str_eq(json_string_value(json_object_get(doc, "error")), "plain text");
    json_t *progress = json_object_get(doc, "progress");
    cr_expect_str_eq(json_string_value(json_object_get(progress, "message")), "bad ? byte");
    json_decref(doc);
    ht_job_clear(&j);
}

/* Lifecycle fields: run_at of a scheduled job, a pending
 * cancel of a running one, and the links that say what can be done next. */
Test(job, scheduled_and_cancel_requested_documents)
{
    const char *const scheduled[] = {"id",         ID,     "type",   "echo",  "status", "scheduled",
                                     "created_at", "1000", "run_at", "61000", NULL};
    ht_job_t j;
    cr_assert_eq(from_pairs(&j, scheduled), 0);
    cr_expect_eq(j.run_at, 61000);
    json_t *doc = doc_of(&j);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "run_at")), "1970-01-01T00:01:01.000Z");
    json_t *links = json_object_get(doc, "links");
    cr_expect_str_eq(json_string_value(json_object_get(links, "cancel")), "/v1/jobs/" ID);
    cr_expect_null(json_object_get(links, "retry"), "a scheduled job cannot be retried");
    cr_expect_null(json_object_get(doc, "cancel_requested"));
    json_decref(doc);
    ht_job_clear(&j);

    const char *const canceling[] = {
        "id", ID, "type", "echo", "status", "running", "cancel_requested", "1", NULL};
    cr_assert_eq(from_pairs(&j, canceling), 0);
    cr_expect_eq(j.cancel_requested, 1);
    doc = doc_of(&j);
    cr_expect(json_is_true(json_object_get(doc, "cancel_requested")));
    cr_expect(json_is_null(json_object_get(doc, "run_at")));
    json_decref(doc);
    ht_job_clear(&j);

    const char *const canceled[] = {
        "id", ID, "type", "echo", "status", "canceled", "cancel_requested", "1", NULL};
    cr_assert_eq(from_pairs(&j, canceled), 0);
    doc = doc_of(&j);
    links = json_object_get(doc, "links");
    cr_expect_null(json_object_get(doc, "cancel_requested"), "honoured: not shown");
    cr_expect_null(json_object_get(links, "cancel"), "a finished job cannot be canceled");
    cr_expect_str_eq(json_string_value(json_object_get(links, "retry")), "/v1/jobs/" ID "/retry");
    json_decref(doc);
    ht_job_clear(&j);
}

/* ---- file references (the input and output fields) ---------------------- */

#define SHA_A "7362eaa039e306c78a9413949737c37c4d991e4d61ce539bed148bfafbd82153"

Test(job, file_ref_round_trip)
{
    char text[512];
    int n = ht_file_ref_format(text, sizeof text, 5368709120ULL, SHA_A, "output-2",
                               "text/csv; charset=utf-8");
    cr_assert_gt(n, 0);
    cr_expect_str_eq(text, "5368709120 " SHA_A " output-2 text/csv; charset=utf-8");
    ht_file_ref_t r;
    cr_assert_eq(ht_file_ref_parse(&r, text, (size_t)n), 0);
    cr_expect_eq(r.bytes, 5368709120ULL);
    cr_expect_str_eq(r.sha256, SHA_A);
    cr_expect_str_eq(r.name, "output-2");
    cr_expect_str_eq(r.content_type, "text/csv; charset=utf-8");
    ht_file_ref_clear(&r);
    cr_expect_null(r.content_type);
    cr_expect_eq(r.name[0], '\0');
}

Test(job, file_ref_refuses_what_it_did_not_write)
{
    static const char *const bad[] = {
        "",
        "12",
        "-1 " SHA_A " input a/b",
        "x " SHA_A " input a/b",
        "9223372036854775808 " SHA_A " input a/b", /* 2^63: not a JSON integer here */
        "12 " SHA_A " input",                      /* no content type */
        "12 " SHA_A " input ",                     /* an empty one */
        "12 7362EAA039E306C78A9413949737C37C4D991E4D61CE539BED148BFAFBD82153 input a/b",
        "12 7362eaa0 input a/b",
        "12 " SHA_A " in.put a/b",
        "12 " SHA_A " in/put a/b",
        "12 " SHA_A " 012345678901234567890123456789012 a/b", /* a name of 33 */
        "12 " SHA_A " input a/b\x01",
        "12  " SHA_A " input a/b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ht_file_ref_t r;
        cr_expect_eq(ht_file_ref_parse(&r, bad[i], strlen(bad[i])), HT_EINVAL, "'%s'", bad[i]);
        cr_expect_null(r.content_type, "'%s' left nothing owned", bad[i]);
    }
    char small[32];
    cr_expect_eq(ht_file_ref_format(small, sizeof small, 1, SHA_A, "input", "a/b"), HT_EINVAL,
                 "does not fit");
    char out[512];
    cr_expect_eq(ht_file_ref_format(out, sizeof out, 1, "abc", "input", "a/b"), HT_EINVAL);
    cr_expect_eq(ht_file_ref_format(out, sizeof out, 1, SHA_A, "in put", "a/b"), HT_EINVAL);
    cr_expect_eq(ht_file_ref_format(out, sizeof out, 1, SHA_A, "input", ""), HT_EINVAL);
    cr_expect_eq(ht_file_ref_format(out, sizeof out, 1, SHA_A, "input", "a\nb"), HT_EINVAL);
}

Test(job, from_hash_reads_files)
{
    static const char *const pairs[] = {"id",     "0f8fad5b-d9cb-469f-a165-70867728950e",
                                        "type",   "gzip",
                                        "status", "succeeded",
                                        "input",  "3000000 " SHA_A " input video/mp4",
                                        "output", "12 " SHA_A " output-1 application/gzip",
                                        NULL};
    ht_job_t j;
    cr_assert_eq(from_pairs(&j, pairs), 0);
    cr_expect_eq(j.input.bytes, 3000000);
    cr_expect_str_eq(j.input.content_type, "video/mp4");
    cr_expect_str_eq(j.output.name, "output-1");
    cr_expect_str_eq(j.output.content_type, "application/gzip");
    ht_buf_t b = HT_BUF_INIT;
    cr_assert_eq(ht_job_doc_append(&b, &j), 0);
    json_t *doc = json_loadb(b.data, b.len, 0, NULL);
    cr_assert_not_null(doc);
    json_t *want = json_pack("{s:I, s:s, s:s, s:s}", "bytes", (json_int_t)12, "sha256", SHA_A,
                             "content_type", "application/gzip", "href",
                             "/v1/jobs/0f8fad5b-d9cb-469f-a165-70867728950e/output");
    cr_expect(json_equal(json_object_get(doc, "output"), want), "output: %s", b.data);
    json_decref(want);
    json_decref(doc);
    ht_buf_free(&b);
    ht_job_clear(&j);
    static const char *const broken[] = {"id",     "0f8fad5b-d9cb-469f-a165-70867728950e",
                                         "type",   "gzip",
                                         "status", "queued",
                                         "input",  "nonsense",
                                         NULL};
    cr_expect_eq(from_pairs(&j, broken), HT_EINVAL, "a broken reference is a broken job");
    ht_job_clear(&j);
}
