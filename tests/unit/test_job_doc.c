/* shared/job_doc.c: the job document must be byte for byte what jansson
 * prints (json_dumps(JSON_COMPACT)) for the document built as a jansson
 * tree by the reference rendering below, over many generated jobs:
 * escaping, unicode, text that is not UTF-8, stored JSON in and out of
 * jansson's own form, times, links and every status. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/buf.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/job.h"

/* ---- the reference: the document as a jansson tree ------------------------ */

/* A JSON string of s even when s is not valid UTF-8 (bad bytes become '?'):
 * a stored value must never make a job unreadable. */
static json_t *safe_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return json_null();
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

static json_t *opt_string(const char *s)
{
    return s ? safe_string(s) : json_null();
}

/* Stored JSON text as JSON; text that does not parse is shown as a string
 * rather than failing the whole document. */
static json_t *stored_json(const char *text)
{
    if (!text)
        return json_null();
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    return j ? j : safe_string(text);
}

static json_t *opt_time(int64_t ms)
{
    char buf[HT_TIME_BUFSZ];
    return ms > 0 ? json_string(ht_format_time(ms, buf)) : json_null();
}

/* An HTTP status as a number ("503" -> 503), an error word ("timeout") as
 * a string, null when nothing was tried yet. */
static json_t *last_status(const char *s)
{
    if (!s)
        return json_null();
    if (!*s)
        return json_integer(0); /* an empty field reads as 0 */
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    int decimal = (*s == '-' || (*s >= '0' && *s <= '9')) && !errno && !*end;
    return decimal && n >= 100 && n <= 999 ? json_integer(n) : safe_string(s);
}

/* The webhook delivery: null without a callback_url.  The state is null
 * while the job is unfinished (nothing to deliver yet); finishing sets it to
 * pending, and the deliverer to delivered or failed (the cb_* hash fields,
 * docs/keyspace.md).  A job that finished under a schema that kept no
 * deliveries (3) has no state and shows null rather than a pending that
 * never ends. */
static json_t *callback_json(const ht_job_t *job)
{
    if (!job->callback_url)
        return json_null();
    json_t *state = json_null();
    if (ht_job_status_terminal(job->status) && job->cb_state)
        state = safe_string(job->cb_state);
    return json_pack("{s:o, s:o, s:i, s:o, s:o}", "url", safe_string(job->callback_url), "state",
                     state ? state : json_null(), "attempts", job->cb_attempts, "last_status",
                     last_status(job->cb_last_status), "last_attempt_at",
                     opt_time(job->cb_last_at));
}

/* A file reference: {"bytes", "sha256", "content_type", "href"}. */
static json_t *file_json(const char *id, const char *which, const ht_file_ref_t *ref)
{
    char href[96];
    snprintf(href, sizeof href, "/v1/jobs/%s/%s", id, which);
    return json_pack("{s:I, s:s, s:o, s:s}", "bytes", (json_int_t)ref->bytes, "sha256", ref->sha256,
                     "content_type", opt_string(ref->content_type), "href", href);
}

static json_t *reference_doc(const ht_job_t *job)
{
    json_t *doc = json_object();
    json_t *progress = json_object();
    json_t *links = json_object();
    if (!doc || !progress || !links) {
        json_decref(doc);
        json_decref(progress);
        json_decref(links);
        return NULL;
    }
    char self[64], events[80], retry[80];
    snprintf(self, sizeof self, "/v1/jobs/%s", job->id);
    snprintf(events, sizeof events, "/v1/jobs/%s/events", job->id);
    snprintf(retry, sizeof retry, "/v1/jobs/%s/retry", job->id);

    json_object_set_new(doc, "id", json_string(job->id));
    json_object_set_new(doc, "type", opt_string(job->type));
    json_object_set_new(doc, "status", json_string(ht_job_status_name(job->status)));
    json_object_set_new(doc, "priority", json_string(ht_priority_name(job->priority)));

    json_object_set_new(progress, "percent",
                        job->progress_pct >= 0 ? json_integer(job->progress_pct) : json_null());
    json_object_set_new(progress, "message", opt_string(job->progress_msg));
    json_object_set_new(progress, "updated_at", opt_time(job->progress_at));
    json_object_set_new(doc, "progress", progress);

    json_object_set_new(doc, "attempt", json_integer(job->attempt));
    json_object_set_new(doc, "max_attempts", json_integer(job->max_attempts));
    json_object_set_new(doc, "timeout_s", json_integer(job->timeout_s));
    json_object_set_new(doc, "ttl_s", json_integer(job->ttl_s));
    json_object_set_new(doc, "created_at", opt_time(job->created_at));
    /* When a scheduled job is due (kept afterwards: when it was due). */
    json_object_set_new(doc, "run_at", opt_time(job->run_at));
    json_object_set_new(doc, "started_at", opt_time(job->started_at));
    json_object_set_new(doc, "finished_at", opt_time(job->finished_at));
    json_object_set_new(doc, "result", stored_json(job->result));
    json_object_set_new(doc, "error", stored_json(job->error));
    if (job->input.name[0])
        json_object_set_new(doc, "input", file_json(job->id, "input", &job->input));
    if (job->output.name[0])
        json_object_set_new(doc, "output", file_json(job->id, "output", &job->output));
    json_object_set_new(doc, "metadata",
                        job->metadata ? stored_json(job->metadata) : json_object());
    /* The recurring schedule that made it (its run is run_at). */
    json_object_set_new(doc, "schedule_id", opt_string(job->schedule_id));
    json_object_set_new(doc, "callback", callback_json(job));
    /* Asked for and not yet honoured: the worker stops the handler soon. */
    if (job->cancel_requested && !ht_job_status_terminal(job->status))
        json_object_set_new(doc, "cancel_requested", json_true());
    json_object_set_new(links, "self", json_string(self));
    json_object_set_new(links, "events", json_string(events));
    /* What can be done next: DELETE self while unfinished, POST retry once
     * failed or canceled (a dead letter). */
    if (!ht_job_status_terminal(job->status))
        json_object_set_new(links, "cancel", json_string(self));
    if (job->status == HT_JOB_FAILED || job->status == HT_JOB_CANCELED)
        json_object_set_new(links, "retry", json_string(retry));
    json_object_set_new(doc, "links", links);
    return doc;
}

/* ---- generated jobs ---------------------------------------------------- */

/* A small deterministic generator (xorshift), so a failure repeats. */
static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static unsigned pick(unsigned n)
{
    return (unsigned)(next() % n);
}

/* Pieces strings are made of: ASCII, every kind of escape, multi-byte
 * UTF-8, and bytes that are not UTF-8. */
static const char *const pieces[] = {
    "a",
    "Z",
    " ",
    "/",
    "\"",
    "\\",
    "\b",
    "\f",
    "\n",
    "\r",
    "\t",
    "\x01",
    "\x1f",
    "\x7f",
    "\xc3\xa9",         /* é */
    "\xe2\x82\xac",     /* € */
    "\xf0\x9f\x98\x80", /* 😀 */
    "\xe2\x80\xa8",     /* U+2028 */
    "\xef\xbb\xbf",     /* BOM */
    "\xff",
    "\xc3",             /* not UTF-8, a truncated sequence */
    "\xc0\xaf",         /* overlong */
    "\xed\xa0\x80",     /* a surrogate */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "hello",
    "0",
    "-",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
};

static char *gen_string(int utf8_only)
{
    char buf[256] = "";
    size_t n = pick(8);
    for (size_t i = 0; i < n; i++) {
        const char *p;
        do
            p = pieces[pick(sizeof(pieces) / sizeof(pieces[0]))];
        while (
            utf8_only && (unsigned char)p[0] >= 0x80 &&
            (p[0] == '\xff' || p[1] == '\0' || p[0] == '\xc0' || p[0] == '\xed' || p[0] == '\xf4'));
        strncat(buf, p, sizeof(buf) - strlen(buf) - 1);
    }
    return strdup(buf);
}

static json_t *gen_value(int depth)
{
    switch (pick(depth > 3 ? 6 : 8)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(pick(2));
    case 2: {
        static const json_int_t ints[] = {
            0, 1, -1, 42, -7, 1000000, 9007199254740993LL, INT64_MAX, INT64_MIN};
        return json_integer(ints[pick(sizeof(ints) / sizeof(ints[0]))]);
    }
    case 3: {
        static const double reals[] = {0.5, -2.25, 0.1, 1e300, 3.0, 1e-7, 123456789.125};
        return json_real(reals[pick(sizeof(reals) / sizeof(reals[0]))]);
    }
    case 4:
    case 5: {
        char *s = gen_string(1);
        json_t *j = json_string(s);
        free(s);
        return j ? j : json_string("");
    }
    case 6: {
        json_t *a = json_array();
        for (unsigned i = pick(4); i > 0; i--)
            json_array_append_new(a, gen_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (unsigned i = pick(5); i > 0; i--) {
            char *k = gen_string(1);
            json_object_set_new(o, k, gen_value(depth + 1));
            free(k);
        }
        return o;
    }
    }
}

/* Stored JSON text: mostly jansson's own print (what hangtight stores),
 * sometimes text in another form or not JSON at all. */
static char *gen_stored(void)
{
    static const char *const odd[] = {"{ \"a\": 1 }",
                                      "[1, 2]",
                                      "{\"a\":1,\"a\":2}",
                                      "\"\\/\"",
                                      "\"\\u00e9\"",
                                      "\"\\u00E9\"",
                                      "\"\\u0041\"",
                                      "\"\\u001F\"",
                                      "\"\\u001f\"",
                                      "\"\\u0008\"",
                                      "\"\\ud83d\\ude00\"",
                                      "\"\\u0000\"",
                                      "-0",
                                      "01",
                                      "1.0",
                                      "1e5",
                                      "1E+5",
                                      "-0.0",
                                      "12345678901234567890",
                                      "123456789012345678",
                                      "1234567890123456789",
                                      "not json",
                                      "",
                                      "{",
                                      "[1,]",
                                      "nul",
                                      "true ",
                                      " true",
                                      "\"\xff\"",
                                      "{\"k\":\"v\"}x",
                                      "\"a\x01\"",
                                      "[[[[[[[[[[[[[[[[[[[[[["
                                      "[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                                      "{\"\":{}}",
                                      "[]",
                                      "{}",
                                      "0",
                                      "\"\"",
                                      "-12",
                                      "1.5e-7",
                                      "[1.5,\"x\"]",
                                      "{\"b\":[true,false,null]}"};
    if (pick(3) == 0)
        return strdup(odd[pick(sizeof(odd) / sizeof(odd[0]))]);
    json_t *v = gen_value(0);
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    return text;
}

static char *maybe(char *s)
{
    if (pick(3) == 0) {
        free(s);
        return NULL;
    }
    return s;
}

static int64_t gen_time(void)
{
    static const int64_t edge[] = {0,
                                   -5,
                                   1,
                                   999,
                                   1000,
                                   86399999,
                                   951782400007LL,
                                   1795667196123LL,
                                   4102444800000LL,
                                   253402300799999LL,
                                   253402300800000LL,
                                   INT64_MAX};
    if (pick(2))
        return edge[pick(sizeof(edge) / sizeof(edge[0]))];
    return (int64_t)(next() % 253402300799999ULL);
}

static void gen_job(ht_job_t *j)
{
    memset(j, 0, sizeof(*j));
    ht_id_new(j->id);
    j->status = (ht_job_status_t)pick(6);
    j->priority = (ht_priority_t)pick(3);
    j->type = maybe(gen_string(0));
    j->progress_msg = maybe(gen_string(0));
    j->callback_url = maybe(gen_string(0));
    j->cb_state = maybe(gen_string(0));
    static const char *const st[] = {"200",     "503", "99", "1000", "0200", "-200",
                                     "timeout", "",    "2x", " 200", "\xff"};
    j->cb_last_status = maybe(strdup(st[pick(sizeof(st) / sizeof(st[0]))]));
    j->result = maybe(gen_stored());
    j->error = maybe(gen_stored());
    j->metadata = maybe(gen_stored());
    j->schedule_id = maybe(gen_string(0));
    j->payload = maybe(gen_stored());
    j->attempt = (int)pick(30) - 2;
    j->max_attempts = (int)pick(26);
    j->timeout_s = pick(2) ? 300 : (long)(next() % 100000000) - 5;
    j->ttl_s = (long)(next() % 3000000);
    j->created_at = gen_time();
    j->started_at = gen_time();
    j->finished_at = gen_time();
    j->progress_at = gen_time();
    j->run_at = gen_time();
    j->cb_last_at = gen_time();
    j->cb_attempts = (int)pick(10);
    j->progress_pct = (int)pick(102) - 1;
    j->cancel_requested = (int)pick(2);
    j->version = next();
    /* Files, as a stored reference reads them (ht_file_ref_parse): sizes up
     * to the largest, content types with the characters that need escaping. */
    static const char *const ct[] = {"application/octet-stream", "text/csv; charset=\"utf-8\"",
                                     "a\\b", "video/mp4"};
    static const uint64_t sizes[] = {0, 1, 5368709120ULL, 922337203685477579ULL};
    for (int k = 0; k < 2; k++) {
        ht_file_ref_t *f = k ? &j->output : &j->input;
        if (!pick(2))
            continue;
        char ref[512], sha[65];
        for (int i = 0; i < 64; i++)
            sha[i] = "0123456789abcdef"[pick(16)];
        sha[64] = '\0';
        snprintf(ref, sizeof ref, "%llu %s %s %s", (unsigned long long)sizes[pick(4)], sha,
                 k ? "output-3" : "input", ct[pick(4)]);
        cr_assert_eq(ht_file_ref_parse(f, ref, strlen(ref)), 0, "%s", ref);
    }
}

static void expect_same(const ht_job_t *j)
{
    ht_buf_t buf = HT_BUF_INIT;
    cr_assert_eq(ht_buf_puts(&buf, "prefix:"), 0);
    cr_assert_eq(ht_job_doc_append(&buf, j), 0);
    const char *a = buf.data + 7;
    cr_assert_eq(memcmp(buf.data, "prefix:", 7), 0, "appended after what was there");
    json_t *doc = reference_doc(j);
    cr_assert_not_null(doc);
    char *b = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    cr_assert_not_null(b);
    cr_expect_eq(buf.len - 7, strlen(a));
    size_t at = 0;
    while (a[at] && a[at] == b[at])
        at++;
    /* Where they differ, so a failure is readable. */
    cr_expect(a[at] == b[at], "differ at %zu: ours ...%.60s, jansson's ...%.60s", at,
              a + (at > 20 ? at - 20 : 0), b + (at > 20 ? at - 20 : 0));
    ht_buf_free(&buf);
    free(b);
}

Test(job_doc, same_as_jansson_over_many_jobs)
{
    for (int i = 0; i < 20000; i++) {
        ht_job_t j;
        gen_job(&j);
        expect_same(&j);
        ht_job_clear(&j);
    }
}

Test(job_doc, same_for_a_fresh_submit_and_a_finished_job)
{
    ht_job_t j;
    memset(&j, 0, sizeof(j));
    ht_id_new(j.id);
    j.type = "echo";
    j.status = HT_JOB_QUEUED;
    j.priority = HT_PRIO_DEFAULT;
    j.payload = "{\"n\":1}";
    j.max_attempts = 3;
    j.timeout_s = 300;
    j.ttl_s = 86400;
    j.created_at = 1795667196123LL;
    j.progress_pct = -1;
    expect_same(&j);
    j.status = HT_JOB_SUCCEEDED;
    j.result = "{\"n\":1,\"s\":\"caf\xc3\xa9 \\\"q\\\" \\n\"}";
    j.metadata = "{\"k\":\"v\"}";
    j.started_at = j.created_at + 5;
    j.finished_at = j.created_at + 9;
    j.attempt = 1;
    expect_same(&j);
}

/* A job whose id is not one of ours is escaped like any string. */
Test(job_doc, odd_id_is_escaped)
{
    ht_job_t j;
    memset(&j, 0, sizeof(j));
    strcpy(j.id, "x\"y");
    j.progress_pct = -1;
    expect_same(&j);
}

Test(job_doc, canonical_text_is_what_jansson_prints)
{
    cr_expect(ht_json_text_canonical("{\"a\":[1,-2,\"x\\n\\u001F\"],\"b\":null}", 33));
    cr_expect(!ht_json_text_canonical("{\"a\":1,\"a\":2}", 13));
    cr_expect(!ht_json_text_canonical("1.5", 3));
    cr_expect(!ht_json_text_canonical("-0", 2));
    cr_expect(!ht_json_text_canonical("\"\\u001f\"", 8));
    cr_expect(!ht_json_text_canonical("{ }", 3));
    /* Whatever it accepts, jansson reads and prints back unchanged; and it
     * accepts most of what jansson prints (the copy is the common path). */
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        char *t = gen_stored();
        if (ht_json_text_canonical(t, strlen(t))) {
            accepted++;
            json_t *v = json_loads(t, JSON_DECODE_ANY, NULL);
            cr_assert_not_null(v, "%s", t);
            char *back = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            cr_expect_str_eq(back, t);
            free(back);
            json_decref(v);
        }
        free(t);
    }
    cr_expect_gt(accepted, 8000);
}

static void *no_memory(void *p, size_t n)
{
    (void)p;
    (void)n;
    return NULL;
}

static void restore_realloc(void)
{
    ht_buf_set_realloc(NULL);
}

/* Out of memory: an error, and the buffer says so to whoever sends it. */
Test(job_doc, out_of_memory_fails_the_buffer, .fini = restore_realloc)
{
    ht_job_t j;
    gen_job(&j);
    ht_buf_set_realloc(no_memory);
    ht_buf_t b = HT_BUF_INIT;
    cr_expect_eq(ht_job_doc_append(&b, &j), HT_ENOMEM);
    cr_expect(ht_buf_failed(&b));
    cr_expect_null(ht_buf_steal(&b, NULL));
    ht_job_clear(&j);
}

/* ---- ht_json_dumps_compact ------------------------------------------------ */

static int has_real(json_t *v)
{
    if (json_is_real(v))
        return 1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (has_real(json_array_get(v, i)))
                return 1;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c) {
            if (has_real(c))
                return 1;
        }
    }
    return 0;
}

static void expect_dump_same(json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *got = ht_json_dumps_compact(v);
    cr_assert_not_null(want);
    cr_assert_not_null(got);
    cr_expect_str_eq(got, want);
    free(want);
    free(got);
}

/* Byte for byte jansson's print, over generated values (every escape,
 * multi-byte UTF-8, the integer extremes, nesting; those holding a real
 * go through jansson itself). */
Test(json_dump, same_as_jansson_over_many_values)
{
    int without_reals = 0;
    for (int i = 0; i < 20000; i++) {
        json_t *v = gen_value(0);
        without_reals += !has_real(v);
        expect_dump_same(v);
        json_decref(v);
    }
    cr_expect_gt(without_reals, 10000);
}

Test(json_dump, edge_values)
{
    const char *texts[] = {"{}",
                           "[]",
                           "\"\"",
                           "0",
                           "-9223372036854775808",
                           "9223372036854775807",
                           "{\"a\":[],\"b\":{},\"c\":[{}]}",
                           "{\"z\":1,\"a\":2,\"m\":3}",
                           "\"\\u0000 \\u001f \\/ \\u2028\"",
                           "[true,false,null]",
                           "{\"n\": 1.5}"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        json_t *v = json_loads(texts[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        cr_assert_not_null(v, "%s", texts[i]);
        expect_dump_same(v);
        json_decref(v);
    }
    /* A key deleted and set again moves to the end, in both. */
    json_t *o = json_pack("{s:i,s:i,s:i}", "a", 1, "b", 2, "c", 3);
    json_object_del(o, "a");
    json_object_set_new(o, "a", json_integer(4));
    expect_dump_same(o);
    json_decref(o);
    /* Deeper than the writer goes itself: jansson's print all the same. */
    json_t *deep = json_integer(1);
    for (int i = 0; i < 100; i++) {
        json_t *a = json_array();
        json_array_append_new(a, deep);
        deep = a;
    }
    expect_dump_same(deep);
    json_decref(deep);
}

Test(json_dump, out_of_memory_is_null, .fini = restore_realloc)
{
    json_t *v = json_pack("{s:[i,s]}", "k", 1, "text");
    ht_buf_set_realloc(no_memory);
    cr_expect_null(ht_json_dumps_compact(v));
    ht_buf_set_realloc(NULL);
    cr_expect_null(ht_json_dumps_compact(NULL));
    json_decref(v);
}
