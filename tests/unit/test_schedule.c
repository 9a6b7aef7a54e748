/* shared/schedule.c: the catch-up rule and the next run after a fired run
 * (time zone changes included), the create request's checks (each problem
 * named by its JSON Pointer), and the stored record's document. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/schedule.h"

static int64_t at(const char *rfc3339)
{
    int64_t ms;
    cr_assert_eq(ht_parse_time(rfc3339, &ms), 0, "%s", rfc3339);
    return ms;
}

static void cron_when(ht_schedule_when_t *w, const char *expr, const char *tz,
                      ht_catch_up_t catch_up)
{
    char err[256] = "";
    cr_assert_eq(ht_schedule_when_parse(w, expr, "", "", tz, "", ht_catch_up_name(catch_up), err,
                                        sizeof err),
                 0, "%s: %s", expr, err);
}

static void every_when(ht_schedule_when_t *w, const char *every_s, const char *anchor,
                       const char *catch_up)
{
    char err[256] = "";
    cr_assert_eq(ht_schedule_when_parse(w, "", every_s, anchor, "", "", catch_up, err, sizeof err),
                 0, "%s", err);
}

static ht_schedule_plan_t plan(const ht_schedule_when_t *w, int64_t due, int64_t now)
{
    ht_schedule_plan_t p;
    char err[256] = "";
    cr_assert_eq(ht_schedule_plan(w, due, now, &p, err, sizeof err), 0, "%s", err);
    return p;
}

/* ---- the catch-up rule --------------------------------------------------- */

Test(schedule, an_interval_run_on_time_gets_its_job_and_the_next_tick)
{
    ht_schedule_when_t w;
    every_when(&w, "60", "1000000", "");
    ht_schedule_plan_t p = plan(&w, 1000000 + 120000, 1000000 + 120000 + 80);
    cr_expect_eq(p.tick_ms, 1120000);
    cr_expect_eq(p.next_ms, 1180000);
}

Test(schedule, a_run_found_late_within_the_limit_gets_its_own_job)
{
    /* A 1 s interval found 9 s late (a worker restart): this run now, the
     * next one (also due) right after: no run is lost to a short stall. */
    ht_schedule_when_t w;
    every_when(&w, "1", "1000000", "one");
    int64_t due = 1005000, now = due + HT_SCHEDULE_LATE_MS - 1000;
    ht_schedule_plan_t p = plan(&w, due, now);
    cr_expect_eq(p.tick_ms, due);
    cr_expect_eq(p.next_ms, due + 1000);
    p = plan(&w, due, due + HT_SCHEDULE_LATE_MS);
    cr_expect_eq(p.tick_ms, due, "exactly at the limit: still its own job");
}

Test(schedule, missed_runs_make_one_job_for_the_latest_then_the_next_after_now)
{
    ht_schedule_when_t w;
    every_when(&w, "5", "1000000", "one");
    int64_t due = 1000000 + 5000, now = due + 60000 + 2500; /* 12 runs missed */
    ht_schedule_plan_t p = plan(&w, due, now);
    cr_expect_eq(p.tick_ms, 1000000 + 65000, "the latest run at or before now");
    cr_expect_eq(p.next_ms, 1000000 + 70000, "then on schedule");
    /* Just past the limit, one run missed: its job, late. */
    p = plan(&w, due, due + HT_SCHEDULE_LATE_MS + 1);
    cr_expect_eq(p.tick_ms, 1000000 + 15000);
    cr_expect_eq(p.next_ms, 1000000 + 20000);
}

Test(schedule, missed_runs_make_no_job_under_catch_up_none)
{
    ht_schedule_when_t w;
    every_when(&w, "5", "1000000", "none");
    ht_schedule_plan_t p = plan(&w, 1005000, 1005000 + 60000 + 2500);
    cr_expect_eq(p.tick_ms, 0);
    cr_expect_eq(p.next_ms, 1070000);
    p = plan(&w, 1005000, 1005000 + 200);
    cr_expect_eq(p.tick_ms, 1005000, "on time: none changes nothing");
    cr_expect_eq(p.next_ms, 1010000);
}

Test(schedule, a_daily_run_missed_by_hours_is_made_once)
{
    ht_schedule_when_t w;
    cron_when(&w, "0 9 * * *", "Europe/Paris", HT_CATCH_UP_ONE);
    int64_t due = at("2024-06-03T07:00:00Z"); /* 09:00 CEST */
    ht_schedule_plan_t p = plan(&w, due, at("2024-06-03T11:42:00Z"));
    cr_expect_eq(p.tick_ms, due, "the one run missed");
    cr_expect_eq(p.next_ms, at("2024-06-04T07:00:00Z"));
    cron_when(&w, "0 9 * * *", "Europe/Paris", HT_CATCH_UP_NONE);
    p = plan(&w, due, at("2024-06-03T11:42:00Z"));
    cr_expect_eq(p.tick_ms, 0);
    cr_expect_eq(p.next_ms, at("2024-06-04T07:00:00Z"));
}

/* ---- the next run after a fired run, across clock changes ------------------ */

Test(schedule, spring_forward_a_skipped_run_fires_once_then_the_next_day)
{
    /* 02:30 does not exist on 2024-03-31 in Paris: the run is at the jump,
     * 03:00 CEST (01:00Z); after it, the next is 02:30 CEST on April 1st. */
    ht_schedule_when_t w;
    cron_when(&w, "30 2 * * *", "Europe/Paris", HT_CATCH_UP_ONE);
    int64_t next;
    char err[256];
    cr_assert_eq(ht_schedule_next(&w, at("2024-03-30T12:00:00Z"), &next, err, sizeof err), 0);
    cr_expect_eq(next, at("2024-03-31T01:00:00Z"));
    ht_schedule_plan_t p = plan(&w, next, next + 150);
    cr_expect_eq(p.tick_ms, at("2024-03-31T01:00:00Z"));
    cr_expect_eq(p.next_ms, at("2024-04-01T00:30:00Z"));
    /* Two skipped runs (02:00 and 02:30) fire once, at the jump. */
    cron_when(&w, "0,30 2 * * *", "Europe/Paris", HT_CATCH_UP_ONE);
    p = plan(&w, at("2024-03-31T01:00:00Z"), at("2024-03-31T01:00:00.300Z"));
    cr_expect_eq(p.tick_ms, at("2024-03-31T01:00:00Z"));
    cr_expect_eq(p.next_ms, at("2024-04-01T00:00:00Z"), "not the jump a second time");
}

Test(schedule, fall_back_a_fixed_hour_runs_once_every_n_minutes_runs_in_both_passes)
{
    /* 02:00-02:59 happens twice on 2024-10-27 in Paris (CEST 00:00Z-01:00Z,
     * then CET 01:00Z-02:00Z). */
    ht_schedule_when_t w;
    cron_when(&w, "30 2 * * *", "Europe/Paris", HT_CATCH_UP_ONE);
    ht_schedule_plan_t p = plan(&w, at("2024-10-27T00:30:00Z"), at("2024-10-27T00:30:01Z"));
    cr_expect_eq(p.tick_ms, at("2024-10-27T00:30:00Z"));
    cr_expect_eq(p.next_ms, at("2024-10-28T01:30:00Z"), "the second 02:30 is not a run");
    cron_when(&w, "*/30 * * * *", "Europe/Paris", HT_CATCH_UP_ONE);
    p = plan(&w, at("2024-10-27T00:30:00Z"), at("2024-10-27T00:30:01Z"));
    cr_expect_eq(p.next_ms, at("2024-10-27T01:00:00Z"), "02:00 CET: the second pass");
    p = plan(&w, p.next_ms, p.next_ms + 10);
    cr_expect_eq(p.next_ms, at("2024-10-27T01:30:00Z"), "02:30 CET");
}

Test(schedule, missed_runs_across_a_clock_change_make_one_job)
{
    /* Hourly in New York, workers down from before the fall-back change
     * until after it: one job, for the latest hour, then the next hour. */
    ht_schedule_when_t w;
    cron_when(&w, "0 * * * *", "America/New_York", HT_CATCH_UP_ONE);
    ht_schedule_plan_t p = plan(&w, at("2024-11-03T05:00:00Z"), at("2024-11-03T08:20:00Z"));
    cr_expect_eq(p.tick_ms, at("2024-11-03T08:00:00Z"));
    cr_expect_eq(p.next_ms, at("2024-11-03T09:00:00Z"));
}

Test(schedule, cron_with_seconds_in_test_mode)
{
    ht_schedule_when_t w;
    char err[256] = "";
    cr_assert_eq(
        ht_schedule_when_parse(&w, "*/2 * * * * *", "", "", "UTC", "1", "", err, sizeof err), 0,
        "%s", err);
    ht_schedule_plan_t p = plan(&w, at("2024-01-01T00:00:04Z"), at("2024-01-01T00:00:04.100Z"));
    cr_expect_eq(p.next_ms, at("2024-01-01T00:00:06Z"));
    cr_expect_eq(
        ht_schedule_when_parse(&w, "*/2 * * * * *", "", "", "UTC", "", "", err, sizeof err),
        HT_EINVAL, "a seconds field only in test mode");
    cr_expect(strstr(err, "cron: expression:") != NULL, "%s", err);
}

Test(schedule, stored_strings_that_make_no_schedule_are_refused)
{
    ht_schedule_when_t w;
    char err[256];
    cr_expect_eq(ht_schedule_when_parse(&w, "", "", "", "", "", "", err, sizeof err), HT_EINVAL);
    cr_expect_eq(ht_schedule_when_parse(&w, "", "0", "1000", "", "", "", err, sizeof err),
                 HT_EINVAL);
    cr_expect_eq(ht_schedule_when_parse(&w, "", "60", "x", "", "", "", err, sizeof err), HT_EINVAL);
    cr_expect_eq(ht_schedule_when_parse(&w, "61 * * * *", "", "", "", "", "", err, sizeof err),
                 HT_EINVAL);
    cr_expect_eq(ht_schedule_when_parse(&w, "", "60", "1000", "", "", "all", err, sizeof err),
                 HT_EINVAL);
    ht_schedule_when_t z;
    cron_when(&z, "0 * * * *", "Nowhere/City", HT_CATCH_UP_ONE); /* read as stored */
    ht_schedule_plan_t p;
    cr_expect_eq(ht_schedule_plan(&z, 1000, 2000, &p, err, sizeof err), HT_EINVAL,
                 "a zone that cannot be opened stops the schedule");
    cr_expect(strstr(err, "Nowhere/City") != NULL, "%s", err);
}

/* ---- the create request ---------------------------------------------------- */

static const ht_job_limits_t job_limits = {.max_payload_depth = 32};

/* Parses `body`; returns the problem's JSON text ("" when accepted). */
static char *parse(const char *body, int seconds, ht_schedule_request_t *r)
{
    ht_schedule_limits_t limits = {.job = &job_limits, .cron_seconds = seconds};
    ht_problem_t p = {0};
    int rc = ht_schedule_request_parse(r, body, strlen(body), &limits, &p);
    if (rc == 0) {
        cr_expect_null(p.errors);
        return strdup("");
    }
    json_t *doc = ht_problem_to_json(&p);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    ht_problem_clear(&p);
    return s;
}

static void expect_problem(const char *body, const char *pointer, const char *code,
                           const char *detail_part)
{
    ht_schedule_request_t r;
    char *s = parse(body, 0, &r);
    ht_schedule_request_clear(&r);
    cr_assert(s[0], "accepted: %s", body);
    json_t *doc = json_loads(s, 0, NULL);
    cr_expect_eq(json_integer_value(json_object_get(doc, "status")), 422, "%s", s);
    json_t *errors = json_object_get(doc, "errors");
    size_t i;
    json_t *e;
    int found = 0;
    json_array_foreach(errors, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "pointer")), pointer) == 0 &&
            strcmp(json_string_value(json_object_get(e, "code")), code) == 0 &&
            (!detail_part ||
             strstr(json_string_value(json_object_get(e, "detail")), detail_part))) {
            found = 1;
        }
    }
    cr_expect(found, "%s: no %s %s (%s) in %s", body, pointer, code, detail_part ? detail_part : "",
              s);
    json_decref(doc);
    free(s);
}

Test(schedule, a_cron_request_is_accepted_with_its_zone_and_template)
{
    ht_schedule_request_t r;
    char *s = parse("{\"name\": \"nightly\", \"cron\": \"*/5 * * * *\", \"timezone\": "
                    "\"Europe/Paris\", \"catch_up\": \"none\", \"job\": {\"type\": \"echo\", "
                    "\"payload\": {\"n\": 1.5}, \"priority\": \"high\"}}",
                    0, &r);
    cr_expect_str_eq(s, "");
    free(s);
    cr_expect_str_eq(r.name, "nightly");
    cr_expect_str_eq(r.cron_text, "*/5 * * * *");
    cr_expect_str_eq(r.when.tz, "Europe/Paris");
    cr_expect(r.when.is_cron);
    cr_expect_eq(r.when.catch_up, HT_CATCH_UP_NONE);
    cr_expect_str_eq(r.job.type, "echo");
    cr_expect_eq(r.job.priority, HT_PRIO_HIGH);
    cr_expect_str_eq(r.job_json,
                     "{\"type\":\"echo\",\"payload\":{\"n\":1.5},\"priority\":\"high\"}");
    ht_schedule_request_clear(&r);
}

Test(schedule, an_interval_request_is_accepted)
{
    ht_schedule_request_t r;
    char *s = parse("{\"every_s\": 60, \"job\": {\"type\": \"sleep\"}}", 0, &r);
    cr_expect_str_eq(s, "");
    free(s);
    cr_expect(!r.when.is_cron);
    cr_expect_eq(r.when.every_s, 60);
    cr_expect_eq(r.when.catch_up, HT_CATCH_UP_ONE, "the default");
    cr_expect_str_eq(r.name, "");
    ht_schedule_request_clear(&r);
}

Test(schedule, seconds_only_in_test_mode)
{
    ht_schedule_request_t r;
    char *s = parse("{\"cron\": \"* * * * * *\", \"job\": {\"type\": \"echo\"}}", 1, &r);
    cr_expect_str_eq(s, "");
    cr_expect(r.seconds);
    free(s);
    ht_schedule_request_clear(&r);
    expect_problem("{\"cron\": \"* * * * * *\", \"job\": {\"type\": \"echo\"}}", "/cron",
                   "invalid_format", "6 fields, expected 5");
}

Test(schedule, every_bad_field_is_named)
{
    expect_problem("{\"cron\": \"61 * * * *\", \"job\": {\"type\": \"echo\"}}", "/cron",
                   "invalid_format", "minute: 61 is out of range 0-59 (column 1)");
    expect_problem("{\"cron\": 5, \"job\": {\"type\": \"echo\"}}", "/cron", "invalid_type", NULL);
    expect_problem("{\"cron\": \"0 0 30 2 *\", \"job\": {\"type\": \"echo\"}}", "/cron",
                   "invalid_format", "never fire");
    expect_problem("{\"cron\": \"* * * * *\", \"timezone\": \"Europe/Pari\", \"job\": {\"type\": "
                   "\"echo\"}}",
                   "/timezone", "invalid_value", "unknown time zone 'Europe/Pari'");
    expect_problem("{\"every_s\": 0, \"job\": {\"type\": \"echo\"}}", "/every_s", "out_of_range",
                   NULL);
    expect_problem("{\"every_s\": 31622401, \"job\": {\"type\": \"echo\"}}", "/every_s",
                   "out_of_range", NULL);
    expect_problem("{\"every_s\": 1.5, \"job\": {\"type\": \"echo\"}}", "/every_s", "invalid_type",
                   NULL);
    expect_problem("{\"every_s\": 60, \"cron\": \"* * * * *\", \"job\": {\"type\": \"echo\"}}",
                   "/every_s", "conflict", NULL);
    expect_problem("{\"job\": {\"type\": \"echo\"}}", "/cron", "required", NULL);
    expect_problem("{\"every_s\": 60, \"timezone\": \"UTC\", \"job\": {\"type\": \"echo\"}}",
                   "/timezone", "conflict", NULL);
    expect_problem("{\"every_s\": 60}", "/job", "required", NULL);
    expect_problem("{\"every_s\": 60, \"job\": []}", "/job", "invalid_type", NULL);
    expect_problem("{\"every_s\": 60, \"job\": {\"type\": \"Bad Type\"}}", "/job/type",
                   "invalid_format", NULL);
    expect_problem("{\"every_s\": 60, \"job\": {}}", "/job/type", "required", NULL);
    expect_problem("{\"every_s\": 60, \"job\": {\"type\": \"echo\", \"max_attempts\": 0}}",
                   "/job/max_attempts", "out_of_range", NULL);
    expect_problem("{\"every_s\": 60, \"job\": {\"type\": \"echo\", \"delay_s\": 5}}",
                   "/job/delay_s", "unknown_field", "shift the schedule");
    expect_problem("{\"every_s\": 60, \"job\": {\"type\": \"echo\", \"run_at\": "
                   "\"2020-01-01T00:00:00Z\"}}",
                   "/job/run_at", "unknown_field", NULL);
    expect_problem("{\"every_s\": 60, \"job\": {\"type\": \"echo\", \"extra\": 1}}", "/job/extra",
                   "unknown_field", NULL);
    expect_problem("{\"every_s\": 60, \"catch_up\": \"all\", \"job\": {\"type\": \"echo\"}}",
                   "/catch_up", "invalid_value", NULL);
    expect_problem("{\"every_s\": 60, \"name\": \"\", \"job\": {\"type\": \"echo\"}}", "/name",
                   "out_of_range", NULL);
    expect_problem("{\"every_s\": 60, \"whenever\": 1, \"job\": {\"type\": \"echo\"}}", "/whenever",
                   "unknown_field", NULL);
    expect_problem("[1]", "", "invalid_type", NULL);
}

Test(schedule, malformed_json_is_a_400)
{
    ht_schedule_request_t r;
    char *s = parse("{\"every_s\": ", 0, &r);
    cr_expect(strstr(s, "\"status\":400") != NULL, "%s", s);
    free(s);
    ht_schedule_request_clear(&r);
    s = parse("", 0, &r);
    cr_expect(strstr(s, "\"status\":400") != NULL, "%s", s);
    free(s);
    ht_schedule_request_clear(&r);
}

Test(schedule, prefix_pointers_moves_field_problems_under_an_item)
{
    ht_problem_t p = {0};
    ht_problem_add_error(&p, "/type", "required", "is required");
    ht_problem_add_error(&p, "", "invalid_type", "the body must be an object");
    ht_problem_prefix_pointers(&p, "/jobs/3");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(p.errors, 0), "pointer")),
                     "/jobs/3/type");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(p.errors, 1), "pointer")),
                     "/jobs/3");
    ht_problem_clear(&p);
}

/* ---- the stored record and its document ------------------------------------ */

Test(schedule, document_of_a_stored_schedule)
{
    const char *const h[] = {"id",          "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                             "tenant",      "acme",
                             "name",        "nightly",
                             "cron",        "0 9 * * *",
                             "timezone",    "Europe/Paris",
                             "catch_up",    "none",
                             "job",         "{\"type\":\"echo\"}",
                             "created_at",  "1700000000000",
                             "next_run_at", "1700000060000",
                             "last_run_at", "1700000000000",
                             "last_job_id", "0f8fad5b-d9cb-469f-a165-70867728950e",
                             "runs",        "3",
                             "j_type",      "echo",
                             "unknown",     "x"};
    ht_schedule_t s;
    cr_assert_eq(ht_schedule_from_hash(&s, sizeof h / sizeof h[0], h), 0);
    json_t *d = ht_schedule_doc(&s);
    char *text = json_dumps(d, JSON_COMPACT);
    cr_expect_str_eq(
        text, "{\"id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"name\":\"nightly\",\"cron\":\"0 "
              "9 * * *\",\"every_s\":null,\"timezone\":\"Europe/Paris\",\"catch_up\":\"none\","
              "\"job\":{\"type\":\"echo\"},\"paused\":false,\"next_run_at\":\"2023-11-14T22:14:"
              "20.000Z\",\"last_run_at\":\"2023-11-14T22:13:20.000Z\",\"last_job_id\":"
              "\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"last_error\":null,\"runs\":3,"
              "\"created_at\":\"2023-11-14T22:13:20.000Z\",\"links\":{\"self\":\"/v1/schedules/"
              "7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"pause\":\"/v1/schedules/"
              "7c9e6679-7425-40de-944b-e07fc1f90ae7/pause\",\"last_job\":\"/v1/jobs/"
              "0f8fad5b-d9cb-469f-a165-70867728950e\"}}");
    free(text);
    json_decref(d);
    ht_schedule_clear(&s);
}

Test(schedule, document_of_a_paused_interval_with_a_refused_run)
{
    const char *const h[] = {"id",
                             "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                             "tenant",
                             "default",
                             "every_s",
                             "60",
                             "anchor",
                             "1700000000000",
                             "paused",
                             "1",
                             "job",
                             "{\"type\":\"echo\"}",
                             "created_at",
                             "1700000000000",
                             "runs",
                             "0",
                             "last_error_code",
                             "toomany",
                             "last_error_msg",
                             "the tenant has 10 queued jobs",
                             "last_error_at",
                             "1700000060000"};
    ht_schedule_t s;
    cr_assert_eq(ht_schedule_from_hash(&s, sizeof h / sizeof h[0], h), 0);
    json_t *d = ht_schedule_doc(&s);
    cr_expect(json_is_null(json_object_get(d, "cron")));
    cr_expect(json_is_null(json_object_get(d, "timezone")));
    cr_expect_eq(json_integer_value(json_object_get(d, "every_s")), 60);
    cr_expect(json_is_true(json_object_get(d, "paused")));
    cr_expect(json_is_null(json_object_get(d, "next_run_at")));
    cr_expect(json_is_null(json_object_get(d, "name")));
    cr_expect_str_eq(json_string_value(json_object_get(d, "catch_up")), "one");
    json_t *e = json_object_get(d, "last_error");
    cr_expect_str_eq(json_string_value(json_object_get(e, "code")), "toomany");
    cr_expect_str_eq(json_string_value(json_object_get(e, "run_at")), "2023-11-14T22:14:20.000Z");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(d, "links"), "resume")),
                     "/v1/schedules/7c9e6679-7425-40de-944b-e07fc1f90ae7/resume");
    json_decref(d);
    ht_schedule_clear(&s);
}

Test(schedule, a_record_without_id_or_tenant_is_refused)
{
    const char *const h1[] = {"tenant", "acme"};
    const char *const h2[] = {"id", "7c9e6679-7425-40de-944b-e07fc1f90ae7"};
    const char *const h3[] = {"id", "not-an-id", "tenant", "acme"};
    ht_schedule_t s;
    cr_expect_eq(ht_schedule_from_hash(&s, 2, h1), HT_EINVAL);
    ht_schedule_clear(&s);
    cr_expect_eq(ht_schedule_from_hash(&s, 2, h2), HT_EINVAL);
    ht_schedule_clear(&s);
    cr_expect_eq(ht_schedule_from_hash(&s, 4, h3), HT_EINVAL);
    ht_schedule_clear(&s);
}

Test(schedule, the_first_run_of_a_new_schedule)
{
    ht_schedule_when_t w;
    every_when(&w, "60", "0", "");
    int64_t first;
    char err[256] = "";
    cr_assert_eq(ht_schedule_first(&w, at("2024-06-03T10:00:00.250Z"), &first, err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(first, at("2024-06-03T10:01:01Z"), "the next whole second, plus every_s");
    cr_expect_eq(w.anchor_ms, first, "the interval is anchored at its first run");
    cr_assert_eq(ht_schedule_first(&w, at("2024-06-03T10:00:00Z"), &first, err, sizeof err), 0);
    cr_expect_eq(first, at("2024-06-03T10:01:01Z"), "a whole second counts as past");
    cron_when(&w, "0 9 * * MON", "America/New_York", HT_CATCH_UP_ONE);
    cr_assert_eq(ht_schedule_first(&w, at("2024-06-03T13:00:00Z"), &first, err, sizeof err), 0);
    cr_expect_eq(first, at("2024-06-10T13:00:00Z"), "09:00 EDT next Monday (not this one, passed)");
}

Test(schedule, when_of_a_stored_schedule)
{
    const char *const cron[] = {"id",       "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                                "tenant",   "acme",
                                "cron",     "*/2 * * * * *",
                                "seconds",  "1",
                                "timezone", "Asia/Tokyo",
                                "catch_up", "none"};
    ht_schedule_t s;
    ht_schedule_when_t w;
    char err[256] = "";
    cr_assert_eq(ht_schedule_from_hash(&s, sizeof cron / sizeof cron[0], cron), 0);
    cr_assert_eq(ht_schedule_when_of(&s, &w, err, sizeof err), 0, "%s", err);
    cr_expect(w.is_cron);
    cr_expect_str_eq(w.tz, "Asia/Tokyo");
    cr_expect_eq(w.catch_up, HT_CATCH_UP_NONE);
    int64_t next;
    cr_assert_eq(ht_schedule_next(&w, at("2024-01-01T00:00:01Z"), &next, err, sizeof err), 0);
    cr_expect_eq(next, at("2024-01-01T00:00:02Z"), "its seconds field kept");
    ht_schedule_clear(&s);
    const char *const every[] = {"id",      "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                                 "tenant",  "acme",
                                 "every_s", "90",
                                 "anchor",  "1700000000000"};
    cr_assert_eq(ht_schedule_from_hash(&s, sizeof every / sizeof every[0], every), 0);
    cr_assert_eq(ht_schedule_when_of(&s, &w, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ht_schedule_next(&w, 1700000000000 + 1, &next, err, sizeof err), 0);
    cr_expect_eq(next, 1700000090000);
    ht_schedule_clear(&s);
}
