/* `hangtight cancel`, `retry`, `list` and `stats`: the job lifecycle
 * commands, thin clients of DELETE /v1/jobs/{id}, POST /v1/jobs/{id}/retry,
 * GET /v1/jobs?status=&type=&limit=&cursor= and GET /v1/queues.  The
 * server decides everything; these print its answer (a table for list and
 * stats, the raw JSON with --json) and map its status to the exit status. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* A page of `list` when --limit is not given, and the most the server
 * gives at once. */
#define LIST_LIMIT_DEFAULT "20"
#define LIST_LIMIT_MAX     100

static const char *base_url, *status_filter, *type_filter, *cursor;
static long limit;
static int all, as_json;

static const ht_option_t id_options[] = {HT_CLI_URL_OPTION(&base_url)};

static const ht_option_t list_options[] = {
    HT_CLI_URL_OPTION(&base_url),
    {"status", NULL, HT_OPT_STRING, NULL,
     "only jobs in STATUS: queued, scheduled, running, succeeded, failed or canceled", 0, 0,
     &status_filter},
    {"type", NULL, HT_OPT_STRING, NULL, "only jobs of TYPE", 0, 0, &type_filter},
    {"limit", NULL, HT_OPT_INT, LIST_LIMIT_DEFAULT, "jobs per page, N (newest first)", 1,
     LIST_LIMIT_MAX, &limit},
    {"cursor", NULL, HT_OPT_STRING, NULL, "continue from the CURSOR a previous page ended with", 0,
     0, &cursor},
    {"all", NULL, HT_OPT_FLAG, NULL, "follow the cursor to the last page", 0, 0, &all},
    {"json", NULL, HT_OPT_FLAG, NULL, "print the JSON documents instead of a table", 0, 0,
     &as_json},
};

static const ht_option_t stats_options[] = {
    HT_CLI_URL_OPTION(&base_url),
    {"json", NULL, HT_OPT_FLAG, NULL, "print the JSON document instead of a table", 0, 0, &as_json},
};

/* ---- cancel and retry: one request about one job ------------------------ */

/* Sends METHOD to the job's URL (+ suffix) and prints the answer: the job
 * document on stdout for 200/202, the problem on stderr otherwise. */
static int job_request(const char *cmd, const char *method, const char *suffix, int argc,
                       char **argv)
{
    ht_cli_args_t args;
    ht_cli_response_t resp = {0};
    char *url = NULL;
    char what[32];
    int status = HT_CLI_USAGE;

    int rc =
        ht_cli_parse(id_options, sizeof id_options / sizeof id_options[0], argc, argv, "ID", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 1) {
        fprintf(stderr, "usage: hangtight %s ID (see --help)\n", cmd);
        return HT_CLI_USAGE;
    }
    snprintf(what, sizeof what, "hangtight %s", cmd);
    url = ht_cli_job_url(base_url, args.pos[0], suffix);
    if (!url)
        goto out;
    if (ht_cli_http(method, url, NULL, NULL, &resp) != 0) {
        fprintf(stderr, "%s: %s\n", what, resp.error);
        goto out;
    }
    if (resp.status == 200 || resp.status == 202) {
        status = ht_cli_print_body(what, &resp);
    } else {
        /* 404 (no such job), 409 (finished, or not failed/canceled): the
         * server refused, which is not a usage error. */
        ht_cli_print_problem(what, &resp);
        status = HT_CLI_FAILED;
    }
out:
    ht_cli_response_clear(&resp);
    free(url);
    return status;
}

int ht_cli_cancel(int argc, char **argv)
{
    return job_request("cancel", "DELETE", "", argc, argv);
}

int ht_cli_retry(int argc, char **argv)
{
    return job_request("retry", "POST", "/retry", argc, argv);
}

/* ---- list ----------------------------------------------------------------- */

/* Appends "&name=<escaped value>" (or "?..." first) to *url when value is
 * set.  Returns 0 or -1 (out of memory; *url is freed). */
static int add_query(char **url, const char *name, const char *value)
{
    if (!value)
        return 0;
    char *escaped = curl_easy_escape(NULL, value, 0);
    char *grown = NULL;
    if (escaped)
        (void)!asprintf(&grown, "%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', name, escaped);
    curl_free(escaped);
    free(*url);
    *url = grown;
    return grown ? 0 : -1;
}

/* The URL of one page of the listing. */
static char *list_url(const char *page_cursor)
{
    char *url = ht_cli_join_url(base_url, "/v1/jobs");
    char limit_text[24];
    snprintf(limit_text, sizeof limit_text, "%ld", limit);
    if (!url || add_query(&url, "status", status_filter) != 0 ||
        add_query(&url, "type", type_filter) != 0 || add_query(&url, "limit", limit_text) != 0 ||
        add_query(&url, "cursor", page_cursor) != 0)
        return NULL;
    return url;
}

/* Fetches one page: its document (new reference) or NULL with the problem
 * printed and *status set. */
static json_t *fetch_page(const char *page_cursor, int *status)
{
    ht_cli_response_t resp = {0};
    json_t *doc = NULL;
    char *url = list_url(page_cursor);

    *status = HT_CLI_USAGE;
    if (!url)
        goto out;
    if (ht_cli_http("GET", url, NULL, NULL, &resp) != 0) {
        fprintf(stderr, "hangtight list: %s\n", resp.error);
        goto out;
    }
    if (resp.status != 200) {
        ht_cli_print_problem("hangtight list", &resp);
        *status = HT_CLI_FAILED;
        goto out;
    }
    doc = json_loadb(resp.body, resp.body_len, 0, NULL);
    if (!json_is_array(json_object_get(doc, "jobs"))) {
        fprintf(stderr, "hangtight list: the server answered without a \"jobs\" list\n");
        json_decref(doc);
        doc = NULL;
        *status = HT_CLI_FAILED;
        goto out;
    }
    *status = HT_CLI_OK;
out:
    ht_cli_response_clear(&resp);
    free(url);
    return doc;
}

/* The page's next cursor, or NULL at the last page ("" and null both end). */
static const char *next_cursor_of(const json_t *page)
{
    const char *next = json_string_value(json_object_get(page, "next_cursor"));
    return next && *next ? next : NULL;
}

/* Prints the pages from `first` on: rows as they come (a table), or one
 * {"jobs": [...], "next_cursor"} document at the end (--json).  Without
 * --all only the first page; its cursor is then shown for the next call. */
static int print_pages(json_t *page)
{
    json_t *gathered = json_array();
    int status = HT_CLI_OK;
    char *next = NULL;

    if (!as_json)
        ht_cli_jobs_header(stdout);
    while (page) {
        if (as_json)
            json_array_extend(gathered, json_object_get(page, "jobs"));
        else
            ht_cli_jobs_rows(stdout, json_object_get(page, "jobs"));
        free(next);
        next = next_cursor_of(page) ? strdup(next_cursor_of(page)) : NULL;
        json_decref(page);
        page = NULL;
        if (all && next)
            page = fetch_page(next, &status);
    }
    if (status == HT_CLI_OK && as_json) {
        json_t *doc = json_pack("{s:O, s:s?}", "jobs", gathered, "next_cursor", next);
        ht_cli_print_json(doc);
        json_decref(doc);
    } else if (status == HT_CLI_OK && next) {
        fprintf(stderr, "more: hangtight list --cursor '%s' (or --all)\n", next);
    }
    fflush(stdout);
    json_decref(gathered);
    free(next);
    return status;
}

int ht_cli_list(int argc, char **argv)
{
    ht_cli_args_t args;
    int status;
    int rc = ht_cli_parse(list_options, sizeof list_options / sizeof list_options[0], argc, argv,
                          "[--status S] [--type T] [--limit N] [--all] [--json]", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 0) {
        fprintf(stderr, "usage: hangtight list [--status S] [--type T] [--limit N] [--all] "
                        "(see --help)\n");
        return HT_CLI_USAGE;
    }
    json_t *page = fetch_page(cursor, &status);
    return page ? print_pages(page) : status;
}

/* ---- stats ---------------------------------------------------------------- */

int ht_cli_stats(int argc, char **argv)
{
    ht_cli_args_t args;
    ht_cli_response_t resp = {0};
    json_t *doc = NULL;
    char *url = NULL;
    int status = HT_CLI_USAGE;

    int rc = ht_cli_parse(stats_options, sizeof stats_options / sizeof stats_options[0], argc, argv,
                          "[--json]", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 0) {
        fprintf(stderr, "usage: hangtight stats [--json] (see --help)\n");
        return HT_CLI_USAGE;
    }
    url = ht_cli_join_url(base_url, "/v1/queues");
    if (!url)
        goto out;
    if (ht_cli_http("GET", url, NULL, NULL, &resp) != 0) {
        fprintf(stderr, "hangtight stats: %s\n", resp.error);
        goto out;
    }
    status = HT_CLI_FAILED;
    if (resp.status != 200) {
        ht_cli_print_problem("hangtight stats", &resp);
        goto out;
    }
    doc = json_loadb(resp.body, resp.body_len, 0, NULL);
    if (!json_is_array(json_object_get(doc, "queues"))) {
        fprintf(stderr, "hangtight stats: the server answered without a \"queues\" list\n");
        goto out;
    }
    if (as_json)
        ht_cli_print_json(doc);
    else
        ht_cli_queues_table(stdout, doc);
    fflush(stdout);
    status = HT_CLI_OK;
out:
    json_decref(doc);
    ht_cli_response_clear(&resp);
    free(url);
    return status;
}
