/* Upload bodies straight from the socket, for HTTP/1 file submits and
 * remote workers' output files (docs/files.md "How an upload travels").
 *
 * libh2o 2.2.5 reads a request's whole body before any handler runs, under
 * one deadline for head and body (HANGTIGHT_REQUEST_TIMEOUT_MS), with
 * Expect: 100-continue answered before the handler can refuse anything.
 * For a file of gigabytes that is wrong three ways: the handler cannot
 * refuse before the upload (auth, type, size, a full store), a slow link
 * runs into the deadline, and the bytes land in h2o's spool file first and
 * are copied into the store only afterwards.  So for the one request that
 * takes files, this module takes the body out of h2o's hands:
 *
 *  1. Every HTTP/1 connection's read callback is wrapped (ht_intake_accept
 *     at accept, and again after each response: see intake.c).  When a
 *     read completes a request head, and that head is a file submit
 *     (POST /v1/jobs, raw target, a body that is not JSON) or a remote
 *     worker's output (PUT /v1/worker/jobs/{id}/output, any body), framed
 *     by exactly one Content-Length or one Transfer-Encoding: chunked, no
 *     Upgrade, the
 *     framing field's name is overwritten in the socket buffer, length for
 *     length ("x-ht-body-size", "x-ht-body-framing"), before h2o parses
 *     it.  h2o then sees a request without a body and runs the handler at
 *     once, with its deadline cleared and Expect left to us.
 *  2. The router claims the withheld body for the request
 *     (ht_intake_claim): until the handler has read all of it, the
 *     connection closes after the answer, since unread body bytes would
 *     otherwise be taken for the next request.
 *  3. The handler refuses early (401, 413, 415, 422, 429, 507: before "100
 *     Continue", so a client that sent Expect sends nothing), or starts
 *     reading (ht_intake_start): "100 Continue" when asked for, then the
 *     body in pieces as they arrive, with back-pressure (the socket is not
 *     read while the consumer has no room) and an idle deadline re-armed on
 *     every read (HANGTIGHT_REQUEST_TIMEOUT_MS without a byte).  Chunked
 *     bodies are decoded here.  What follows the body (a pipelined request)
 *     stays in h2o's buffer for h2o.
 *
 * Anything else (HTTP/2, a pipelined head h2o parsed before the wrapper
 * was back, a head this module does not recognise) keeps h2o's own path:
 * the body arrives whole in req->entity (api/files.h's spool file), and
 * api/upload.c takes it from there.  Both paths end in the same copy into
 * the blob store. */
#ifndef HT_API_INTAKE_H
#define HT_API_INTAKE_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ht_intake ht_intake_t;

/* Wraps the read callback of a connection h2o just accepted.  Call right
 * after h2o_accept() on the loop's thread. */
void ht_intake_accept(h2o_socket_t *sock);

/* For every request, first thing in the router: the body withheld from h2o
 * for this request (NULL when none: not HTTP/1, not a file submit, or a body
 * h2o read itself).  It lives as long as the request.  Also arranges for
 * the connection's wrapper to come back after the answer. */
ht_intake_t *ht_intake_claim(h2o_req_t *req);

/* The body's announced length (Content-Length), or -1 when chunked. */
int64_t ht_intake_length(const ht_intake_t *in);

/* Receives body bytes: returns how many it took (0..len); fewer than len
 * pauses the reading until ht_intake_resume().  `p` is valid only during
 * the call. */
typedef size_t (*ht_intake_data_cb)(void *ud, const char *p, size_t len);

/* The body ended: err 0 (all of it was taken), HT_ETOOBIG (a chunked body
 * past `max`), HT_EINVAL (broken chunked encoding), HT_ETIMEDOUT (no byte
 * for the request timeout), HT_ECANCELED (the client went away).  Called
 * once, never after the request was disposed of. */
typedef void (*ht_intake_end_cb)(void *ud, int err);

/* Sends "100 Continue" when the client asked for it, then reads the body
 * into on_data, at most `max` bytes, then on_end.  Call once. */
void ht_intake_start(ht_intake_t *in, uint64_t max, ht_intake_data_cb on_data,
                     ht_intake_end_cb on_end, void *ud);

/* Goes on reading after on_data took less than it was given. */
void ht_intake_resume(ht_intake_t *in);

/* Ends the reading early (the consumer failed, the server stops): on_end
 * gets err once the socket is free for the answer.  The connection closes
 * after the answer. */
void ht_intake_abort(ht_intake_t *in, int err);

/* Closes this thread's handles; call when the thread's server stops. */
void ht_intake_thread_close(void);

#endif
