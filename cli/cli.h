/* The pieces of the `hangtight` command shared between its files: the
 * argument splitter, the HTTP client (libcurl), the output helpers and the
 * commands.  Everything here is `ht_cli_`: the cli_objs library is linked
 * into the unit tests together with the api and worker objects. */
#ifndef HT_CLI_H
#define HT_CLI_H

#include <jansson.h>
#include <stddef.h>

#include "shared/config.h"

/* Exit statuses of every command. */
enum {
    HT_CLI_OK = 0,     /* done; for wait: the job succeeded */
    HT_CLI_FAILED = 1, /* the server said no; for wait: failed or canceled */
    HT_CLI_USAGE = 2,  /* bad arguments, network trouble, wait timed out */
};

#define HT_CLI_URL_DEFAULT    "http://127.0.0.1:8080"
#define HT_CLI_MAX_POSITIONAL 8

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
} ht_cli_response_t;

/* Sends one request.  `body` may be NULL (then no Content-Type is sent),
 * `if_none_match` may be NULL.  Returns 0 with `resp` filled, or -1 with
 * resp->error set when no HTTP answer came.  ht_cli_response_clear() after
 * either. */
int ht_cli_http(const char *method, const char *url, const char *body, const char *if_none_match,
                ht_cli_response_t *resp);
void ht_cli_response_clear(ht_cli_response_t *resp);

/* "base" + "/v1/jobs" without doubling the slash: a new malloc'd string. */
char *ht_cli_join_url(const char *base, const char *path);

/* ---- output.c ---------------------------------------------------------- */

/* Prints a JSON document indented on stdout. */
void ht_cli_print_json(const json_t *doc);

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

/* ---- the commands (cmd_*.c); argv[0] is the command's name -------------- */

int ht_cli_migrate(int argc, char **argv);
int ht_cli_submit(int argc, char **argv);
int ht_cli_status(int argc, char **argv);
int ht_cli_wait(int argc, char **argv);

#endif
