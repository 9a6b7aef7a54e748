/* Following a job to its end, for `hangtight wait` and `submit --wait`:
 * its event stream (GET /v1/jobs/{id}/events, Server-Sent Events), resumed
 * with Last-Event-ID when the connection drops, or polling GET
 * /v1/jobs/{id} when the server has no stream.  Progress goes to stderr,
 * the final document to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/clock.h"

#include "cli/cli.h"

#define POLL_MAX_MS 1000 /* poll at least this often, whatever Retry-After says */
#define POLL_MIN_MS 200
/* A stream that sends nothing (not even a heartbeat comment) for this long
 * is taken for dead and resumed; the server's heartbeat is 10 s by default. */
#define STREAM_IDLE_S 45L
/* Consecutive failed attempts to (re)open the stream before giving up,
 * with a pause that doubles from RECONNECT_FIRST_MS. */
#define RECONNECT_TRIES    6
#define RECONNECT_FIRST_MS 250L

/* The state of one follow. */
typedef struct {
    const ht_cli_follow_t *f;
    ht_cli_progress_t progress;
    json_t *doc;    /* the latest document (owned) */
    int done;       /* exit status once the job finished, else -1 */
    int bad_events; /* events whose data was not a job document */
} follow_t;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int ht_cli_exit_for(const char *job_status)
{
    if (!job_status)
        return -1;
    if (strcmp(job_status, "succeeded") == 0)
        return HT_CLI_OK;
    if (strcmp(job_status, "failed") == 0 || strcmp(job_status, "canceled") == 0)
        return HT_CLI_FAILED;
    return -1;
}

/* Milliseconds left before the deadline (LONG_MAX-ish when none). */
static long left_ms(const follow_t *st)
{
    if (!st->f->deadline)
        return 1L << 30;
    int64_t left = st->f->deadline - ht_now_ms();
    return left > 0 ? (long)left : 0;
}

/* A new document: show it, and finish when the job has. */
static void take_doc(follow_t *st, json_t *doc)
{
    json_decref(st->doc);
    st->doc = doc;
    ht_cli_progress_show(&st->progress, doc);
    st->done = ht_cli_exit_for(json_string_value(json_object_get(doc, "status")));
}

static int gave_up(follow_t *st)
{
    ht_cli_progress_done(&st->progress);
    const char *last = json_string_value(json_object_get(st->doc, "status"));
    const char *id = json_string_value(json_object_get(st->doc, "id"));
    fprintf(stderr, "hangtight wait: gave up after %ld s; job %s is still %s\n", st->f->timeout_s,
            id ? id : "", last ? last : "in an unknown state");
    return HT_CLI_USAGE;
}

/* ---- the event stream ------------------------------------------------------ */

/* Every event's data is the job document as of that event. */
static int on_event(void *ctx, const char *event, const char *id, const char *data)
{
    follow_t *st = ctx;
    json_t *doc = json_loads(data, 0, NULL);
    if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "status"))) {
        json_decref(doc);
        st->bad_events++;
        return 0;
    }
    if (st->f->verbose)
        fprintf(stderr, "event %s%s%s\n", event, *id ? " id " : "", id);
    take_doc(st, doc);
    return st->done >= 0; /* the terminal event: stop reading */
}

static int on_stream_data(void *ctx, const char *data, size_t len)
{
    ht_cli_sse_t *sse = ctx;
    return ht_cli_sse_feed(sse, data, len) != 0;
}

/* What one attempt at the stream came to. */
enum { STREAM_FINISHED, STREAM_RESUME, STREAM_UNSUPPORTED, STREAM_FAILED };

/* Opens the stream (resuming after sse->last_id) and reads it until the job
 * finishes, the stream ends or breaks, or the deadline passes. */
static int stream_once(follow_t *st, const char *url, ht_cli_sse_t *sse, ht_cli_response_t *resp)
{
    ht_cli_request_t opt = {
        .accept = "text/event-stream",
        .last_event_id = sse->last_id[0] ? sse->last_id : NULL,
        .timeout_ms = st->f->deadline ? (left_ms(st) > 0 ? left_ms(st) : 1) : -1,
        .idle_timeout_s = STREAM_IDLE_S,
        .verbose = st->f->verbose,
        .on_data = on_stream_data,
        .ctx = sse,
    };
    if (st->f->verbose)
        fprintf(stderr, "> GET %s%s%s\n", url, opt.last_event_id ? " Last-Event-ID: " : "",
                opt.last_event_id ? opt.last_event_id : "");
    int rc = ht_cli_request("GET", url, NULL, &opt, resp);
    if (st->done >= 0)
        return STREAM_FINISHED;
    if (resp->streamed)
        return STREAM_RESUME; /* it ended or broke before the end: resume */
    if (rc != 0)
        return STREAM_FAILED; /* no answer at all */
    if (resp->status != 200 || !strstr(resp->content_type, "text/event-stream"))
        return STREAM_UNSUPPORTED;
    return STREAM_RESUME; /* a 200 with an empty stream */
}

/* Follows the stream.  Returns the exit status, or -1 to fall back to
 * polling (the server answered /events with something else than a stream). */
static int follow_stream(follow_t *st)
{
    char *url = NULL;
    ht_cli_sse_t sse;
    int tries = 0, status = -1, streamed_once = 0;

    if (asprintf(&url, "%s/events", st->f->job_url) < 0)
        return -1;
    ht_cli_sse_init(&sse, on_event, st);
    for (;;) {
        ht_cli_response_t resp = {0};
        int what = stream_once(st, url, &sse, &resp);
        streamed_once |= resp.streamed;
        if (what == STREAM_FINISHED) {
            status = st->done;
        } else if (st->f->deadline && left_ms(st) == 0) {
            status = gave_up(st);
        } else if (what == STREAM_UNSUPPORTED) {
            if (st->f->verbose)
                fprintf(stderr, "no event stream (HTTP %ld): polling instead\n", resp.status);
            status = -1;
        } else {
            /* A stream that delivered something starts the count afresh. */
            tries = resp.streamed ? 0 : tries;
            /* Nothing ever answered: report it now rather than retry. */
            if (++tries > RECONNECT_TRIES || (what == STREAM_FAILED && !streamed_once)) {
                ht_cli_progress_done(&st->progress);
                fprintf(stderr, "hangtight wait: %s\n",
                        resp.error[0] ? resp.error : "the event stream keeps ending");
                status = HT_CLI_USAGE;
            } else {
                long pause = RECONNECT_FIRST_MS << (tries - 1);
                if (st->f->verbose)
                    fprintf(stderr, "stream ended (%s); resuming in %ld ms\n",
                            resp.error[0] ? resp.error : "closed", pause);
                sleep_ms(pause < left_ms(st) ? pause : left_ms(st));
                ht_cli_response_clear(&resp);
                /* A half-received event of the broken connection is dropped;
                 * the server sends it again after Last-Event-ID. */
                ht_cli_sse_restart(&sse);
                continue;
            }
        }
        ht_cli_response_clear(&resp);
        break;
    }
    ht_cli_sse_clear(&sse);
    free(url);
    return status;
}

/* ---- polling (servers without the stream) ---------------------------------- */

/* How long to sleep before the next poll: the server's Retry-After, but
 * never longer than POLL_MAX_MS (progress should move on screen) nor past
 * the deadline. */
static long next_poll_ms(const follow_t *st, const ht_cli_response_t *resp)
{
    long ms = POLL_MAX_MS;
    if (resp->retry_after >= 0 && resp->retry_after * 1000 < ms)
        ms = resp->retry_after * 1000 < POLL_MIN_MS ? POLL_MIN_MS : resp->retry_after * 1000;
    return ms < left_ms(st) ? ms : left_ms(st);
}

/* One poll.  Returns the exit status once the job is finished or the wait
 * must end, -1 to keep polling. */
static int poll_once(follow_t *st, char *etag, size_t etaglen, ht_cli_response_t *resp)
{
    ht_cli_request_t opt = {.if_none_match = st->doc && *etag ? etag : NULL,
                            .verbose = st->f->verbose};
    if (ht_cli_request("GET", st->f->job_url, NULL, &opt, resp) != 0) {
        ht_cli_progress_done(&st->progress);
        fprintf(stderr, "hangtight wait: %s\n", resp->error);
        return HT_CLI_USAGE;
    }
    if (resp->status == 304 || resp->status == 503)
        return -1; /* unchanged, or the api lost Redis for a moment */
    if (resp->status != 200) {
        ht_cli_progress_done(&st->progress);
        ht_cli_print_problem("hangtight wait", resp);
        return HT_CLI_FAILED;
    }
    json_t *fresh = json_loadb(resp->body, resp->body_len, 0, NULL);
    if (!fresh) {
        ht_cli_progress_done(&st->progress);
        fprintf(stderr, "hangtight wait: the server's answer is not JSON\n");
        return HT_CLI_FAILED;
    }
    snprintf(etag, etaglen, "%s", resp->etag);
    take_doc(st, fresh);
    return st->done;
}

static int follow_poll(follow_t *st)
{
    char etag[128] = "";
    for (;;) {
        ht_cli_response_t resp = {0};
        int status = poll_once(st, etag, sizeof etag, &resp);
        long pause = next_poll_ms(st, &resp);
        ht_cli_response_clear(&resp);
        if (status >= 0)
            return status;
        if (st->f->deadline && left_ms(st) == 0)
            return gave_up(st);
        sleep_ms(pause);
    }
}

int ht_cli_follow(const ht_cli_follow_t *f, const json_t *doc)
{
    follow_t st = {.f = f, .doc = NULL, .done = -1};
    ht_cli_progress_init(&st.progress);
    if (doc)
        take_doc(&st, json_deep_copy(doc));
    int status = st.done;
    if (status < 0)
        status = follow_stream(&st);
    if (status < 0)
        status = follow_poll(&st);
    if (st.done >= 0 && status == st.done) {
        ht_cli_progress_done(&st.progress);
        ht_cli_print_json(st.doc);
    }
    json_decref(st.doc);
    return status;
}
