/* Structured logs: one JSON object a line on stderr, e.g.
 *   {"ts":"2026-11-26T04:26:36.123Z","level":"info","proc":"api",
 *    "msg":"job submitted","request_id":"5f3a09c1-0-17","job_id":"…"}
 * Safe to call from any thread (each line is written with one write(2)).
 *
 * Fields: ts (UTC, ms), level, proc, msg, then request_id when the calling
 * thread has a current request (ht_log_set_request_id: the api sets it
 * while it handles a request, api/reqid.h), then the call's own fields.
 * A field named "id" is a job id and is written as "job_id". */
#ifndef HT_LOG_H
#define HT_LOG_H

#include <jansson.h>

typedef enum { HT_LOG_DEBUG, HT_LOG_INFO, HT_LOG_WARN, HT_LOG_ERROR } ht_log_level_t;

/* Names the process in every line ("api", "worker", "cli") and sets the
 * lowest level written. */
void ht_log_init(const char *proc, ht_log_level_t min_level);

/* 1 when lines of `level` are written: a caller that formats fields for a
 * line only then. */
int ht_log_enabled(ht_log_level_t level);

/* Logs `msg` with extra string fields given as NULL-terminated key, value
 * pairs: ht_log(HT_LOG_INFO, "job claimed", "id", id, "type", type, NULL). */
void ht_log(ht_log_level_t level, const char *msg, ...) __attribute__((sentinel));

/* Logs `msg` with the members of the object `fields` (stolen; may be
 * NULL), for values that are not strings (numbers in the access log). */
void ht_logj(ht_log_level_t level, const char *msg, json_t *fields);

/* The calling thread's current request id: copied (up to
 * HT_LOG_REQID_MAX bytes), added to every line the thread logs until it is
 * set to NULL.  ht_log_request_id() is NULL when there is none. */
#define HT_LOG_REQID_MAX 128
void ht_log_set_request_id(const char *id);
const char *ht_log_request_id(void);

/* Parses "debug", "info", "warn", "error".  Returns 0 or HT_EINVAL. */
int ht_log_level_parse(const char *s, ht_log_level_t *out);

#endif
