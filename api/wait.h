/* Held requests: the machinery shared by sync submits (POST /v1/jobs with
 * Prefer: wait=N) and long polls (GET /v1/jobs/{id} with If-None-Match and
 * Prefer: wait=N).  A held request costs a small struct, a libuv timer and a
 * watch on the thread's pub/sub connection (api/pubsub.h), never a thread.
 *
 * Life of a held request:
 *
 *   hold --"ready" / a relevant event--> re-read the job --done?--> answer
 *    |                                         |             (DONE)
 *    |                                         +--Redis trouble--> read
 *    |                                            again later (backing off)
 *    +--every heartbeat (HTTP/1.1 only)--> "HTTP/1.1 102 Processing"
 *    +--deadline--> one last read --> answer (TIMEOUT, or DONE if it is)
 *    +--client gone (write error, EOF), server stopping--> answer (ABORTED)
 *    +--h2o disposes of the request first--> torn down, no answer
 *
 * 102 Processing (RFC 9110 section 15.2) goes only to HTTP/1.1 clients.
 * libh2o 2.2.5 has no API for interim responses, so it is written straight
 * to the connection's socket (req->conn->callbacks->get_socket()), which
 * h2o leaves alone while a handler holds the request: it stopped reading
 * before calling the handler and writes nothing until the response starts.
 * Never to HTTP/1.0 (which has no 1xx), never on HTTP/2 (get_socket()
 * returns the shared connection socket there, and raw bytes would corrupt
 * its framing): those are held silently.
 *
 * The 102 write: h2o_socket_write() allows one write in flight (h2o asserts
 * it) and its callback gets only the socket, so the waiter lends itself
 * through sock->data for the duration of the write (h2o reads sock->data
 * only in its own socket callbacks, none of which can run then) and skips a
 * heartbeat while one is pending; an answer that falls due meanwhile waits
 * for the write's callback.
 *
 * A client that hangs up: on HTTP/2 h2o notices and disposes of the
 * request at once.  On HTTP/1 h2o is not reading, so each heartbeat (or,
 * without heartbeats, a silent check at the default heartbeat interval)
 * first looks at the socket's TCP state (a FIN or a reset shows even behind
 * unread pipelined bytes); that, or a failing 102 write, means the client
 * is gone: the request is answered at once (the cheap async answer, with
 * Connection: close), h2o's own write fails and it closes the connection,
 * which frees the waiter.  A client that half-closes its side after the
 * request counts as gone too; it still gets that answer.
 *
 * Memory: nothing is buffered per held request (the 102 is a static
 * string, at most one write in flight), and the unused tail of h2o's 8 KB
 * input buffer of an HTTP/1 request is given back while it is held (see
 * shrink_input() in wait.c); a client that stops reading can
 * hold its request for at most the wait plus HT_WAIT_STALL_MS, after which
 * its socket is shut down.  At most HT_WAIT_MAX_PER_THREAD requests are held
 * per api thread; beyond that the caller answers 503. */
#ifndef HT_API_WAIT_H
#define HT_API_WAIT_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/job.h"
#include "shared/prefer.h"

#include "api/pubsub.h"

/* Held requests per api thread (a constant, not a setting: ~1 KB each
 * here, plus what h2o keeps per connection, so 50,000 is far below what a
 * thread's memory and file descriptors allow, and far above a sane load). */
#define HT_WAIT_MAX_PER_THREAD 50000
/* Bounds of the client's heartbeat=S, in seconds (0 is "none"). */
#define HT_WAIT_HEARTBEAT_MIN_S 1
#define HT_WAIT_HEARTBEAT_MAX_S 60
/* How long a due answer waits for a stuck 102 write before the socket is
 * shut down (a client that stopped reading). */
#define HT_WAIT_STALL_MS 10000
/* A read of the job that failed for Redis trouble is tried again after
 * HT_WAIT_RETRY_MIN_MS (the pace at which a lost connection is retried,
 * api/aconn.h), doubling up to HT_WAIT_RETRY_MAX_MS while it keeps failing. */
#define HT_WAIT_RETRY_MIN_MS 500
#define HT_WAIT_RETRY_MAX_MS 8000

/* ---- the plan: what the request asked for, what the server grants ------- */

typedef struct {
    long wait_ms;      /* how long to hold; 0: answer at once */
    long heartbeat_ms; /* interval of 102s; 0: none (HTTP/1.0, HTTP/2, heartbeat=0) */
    long check_ms;     /* interval of "is the client still there" on HTTP/1; 0: none */
    /* for Preference-Applied */
    int respond_async; /* the client sent respond-async */
    long wait_s;       /* the wait applied (after the cap), when > 0 */
    long heartbeat_s;  /* the heartbeat applied, or -1 when not applied */
    int max_beats;     /* 102s sent at most; -1: no limit (ht_wait_plan_client) */
} ht_wait_plan_t;

/* Reads every Prefer header of `req` and, for clients that cannot set
 * headers, "wait" and "heartbeat" from the query string (a Prefer header
 * wins over the query). */
void ht_wait_prefer_of(h2o_req_t *req, ht_prefer_t *out);

/* Decides the plan (pure): wait=N capped by max_wait_s (0 disables
 * holding); the client's heartbeat=S bounded to [HT_WAIT_HEARTBEAT_MIN_S,
 * HT_WAIT_HEARTBEAT_MAX_S] or 0, else default_heartbeat_ms; no 102s unless
 * http_version is 0x101 (h2o's req->version). */
void ht_wait_plan(ht_wait_plan_t *out, const ht_prefer_t *prefer, long max_wait_s,
                  long default_heartbeat_ms, int http_version);

/* Clients known by their User-Agent to mistake a 102 for the final answer
 * (one table in wait.c, each row tried with the real client by
 * tests/integration/test_clients.sh): when the request asked for no
 * heartbeat itself (no heartbeat= in Prefer or the query), the plan gets no
 * 102s (Python's urllib and requests take the first one as the answer) or
 * at most a few (Go's net/http fails on its fifth 1xx).  An explicit
 * heartbeat=S always wins.  `ua` is the User-Agent value (`len` bytes, no
 * NUL needed; NULL: none sent, which tells nothing: Python's bare
 * http.client sends none, and neither does Node's http, which reads 102s
 * well).  Pure. */
void ht_wait_plan_client(ht_wait_plan_t *plan, const ht_prefer_t *prefer, const char *ua,
                         size_t len);

/* ht_wait_plan_client with the User-Agent header of `req`. */
void ht_wait_plan_client_of(ht_wait_plan_t *plan, const ht_prefer_t *prefer, h2o_req_t *req);

/* Writes the Preference-Applied value for an answer into buf: "wait=120,
 * heartbeat=30", "respond-async" ...  `held` is 1 when the request was held,
 * `async_answer` 1 when the answer is a 202.  Returns the length; 0 means
 * nothing was applied (omit the header). */
size_t ht_wait_applied(const ht_wait_plan_t *plan, int held, int async_answer, char *buf,
                       size_t len);

/* ---- what ends a wait (pure) -------------------------------------------- */

typedef enum {
    HT_WAIT_TERMINAL, /* sync submit: until the job succeeded, failed or was canceled */
    HT_WAIT_CHANGE,   /* long poll: until the job's version differs from the client's */
} ht_wait_mode_t;

/* 1 when `ev` (NULL: "ready") calls for re-reading the job. */
int ht_wait_event_needs_read(ht_wait_mode_t mode, uint64_t version, const ht_job_event_t *ev);

/* 1 when `job` ends the wait. */
int ht_wait_job_done(ht_wait_mode_t mode, uint64_t version, const ht_job_t *job);

/* ---- holding ------------------------------------------------------------ */

typedef enum {
    HT_WAIT_DONE,    /* the job is done (err 0, job set), or gone (err HT_ENOTFOUND) */
    HT_WAIT_TIMEOUT, /* the wait ran out: job is the latest read, or NULL with err */
    HT_WAIT_ABORTED, /* client gone or server stopping: no job; answer cheaply */
} ht_wait_end_t;

/* Answers the held request, exactly once, unless h2o disposed of the
 * request first (then it is never called).  `job` is borrowed, valid only
 * during the call. */
typedef void (*ht_wait_answer_cb)(void *data, h2o_req_t *req, ht_wait_end_t end, int err,
                                  const ht_job_t *job);

/* 1 while this thread holds fewer than HT_WAIT_MAX_PER_THREAD requests:
 * check before doing anything that cannot be undone (a submit). */
int ht_wait_has_room(void);

/* Holds `req` for plan->wait_ms until the job `id` (copied) meets `mode`
 * (`version`: the client's, for HT_WAIT_CHANGE), then calls `cb`.  `data`
 * must live as long as the request (in req->pool).  Returns 0, or without
 * holding (cb never called; the caller answers now): -EBUSY (this thread's
 * limit), HT_EREDIS (no pub/sub on this thread), HT_ENOMEM. */
int ht_wait_hold(h2o_req_t *req, const char *id, ht_wait_mode_t mode, uint64_t version,
                 const ht_wait_plan_t *plan, ht_wait_answer_cb cb, void *data);

/* 1 when `req` is an HTTP/1 request whose client closed or reset the
 * connection while the request is held (h2o is not reading then: its TCP
 * state tells); 0 otherwise (HTTP/2: h2o notices by itself). */
int ht_wait_client_gone(h2o_req_t *req);

/* Answers every request held by the calling thread now (HT_WAIT_ABORTED):
 * for the server's shutdown, before it waits for connections to close. */
void ht_wait_release_all(void);

#endif
