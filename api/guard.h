/* The front door: what libh2o 2.2.5 lets through to the handler but
 * hangtight refuses, and h2o's own error answers turned into problem+json.
 *
 * What h2o 2.2.5 (lib/http1.c) refuses itself, before any handler runs:
 *   - a head that does not parse (bad request line or header syntax, a
 *     space before the colon, more than 100 header fields, a NUL or bare
 *     CR), or still incomplete at H2O_MAX_REQLEN (417,792 bytes in Debian's
 *     build): a fixed "400 Bad Request", text/plain, written straight to
 *     the socket, connection closed.  No code of ours runs: it stays so;
 *   - a head that is only CR/LF: closed without an answer;
 *   - the last Transfer-Encoding field not exactly "chunked" (any case):
 *     400 "unknown transfer-encoding", closed ("gzip, chunked",
 *     "chunked, identity", "identity"; an obs-folded value, which
 *     picohttpparser leaves empty);
 *   - a bad chunk: 400 "broken chunked-encoding", closed;
 *   - Content-Length not plain digits ("5, 5", "-1", "+5"): 400 "broken
 *     content-length header", closed;
 *   - a body over globalconf.max_request_entity_size (api/server.c): 413,
 *     closed;
 *   - with a body, Expect other than 100-continue: 417, closed;
 *   - http1 req_timeout (HANGTIGHT_REQUEST_TIMEOUT_MS), armed when a request
 *     (or an idle keep-alive wait) starts and not re-armed per read: a head
 *     and body not complete by then get the connection closed, no answer.
 * The 400/413/417 answers above (all but the fixed one) pass through the
 * filter of ht_guard_register(), which makes them problem+json (and the
 * unknown transfer coding a 501); they stay Connection: close.
 *
 * What h2o lets through silently, and ht_guard_request_or_reply() refuses:
 *   - Content-Length and Transfer-Encoding together (h2o reads the body as
 *     chunked and keeps the connection): 400, connection closed;
 *   - Content-Length more than once, equal or not (h2o uses the first):
 *     400, connection closed;
 *   - Transfer-Encoding more than once (h2o uses the last): 501, closed;
 *   - a request target over cfg->max_url_bytes: 414;
 *   - a request head over cfg->max_header_bytes: 431.
 * h2o drops Content-Length and Transfer-Encoding from req->headers, so the
 * framing checks read the raw head, which h2o 2.2 keeps at the start of the
 * connection's input buffer until the response is sent (see guard.c).
 * Where that head cannot be found, a request with a body is still
 * answered but its connection closed, since its framing cannot be checked. */
#ifndef HT_API_GUARD_H
#define HT_API_GUARD_H

#include <h2o.h>

#include "api/server.h"

/* Turns the error answers h2o sends itself once a head has parsed (bad
 * body framing, 413, 417: the list in guard.h) into problem+json, with the
 * same status except "unknown transfer-encoding", which becomes 501.  They
 * keep h2o's Connection: close.  Call once per host, at configuration. */
void ht_guard_register(h2o_hostconf_t *host);

/* Returns 0 when the request may go on to the routes, or -1 when it was
 * answered with problem+json (and, for framing errors, the HTTP/1
 * connection marked to close after the answer). */
int ht_guard_request_or_reply(ht_api_thread_t *t, h2o_req_t *req);

#endif
