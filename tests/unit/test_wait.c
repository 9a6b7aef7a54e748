/* api/wait.c, its pure parts: the plan (caps, heartbeat bounds, which HTTP
 * versions get 102s), Preference-Applied, what ends a wait, and reading
 * Prefer and the query string off a bare h2o request. */
#include <criterion/criterion.h>
#include <string.h>

#include "api/wait.h"

static ht_prefer_t prefer(const char *value)
{
    ht_prefer_t p;
    ht_prefer_init(&p);
    ht_prefer_parse(&p, value, strlen(value));
    return p;
}

static ht_wait_plan_t plan_of(const char *value, long max_wait_s, int version)
{
    ht_prefer_t p = prefer(value);
    ht_wait_plan_t plan;
    ht_wait_plan(&plan, &p, max_wait_s, 10000, version);
    return plan;
}

static const char *applied(const ht_wait_plan_t *plan, int held, int async_answer)
{
    static char buf[128];
    ht_wait_applied(plan, held, async_answer, buf, sizeof(buf));
    return buf;
}

Test(wait_plan, no_wait_means_no_hold)
{
    ht_wait_plan_t p = plan_of("", 600, 0x101);
    cr_expect_eq(p.wait_ms, 0);
    p = plan_of("wait=0", 600, 0x101);
    cr_expect_eq(p.wait_ms, 0);
    p = plan_of("respond-async", 600, 0x101);
    cr_expect_eq(p.wait_ms, 0);
    cr_expect_eq(p.respond_async, 1);
}

Test(wait_plan, wait_is_capped)
{
    ht_wait_plan_t p = plan_of("wait=120", 600, 0x101);
    cr_expect_eq(p.wait_ms, 120000);
    cr_expect_eq(p.wait_s, 120);
    p = plan_of("wait=9999", 600, 0x101);
    cr_expect_eq(p.wait_ms, 600000);
    cr_expect_eq(p.wait_s, 600);
    p = plan_of("wait=99999999999999", 30, 0x101);
    cr_expect_eq(p.wait_s, 30);
}

Test(wait_plan, a_zero_cap_disables_holding)
{
    ht_wait_plan_t p = plan_of("wait=10", 0, 0x101);
    cr_expect_eq(p.wait_ms, 0);
    cr_expect_eq(p.heartbeat_ms, 0);
}

Test(wait_plan, default_heartbeat_on_http11)
{
    ht_wait_plan_t p = plan_of("wait=60", 600, 0x101);
    cr_expect_eq(p.heartbeat_ms, 10000);
    cr_expect_eq(p.check_ms, 10000);
    cr_expect_eq(p.heartbeat_s, -1); /* not asked for: not in Preference-Applied */
}

Test(wait_plan, client_heartbeat_is_bounded)
{
    cr_expect_eq(plan_of("wait=60, heartbeat=30", 600, 0x101).heartbeat_ms, 30000);
    cr_expect_eq(plan_of("wait=60, heartbeat=30", 600, 0x101).heartbeat_s, 30);
    cr_expect_eq(plan_of("wait=60, heartbeat=600", 600, 0x101).heartbeat_ms, 60000);
    cr_expect_eq(plan_of("wait=60, heartbeat=600", 600, 0x101).heartbeat_s, 60);
    cr_expect_eq(plan_of("wait=60, heartbeat=1", 600, 0x101).heartbeat_ms, 1000);
}

Test(wait_plan, heartbeat_zero_means_none_but_still_checks_the_client)
{
    ht_wait_plan_t p = plan_of("wait=60, heartbeat=0", 600, 0x101);
    cr_expect_eq(p.heartbeat_ms, 0);
    cr_expect_eq(p.heartbeat_s, 0);
    cr_expect_eq(p.check_ms, 10000);
}

Test(wait_plan, no_102_to_http10)
{
    ht_wait_plan_t p = plan_of("wait=60, heartbeat=5", 600, 0x100);
    cr_expect_eq(p.wait_ms, 60000);
    cr_expect_eq(p.heartbeat_ms, 0);
    cr_expect_eq(p.heartbeat_s, -1);
    cr_expect_eq(p.check_ms, 10000);
}

Test(wait_plan, no_102_and_no_socket_checks_on_http2)
{
    ht_wait_plan_t p = plan_of("wait=60, heartbeat=5", 600, 0x200);
    cr_expect_eq(p.wait_ms, 60000);
    cr_expect_eq(p.heartbeat_ms, 0);
    cr_expect_eq(p.check_ms, 0);
    cr_expect_eq(p.heartbeat_s, -1);
}

/* The plan of `value` for a client sending User-Agent `ua` (NULL: none). */
static ht_wait_plan_t client_plan(const char *value, const char *ua)
{
    ht_prefer_t p = prefer(value);
    ht_wait_plan_t plan;
    ht_wait_plan(&plan, &p, 600, 10000, 0x101);
    ht_wait_plan_client(&plan, &p, ua, ua ? strlen(ua) : 0);
    return plan;
}

Test(wait_plan, python_clients_get_no_102s_unless_they_ask)
{
    ht_wait_plan_t p = client_plan("wait=30", "Python-urllib/3.11");
    cr_expect_eq(p.heartbeat_ms, 0);
    cr_expect_eq(p.max_beats, 0);
    cr_expect_eq(p.check_ms, 10000, "still looks for a client gone");
    p = client_plan("wait=30", "python-requests/2.28.1");
    cr_expect_eq(p.heartbeat_ms, 0);
    p = client_plan("wait=30", "python-urllib3/2.7.0");
    cr_expect_eq(p.heartbeat_ms, 0);
    /* An explicit heartbeat wins. */
    p = client_plan("wait=30, heartbeat=2", "python-requests/2.28.1");
    cr_expect_eq(p.heartbeat_ms, 2000);
    cr_expect_eq(p.max_beats, -1);
}

Test(wait_plan, go_gets_at_most_four_102s)
{
    ht_wait_plan_t p = client_plan("wait=60", "Go-http-client/1.1");
    cr_expect_eq(p.heartbeat_ms, 10000);
    cr_expect_eq(p.max_beats, 4);
    p = client_plan("wait=60, heartbeat=1", "Go-http-client/1.1");
    cr_expect_eq(p.heartbeat_ms, 1000);
    cr_expect_eq(p.max_beats, -1);
}

Test(wait_plan, other_or_no_user_agent_keeps_the_default)
{
    const char *uas[] = {
        NULL, "curl/7.88.1", "node", "python-requests", "Go-http-client", "xPython-urllib/3.11"};
    for (size_t i = 0; i < sizeof(uas) / sizeof(uas[0]); i++) {
        ht_wait_plan_t p = client_plan("wait=30", uas[i]);
        cr_expect_eq(p.heartbeat_ms, 10000, "%s", uas[i] ? uas[i] : "(none)");
        cr_expect_eq(p.max_beats, -1, "%s", uas[i] ? uas[i] : "(none)");
    }
}

Test(wait_applied, what_was_applied)
{
    ht_wait_plan_t p = plan_of("wait=120, heartbeat=30", 600, 0x101);
    cr_expect_str_eq(applied(&p, 1, 0), "wait=120, heartbeat=30");
    cr_expect_str_eq(applied(&p, 1, 1), "wait=120, heartbeat=30");
    cr_expect_str_eq(applied(&p, 0, 1), "");
    p = plan_of("wait=9999", 600, 0x101);
    cr_expect_str_eq(applied(&p, 1, 0), "wait=600");
    p = plan_of("respond-async, wait=5, heartbeat=0", 600, 0x101);
    cr_expect_str_eq(applied(&p, 1, 1), "respond-async, wait=5, heartbeat=0");
    cr_expect_str_eq(applied(&p, 1, 0), "wait=5, heartbeat=0");
    p = plan_of("respond-async", 600, 0x101);
    cr_expect_str_eq(applied(&p, 0, 1), "respond-async");
    p = plan_of("wait=5, heartbeat=7", 600, 0x200);
    cr_expect_str_eq(applied(&p, 1, 0), "wait=5");
}

Test(wait_applied, truncates_safely)
{
    ht_wait_plan_t p = plan_of("respond-async, wait=120, heartbeat=30", 600, 0x101);
    char buf[10];
    size_t n = ht_wait_applied(&p, 1, 1, buf, sizeof(buf));
    cr_expect_eq(n, 9);
    cr_expect_eq(strlen(buf), 9);
}

static ht_job_event_t event(uint64_t version, ht_job_status_t status)
{
    ht_job_event_t ev = {"id", version, status, "1-0", 0};
    return ev;
}

Test(wait_end, ready_always_reads)
{
    cr_expect(ht_wait_event_needs_read(HT_WAIT_TERMINAL, 0, NULL));
    cr_expect(ht_wait_event_needs_read(HT_WAIT_CHANGE, 5, NULL));
}

Test(wait_end, sync_submit_reads_on_terminal_events_only)
{
    ht_job_event_t ev = event(3, HT_JOB_RUNNING);
    cr_expect_not(ht_wait_event_needs_read(HT_WAIT_TERMINAL, 0, &ev));
    ev.progress = 1;
    cr_expect_not(ht_wait_event_needs_read(HT_WAIT_TERMINAL, 0, &ev));
    ev = event(4, HT_JOB_SUCCEEDED);
    cr_expect(ht_wait_event_needs_read(HT_WAIT_TERMINAL, 0, &ev));
    ev = event(4, HT_JOB_FAILED);
    cr_expect(ht_wait_event_needs_read(HT_WAIT_TERMINAL, 0, &ev));
    ev = event(4, HT_JOB_QUEUED); /* a retry: not finished */
    cr_expect_not(ht_wait_event_needs_read(HT_WAIT_TERMINAL, 0, &ev));
}

Test(wait_end, long_poll_reads_when_the_version_moves)
{
    ht_job_event_t ev = event(7, HT_JOB_RUNNING);
    cr_expect_not(ht_wait_event_needs_read(HT_WAIT_CHANGE, 7, &ev));
    ev.version = 8;
    cr_expect(ht_wait_event_needs_read(HT_WAIT_CHANGE, 7, &ev));
}

Test(wait_end, done)
{
    ht_job_t job;
    memset(&job, 0, sizeof(job));
    job.status = HT_JOB_RUNNING;
    job.version = 5;
    cr_expect_not(ht_wait_job_done(HT_WAIT_TERMINAL, 0, &job));
    cr_expect_not(ht_wait_job_done(HT_WAIT_CHANGE, 5, &job));
    cr_expect(ht_wait_job_done(HT_WAIT_CHANGE, 4, &job));
    job.status = HT_JOB_SUCCEEDED;
    cr_expect(ht_wait_job_done(HT_WAIT_TERMINAL, 0, &job));
    job.status = HT_JOB_CANCELED;
    cr_expect(ht_wait_job_done(HT_WAIT_TERMINAL, 0, &job));
}

/* ---- reading the request ---- */

static h2o_req_t req;

static void setup(void)
{
    memset(&req, 0, sizeof req);
    h2o_mem_init_pool(&req.pool);
    req.query_at = SIZE_MAX;
}

static void teardown(void)
{
    h2o_mem_clear_pool(&req.pool);
}

static void add_prefer(const char *value)
{
    h2o_add_header_by_str(&req.pool, &req.headers, H2O_STRLIT("prefer"), 0, NULL, value,
                          strlen(value));
}

static void set_path(const char *path)
{
    req.path = h2o_iovec_init(path, strlen(path));
    const char *q = strchr(path, '?');
    req.query_at = q ? (size_t)(q - path) : SIZE_MAX;
}

TestSuite(wait_request, .init = setup, .fini = teardown);

Test(wait_request, headers_in_order)
{
    add_prefer("wait=5");
    add_prefer("wait=9, heartbeat=2, respond-async");
    ht_prefer_t p;
    ht_wait_prefer_of(&req, &p);
    cr_expect_eq(p.wait_s, 5);
    cr_expect_eq(p.heartbeat_s, 2);
    cr_expect_eq(p.respond_async, 1);
}

Test(wait_request, query_string)
{
    set_path("/v1/jobs?x=1&wait=30&heartbeat=0&wait=99");
    ht_prefer_t p;
    ht_wait_prefer_of(&req, &p);
    cr_expect_eq(p.wait_s, 30);
    cr_expect_eq(p.heartbeat_s, 0);
}

Test(wait_request, a_header_wins_over_the_query)
{
    set_path("/v1/jobs?wait=30&heartbeat=4");
    add_prefer("wait=7");
    ht_prefer_t p;
    ht_wait_prefer_of(&req, &p);
    cr_expect_eq(p.wait_s, 7);
    cr_expect_eq(p.heartbeat_s, 4);
}

Test(wait_request, bad_query_values_are_ignored)
{
    set_path("/v1/jobs?wait=soon&waiting=3&await=4&wait");
    ht_prefer_t p;
    ht_wait_prefer_of(&req, &p);
    cr_expect_eq(p.wait_s, -1);
    set_path("/v1/jobs?");
    ht_wait_prefer_of(&req, &p);
    cr_expect_eq(p.wait_s, -1);
}
