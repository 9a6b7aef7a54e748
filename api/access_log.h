/* The end of every request the router saw: counted by status class for
 * GET /metrics (api/metrics_counters.h) and, with --access-log
 * (HANGTIGHT_ACCESS_LOG; off by default), logged as one JSON line at level
 * info:
 *
 *   {"ts":…,"level":"info","proc":"api","msg":"access","request_id":"…",
 *    "method":"POST","path":"/v1/jobs","status":202,"bytes":321,
 *    "duration_ms":1.234}
 *
 * The hook is a dispose callback on the request's pool (h2o 2.2.5 runs them
 * when it is done with the request: answered and sent, or the client gone),
 * so it costs one small pool allocation and no logger handler.  status is 0
 * when the client left before any answer; bytes counts the body only;
 * duration_ms runs from the first byte of the request to the end of the
 * answer. */
#ifndef HT_API_ACCESS_LOG_H
#define HT_API_ACCESS_LOG_H

#include <h2o.h>

#include "api/server.h"

#define HT_ACCESS_PATH_MAX 1024 /* bytes of a path in the log, cut with "..." */

/* Arranges for `req`'s end to be counted and (cfg->access_log) logged
 * under request id `reqid` (copied). */
void ht_access_track(ht_api_thread_t *t, h2o_req_t *req, const char *reqid);

/* Writes s[0..len) into out[cap] (cap >= 4), NUL-terminated, valid UTF-8
 * whatever the client sent: bytes outside printable ASCII become %XX, and
 * what does not fit is cut with "...". */
void ht_access_path(const char *s, size_t len, char *out, size_t cap);

#endif
