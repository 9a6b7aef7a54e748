/* The pieces of the `hangtight` command shared between its files: the
 * argument splitter, the HTTP client (libcurl), the output helpers and the
 * commands.  Everything here is `ht_cli_`: the cli_objs library is linked
 * into the unit tests together with the api and worker objects. */
#ifndef HT_CLI_H
#define HT_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shared/buf.h"
#include "shared/config.h"
#include "shared/webhook.h"

/* Exit statuses of every command. */
enum {
    HT_CLI_OK = 0,     /* done; for wait: the job succeeded */
    HT_CLI_FAILED = 1, /* the server said no; for wait: failed or canceled */
    HT_CLI_USAGE = 2,  /* bad arguments, network trouble, wait timed out */
};

#define HT_CLI_URL_DEFAULT    "http://127.0.0.1:8080"
#define HT_CLI_MAX_POSITIONAL 8

/* The option table row of --url, which every command that talks to the
 * api takes: the base URL into *var (a const char *). */
// clang-format off
#define HT_CLI_URL_OPTION(var)                                                                  \
    {"url", "HANGTIGHT_URL", HT_OPT_STRING, HT_CLI_URL_DEFAULT, "base URL of hangtight-api",     \
     0, 0, (var)}
// clang-format on

/* ---- args.c ------------------------------------------------------------ */

/* The parsed command line of one command. */
typedef struct {
    int npos;
    char *pos[HT_CLI_MAX_POSITIONAL]; /* borrowed from argv */
} ht_cli_args_t;

/* Parses argv (argv[0] is the command name) against `opts`, accepting
 * options before, between and after the positional arguments ("--" ends
 * the options).  Prints the command's usage for --help and returns 1;
 * prints the problem and returns HT_CLI_USAGE on a bad argument; returns
 * 0 otherwise. */
int ht_cli_parse(const ht_option_t *opts, size_t n, int argc, char **argv, const char *synopsis,
                 ht_cli_args_t *args);

/* An option whose value may be left out: "--wait" means "--wait=<implied>",
 * and "--wait=N" gives N.  The form "--wait N" is not read as a value, so N
 * cannot be mistaken for a positional or the other way round. */
typedef struct {
    const char *name;    /* as in the option table, without dashes */
    const char *implied; /* the value of the bare flag */
} ht_cli_optional_t;

/* ht_cli_parse() with `nopt` optional-value options (see above). */
int ht_cli_parse_ex(const ht_option_t *opts, size_t n, const ht_cli_optional_t *optional,
                    size_t nopt, int argc, char **argv, const char *synopsis, ht_cli_args_t *args);

/* ---- http.c ------------------------------------------------------------ */

typedef struct {
    long status; /* HTTP status, 0 when no answer */
    char *body;  /* owned, NUL-terminated (may be empty) */
    size_t body_len;
    char content_type[128];
    char etag[128];
    char location[512];
    long retry_after; /* seconds, -1 when absent */
    char error[256];  /* transport failure, when status == 0 */
    int timed_out;    /* the failure was ht_cli_request_t's timeout */
    int stopped;      /* on_data asked to stop */
    int streamed;     /* the body went to on_data */
    /* private */
    const void *opt_;
    ht_buf_t body_; /* the body while it arrives */
} ht_cli_response_t;

/* Sends one request.  `body` may be NULL (then no Content-Type is sent),
 * `if_none_match` may be NULL.  Returns 0 with `resp` filled, or -1 with
 * resp->error set when no HTTP answer came.  ht_cli_response_clear() after
 * either. */
int ht_cli_http(const char *method, const char *url, const char *body, const char *if_none_match,
                ht_cli_response_t *resp);

/* What ht_cli_request() can do beyond ht_cli_http(); zero means default. */
typedef struct {
    const char *if_none_match;   /* If-None-Match value */
    const char *prefer;          /* Prefer value ("wait=10") */
    const char *accept;          /* Accept value (default application/json) */
    const char *last_event_id;   /* Last-Event-ID value */
    const char *idempotency_key; /* Idempotency-Key value (sent as given) */
    long timeout_ms;             /* the whole request (default 30 s; < 0: none) */
    long idle_timeout_s;         /* give up when no byte came for this long (0: never) */
    int verbose;                 /* print each status line received on stderr */
    /* Called for each interim (1xx) response, e.g. 102 Processing. */
    void (*on_interim)(void *ctx, long status);
    /* When set, the body of a 200 answer goes here as it arrives instead of
     * into resp->body; a non-zero return stops the transfer (then
     * ht_cli_request() returns 0 with resp->stopped set). */
    int (*on_data)(void *ctx, const char *data, size_t len);
    void *ctx;
    /* A file as the body, instead of `body`: read from upload_fd as libcurl
     * sends it (never whole in memory), upload_size bytes, Content-Type
     * upload_type; on_read sees each piece read (a running digest). */
    int upload_fd;
    int64_t upload_size;
    const char *upload_type;
    void (*on_read)(void *ctx, const char *data, size_t len);
    /* Called now and then while bytes move: the body's bytes sent so far,
     * and the answer's received so far of total (0: unknown). */
    void (*on_transfer)(void *ctx, int64_t sent, int64_t received, int64_t total);
} ht_cli_request_t;

/* ht_cli_http() with the options of `opt` (may be NULL). */
int ht_cli_request(const char *method, const char *url, const char *body,
                   const ht_cli_request_t *opt, ht_cli_response_t *resp);
void ht_cli_response_clear(ht_cli_response_t *resp);

/* "base" + "/v1/jobs" without doubling the slash: a new malloc'd string. */
char *ht_cli_join_url(const char *base, const char *path);

/* "<base>/v1/jobs/<id><suffix>" with the id escaped (suffix "" or e.g.
 * "/retry"): a new malloc'd string, or NULL when out of memory. */
char *ht_cli_job_url(const char *base, const char *id, const char *suffix);

/* ---- sse.c: Server-Sent Events parser ----------------------------------- */

/* One event: type ("message" when the stream gave none), the last event id
 * seen so far ("" when none), the data lines joined with "\n".  All
 * borrowed for the call.  A non-zero return stops the parse and is
 * returned by ht_cli_sse_feed(). */
typedef int (*ht_cli_sse_cb)(void *ctx, const char *event, const char *id, const char *data);

typedef struct {
    ht_cli_sse_cb cb;
    void *ctx;
    char last_id[128]; /* the stream's last event id: send it as Last-Event-ID */
    /* private */
    char pending_id[128]; /* the id field of the event being received */
    char event[32];
    ht_buf_t line, data;
    int has_data, after_cr;
} ht_cli_sse_t;

void ht_cli_sse_init(ht_cli_sse_t *p, ht_cli_sse_cb cb, void *ctx);
/* Feeds bytes in any split.  Returns 0, the callback's non-zero, or a
 * negative errno (-ENOMEM, -E2BIG for an absurdly long line or event). */
int ht_cli_sse_feed(ht_cli_sse_t *p, const char *buf, size_t len);
/* Forgets a partly received line or event (the connection broke) but keeps
 * last_id, for the next connection's bytes. */
void ht_cli_sse_restart(ht_cli_sse_t *p);
/* Frees the buffers (last_id stays readable). */
void ht_cli_sse_clear(ht_cli_sse_t *p);

/* ---- output.c ---------------------------------------------------------- */

/* Prints a JSON document indented on stdout. */
void ht_cli_print_json(const json_t *doc);

/* Prints a JSON answer body indented on stdout.  Returns HT_CLI_OK, or
 * HT_CLI_FAILED (message on stderr, naming `what`) when it is not JSON. */
int ht_cli_print_body(const char *what, const ht_cli_response_t *resp);

/* Explains an unexpected answer on stderr: a problem+json document is
 * shown as "error: <title> (<status>): <detail>" plus one line per field
 * error; anything else as its status and body. */
void ht_cli_print_problem(const char *what, const ht_cli_response_t *resp);

/* Progress of a job being waited for, on stderr.  On a terminal it redraws
 * one line; otherwise it prints a line only when something changed. */
typedef struct {
    int tty;
    char last[512];
    int drawn; /* a redrawn line is on screen */
} ht_cli_progress_t;

void ht_cli_progress_init(ht_cli_progress_t *p);
void ht_cli_progress_show(ht_cli_progress_t *p, const json_t *doc);
/* Ends the redrawn line, if any. */
void ht_cli_progress_done(ht_cli_progress_t *p);

/* ---- table.c: the tables of `list` and `stats` ------------------------- */

/* The header line of the jobs table (id, type, status, attempt, created). */
void ht_cli_jobs_header(FILE *out);
/* One table row per job document of `jobs` (a JSON array, borrowed); the
 * columns have fixed widths so pages printed one after another line up. */
void ht_cli_jobs_rows(FILE *out, const json_t *jobs);
/* The GET /v1/queues answer (borrowed) as a table: one row per queue with
 * its depth per priority and its counts, then each queue's totals. */
void ht_cli_queues_table(FILE *out, const json_t *doc);

/* ---- cmd_files.c: job files --------------------------------------------- */

/* What `submit --file` needs of the submit command's options. */
typedef struct {
    const char *base_url;
    const char *type, *payload; /* payload: JSON text or NULL */
    const char *path, *content_type;
    const char *metadata, *priority, *run_at, *idempotency_key;
    long max_attempts, timeout_s, ttl_s, delay_s; /* 0: not given */
    const char *prefer;                           /* "wait=N" or NULL */
    long timeout_ms;
    int verbose;
    void (*on_interim)(void *ctx, long status);
    void *ctx;
} ht_cli_file_submit_t;

/* POST /v1/jobs?type=T&... with the file at s->path as the body, streamed,
 * with a progress bar on a terminal; the SHA-256 computed on the way is
 * compared with the one the server stored (a mismatch cancels the job and
 * fails).  Fills *resp as ht_cli_request() does.  Returns 0, or -1 (the
 * reason printed) before anything was sent or when no answer came. */
int ht_cli_submit_file(const ht_cli_file_submit_t *s, ht_cli_response_t *resp);

/* ---- follow.c: waiting for a job to finish ------------------------------ */

typedef struct {
    const char *job_url; /* "<base>/v1/jobs/<id>" */
    int64_t deadline;    /* ht_now_ms() time to give up at, 0: never */
    long timeout_s;      /* what the deadline was, for the message */
    int verbose;         /* show requests, status lines and events on stderr */
} ht_cli_follow_t;

/* Follows a job until it finishes: its event stream (resumed with
 * Last-Event-ID when the connection drops), or polls when the server has
 * no stream.  Shows progress on stderr and prints the final document on
 * stdout.  `doc` (borrowed, may be NULL) is a document already known,
 * shown first.  Returns the exit status: HT_CLI_OK (succeeded),
 * HT_CLI_FAILED (failed, canceled, or the server refused), HT_CLI_USAGE
 * (deadline passed, network trouble). */
int ht_cli_follow(const ht_cli_follow_t *f, const json_t *doc);

/* The exit status for a finished job's status, -1 while it is not done. */
int ht_cli_exit_for(const char *job_status);

/* ---- the commands (cmd_*.c); argv[0] is the command's name -------------- */

int ht_cli_migrate(int argc, char **argv);
int ht_cli_submit(int argc, char **argv);
int ht_cli_status(int argc, char **argv);
int ht_cli_wait(int argc, char **argv);
int ht_cli_cancel(int argc, char **argv);
int ht_cli_retry(int argc, char **argv);
int ht_cli_list(int argc, char **argv);
int ht_cli_stats(int argc, char **argv);
int ht_cli_webhook(int argc, char **argv);
int ht_cli_webhook_secret(int argc, char **argv);
int ht_cli_pause(int argc, char **argv);      /* cmd_operator.c */
int ht_cli_resume(int argc, char **argv);     /* cmd_operator.c */
int ht_cli_caps(int argc, char **argv);       /* cmd_operator.c */
int ht_cli_partitions(int argc, char **argv); /* cmd_partitions.c */
int ht_cli_download(int argc, char **argv);   /* cmd_files.c */
int ht_cli_job_key(int argc, char **argv);
int ht_cli_schedule(int argc, char **argv); /* cmd_schedule.c */

/* ---- cmd_webhook.c ----------------------------------------------------- */

/* A received webhook delivery as a receiver would dump it: an optional
 * request line, header lines (LF or CRLF), a blank line, the body. */
typedef struct {
    char *id;         /* webhook-id value, owned, NULL when absent */
    char *timestamp;  /* webhook-timestamp value, owned, NULL when absent */
    char *signature;  /* webhook-signature value(s), owned, space-joined, NULL when absent */
    const char *body; /* borrowed from the parsed buffer */
    size_t body_len;  /* Content-Length when given, else the rest of the input */
} ht_cli_webhook_request_t;

/* Parses `len` bytes of `buf` into *out (header names compared without
 * case).  Returns 0, or HT_EINVAL with a reason in `err`.  Clear *out with
 * ht_cli_webhook_request_clear() either way; out->body points into buf. */
int ht_cli_webhook_parse(const char *buf, size_t len, ht_cli_webhook_request_t *out, char *err,
                         size_t errlen);
void ht_cli_webhook_request_clear(ht_cli_webhook_request_t *req);

/* Verifies a parsed delivery against `secrets` at `now_s`, allowing
 * `tolerance_s` of clock difference.  Returns 0, or HT_EINVAL with the
 * reason (missing header, stale timestamp, no matching signature) in `why`. */
int ht_cli_webhook_check(const ht_webhook_secrets_t *secrets, const ht_cli_webhook_request_t *req,
                         long long now_s, long tolerance_s, char *why, size_t whylen);

#endif
