/* The operator's commands, thin clients of api/operator.c's routes:
 *
 *   hangtight pause [--type T]    POST /v1/queues/default/pause[?type=T]
 *   hangtight resume [--type T]   POST /v1/queues/default/resume[?type=T]
 *   hangtight caps                GET /v1/limits, as a table
 *   hangtight caps tenant NAME [--max-queued N] [--max-running N]
 *                  [--max-priority P] [--weight W]   PUT /v1/limits/tenants/NAME
 *   hangtight caps type NAME --max-running N          PUT /v1/limits/types/NAME
 *   hangtight caps tenant|type NAME --clear           DELETE (no limits)
 *
 * They send HANGTIGHT_OPERATOR_KEY (else HANGTIGHT_API_KEY): an operator
 * key.  The server validates every value (a cap of 0 or less is its 422);
 * a value that is not a number goes as a string, for the server to name.
 * --json prints the server's document.  Exit 0 done, 1 refused by the
 * server (the problem on stderr), 2 usage or network trouble. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define QUEUE "default"

static const char *base_url, *type_opt, *max_queued, *max_running, *max_priority, *weight;
static int as_json, clear;

static const ht_option_t pause_options[] = {
    {"url", "HANGTIGHT_URL", HT_OPT_STRING, HT_CLI_URL_DEFAULT, "base URL of hangtight-api", 0, 0,
     &base_url},
    {"type", NULL, HT_OPT_STRING, NULL, "only job type TYPE (the others go on)", 0, 0, &type_opt},
    {"json", NULL, HT_OPT_FLAG, NULL, "print the server's JSON document instead", 0, 0, &as_json},
};

static const ht_option_t caps_options[] = {
    {"url", "HANGTIGHT_URL", HT_OPT_STRING, HT_CLI_URL_DEFAULT, "base URL of hangtight-api", 0, 0,
     &base_url},
    {"max-queued", NULL, HT_OPT_STRING, NULL,
     "tenant: N jobs waiting at most (queued or scheduled; more: 429 at submit)", 0, 0,
     &max_queued},
    {"max-running", NULL, HT_OPT_STRING, NULL,
     "tenant or type: N jobs running at once at most (the excess waits)", 0, 0, &max_running},
    {"max-priority", NULL, HT_OPT_STRING, NULL,
     "tenant: PRIORITY applied at most (high, default, low): a submit asking more gets it", 0, 0,
     &max_priority},
    {"weight", NULL, HT_OPT_STRING, NULL, "tenant: N claims in a row in its turn (default 1)", 0, 0,
     &weight},
    {"clear", NULL, HT_OPT_FLAG, NULL, "remove every limit of the tenant or type", 0, 0, &clear},
    {"json", NULL, HT_OPT_FLAG, NULL, "print the server's JSON document instead", 0, 0, &as_json},
};

/* Operator commands send the operator's key when one is set apart. */
static void use_operator_key(void)
{
    const char *key = getenv("HANGTIGHT_OPERATOR_KEY");
    if (key && *key)
        setenv("HANGTIGHT_API_KEY", key, 1);
}

/* METHOD `path` with `body` (may be NULL); 0 with *doc (NULL for 204) when
 * the server answered `want`, else the exit status after saying why. */
static int call(const char *what, const char *method, const char *path, const char *body, long want,
                json_t **doc)
{
    ht_cli_response_t resp = {0};
    char *url = ht_cli_join_url(base_url, path);
    int status = HT_CLI_USAGE;
    *doc = NULL;
    if (!url)
        goto out;
    if (ht_cli_http(method, url, body, NULL, &resp) != 0) {
        fprintf(stderr, "%s: %s\n", what, resp.error);
        goto out;
    }
    status = HT_CLI_FAILED;
    if (resp.status != want) {
        ht_cli_print_problem(what, &resp);
        goto out;
    }
    if (want != 204 && !(*doc = json_loadb(resp.body, resp.body_len, 0, NULL))) {
        fprintf(stderr, "%s: the server's answer is not JSON\n", what);
        goto out;
    }
    status = HT_CLI_OK;
out:
    free(url);
    ht_cli_response_clear(&resp);
    return status;
}

static int pause_or_resume(int argc, char **argv, const char *verb)
{
    ht_cli_args_t args;
    static const char synopsis[] = "[--type TYPE] [--json]";
    int rc = ht_cli_parse(pause_options, sizeof pause_options / sizeof pause_options[0], argc, argv,
                          synopsis, &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 0) {
        fprintf(stderr, "usage: hangtight %s %s (see --help)\n", verb, synopsis);
        return HT_CLI_USAGE;
    }
    use_operator_key();
    char *escaped = type_opt ? curl_easy_escape(NULL, type_opt, 0) : NULL;
    char *path = NULL, what[32];
    snprintf(what, sizeof what, "hangtight %s", verb);
    if (asprintf(&path, "/v1/queues/" QUEUE "/%s%s%s", verb, escaped ? "?type=" : "",
                 escaped ? escaped : "") < 0)
        path = NULL;
    curl_free(escaped);
    json_t *doc = NULL;
    int status = path ? call(what, "POST", path, NULL, 200, &doc) : HT_CLI_USAGE;
    if (status == HT_CLI_OK && as_json)
        ht_cli_print_json(doc);
    else if (status == HT_CLI_OK)
        printf("%s %s %s\n", type_opt ? "type" : "queue", type_opt ? type_opt : QUEUE,
               strcmp(verb, "pause") == 0 ? "paused" : "resumed");
    fflush(stdout);
    json_decref(doc);
    free(path);
    return status;
}

int ht_cli_pause(int argc, char **argv)
{
    return pause_or_resume(argc, argv, "pause");
}

int ht_cli_resume(int argc, char **argv)
{
    return pause_or_resume(argc, argv, "resume");
}

/* ---- caps ---------------------------------------------------------------- */

/* A number as a JSON integer, anything else as a string (the server says
 * what is wrong with it). */
static json_t *number_or_text(const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (*v && !*end && errno == 0)
        return json_integer(n);
    return json_string(v);
}

static void print_limit(const char *label, const json_t *doc, const char *key)
{
    const json_t *v = json_object_get(doc, key);
    if (json_is_integer(v))
        printf("  %s=%lld", label, (long long)json_integer_value(v));
    else if (json_is_string(v))
        printf("  %s=%s", label, json_string_value(v));
}

static void print_entry(const char *kind, const char *name, const json_t *doc)
{
    printf("%-7s %-32s", kind, name);
    print_limit("max_queued", doc, "max_queued");
    print_limit("max_running", doc, "max_running");
    print_limit("max_priority", doc, "max_priority");
    print_limit("weight", doc, "weight");
    printf("\n");
}

static int caps_list(void)
{
    json_t *doc;
    int status = call("hangtight caps", "GET", "/v1/limits", NULL, 200, &doc);
    if (status == HT_CLI_OK && as_json) {
        ht_cli_print_json(doc);
    } else if (status == HT_CLI_OK) {
        const char *name;
        json_t *v;
        json_object_foreach(json_object_get(doc, "tenants"), name, v)
            print_entry("tenant", name, v);
        json_object_foreach(json_object_get(doc, "types"), name, v)
            print_entry("type", name, v);
        json_t *p = json_object_get(doc, "partitions");
        if (json_integer_value(p) > 1)
            printf("(running caps are split over %lld partitions)\n",
                   (long long)json_integer_value(p));
    }
    fflush(stdout);
    json_decref(doc);
    return status;
}

static int caps_set(const char *kind, const char *name)
{
    int tenant = strcmp(kind, "tenant") == 0;
    char *escaped = curl_easy_escape(NULL, name, 0);
    char *path = NULL;
    if (!escaped || asprintf(&path, "/v1/limits/%s/%s", tenant ? "tenants" : "types", escaped) < 0)
        path = NULL;
    curl_free(escaped);
    if (!path)
        return HT_CLI_USAGE;
    int status;
    json_t *doc = NULL;
    if (clear) {
        status = call("hangtight caps", "DELETE", path, NULL, 204, &doc);
        if (status == HT_CLI_OK)
            printf("%s %s: no limits\n", kind, name);
    } else {
        json_t *body = json_object();
        if (max_queued)
            json_object_set_new(body, "max_queued", number_or_text(max_queued));
        if (max_running)
            json_object_set_new(body, "max_running", number_or_text(max_running));
        if (max_priority)
            json_object_set_new(body, "max_priority", json_string(max_priority));
        if (weight)
            json_object_set_new(body, "weight", number_or_text(weight));
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        status = text ? call("hangtight caps", "PUT", path, text, 200, &doc) : HT_CLI_USAGE;
        free(text);
        if (status == HT_CLI_OK && as_json)
            ht_cli_print_json(doc);
        else if (status == HT_CLI_OK)
            print_entry(kind, name, doc);
    }
    fflush(stdout);
    json_decref(doc);
    free(path);
    return status;
}

int ht_cli_caps(int argc, char **argv)
{
    static const char synopsis[] =
        "[tenant NAME [--max-queued N] [--max-running N] [--max-priority P] [--weight W] | "
        "type NAME --max-running N] [--clear] [--json]";
    ht_cli_args_t args;
    int rc = ht_cli_parse(caps_options, sizeof caps_options / sizeof caps_options[0], argc, argv,
                          synopsis, &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    use_operator_key();
    int any = max_queued || max_running || max_priority || weight;
    if (args.npos == 0 && !any && !clear)
        return caps_list();
    if (args.npos == 2 && (any || clear) && !(any && clear) &&
        (strcmp(args.pos[0], "tenant") == 0 ||
         (strcmp(args.pos[0], "type") == 0 && !max_queued && !max_priority && !weight)))
        return caps_set(args.pos[0], args.pos[1]);
    fprintf(stderr, "usage: hangtight caps %s (see --help)\n", synopsis);
    return HT_CLI_USAGE;
}
