/* api/metrics.c: the Prometheus text exposition writer (escaping, values)
 * and the whole page rendered from ht_metrics pairs and process counters. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "api/metrics.h"

static ht_buf_t e;

static void setup(void)
{
    ht_buf_init(&e);
}

static void teardown(void)
{
    ht_buf_free(&e);
}

TestSuite(metrics, .init = setup, .fini = teardown);

Test(metrics, family_and_samples)
{
    ht_expo_family(&e, "x_total", "counter", "Help with \\ and\nnewline.");
    const char *labels[] = {"type", "a\"b\\c\nd", "le", "0.5", NULL};
    ht_expo_sample(&e, "x_total", labels, 3);
    ht_expo_sample(&e, "x_total", NULL, 1.5);
    cr_expect_str_eq(e.data, "# HELP x_total Help with \\\\ and\\nnewline.\n"
                             "# TYPE x_total counter\n"
                             "x_total{type=\"a\\\"b\\\\c\\nd\",le=\"0.5\"} 3\n"
                             "x_total 1.5\n");
    cr_expect_not(ht_buf_failed(&e));
}

Test(metrics, values)
{
    char b[32];
    cr_expect_str_eq(ht_expo_value(0, b), "0");
    cr_expect_str_eq(ht_expo_value(-7, b), "-7");
    cr_expect_str_eq(ht_expo_value(123456789012.0, b), "123456789012");
    cr_expect_str_eq(ht_expo_value(0.25, b), "0.25");
    cr_expect_str_eq(ht_expo_value(INFINITY, b), "+Inf");
    cr_expect_str_eq(ht_expo_value(-INFINITY, b), "-Inf");
    cr_expect_str_eq(ht_expo_value(NAN, b), "NaN");
    cr_expect_str_eq(ht_expo_value(1e20, b), "1e+20");
}

Test(metrics, grows_past_the_first_buffer)
{
    for (int i = 0; i < 2000; i++)
        ht_expo_sample(&e, "a_long_metric_name_to_fill_the_buffer", NULL, i);
    cr_expect_not(ht_buf_failed(&e));
    cr_expect_eq(strlen(e.data), e.len);
    cr_expect(strstr(e.data, "a_long_metric_name_to_fill_the_buffer 1999\n") != NULL);
}

/* Pairs as FCALL_RO ht_metrics answers them (hash order: anything). */
static const char *const names[] = {
    "queued:high",
    "queued:default",
    "queued:low",
    "scheduled",
    "running",
    "dead",
    "jobs:submitted:echo",
    "jobs:started:echo",
    "jobs:succeeded:echo",
    "jobs:submitted:fail.me",
    "webhook:delivered",
    "jobs:failed:fail.me",
    "hist:wait:le:5",
    "hist:wait:le:250",
    "hist:wait:le:+Inf",
    "hist:wait:sum_ms",
    "hist:wait:count",
    "hist:run:le:10",
    "hist:run:le:+Inf",
    "hist:run:sum_ms",
    "hist:run:count",
};
static const long long values[] = {
    1, 2, 3, 4, 5, 6, 10, 9, 8, 2, 7, 2, 3, 4, 5, 1234, 5, 0, 2, 3000, 2,
};

static ht_metrics_input_t input(void)
{
    ht_metrics_input_t in = {
        .redis_up = 1, .n = sizeof(names) / sizeof(names[0]), .names = names, .values = values};
    in.process[HT_M_HELD_SYNC] = 2;
    in.process[HT_M_PROCESSING_SENT] = 11;
    in.process[HT_M_HTTP_2XX] = 40;
    return in;
}

static int has_line(const char *line)
{
    char want[512];
    snprintf(want, sizeof(want), "\n%s\n", line);
    return strstr(e.data, want) != NULL;
}

Test(metrics, page_from_pairs)
{
    ht_metrics_input_t in = input();
    ht_metrics_render(&e, &in);
    cr_assert_not(ht_buf_failed(&e));
    const char *expect[] = {
        "# TYPE hangtight_jobs_submitted_total counter",
        "hangtight_jobs_submitted_total{type=\"echo\"} 10",
        "hangtight_jobs_submitted_total{type=\"fail.me\"} 2",
        "hangtight_jobs_started_total{type=\"echo\"} 9",
        "hangtight_jobs_failed_total{type=\"fail.me\"} 2",
        "# TYPE hangtight_jobs_retried_total counter",
        "hangtight_queue_depth{priority=\"high\"} 1",
        "hangtight_queue_depth{priority=\"low\"} 3",
        "hangtight_jobs_scheduled 4",
        "hangtight_jobs_running 5",
        "hangtight_jobs_dead 6",
        "# TYPE hangtight_job_wait_seconds histogram",
        "hangtight_job_wait_seconds_bucket{le=\"0.005\"} 3",
        "hangtight_job_wait_seconds_bucket{le=\"0.25\"} 4",
        "hangtight_job_wait_seconds_bucket{le=\"+Inf\"} 5",
        "hangtight_job_wait_seconds_sum 1.234",
        "hangtight_job_wait_seconds_count 5",
        "hangtight_job_run_seconds_bucket{le=\"0.01\"} 0",
        "hangtight_job_run_seconds_sum 3",
        "hangtight_job_run_seconds_count 2",
        "hangtight_webhook_deliveries_total{outcome=\"delivered\"} 7",
        "hangtight_webhook_deliveries_total{outcome=\"retried\"} 0",
        "hangtight_api_held_requests{kind=\"sync\"} 2",
        "hangtight_api_held_requests{kind=\"long_poll\"} 0",
        "hangtight_api_processing_sent_total 11",
        "hangtight_api_http_responses_total{class=\"2xx\"} 40",
        "hangtight_api_redis_errors_total{kind=\"unavailable\"} 0",
        "hangtight_redis_up 1",
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        cr_expect(has_line(expect[i]), "missing line: %s\n---\n%s", expect[i], e.data);
    /* A family's samples follow its TYPE line, before the next family. */
    const char *type = strstr(e.data, "# TYPE hangtight_jobs_submitted_total");
    const char *next = strstr(e.data, "# HELP hangtight_jobs_started_total");
    const char *s2 = strstr(e.data, "hangtight_jobs_submitted_total{type=\"fail.me\"}");
    cr_expect(type && next && s2 && type < s2 && s2 < next);
    cr_expect(e.data[e.len - 1] == '\n');
}

Test(metrics, redis_down_still_serves_the_process)
{
    ht_metrics_input_t in = input();
    in.redis_up = 0;
    in.n = 0;
    ht_metrics_render(&e, &in);
    cr_expect(strstr(e.data, "hangtight_jobs_") == NULL);
    cr_expect(has_line("hangtight_redis_up 0"));
    cr_expect(has_line("hangtight_api_processing_sent_total 11"));
}

Test(metrics, workers_and_their_handler_processes)
{
    const char *workers[] = {
        "{\"id\":\"h1:10:aa\",\"at\":1000000,\"concurrency\":4,\"handlers\":{"
        "\"py.echo\":{\"processes\":4,\"running\":3,\"busy\":1,\"restarts\":7,\"failing\":false},"
        "\"js.x\":{\"processes\":1,\"running\":0,\"busy\":0,\"restarts\":9,\"failing\":true}}}",
        "{\"id\":\"h2:20:bb\",\"at\":995000,\"concurrency\":2,\"handlers\":{}}",
        /* gone: its record is older than HT_METRICS_WORKER_FRESH_MS */
        "{\"id\":\"h3:30:cc\",\"at\":900000,\"handlers\":{\"py.echo\":{\"running\":4}}}",
        "not json",
    };
    ht_metrics_input_t in = input();
    in.now_ms = 1001000;
    in.workers = workers;
    in.n_workers = 4;
    ht_metrics_render(&e, &in);
    cr_assert_not(ht_buf_failed(&e));
    const char *expect[] = {
        "# TYPE hangtight_workers gauge",
        "hangtight_workers 2",
        "# TYPE hangtight_handler_processes gauge",
        "hangtight_handler_processes{type=\"py.echo\",worker=\"h1:10:aa\"} 3",
        "hangtight_handler_processes{type=\"js.x\",worker=\"h1:10:aa\"} 0",
        "hangtight_handler_processes_busy{type=\"py.echo\",worker=\"h1:10:aa\"} 1",
        "# TYPE hangtight_handler_restarts_total counter",
        "hangtight_handler_restarts_total{type=\"py.echo\",worker=\"h1:10:aa\"} 7",
        "hangtight_handler_restarts_total{type=\"js.x\",worker=\"h1:10:aa\"} 9",
        "hangtight_handler_failing{type=\"py.echo\",worker=\"h1:10:aa\"} 0",
        "hangtight_handler_failing{type=\"js.x\",worker=\"h1:10:aa\"} 1",
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        cr_expect(has_line(expect[i]), "missing line: %s\n---\n%s", expect[i], e.data);
    cr_expect(strstr(e.data, "h3:30:cc") == NULL, "a stale record is not shown");
}

Test(metrics, remote_workers)
{
    const char *workers[] = {
        "{\"id\":\"http:box:1\",\"kind\":\"http\",\"name\":\"box:1\",\"key\":\"etl\","
        "\"types\":[\"report.build\",\"img.tag\"],\"at\":1000000}",
        /* quiet for long, but holding a job: shown */
        "{\"id\":\"http:slow\",\"kind\":\"http\",\"name\":\"slow\",\"types\":[\"video\"],"
        "\"at\":500000}",
        /* quiet for long and holding nothing: not shown */
        "{\"id\":\"http:gone\",\"kind\":\"http\",\"name\":\"gone\",\"types\":[\"x\"],\"at\":1}",
        /* a hangtight-worker's record: not a remote worker */
        "{\"id\":\"h1:10:aa\",\"at\":1000000,\"concurrency\":4,\"handlers\":{}}",
    };
    const char *held_ids[] = {"http:box:1", "http:slow", "http:box:1"};
    const long long held_counts[] = {2, 1, 1};
    ht_metrics_input_t in = input();
    in.now_ms = 1001000;
    in.workers = workers;
    in.n_workers = 4;
    in.held_ids = held_ids;
    in.held_counts = held_counts;
    in.n_held = 3;
    ht_metrics_render(&e, &in);
    cr_assert_not(ht_buf_failed(&e));
    const char *expect[] = {
        "hangtight_workers 1",
        "# TYPE hangtight_remote_workers gauge",
        "hangtight_remote_workers 2",
        "hangtight_remote_worker_last_seen_seconds{worker=\"box:1\"} 1000",
        "hangtight_remote_worker_last_seen_seconds{worker=\"slow\"} 500",
        "hangtight_remote_worker_jobs_held{worker=\"box:1\"} 3",
        "hangtight_remote_worker_jobs_held{worker=\"slow\"} 1",
        "hangtight_remote_worker_types{type=\"report.build\",worker=\"box:1\"} 1",
        "hangtight_remote_worker_types{type=\"img.tag\",worker=\"box:1\"} 1",
        "hangtight_remote_worker_types{type=\"video\",worker=\"slow\"} 1",
    };
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        cr_expect(has_line(expect[i]), "missing line: %s\n---\n%s", expect[i], e.data);
    cr_expect(strstr(e.data, "worker=\"gone\"") == NULL, "a remote worker long gone is not shown");
}
