/* What the CLI prints: job documents on stdout, problems and progress on
 * stderr (so `hangtight wait ID > job.json` keeps a clean document). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define BAR_WIDTH 24

void ht_cli_print_json(const json_t *doc)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text) {
        printf("%s\n", text);
        free(text);
    }
    fflush(stdout);
}

int ht_cli_print_body(const char *what, const ht_cli_response_t *resp)
{
    json_t *doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (!doc) {
        fprintf(stderr, "%s: the server answered %ld with a body that is not JSON\n", what,
                resp->status);
        return HT_CLI_FAILED;
    }
    ht_cli_print_json(doc);
    json_decref(doc);
    return HT_CLI_OK;
}

static void print_field_errors(const json_t *errors)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *detail = json_string_value(json_object_get(e, "detail"));
        const char *code = json_string_value(json_object_get(e, "code"));
        fprintf(stderr, "  %s: %s%s%s%s\n", ptr && *ptr ? ptr : "(body)",
                detail ? detail : "invalid", code ? " (" : "", code ? code : "", code ? ")" : "");
    }
}

void ht_cli_print_problem(const char *what, const ht_cli_response_t *resp)
{
    json_t *doc = NULL;
    if (strstr(resp->content_type, "json"))
        doc = json_loadb(resp->body, resp->body_len, 0, NULL);
    const char *title = json_string_value(json_object_get(doc, "title"));
    if (!title) {
        fprintf(stderr, "%s: HTTP %ld%s%s\n", what, resp->status, resp->body_len ? ": " : "",
                resp->body_len ? resp->body : "");
    } else {
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        fprintf(stderr, "%s: %s (HTTP %ld)%s%s\n", what, title, resp->status,
                detail && *detail ? ": " : "", detail && *detail ? detail : "");
        print_field_errors(json_object_get(doc, "errors"));
    }
    if (resp->retry_after >= 0)
        fprintf(stderr, "  (the server suggests retrying in %ld s)\n", resp->retry_after);
    json_decref(doc);
}

void ht_cli_progress_init(ht_cli_progress_t *p)
{
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
}

/* "running 42% attempt 1/3: step 3 of 6" from the document. */
static void describe(const json_t *doc, char *out, size_t len, int with_bar)
{
    const char *status = json_string_value(json_object_get(doc, "status"));
    const json_t *progress = json_object_get(doc, "progress");
    const json_t *pct = json_object_get(progress, "percent");
    const char *msg = json_string_value(json_object_get(progress, "message"));
    long long attempt = json_integer_value(json_object_get(doc, "attempt"));
    long long max = json_integer_value(json_object_get(doc, "max_attempts"));
    char bar[BAR_WIDTH + 4] = "", pcttext[8] = ""; /* " [" bar "]" NUL */

    if (json_is_integer(pct) || json_is_real(pct)) {
        int p = (int)json_number_value(pct);
        p = p < 0 ? 0 : p > 100 ? 100 : p;
        snprintf(pcttext, sizeof pcttext, " %3d%%", p);
        if (with_bar) {
            int filled = p * BAR_WIDTH / 100;
            bar[0] = ' ';
            bar[1] = '[';
            for (int i = 0; i < BAR_WIDTH; i++)
                bar[2 + i] = i < filled ? '#' : '-';
            bar[BAR_WIDTH + 2] = ']';
            bar[BAR_WIDTH + 3] = '\0';
        }
    }
    snprintf(out, len, "%-9s%s%s attempt %lld/%lld%s%s", status ? status : "?", bar, pcttext,
             attempt, max, msg && *msg ? ": " : "", msg && *msg ? msg : "");
}

void ht_cli_progress_show(ht_cli_progress_t *p, const json_t *doc)
{
    char line[512];
    describe(doc, line, sizeof line, p->tty);
    if (p->tty) {
        /* Redraw in place; keep it to one terminal line. */
        fprintf(stderr, "\r\033[K%.*s", 100, line);
        p->drawn = 1;
    } else if (strcmp(line, p->last) != 0) {
        fprintf(stderr, "%s\n", line);
    }
    snprintf(p->last, sizeof p->last, "%s", line);
    fflush(stderr);
}

void ht_cli_progress_done(ht_cli_progress_t *p)
{
    if (p->drawn) {
        fputc('\n', stderr);
        p->drawn = 0;
    }
}
