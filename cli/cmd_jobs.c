/* `hangtight submit`, `status` and `wait`: clients of the HTTP API
 * (POST /v1/jobs and GET /v1/jobs/{id}). */
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/clock.h"

#include "cli/cli.h"

#define POLL_MAX_MS 1000 /* poll at least this often, whatever Retry-After says */
#define POLL_MIN_MS 200

static const char *base_url;
static long max_attempts, timeout_s, ttl_s, wait_timeout_s;
static const char *priority, *metadata;

#define URL_HELP "base URL of hangtight-api"

static const ht_option_t submit_options[] = {
    {"url", "HANGTIGHT_URL", HT_OPT_STRING, HT_CLI_URL_DEFAULT, URL_HELP, 0, 0, &base_url},
    {"max-attempts", NULL, HT_OPT_INT, NULL, "attempts before the job fails (server default 3)", 1,
     INT_MAX, &max_attempts},
    {"timeout-s", NULL, HT_OPT_INT, NULL, "seconds per attempt: the lease (server default 300)", 1,
     LONG_MAX, &timeout_s},
    {"ttl-s", NULL, HT_OPT_INT, NULL, "seconds the finished job is kept (server default 86400)", 1,
     LONG_MAX, &ttl_s},
    {"priority", NULL, HT_OPT_STRING, NULL, "high, default or low", 0, 0, &priority},
    {"metadata", NULL, HT_OPT_STRING, NULL, "a JSON object of strings, returned as given", 0, 0,
     &metadata},
};

static const ht_option_t status_options[] = {
    {"url", "HANGTIGHT_URL", HT_OPT_STRING, HT_CLI_URL_DEFAULT, URL_HELP, 0, 0, &base_url},
};

static const ht_option_t wait_options[] = {
    {"url", "HANGTIGHT_URL", HT_OPT_STRING, HT_CLI_URL_DEFAULT, URL_HELP, 0, 0, &base_url},
    {"timeout", NULL, HT_OPT_INT, "0", "give up after this many seconds (0: never)", 0, LONG_MAX,
     &wait_timeout_s},
};

/* "<base>/v1/jobs/<id>" with the id escaped: a new string or NULL. */
static char *job_url(const char *id)
{
    char *escaped = curl_easy_escape(NULL, id, 0);
    char *path = NULL, *url = NULL;
    if (escaped && asprintf(&path, "/v1/jobs/%s", escaped) >= 0)
        url = ht_cli_join_url(base_url, path);
    curl_free(escaped);
    free(path);
    return url;
}

/* Parses a JSON argument; prints why not and returns NULL. */
static json_t *json_arg(const char *what, const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!v)
        fprintf(stderr, "hangtight submit: %s is not JSON: %s (at column %d)\n", what, jerr.text,
                jerr.column);
    return v;
}

/* The POST /v1/jobs body from the arguments, or NULL (message printed). */
static json_t *submit_body(const ht_cli_args_t *args)
{
    json_t *body = json_object();
    json_object_set_new(body, "type", json_string(args->pos[0]));
    if (args->npos > 1) {
        json_t *payload = json_arg("the payload", args->pos[1]);
        if (!payload)
            goto fail;
        json_object_set_new(body, "payload", payload);
    }
    if (metadata) {
        json_t *m = json_arg("--metadata", metadata);
        if (!m)
            goto fail;
        json_object_set_new(body, "metadata", m);
    }
    if (max_attempts)
        json_object_set_new(body, "max_attempts", json_integer(max_attempts));
    if (timeout_s)
        json_object_set_new(body, "timeout_s", json_integer(timeout_s));
    if (ttl_s)
        json_object_set_new(body, "ttl_s", json_integer(ttl_s));
    if (priority)
        json_object_set_new(body, "priority", json_string(priority));
    return body;
fail:
    json_decref(body);
    return NULL;
}

/* Prints a JSON answer body; 0, or HT_CLI_FAILED when it is not JSON. */
static int print_body(const ht_cli_response_t *resp)
{
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (!doc) {
        fprintf(stderr, "hangtight: the server answered %ld with a body that is not JSON\n",
                resp->status);
        return HT_CLI_FAILED;
    }
    ht_cli_print_json(doc);
    json_decref(doc);
    return HT_CLI_OK;
}

int ht_cli_submit(int argc, char **argv)
{
    ht_cli_args_t args;
    ht_cli_response_t resp = {0};
    json_t *body = NULL;
    char *text = NULL, *url = NULL;
    int status = HT_CLI_USAGE;

    int rc = ht_cli_parse(submit_options, sizeof submit_options / sizeof submit_options[0], argc,
                          argv, "TYPE [JSON-PAYLOAD] [options]", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos < 1 || args.npos > 2) {
        fprintf(stderr, "usage: hangtight submit TYPE [JSON-PAYLOAD] [options] (see --help)\n");
        return HT_CLI_USAGE;
    }
    body = submit_body(&args);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    url = ht_cli_join_url(base_url, "/v1/jobs");
    if (!text || !url)
        goto out;
    if (ht_cli_http("POST", url, text, NULL, &resp) != 0) {
        fprintf(stderr, "hangtight submit: %s\n", resp.error);
        goto out;
    }
    if (resp.status == 202 || resp.status == 200 || resp.status == 201) {
        status = print_body(&resp);
    } else {
        ht_cli_print_problem("hangtight submit", &resp);
        status = HT_CLI_FAILED;
    }
out:
    ht_cli_response_clear(&resp);
    json_decref(body);
    free(text);
    free(url);
    return status;
}

int ht_cli_status(int argc, char **argv)
{
    ht_cli_args_t args;
    ht_cli_response_t resp = {0};
    char *url = NULL;
    int status = HT_CLI_USAGE;

    int rc = ht_cli_parse(status_options, sizeof status_options / sizeof status_options[0], argc,
                          argv, "ID", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 1) {
        fprintf(stderr, "usage: hangtight status ID (see --help)\n");
        return HT_CLI_USAGE;
    }
    url = job_url(args.pos[0]);
    if (!url)
        goto out;
    if (ht_cli_http("GET", url, NULL, NULL, &resp) != 0) {
        fprintf(stderr, "hangtight status: %s\n", resp.error);
        goto out;
    }
    if (resp.status == 200) {
        status = print_body(&resp);
    } else {
        ht_cli_print_problem("hangtight status", &resp);
        status = HT_CLI_FAILED;
    }
out:
    ht_cli_response_clear(&resp);
    free(url);
    return status;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* How long to sleep before the next poll: the server's Retry-After, but
 * never longer than POLL_MAX_MS (progress should move on screen) nor past
 * the deadline. */
static long next_poll_ms(const ht_cli_response_t *resp, int64_t deadline)
{
    long ms = POLL_MAX_MS;
    if (resp->retry_after >= 0 && resp->retry_after * 1000 < ms)
        ms = resp->retry_after * 1000 < POLL_MIN_MS ? POLL_MIN_MS : resp->retry_after * 1000;
    if (deadline) {
        int64_t left = deadline - ht_now_ms();
        if (left < ms)
            ms = left > 0 ? (long)left : 0;
    }
    return ms;
}

/* The exit status for a terminal job status, or -1 while it is not done. */
static int exit_for(const char *job_status)
{
    if (!job_status)
        return -1;
    if (strcmp(job_status, "succeeded") == 0)
        return HT_CLI_OK;
    if (strcmp(job_status, "failed") == 0 || strcmp(job_status, "canceled") == 0)
        return HT_CLI_FAILED;
    return -1;
}

/* One poll.  Returns the exit status once the job is finished or the wait
 * must end, -1 to keep polling.  *doc holds the latest document. */
static int poll_once(const char *url, json_t **doc, char *etag, size_t etaglen,
                     ht_cli_progress_t *progress, ht_cli_response_t *resp)
{
    if (ht_cli_http("GET", url, NULL, *doc && *etag ? etag : NULL, resp) != 0) {
        ht_cli_progress_done(progress);
        fprintf(stderr, "hangtight wait: %s\n", resp->error);
        return HT_CLI_USAGE;
    }
    if (resp->status == 304)
        return -1; /* unchanged: the document we hold is current */
    if (resp->status == 503)
        return -1; /* the api lost Redis for a moment: keep trying */
    if (resp->status != 200) {
        ht_cli_progress_done(progress);
        ht_cli_print_problem("hangtight wait", resp);
        return HT_CLI_FAILED;
    }
    json_t *fresh = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (!fresh) {
        ht_cli_progress_done(progress);
        fprintf(stderr, "hangtight wait: the server's answer is not JSON\n");
        return HT_CLI_FAILED;
    }
    json_decref(*doc);
    *doc = fresh;
    snprintf(etag, etaglen, "%s", resp->etag);
    ht_cli_progress_show(progress, *doc);
    int done = exit_for(json_string_value(json_object_get(*doc, "status")));
    if (done >= 0) {
        ht_cli_progress_done(progress);
        ht_cli_print_json(*doc);
    }
    return done;
}

int ht_cli_wait(int argc, char **argv)
{
    ht_cli_args_t args;
    ht_cli_progress_t progress;
    json_t *doc = NULL;
    char etag[128] = "";
    char *url = NULL;
    int status = HT_CLI_USAGE;

    int rc = ht_cli_parse(wait_options, sizeof wait_options / sizeof wait_options[0], argc, argv,
                          "ID [--timeout S]", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 1) {
        fprintf(stderr, "usage: hangtight wait ID [--timeout S] (see --help)\n");
        return HT_CLI_USAGE;
    }
    url = job_url(args.pos[0]);
    if (!url)
        goto out;
    ht_cli_progress_init(&progress);
    int64_t deadline = wait_timeout_s ? ht_now_ms() + wait_timeout_s * 1000 : 0;
    for (;;) {
        ht_cli_response_t resp = {0};
        status = poll_once(url, &doc, etag, sizeof etag, &progress, &resp);
        long pause = next_poll_ms(&resp, deadline);
        ht_cli_response_clear(&resp);
        if (status >= 0)
            break;
        if (deadline && ht_now_ms() >= deadline) {
            ht_cli_progress_done(&progress);
            const char *last = json_string_value(json_object_get(doc, "status"));
            fprintf(stderr, "hangtight wait: gave up after %ld s; the job is still %s\n",
                    wait_timeout_s, last ? last : "unknown");
            status = HT_CLI_USAGE;
            break;
        }
        sleep_ms(pause);
    }
out:
    json_decref(doc);
    free(url);
    return status;
}
