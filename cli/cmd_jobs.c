/* `hangtight submit`, `status` and `wait`: clients of the HTTP API
 * (POST /v1/jobs, GET /v1/jobs/{id}; following a job is follow.c's, a
 * file as the job's input cmd_files.c's).
 * `submit --wait` uses sync mode: the POST carries `Prefer: wait=N`, the
 * server holds it (libcurl reads the 102 Processing heartbeats and goes on)
 * and answers 200 with the finished job, or 202 when N ran out; then the
 * job is followed like `wait` does.  `submit --batch FILE` sends many jobs
 * through POST /v1/jobs/batch. */
#include <curl/curl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/clock.h"

#include "cli/cli.h"

/* `submit --wait` without a value holds the request this long; a longer
 * job is then followed on its event stream, with a progress bar. */
#define SUBMIT_WAIT_IMPLIED "10"
/* How long past N a held POST may take before libcurl gives up. */
#define HOLD_SLACK_MS 30000L
/* The most jobs POST /v1/jobs/batch takes at once. */
#define BATCH_MAX      1000
#define BATCH_MAX_TEXT "1000"

static const char *base_url;
static long max_attempts, timeout_s, ttl_s, wait_timeout_s, submit_wait_s, delay_s;
static const char *priority, *metadata, *run_at, *idempotency_key, *batch_file;
static const char *file_path, *content_type;
static int verbose;

static const ht_option_t submit_options[] = {
    HT_CLI_URL_OPTION(&base_url),
    {"max-attempts", NULL, HT_OPT_INT, NULL, "attempts before the job fails (server default 3)", 1,
     INT_MAX, &max_attempts},
    {"timeout-s", NULL, HT_OPT_INT, NULL, "seconds per attempt: the lease (server default 300)", 1,
     LONG_MAX, &timeout_s},
    {"ttl-s", NULL, HT_OPT_INT, NULL, "seconds the finished job is kept (server default 86400)", 1,
     LONG_MAX, &ttl_s},
    {"priority", NULL, HT_OPT_STRING, NULL, "high, default or low", 0, 0, &priority},
    {"metadata", NULL, HT_OPT_STRING, NULL, "a JSON object of strings, returned as given", 0, 0,
     &metadata},
    {"delay-s", NULL, HT_OPT_INT, NULL, "run it no sooner than N seconds from now (0: now)", 0,
     LONG_MAX, &delay_s},
    {"run-at", NULL, HT_OPT_STRING, NULL,
     "run it no sooner than TIME, RFC 3339 (2026-11-26T06:00:00Z); scheduled until then", 0, 0,
     &run_at},
    {"idempotency-key", NULL, HT_OPT_STRING, NULL,
     "sent as the Idempotency-Key KEY: the same key and body give the same job", 0, 0,
     &idempotency_key},
    {"wait", NULL, HT_OPT_INT, NULL,
     "`--wait` or `--wait=N`: wait until the job finishes (exit 0 if it succeeded); the server "
     "holds the request up to N seconds (sync mode; bare --wait: " SUBMIT_WAIT_IMPLIED
     "), then the job's progress is followed",
     1, 86400, &submit_wait_s},
    {"timeout", NULL, HT_OPT_INT, "0", "with --wait: give up after this many seconds (0: never)", 0,
     LONG_MAX, &wait_timeout_s},
    {"verbose", NULL, HT_OPT_FLAG, NULL, "show the HTTP status lines (102s too) and events", 0, 0,
     &verbose},
    {"batch", NULL, HT_OPT_STRING, NULL,
     "submit the jobs of FILE instead (- for stdin): a JSON array of submit bodies, "
     "{\"jobs\": [...]}, or one body per line; sent " BATCH_MAX_TEXT
     " per request to POST /v1/jobs/batch",
     0, 0, &batch_file},
    {"file", NULL, HT_OPT_STRING, NULL,
     "the job's input: the file at PATH, streamed as the body (a blob store on the server; "
     "the other options go in the query string)",
     0, 0, &file_path},
    {"content-type", NULL, HT_OPT_STRING, NULL,
     "with --file: the file's media TYPE (default application/octet-stream)", 0, 0, &content_type},
};

static const ht_cli_optional_t submit_optional[] = {{"wait", SUBMIT_WAIT_IMPLIED}};

static const ht_option_t status_options[] = {
    HT_CLI_URL_OPTION(&base_url),
};

static const ht_option_t wait_options[] = {
    HT_CLI_URL_OPTION(&base_url),
    {"timeout", NULL, HT_OPT_INT, "0", "give up after this many seconds (0: never)", 0, LONG_MAX,
     &wait_timeout_s},
    {"verbose", NULL, HT_OPT_FLAG, NULL, "show the requests, status lines and events", 0, 0,
     &verbose},
};

static char *job_url(const char *id)
{
    return ht_cli_job_url(base_url, id, "");
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
    /* Both are passed on even together: the server says which it refuses. */
    if (delay_s)
        json_object_set_new(body, "delay_s", json_integer(delay_s));
    if (run_at)
        json_object_set_new(body, "run_at", json_string(run_at));
    return body;
fail:
    json_decref(body);
    return NULL;
}

static int print_body(const ht_cli_response_t *resp)
{
    return ht_cli_print_body("hangtight", resp);
}

/* While a sync submit is held: on a terminal, say that the server is
 * still working each time a 102 Processing arrives. */
typedef struct {
    int tty, drawn;
    int64_t started;
} hold_t;

static void on_interim(void *ctx, long status)
{
    hold_t *h = ctx;
    if (status != 102 || !h->tty)
        return;
    fprintf(stderr, "\r\033[Ksubmitted; the server is still working (%" PRId64 " s)",
            (ht_now_ms() - h->started) / 1000);
    fflush(stderr);
    h->drawn = 1;
}

/* The answer of a sync submit: 200 is the finished job (201 one that left
 * an output file), 202 a job still going that `wait` follows.  Returns the
 * exit status. */
static int after_sync_submit(const ht_cli_response_t *resp, int64_t deadline)
{
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *id = json_string_value(json_object_get(doc, "id"));
    int status = HT_CLI_FAILED;

    if (!doc || !id) {
        fprintf(stderr, "hangtight submit: the server answered %ld without a job document\n",
                resp->status);
    } else if (resp->status == 200 || resp->status == 201) { /* 201: it left an output file */
        status = ht_cli_exit_for(json_string_value(json_object_get(doc, "status")));
        ht_cli_print_json(doc);
        if (status < 0) /* a 200 must be a finished job; say so if not */
            status = HT_CLI_FAILED;
    } else {
        char *url = job_url(id);
        ht_cli_follow_t f = {
            .job_url = url, .deadline = deadline, .timeout_s = wait_timeout_s, .verbose = verbose};
        status = url ? ht_cli_follow(&f, doc) : HT_CLI_USAGE;
        free(url);
    }
    json_decref(doc);
    return status;
}

/* ---- submit --batch ------------------------------------------------------- */

/* The jobs of the batch file: an array of bodies (new reference), or NULL
 * (message printed).  The file holds an array, {"jobs": [...]}, or one
 * JSON object per line. */
static json_t *batch_jobs(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "hangtight submit: cannot open %s\n", path);
        return NULL;
    }
    ht_buf_t text = HT_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ht_buf_append(&text, chunk, n);
    if (f != stdin)
        fclose(f);
    json_t *jobs = NULL;
    json_error_t jerr;
    json_t *doc =
        ht_buf_failed(&text) ? NULL : json_loadb(text.data ? text.data : "", text.len, 0, &jerr);
    if (json_is_array(doc)) {
        jobs = json_incref(doc);
    } else if (json_is_array(json_object_get(doc, "jobs"))) {
        jobs = json_incref(json_object_get(doc, "jobs"));
    } else if (!doc) {
        /* One body per line. */
        jobs = json_array();
        size_t at = 0;
        int line = 1;
        while (jobs && at < text.len) {
            size_t end = at;
            while (end < text.len && text.data[end] != '\n')
                end++;
            json_t *one = json_loadb(text.data + at, end - at, 0, &jerr);
            if (one) {
                json_array_append_new(jobs, one);
            } else if (strspn(text.data + at, " \t\r") < end - at) {
                fprintf(stderr, "hangtight submit: %s line %d is not a JSON object: %s\n", path,
                        line, jerr.text);
                json_decref(jobs);
                jobs = NULL;
            }
            at = end + 1;
            line++;
        }
    }
    if (doc && !jobs)
        fprintf(stderr,
                "hangtight submit: %s holds no jobs (an array, {\"jobs\": [...]}, or one "
                "body per line)\n",
                path);
    json_decref(doc);
    ht_buf_free(&text);
    if (jobs && json_array_size(jobs) == 0) {
        fprintf(stderr, "hangtight submit: %s holds no jobs\n", path);
        json_decref(jobs);
        jobs = NULL;
    }
    return jobs;
}

/* Sends the jobs BATCH_MAX at a time and prints one {"jobs": [...]}
 * answer, in order; each refused item's problem also on stderr.  Exit 0
 * when every job was created, 1 when the server refused one or a request. */
static int submit_batch(void)
{
    json_t *jobs = batch_jobs(batch_file);
    json_t *answers = json_array();
    char *url = ht_cli_join_url(base_url, "/v1/jobs/batch");
    int status = jobs && url ? HT_CLI_OK : HT_CLI_USAGE;
    size_t total = jobs ? json_array_size(jobs) : 0, refused = 0;
    for (size_t from = 0; status == HT_CLI_OK && from < total; from += BATCH_MAX) {
        json_t *part = json_array();
        for (size_t i = from; i < total && i < from + BATCH_MAX; i++)
            json_array_append(part, json_array_get(jobs, i));
        json_t *body = json_pack("{s:o}", "jobs", part);
        char *text = json_dumps(body, JSON_COMPACT);
        json_decref(body);
        ht_cli_response_t resp = {0};
        ht_cli_request_t opt = {.verbose = verbose};
        if (!text) {
            status = HT_CLI_USAGE;
        } else if (ht_cli_request("POST", url, text, &opt, &resp) != 0) {
            fprintf(stderr, "hangtight submit: %s\n", resp.error);
            status = HT_CLI_USAGE;
        } else if (resp.status != 200) {
            ht_cli_print_problem("hangtight submit --batch", &resp);
            status = HT_CLI_FAILED;
        } else {
            json_t *doc = json_loadb(resp.body, resp.body_len, 0, NULL);
            json_t *got = json_object_get(doc, "jobs");
            size_t i;
            json_t *item;
            json_array_foreach(got, i, item) {
                /* A refused item is {"error": <problem>}; a job document's
                 * own "error" is null or its last failure, never a problem
                 * with a status. */
                json_t *err = json_object_get(item, "error");
                if (!json_is_integer(json_object_get(err, "status")))
                    err = NULL;
                const char *detail = json_string_value(json_object_get(err, "detail"));
                if (err)
                    fprintf(stderr, "hangtight submit: job %zu refused: %s\n", from + i,
                            detail ? detail : "(no detail)");
                refused += err != NULL;
            }
            if (!json_is_array(got)) {
                fprintf(stderr, "hangtight submit: the answer has no \"jobs\" list\n");
                status = HT_CLI_FAILED;
            }
            json_array_extend(answers, got);
            json_decref(doc);
        }
        ht_cli_response_clear(&resp);
        free(text);
    }
    if (json_array_size(answers) > 0) {
        json_t *doc = json_pack("{s:O}", "jobs", answers);
        ht_cli_print_json(doc);
        json_decref(doc);
    }
    if (status == HT_CLI_OK && refused)
        status = HT_CLI_FAILED;
    json_decref(answers);
    json_decref(jobs);
    free(url);
    return status;
}

int ht_cli_submit(int argc, char **argv)
{
    ht_cli_args_t args;
    ht_cli_response_t resp = {0};
    json_t *body = NULL;
    char *text = NULL, *url = NULL;
    char prefer[64];
    int status = HT_CLI_USAGE;

    int rc =
        ht_cli_parse_ex(submit_options, sizeof submit_options / sizeof submit_options[0],
                        submit_optional, 1, argc, argv, "TYPE [JSON-PAYLOAD] [options]", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (batch_file && file_path) {
        fprintf(stderr, "hangtight submit: --batch and --file do not go together\n");
        return HT_CLI_USAGE;
    }
    if (batch_file && args.npos == 0)
        return submit_batch();
    if (args.npos < 1 || args.npos > 2) {
        fprintf(stderr, "usage: hangtight submit TYPE [JSON-PAYLOAD] [options], or "
                        "hangtight submit --batch FILE (see --help)\n");
        return HT_CLI_USAGE;
    }
    if (file_path) {
        if (args.npos > 1) { /* the payload goes as a query parameter: checked here first */
            json_t *payload = json_arg("the payload", args.pos[1]);
            if (!payload)
                goto out;
            json_decref(payload);
        }
    } else {
        body = submit_body(&args);
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        url = ht_cli_join_url(base_url, "/v1/jobs");
        if (!text || !url)
            goto out;
    }

    int sync = submit_wait_s > 0;
    int64_t started = ht_now_ms();
    int64_t deadline = sync && wait_timeout_s ? started + wait_timeout_s * 1000 : 0;
    long hold_s = submit_wait_s;
    if (deadline && hold_s > wait_timeout_s)
        hold_s = wait_timeout_s; /* the answer (and the job id) must come before the deadline */
    hold_t hold = {.tty = isatty(STDERR_FILENO), .started = started};
    ht_cli_request_t opt = {.verbose = verbose,
                            .idempotency_key = idempotency_key,
                            .on_interim = on_interim,
                            .ctx = &hold};
    if (sync) {
        snprintf(prefer, sizeof prefer, "wait=%ld", hold_s);
        opt.prefer = prefer;
        opt.timeout_ms = hold_s * 1000 + HOLD_SLACK_MS;
    }
    if (file_path) {
        ht_cli_file_submit_t fs = {.base_url = base_url,
                                   .type = args.pos[0],
                                   .payload = args.npos > 1 ? args.pos[1] : NULL,
                                   .path = file_path,
                                   .content_type = content_type,
                                   .metadata = metadata,
                                   .priority = priority,
                                   .run_at = run_at,
                                   .idempotency_key = idempotency_key,
                                   .max_attempts = max_attempts,
                                   .timeout_s = timeout_s,
                                   .ttl_s = ttl_s,
                                   .delay_s = delay_s,
                                   .prefer = opt.prefer,
                                   /* the upload takes what it takes: no deadline on it */
                                   .timeout_ms = -1,
                                   .verbose = verbose,
                                   .on_interim = on_interim,
                                   .ctx = &hold};
        rc = ht_cli_submit_file(&fs, &resp);
        if (rc != 0)
            goto out; /* said why */
    } else {
        rc = ht_cli_request("POST", url, text, &opt, &resp);
    }
    if (hold.drawn)
        fprintf(stderr, "\r\033[K");
    if (rc != 0) {
        fprintf(stderr, "hangtight submit: %s\n", resp.error);
        goto out;
    }
    if (resp.status == 0) { /* refused here after the answer (submit --file) */
        status = HT_CLI_FAILED;
    } else if (resp.status != 202 && resp.status != 200 && resp.status != 201) {
        ht_cli_print_problem("hangtight submit", &resp);
        status = HT_CLI_FAILED;
    } else if (sync) {
        status = after_sync_submit(&resp, deadline);
    } else {
        status = print_body(&resp);
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

int ht_cli_wait(int argc, char **argv)
{
    ht_cli_args_t args;
    int rc = ht_cli_parse(wait_options, sizeof wait_options / sizeof wait_options[0], argc, argv,
                          "ID [--timeout S]", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 1) {
        fprintf(stderr, "usage: hangtight wait ID [--timeout S] (see --help)\n");
        return HT_CLI_USAGE;
    }
    char *url = job_url(args.pos[0]);
    if (!url)
        return HT_CLI_USAGE;
    ht_cli_follow_t f = {
        .job_url = url,
        .deadline = wait_timeout_s ? ht_now_ms() + wait_timeout_s * 1000 : 0,
        .timeout_s = wait_timeout_s,
        .verbose = verbose,
    };
    int status = ht_cli_follow(&f, NULL);
    free(url);
    return status;
}
