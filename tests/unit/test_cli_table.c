/* cli/table.c: the tables of `hangtight list` and `hangtight stats`, byte
 * for byte. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

/* Runs fn on a memory stream and returns what it wrote (free it). */
static char *capture_jobs(const char *jobs_json, int header)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_t *jobs = json_loads(jobs_json, 0, NULL);
    cr_assert_not_null(f);
    cr_assert_not_null(jobs);
    if (header)
        ht_cli_jobs_header(f);
    ht_cli_jobs_rows(f, jobs);
    fclose(f);
    json_decref(jobs);
    return buf;
}

static char *capture_queues(const char *doc_json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_t *doc = json_loads(doc_json, JSON_PRESERVE_ORDER, NULL);
    cr_assert_not_null(doc);
    ht_cli_queues_table(f, doc);
    fclose(f);
    json_decref(doc);
    return buf;
}

Test(cli_table, jobs_rows_line_up_under_the_header)
{
    char *out = capture_jobs(
        "[{\"id\": \"5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11\", \"type\": \"echo\", "
        "\"status\": \"failed\", \"attempt\": 3, \"max_attempts\": 3, "
        "\"created_at\": \"2026-11-26T04:40:10.001Z\"},"
        " {\"id\": \"1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b\", \"type\": \"video.transcode\", "
        "\"status\": \"queued\", \"attempt\": 0, \"max_attempts\": 25, "
        "\"created_at\": \"2026-11-26T04:40:09.000Z\"}]",
        1);
    cr_assert_str_eq(
        out,
        "ID                                    TYPE                  STATUS     ATTEMPT  CREATED\n"
        "5b0f6a1e-3f7c-4b1e-9a39-2f8e4f0c9d11  echo                  failed     3/3      "
        "2026-11-26T04:40:10.001Z\n"
        "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b  video.transcode       queued     0/25     "
        "2026-11-26T04:40:09.000Z\n");
    free(out);
}

Test(cli_table, missing_fields_show_a_dash_and_an_empty_list_nothing)
{
    char *out = capture_jobs("[{\"id\": \"x\"}]", 0);
    cr_assert_str_eq(out, "x                                     -                     -          "
                          "0/0      -\n");
    free(out);
    out = capture_jobs("[]", 0);
    cr_assert_str_eq(out, "");
    free(out);
}

Test(cli_table, queues_table_with_totals_in_server_order)
{
    char *out = capture_queues(
        "{\"queues\": [{\"name\": \"default\", \"queued\": {\"high\": 1, \"default\": 20, "
        "\"low\": 300}, \"scheduled\": 4, \"running\": 2, \"failed\": 5, \"canceled\": 6, "
        "\"succeeded\": 1234567, \"totals\": {\"submitted\": 1234600, \"succeeded\": 1234567, "
        "\"note\": \"not a number\", \"retried\": 9}}]}");
    cr_assert_str_eq(out, "QUEUE                high  default      low  scheduled  running   failed"
                          "  canceled  succeeded\n"
                          "default                 1       20      300          4        2        5"
                          "         6    1234567\n"
                          "default totals: submitted 1234600, succeeded 1234567, retried 9\n");
    free(out);
}

Test(cli_table, queues_table_without_queues_or_totals)
{
    char *out = capture_queues("{\"queues\": [{\"name\": \"default\"}]}");
    cr_assert_str_eq(out, "QUEUE                high  default      low  scheduled  running   failed"
                          "  canceled  succeeded\n"
                          "default                 0        0        0          0        0        0"
                          "         0          0\n");
    free(out);
}
