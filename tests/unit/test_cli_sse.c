/* cli/sse.c, the Server-Sent Events parser of `hangtight wait`: events cut
 * at any byte, CRLF/LF/CR line ends, comments, multi-line data, ids kept
 * across events, limits; and the optional-value options of cli/args.c. */
#include <criterion/criterion.h>
#include <string.h>

#include "cli/cli.h"

#define MAX_EVENTS 16

typedef struct {
    int n;
    char event[MAX_EVENTS][32];
    char id[MAX_EVENTS][64];
    char data[MAX_EVENTS][256];
    int stop_after; /* return non-zero from the callback after this many */
} seen_t;

static int on_event(void *ctx, const char *event, const char *id, const char *data)
{
    seen_t *s = ctx;
    cr_assert_lt(s->n, MAX_EVENTS);
    snprintf(s->event[s->n], sizeof s->event[0], "%s", event);
    snprintf(s->id[s->n], sizeof s->id[0], "%s", id);
    snprintf(s->data[s->n], sizeof s->data[0], "%s", data);
    s->n++;
    return s->stop_after && s->n >= s->stop_after ? 7 : 0;
}

/* Feeds `text` in pieces of `step` bytes. */
static int feed_in_steps(ht_cli_sse_t *p, const char *text, size_t step)
{
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i += step) {
        size_t n = len - i < step ? len - i : step;
        int rc = ht_cli_sse_feed(p, text + i, n);
        if (rc)
            return rc;
    }
    return 0;
}

static const char *STREAM = ": hello\n"
                            "id: 1-0\n"
                            "event: job\n"
                            "data: {\"status\": \"queued\"}\n"
                            "\n"
                            ": heartbeat\r\n"
                            "id: 2-0\r\n"
                            "event: progress\r\n"
                            "data: line one\r\n"
                            "data: line two\r\n"
                            "\r\n"
                            "event: status\r"
                            "data:no space\r"
                            "\r";

Test(cli_sse, events_survive_any_split)
{
    for (size_t step = 1; step <= strlen(STREAM); step++) {
        seen_t s = {0};
        ht_cli_sse_t p;
        ht_cli_sse_init(&p, on_event, &s);
        cr_assert_eq(feed_in_steps(&p, STREAM, step), 0);
        cr_assert_eq(s.n, 3, "step %zu: %d events", step, s.n);
        cr_assert_str_eq(s.event[0], "job");
        cr_assert_str_eq(s.id[0], "1-0");
        cr_assert_str_eq(s.data[0], "{\"status\": \"queued\"}");
        cr_assert_str_eq(s.event[1], "progress");
        cr_assert_str_eq(s.id[1], "2-0");
        cr_assert_str_eq(s.data[1], "line one\nline two", "step %zu", step);
        /* No id field: the last one seen stays the stream's. */
        cr_assert_str_eq(s.event[2], "status");
        cr_assert_str_eq(s.id[2], "2-0");
        cr_assert_str_eq(s.data[2], "no space");
        cr_assert_str_eq(p.last_id, "2-0");
        ht_cli_sse_clear(&p);
    }
}

Test(cli_sse, no_data_no_event_and_default_type)
{
    seen_t s = {0};
    ht_cli_sse_t p;
    ht_cli_sse_init(&p, on_event, &s);
    /* An id and a type without data dispatch nothing, but the id sticks. */
    cr_assert_eq(feed_in_steps(&p, "id: 9-1\nevent: x\n\ndata\n\n", 1000), 0);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.event[0], "message", "the type was reset by the blank line");
    cr_assert_str_eq(s.data[0], "", "a bare 'data' line is empty data");
    cr_assert_str_eq(s.id[0], "9-1");
    /* An unfinished event is not dispatched. */
    cr_assert_eq(feed_in_steps(&p, "data: partial", 1000), 0);
    cr_assert_eq(s.n, 1);
    ht_cli_sse_clear(&p);
}

Test(cli_sse, callback_stops_the_parse)
{
    seen_t s = {.stop_after = 1};
    ht_cli_sse_t p;
    ht_cli_sse_init(&p, on_event, &s);
    cr_assert_eq(feed_in_steps(&p, "data: a\n\ndata: b\n\n", 1000), 7);
    cr_assert_eq(s.n, 1);
    ht_cli_sse_clear(&p);
}

Test(cli_sse, restart_drops_the_partial_event_and_its_id)
{
    seen_t s = {0};
    ht_cli_sse_t p;
    ht_cli_sse_init(&p, on_event, &s);
    cr_assert_eq(
        feed_in_steps(&p, "id: 5-0\ndata: whole\n\nid: 6-0\nevent: progress\ndata: hal", 1000), 0);
    cr_assert_eq(s.n, 1);
    ht_cli_sse_restart(&p);
    cr_assert_str_eq(p.last_id, "5-0", "the id of the unfinished event does not count");
    cr_assert_eq(feed_in_steps(&p, "data: fresh\n\n", 1000), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.data[1], "fresh", "nothing of the broken event leaks into the next");
    cr_assert_str_eq(s.event[1], "message");
    ht_cli_sse_clear(&p);
}

Test(cli_sse, absurd_line_is_refused)
{
    seen_t s = {0};
    ht_cli_sse_t p;
    ht_cli_sse_init(&p, on_event, &s);
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof chunk);
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++)
        rc = ht_cli_sse_feed(&p, chunk, sizeof chunk);
    cr_assert_lt(rc, 0, "an endless line must fail, not grow forever");
    ht_cli_sse_clear(&p);
}

/* ---- optional-value options (cli/args.c) --------------------------------- */

static long wait_s, timeout_s;
static const ht_option_t opts[] = {
    {"wait", NULL, HT_OPT_INT, NULL, "seconds", 1, 100, &wait_s},
    {"timeout", NULL, HT_OPT_INT, NULL, "seconds", 0, 100, &timeout_s},
};
static const ht_cli_optional_t optional[] = {{"wait", "10"}};

static int parse(int argc, char **argv, ht_cli_args_t *a)
{
    return ht_cli_parse_ex(opts, 2, optional, 1, argc, argv, "X", a);
}

Test(cli_args_optional, bare_flag_gets_the_implied_value)
{
    char *argv[] = {"submit", "sleep", "--wait", "{}", "--timeout", "5"};
    ht_cli_args_t a;
    cr_assert_eq(parse(6, argv, &a), 0);
    cr_assert_eq(wait_s, 10);
    cr_assert_eq(timeout_s, 5);
    cr_assert_eq(a.npos, 2, "the payload after a bare --wait stays a positional");
    cr_assert_str_eq(a.pos[1], "{}");
}

Test(cli_args_optional, explicit_value_and_absence)
{
    char *with[] = {"submit", "sleep", "--wait=3"};
    char *without[] = {"submit", "sleep"};
    char *bad[] = {"submit", "sleep", "--wait=0"};
    ht_cli_args_t a;
    cr_assert_eq(parse(3, with, &a), 0);
    cr_assert_eq(wait_s, 3);
    cr_assert_eq(parse(2, without, &a), 0);
    cr_assert_eq(wait_s, 0);
    cr_assert_eq(parse(3, bad, &a), HT_CLI_USAGE);
}
