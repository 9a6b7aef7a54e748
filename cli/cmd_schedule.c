/* `hangtight schedule create|list|get|pause|resume|delete`: recurring
 * schedules, a thin client of /v1/schedules (docs/schedules.md).  The
 * server validates and decides; this prints its answer (the schedule
 * document, a table for list, the problem on stderr) and maps its status
 * to the exit status. */
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define LIMIT_DEFAULT "20"
#define LIMIT_MAX     100

static const char *base_url, *cron, *timezone_id, *name, *catch_up, *priority, *metadata, *cursor;
static long every_s, max_attempts, timeout_s, ttl_s, limit;
static int all, as_json;

static const ht_option_t options[] = {
    HT_CLI_URL_OPTION(&base_url),
    {"cron", NULL, HT_OPT_STRING, NULL,
     "create: run at the times of the cron EXPR (5 fields: minute hour day-of-month month "
     "day-of-week)",
     0, 0, &cron},
    {"timezone", NULL, HT_OPT_STRING, NULL,
     "create: read the cron in ZONE, a tz database name such as Europe/Paris (default UTC)", 0, 0,
     &timezone_id},
    {"every-s", NULL, HT_OPT_INT, NULL, "create: run every N seconds instead of a cron", 1,
     LONG_MAX, &every_s},
    {"name", NULL, HT_OPT_STRING, NULL, "create: a NAME to show with it", 0, 0, &name},
    {"catch-up", NULL, HT_OPT_STRING, NULL,
     "create: after downtime, RULE one (one job for the runs missed, the default) or none", 0, 0,
     &catch_up},
    {"priority", NULL, HT_OPT_STRING, NULL, "create: the jobs' PRIORITY, high, default or low", 0,
     0, &priority},
    {"max-attempts", NULL, HT_OPT_INT, NULL, "create: the jobs' attempts (server default 3)", 1,
     INT_MAX, &max_attempts},
    {"timeout-s", NULL, HT_OPT_INT, NULL, "create: the jobs' seconds per attempt", 1, LONG_MAX,
     &timeout_s},
    {"ttl-s", NULL, HT_OPT_INT, NULL, "create: seconds each finished job is kept", 1, LONG_MAX,
     &ttl_s},
    {"metadata", NULL, HT_OPT_STRING, NULL, "create: the jobs' metadata, a JSON object of strings",
     0, 0, &metadata},
    {"limit", NULL, HT_OPT_INT, LIMIT_DEFAULT, "list: schedules per page, N (oldest first)", 1,
     LIMIT_MAX, &limit},
    {"cursor", NULL, HT_OPT_STRING, NULL, "list: continue from the CURSOR a page ended with", 0, 0,
     &cursor},
    {"all", NULL, HT_OPT_FLAG, NULL, "list: follow the cursor to the last page", 0, 0, &all},
    {"json", NULL, HT_OPT_FLAG, NULL, "list: print the JSON documents instead of a table", 0, 0,
     &as_json},
};

#define SYNOPSIS                                                                                   \
    "create (--cron EXPR [--timezone ZONE] | --every-s N) [--name NAME] [--catch-up RULE] TYPE "   \
    "[JSON-PAYLOAD]\n"                                                                             \
    "       hangtight schedule list [--limit N] [--cursor C] [--all] [--json]\n"                   \
    "       hangtight schedule get|pause|resume|delete ID"

static int usage_error(void)
{
    fprintf(stderr, "usage: hangtight schedule " SYNOPSIS "\n(see --help)\n");
    return HT_CLI_USAGE;
}

/* "<base>/v1/schedules[/<id>[<suffix>]]", the id escaped: malloc'd. */
static char *schedule_url(const char *id, const char *suffix)
{
    char *base = ht_cli_join_url(base_url, "/v1/schedules");
    if (!base || !id)
        return base;
    char *escaped = curl_easy_escape(NULL, id, 0);
    char *url = NULL;
    if (escaped)
        (void)!asprintf(&url, "%s/%s%s", base, escaped, suffix);
    curl_free(escaped);
    free(base);
    return url;
}

/* One request; prints the answer: the document on `ok` (or nothing for
 * 204), the problem otherwise.  Returns the exit status. */
static int request(const char *what, const char *method, const char *url, const char *body, long ok)
{
    ht_cli_response_t resp = {0};
    int status = HT_CLI_USAGE;
    if (!url)
        return status;
    if (ht_cli_http(method, url, body, NULL, &resp) != 0) {
        fprintf(stderr, "%s: %s\n", what, resp.error);
    } else if (resp.status == ok && ok == 204) {
        status = HT_CLI_OK;
    } else if (resp.status == ok) {
        status = ht_cli_print_body(what, &resp);
    } else {
        ht_cli_print_problem(what, &resp);
        status = HT_CLI_FAILED;
    }
    ht_cli_response_clear(&resp);
    return status;
}

/* ---- create --------------------------------------------------------------- */

static json_t *json_arg(const char *what, const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fprintf(stderr, "hangtight schedule create: %s is not JSON: %s (at column %d)\n", what,
                jerr.text, jerr.column);
    return v;
}

/* The POST /v1/schedules body, or NULL (message printed).  What the server
 * checks is passed on as given: it names what it refuses. */
static json_t *create_body(const ht_cli_args_t *args)
{
    json_t *job = json_object(), *body = json_object();
    json_object_set_new(job, "type", json_string(args->pos[1]));
    if (args->npos > 2) {
        json_t *payload = json_arg("the payload", args->pos[2]);
        if (!payload)
            goto fail;
        json_object_set_new(job, "payload", payload);
    }
    if (metadata) {
        json_t *m = json_arg("--metadata", metadata);
        if (!m)
            goto fail;
        json_object_set_new(job, "metadata", m);
    }
    if (priority)
        json_object_set_new(job, "priority", json_string(priority));
    if (max_attempts)
        json_object_set_new(job, "max_attempts", json_integer(max_attempts));
    if (timeout_s)
        json_object_set_new(job, "timeout_s", json_integer(timeout_s));
    if (ttl_s)
        json_object_set_new(job, "ttl_s", json_integer(ttl_s));
    if (name)
        json_object_set_new(body, "name", json_string(name));
    if (cron)
        json_object_set_new(body, "cron", json_string(cron));
    if (timezone_id)
        json_object_set_new(body, "timezone", json_string(timezone_id));
    if (every_s)
        json_object_set_new(body, "every_s", json_integer(every_s));
    if (catch_up)
        json_object_set_new(body, "catch_up", json_string(catch_up));
    json_object_set_new(body, "job", job);
    return body;
fail:
    json_decref(job);
    json_decref(body);
    return NULL;
}

static int create(const ht_cli_args_t *args)
{
    if (args->npos < 2 || args->npos > 3)
        return usage_error();
    if (!cron && !every_s) {
        fprintf(stderr, "hangtight schedule create: give --cron EXPR or --every-s N\n");
        return HT_CLI_USAGE;
    }
    json_t *body = create_body(args);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char *url = schedule_url(NULL, "");
    int status =
        text && url ? request("hangtight schedule create", "POST", url, text, 201) : HT_CLI_USAGE;
    json_decref(body);
    free(text);
    free(url);
    return status;
}

/* ---- list ------------------------------------------------------------------ */

#define ROW "%-36s  %-20s  %-28s  %-24s  %-36s  %s\n"

/* When a schedule runs, as a column: "cron EXPR in ZONE" or "every N s". */
static void when_of(const json_t *s, char *out, size_t len)
{
    const char *c = json_string_value(json_object_get(s, "cron"));
    if (c)
        snprintf(out, len, "%s (%s)", c,
                 json_string_value(json_object_get(s, "timezone"))
                     ? json_string_value(json_object_get(s, "timezone"))
                     : "UTC");
    else
        snprintf(out, len, "every %lld s", json_integer_value(json_object_get(s, "every_s")));
}

static const char *str_or_dash(const json_t *s, const char *key)
{
    const char *v = json_string_value(json_object_get(s, key));
    return v ? v : "-";
}

static void rows(const json_t *scheds)
{
    size_t i;
    const json_t *s;
    json_array_foreach(scheds, i, s) {
        char when[300];
        when_of(s, when, sizeof(when));
        int paused = json_is_true(json_object_get(s, "paused"));
        printf(ROW, str_or_dash(s, "id"), str_or_dash(s, "name"), when,
               paused ? "(paused)" : str_or_dash(s, "next_run_at"), str_or_dash(s, "last_job_id"),
               paused ? "yes" : "no");
    }
}

/* One page (new reference), or NULL with *status set (problem printed). */
static json_t *fetch_page(const char *page_cursor, int *status)
{
    ht_cli_response_t resp = {0};
    json_t *doc = NULL;
    char *base = schedule_url(NULL, ""), *url = NULL;
    char *escaped = page_cursor ? curl_easy_escape(NULL, page_cursor, 0) : NULL;
    *status = HT_CLI_USAGE;
    if (base)
        (void)!asprintf(&url, "%s?limit=%ld%s%s", base, limit, escaped ? "&cursor=" : "",
                        escaped ? escaped : "");
    curl_free(escaped);
    free(base);
    if (!url)
        return NULL;
    if (ht_cli_http("GET", url, NULL, NULL, &resp) != 0) {
        fprintf(stderr, "hangtight schedule list: %s\n", resp.error);
    } else if (resp.status != 200) {
        ht_cli_print_problem("hangtight schedule list", &resp);
        *status = HT_CLI_FAILED;
    } else {
        doc = json_loadb(resp.body, resp.body_len, 0, NULL);
        *status = HT_CLI_OK;
        if (!json_is_array(json_object_get(doc, "schedules"))) {
            fprintf(stderr, "hangtight schedule list: the answer has no \"schedules\" list\n");
            json_decref(doc);
            doc = NULL;
            *status = HT_CLI_FAILED;
        }
    }
    ht_cli_response_clear(&resp);
    free(url);
    return doc;
}

static int list(const ht_cli_args_t *args)
{
    if (args->npos != 1)
        return usage_error();
    int status;
    json_t *page = fetch_page(cursor, &status);
    json_t *gathered = json_array();
    char *next = NULL;
    if (page && !as_json)
        printf(ROW, "ID", "NAME", "WHEN", "NEXT RUN", "LAST JOB", "PAUSED");
    while (page) {
        if (as_json)
            json_array_extend(gathered, json_object_get(page, "schedules"));
        else
            rows(json_object_get(page, "schedules"));
        const char *n = json_string_value(json_object_get(page, "next_cursor"));
        free(next);
        next = n && *n ? strdup(n) : NULL;
        json_decref(page);
        page = all && next ? fetch_page(next, &status) : NULL;
    }
    if (status == HT_CLI_OK && as_json) {
        json_t *doc = json_pack("{s:O, s:s?}", "schedules", gathered, "next_cursor", next);
        ht_cli_print_json(doc);
        json_decref(doc);
    } else if (status == HT_CLI_OK && next) {
        fprintf(stderr, "more: hangtight schedule list --cursor '%s' (or --all)\n", next);
    }
    fflush(stdout);
    json_decref(gathered);
    free(next);
    return status;
}

/* ---- one schedule ------------------------------------------------------------- */

static int one(const ht_cli_args_t *args, const char *method, const char *suffix, long ok)
{
    if (args->npos != 2)
        return usage_error();
    char what[64];
    snprintf(what, sizeof(what), "hangtight schedule %s", args->pos[0]);
    char *url = schedule_url(args->pos[1], suffix);
    int status = request(what, method, url, NULL, ok);
    free(url);
    return status;
}

int ht_cli_schedule(int argc, char **argv)
{
    ht_cli_args_t args;
    int rc = ht_cli_parse(options, sizeof options / sizeof options[0], argc, argv, SYNOPSIS, &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos < 1)
        return usage_error();
    const char *sub = args.pos[0];
    if (strcmp(sub, "create") == 0)
        return create(&args);
    if (strcmp(sub, "list") == 0)
        return list(&args);
    if (strcmp(sub, "get") == 0)
        return one(&args, "GET", "", 200);
    if (strcmp(sub, "pause") == 0)
        return one(&args, "POST", "/pause", 200);
    if (strcmp(sub, "resume") == 0)
        return one(&args, "POST", "/resume", 200);
    if (strcmp(sub, "delete") == 0)
        return one(&args, "DELETE", "", 204);
    fprintf(stderr, "hangtight schedule: unknown subcommand '%s'\n", sub);
    return usage_error();
}
