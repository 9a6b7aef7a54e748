/* GET /v1/jobs/{id}/events: a job's changes as Server-Sent Events.
 *
 *   id: <event id>
 *   event: status | progress
 *   data: <the job document as of that change, on one line>
 *
 * Where events come from: every change of a job that some request watches
 * appends an entry to its event log in Redis and publishes a note
 * (shared/library.lua).  A stream reads the job and its event log together
 * and marks the job watched in the same step (ht_astore_watch_log), sends
 * what is new, then watches the job (api/pubsub.h); each note, and each
 * "ready" (subscribed, or subscribed again after a reconnect), makes it
 * read the event log again from the last entry it sent, and so does each
 * heartbeat, which renews the mark (WATCH_MS).  Reading the event log
 * rather than trusting notes is what gives no gap and no duplicate, across
 * Redis reconnects and client reconnects (Last-Event-ID) alike.  The mark
 * outlives the stream by about two heartbeats: a client that reconnects
 * within that resumes exactly; after a change made while nobody watched,
 * the log is gone and the stream starts over from the current document.
 *
 * The first events: without Last-Event-ID, one "status" event with the
 * current document, whose id "<version>-0" names the job's version.  With
 * it, every entry after that one; but when the log cannot tell what came
 * after it (capped, so old entries go; dropped after a change nobody
 * watched; or an id that never was), a full "status" event instead, so the
 * client is never silently missing state.  The stream ends after a
 * terminal status.
 *
 * Sending: h2o allows one h2o_send in flight; what arrives meanwhile waits
 * in `pending` and goes with the next proceed.  A client that stops reading
 * is cut off once PENDING_CAP bytes wait.  Comment heartbeats every
 * cfg->heartbeat_ms keep proxies from timing the stream out, and (on
 * HTTP/1, where h2o does not read while it answers) are when a vanished
 * client is noticed.
 *
 * Memory: the stream's state is malloc'd (its timer must outlive the
 * request's pool until libuv closes it) and tied to the request by a pool
 * dispose hook, which is where it ends in every case. */
#include "api/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/error.h"
#include "shared/id.h"
#include "shared/log.h"

#include "api/event_format.h"
#include "api/http.h"
#include "api/metrics_counters.h"
#include "api/parts.h"
#include "api/pubsub.h"
#include "api/store.h"

#define PENDING_CAP    (1u << 20)
#define QUIET_CHECK_MS 10000 /* with heartbeats off (0): how often to look for hang-ups */
/* How long each read marks the job watched: two beats (one may be late),
 * and some slack for the read's own way to Redis. */
#define WATCH_MS(beat_ms) (2 * (beat_ms) + 5000)

typedef struct {
    h2o_generator_t gen; /* h2o hands it back to proceed and stop */
    ht_api_thread_t *t;
    h2o_req_t *req;     /* NULL once h2o disposed of the request */
    const char *tenant; /* the caller's: another tenant's job is "not found" */
    char id[HT_ID_LEN + 1];
    /* The id of the last event sent ("<version>-0"), or before that the
     * client's Last-Event-ID; "" when neither. */
    char last_id[HT_EVENT_ID_MAX];
    /* The job's version as of what was sent (0: not known yet): notes of
     * versions up to it are old.  Versions, unlike event ids, compare
     * whatever id form a client resumes from ("<v>-0" of the event log, or
     * a stream id "<ms>-<seq>" a stream-based keyspace gave it). */
    uint64_t last_version;
    ht_watch_t *watch;
    uv_timer_t heartbeat;
    h2o_linklist_t link; /* in the thread's streams */
    ht_buf_t pending, inflight;
    int started;  /* response headers given to h2o */
    int fetching; /* a read of the job and its event log is in flight */
    int refetch;  /* a note came meanwhile: read again */
    int sending;  /* an h2o_send is in flight */
    int ending;   /* the last event is queued: finish after it */
    int cut;      /* cut off (client not reading, or gone): no more events */
    int done;     /* the final h2o_send was made, or h2o stopped us */
} sse_t;

/* Streams of this thread, so that shutdown can end them.  Thread-local:
 * each api thread runs its own loop and serves its own streams. */
static __thread h2o_linklist_t streams;
static __thread int shutting_down;

static void fetch(sse_t *s);

/* The heartbeat timer's period. */
static long beat_ms(const sse_t *s)
{
    return s->t->cfg->heartbeat_ms > 0 ? s->t->cfg->heartbeat_ms : QUIET_CHECK_MS;
}

/* ---- sending ---------------------------------------------------------- */

static void stop_watching(sse_t *s)
{
    ht_watch_remove(s->watch);
    s->watch = NULL;
    uv_timer_stop(&s->heartbeat);
}

/* Ends the stream with an error (h2o closes the connection): no more events,
 * and the memory they held goes now. */
static void cut_off(sse_t *s, ht_log_level_t level, const char *why)
{
    if (s->cut)
        return;
    ht_log(level, "event stream cut off", "id", s->id, "detail", why, NULL);
    s->cut = 1;
    stop_watching(s);
    ht_buf_free(&s->pending);
}

/* Whether what was just queued after `before` bytes may stay.  One event
 * is always accepted (it may be big: a final document with its result);
 * past that, PENDING_CAP bytes waiting behind a send the client does not
 * read is a client to drop. */
static void check_queued(sse_t *s, size_t before)
{
    if (ht_buf_failed(&s->pending))
        cut_off(s, HT_LOG_ERROR, "out of memory");
    else if (s->sending && before > 0 && s->pending.len > PENDING_CAP)
        cut_off(s, HT_LOG_WARN, "the client is not reading");
}

/* Queues bytes for the client. */
static void enqueue(sse_t *s, const char *p, size_t len)
{
    if (s->cut || s->done)
        return;
    size_t before = s->pending.len;
    ht_buf_append(&s->pending, p, len);
    check_queued(s, before);
}

/* Hands what waits to h2o, unless a send is in flight (proceed calls back). */
static void flush(sse_t *s)
{
    if (!s->started || s->sending || s->done || !s->req)
        return;
    if (s->cut) {
        s->done = 1;
        h2o_send(s->req, NULL, 0, H2O_SEND_STATE_ERROR);
        return;
    }
    if (s->pending.len == 0 && !s->ending)
        return;
    ht_buf_t out = s->pending;
    s->pending = s->inflight;
    ht_buf_reset(&s->pending);
    s->inflight = out;
    h2o_iovec_t iov = h2o_iovec_init(out.data, out.len);
    s->sending = 1;
    if (s->ending)
        s->done = 1;
    h2o_send(s->req, &iov, iov.len ? 1 : 0,
             s->ending ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

/* h2o: the previous send went out. */
static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    sse_t *s = (sse_t *)gen;
    s->sending = 0;
    /* Freed rather than kept: an idle stream then holds no buffer at all. */
    ht_buf_free(&s->inflight);
    flush(s);
}

/* h2o: the client is gone (or the connection failed) before the end. */
static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    (void)req;
    sse_t *s = (sse_t *)gen;
    ht_log(HT_LOG_DEBUG, "event stream closed by the client", "id", s->id, NULL);
    s->done = 1;
    stop_watching(s);
}

/* ---- events ----------------------------------------------------------- */

/* Queues one event with the job document as of entry `e` (NULL: the
 * current one), written straight into the pending buffer. */
static void send_event(sse_t *s, const char *event_id, const char *event, const ht_job_t *job,
                       const ht_event_entry_t *e)
{
    if (s->cut || s->done)
        return;
    size_t before = s->pending.len;
    ht_sse_job_event_append(&s->pending, event_id, event, job, e);
    check_queued(s, before);
}

/* The server stops: a last event saying so, so that a client can tell this
 * end from the job's (it reconnects, to another instance, with
 * Last-Event-ID: the event has no id, so the last one seen stays).  Not
 * after the terminal event, which ends the stream anyway. */
static void send_shutdown(sse_t *s)
{
    static const char frame[] = "event: shutdown\nretry: 1000\ndata: {\"detail\":\"the server "
                                "is shutting down; reconnect with Last-Event-ID\"}\n\n";
    if (!s->ending)
        enqueue(s, frame, sizeof(frame) - 1);
    s->ending = 1;
}

/* The current document as one "status" event, with the id "<version>-0":
 * the client has seen every change up to that version. */
static void send_full(sse_t *s, const ht_job_t *job)
{
    snprintf(s->last_id, sizeof(s->last_id), "%llu-0", (unsigned long long)job->version);
    send_event(s, s->last_id, "status", job, NULL);
    s->last_version = job->version;
    if (ht_job_status_terminal(job->status))
        s->ending = 1;
}

/* The version of an event id "<v>-0" (1), or 0 for another id. */
static int id_version(const char *id, uint64_t *v)
{
    const char *dash = strchr(id, '-');
    if (!dash || strcmp(dash, "-0") != 0)
        return 0;
    *v = strtoull(id, NULL, 10);
    return 1;
}

/* What a read of the job and its event log adds to the stream.  `entries`
 * are those from last_id on (none when last_id is "").  The
 * log has no hole (shared/library.lua drops it after a change nobody
 * watched), so the client, who has seen version L, misses nothing when the
 * log holds L or starts at L + 1, or when the job is still at L; otherwise
 * it gets the current document, never a silent gap.  "0-0" asks for the
 * whole log, however far back it goes (the dashboard's replay). */
static void send_new(sse_t *s, const ht_job_t *job, size_t n, const ht_event_entry_t *entries)
{
    uint64_t seen;
    if (!s->last_id[0] || !id_version(s->last_id, &seen)) {
        send_full(s, job);
        return;
    }
    size_t first = 0;
    if (n > 0 && entries[0].version == seen)
        first = 1; /* the entry last sent */
    else if (n == 0 || (seen > 0 && entries[0].version != seen + 1)) {
        if (job->version != seen)
            send_full(s, job); /* trimmed past it, or a change nobody watched */
        else
            s->last_version = seen;
        n = 0;
    }
    for (size_t i = first; i < n && !s->ending; i++) {
        const ht_event_entry_t *e = &entries[i];
        send_event(s, e->id, e->progress ? "progress" : "status", job, e);
        snprintf(s->last_id, sizeof(s->last_id), "%s", e->id);
        s->last_version = e->version;
        if (ht_job_status_terminal(e->status))
            s->ending = 1;
    }
    /* The read is consistent: with the whole event log sent, the job's own
     * status is the client's too (a client resuming after the terminal
     * event). */
    if (ht_job_status_terminal(job->status))
        s->ending = 1;
}

/* ---- watching --------------------------------------------------------- */

static void on_watch(void *data, const ht_job_event_t *ev)
{
    sse_t *s = data;
    if (s->ending || s->cut || s->done)
        return;
    if (ev && s->last_id[0] && s->last_version && ev->version <= s->last_version)
        return; /* sent already */
    if (s->fetching) {
        s->refetch = 1;
        return;
    }
    fetch(s);
}

/* On HTTP/1, h2o does not read the socket while it answers, so a client
 * that hung up is seen only when a write fails, a heartbeat or two later.
 * Peeking sees the FIN at once.  (HTTP/2 reads all along: h2o stops us.) */
static int client_hung_up(h2o_req_t *req)
{
    if (req->version >= 0x200)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    int fd = sock ? h2o_socket_get_fd(sock) : -1;
    char c;
    return fd >= 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void on_heartbeat(uv_timer_t *timer)
{
    sse_t *s = timer->data;
    if (!s->req || s->done || s->cut)
        return;
    if (client_hung_up(s->req)) {
        cut_off(s, HT_LOG_DEBUG, "the client hung up");
        flush(s);
        return;
    }
    /* Each beat reads again: it renews the watch mark, and retries a read
     * that failed. */
    if (!s->fetching)
        fetch(s);
    if (s->t->cfg->heartbeat_ms > 0 && !s->sending && s->pending.len == 0) {
        static const char beat[] = ": keep-alive\n\n";
        enqueue(s, beat, sizeof(beat) - 1);
    }
    flush(s);
}

/* The stream is running: watch the job (its "ready" reads the event log again,
 * covering the time before the subscription) and beat. */
static void start_watching(sse_t *s)
{
    s->watch = ht_watch_add(s->t->pubsub, s->id, on_watch, s);
    if (!s->watch) {
        cut_off(s, HT_LOG_ERROR, "out of memory");
        return;
    }
    /* Without heartbeats the timer still runs, to notice clients gone and
     * to renew the watch mark. */
    long ms = beat_ms(s);
    uv_timer_start(&s->heartbeat, on_heartbeat, (uint64_t)ms, (uint64_t)ms);
}

/* ---- reading ---------------------------------------------------------- */

static void start_response(sse_t *s)
{
    h2o_req_t *req = s->req;
    req->res.status = 200;
    req->res.reason = "OK";
    ht_http_add_header(req, "content-type", "text/event-stream");
    ht_http_add_header(req, "cache-control", "no-cache");
    ht_http_add_header(req, "x-accel-buffering", "no"); /* nginx: pass events on at once */
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    h2o_start_response(req, &s->gen);
    s->started = 1;
}

/* The first read: the job exists (or 404), then the stream starts. */
static int first_answer(sse_t *s, int err)
{
    h2o_req_t *req = s->req;
    if (err)
        return ht_http_job_problem(req, err);
    if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        ht_http_add_header(req, "content-type", "text/event-stream");
        ht_http_add_header(req, "cache-control", "no-cache");
        ht_http_send_empty(req, 200);
        return -1;
    }
    start_response(s);
    return 0;
}

static void on_fetched(void *data, int err, const ht_job_t *job, size_t n,
                       const ht_event_entry_t *entries)
{
    sse_t *s = data;
    int first = !s->started;
    s->fetching = 0;
    if (first && !err && !ht_job_owned_by(job, s->tenant))
        err = HT_ENOTFOUND; /* the same answer as an id that does not exist */
    if (first && first_answer(s, err) < 0)
        return;
    /* Redis trouble (another err): the next heartbeat or note reads again. */
    if (err == HT_ENOTFOUND)
        s->ending = 1; /* expired while streaming (ttl_s after it finished): nothing more */
    else if (!err)
        send_new(s, job, n, entries);
    if (shutting_down)
        send_shutdown(s);
    if (s->ending || s->cut) {
        stop_watching(s);
    } else {
        if (first)
            start_watching(s);
        if (s->refetch) {
            s->refetch = 0;
            fetch(s);
        }
    }
    flush(s);
}

static void fetch(sse_t *s)
{
    s->fetching = 1;
    ht_keys_t scratch;
    ht_astore_watch_log(s->t->store, s->req, ht_api_keys_of(s->t, s->id, &scratch), s->id,
                        WATCH_MS(beat_ms(s)), s->last_id[0] ? s->last_id : NULL, on_fetched, s);
}

/* ---- life ------------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    sse_t *s = h->data;
    ht_buf_free(&s->pending);
    ht_buf_free(&s->inflight);
    free(s);
}

/* h2o disposes of the request: the stream's end in every case. */
static void on_dispose(void *p)
{
    sse_t *s = *(sse_t **)p;
    s->req = NULL;
    stop_watching(s);
    h2o_linklist_unlink(&s->link);
    ht_metrics_add(HT_M_SSE_STREAMS, -1);
    uv_close((uv_handle_t *)&s->heartbeat, on_timer_closed);
}

/* Last-Event-ID: the header (EventSource sends it when it reconnects), or
 * ?last_event_id= (the first one) for clients that cannot set headers.
 * Anything that is not an event id is ignored: the stream then starts from
 * the current state. */
static void last_event_id(h2o_req_t *req, ht_query_t *q, char out[HT_EVENT_ID_MAX])
{
    out[0] = '\0';
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("last-event-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (ht_event_id_valid(v.base, v.len))
            snprintf(out, HT_EVENT_ID_MAX, "%.*s", (int)v.len, v.base);
        return;
    }
    ht_query_param_t p;
    while (ht_query_next(q, &p) == 1) {
        if (strcmp(p.name, "last_event_id") == 0) {
            if (ht_event_id_valid(p.value, p.value_len))
                memcpy(out, p.value, p.value_len + 1);
            return;
        }
    }
}

int ht_events_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    char id[HT_ID_LEN + 1];
    if (ht_http_id_or_reply(req, args->id, HT_P_JOB_NOT_FOUND, "job", id) < 0)
        return -1;
    ht_query_t query;
    if (ht_http_query_or_reply(req, &query) < 0)
        return -1;
    if (ht_tenant_take_for_or_reply(args->who, req, HT_TENANT_STREAMS,
                                    t->cfg->max_streams_per_tenant, "event streams") < 0)
        return -1;
    sse_t *s = calloc(1, sizeof(*s));
    if (!s)
        return ht_http_problem(req, HT_P_INTERNAL, "out of memory");
    sse_t **link = h2o_mem_alloc_shared(&req->pool, sizeof(*link), on_dispose);
    *link = s;
    s->t = t;
    s->req = req;
    s->tenant = args->tenant;
    memcpy(s->id, id, sizeof(s->id));
    uv_timer_init(&t->loop, &s->heartbeat);
    s->heartbeat.data = s;
    if (!streams.next)
        h2o_linklist_init_anchor(&streams);
    h2o_linklist_insert(&streams, &s->link);
    ht_metrics_add(HT_M_SSE_STREAMS, 1);
    last_event_id(req, &query, s->last_id);
    fetch(s);
    return 0;
}

void ht_events_shutdown(void)
{
    shutting_down = 1;
    if (!streams.next)
        return;
    /* Finishing a response may dispose of its request at once, which
     * unlinks its stream: step on before. */
    for (h2o_linklist_t *l = streams.next, *next; l != &streams; l = next) {
        next = l->next;
        sse_t *s = H2O_STRUCT_FROM_MEMBER(sse_t, link, l);
        if (!s->started || s->done)
            continue; /* a stream still starting ends after its first read */
        send_shutdown(s);
        stop_watching(s);
        flush(s);
    }
}
