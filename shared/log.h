/* Structured logs: one JSON object a line on stderr, e.g.
 *   {"ts":"2026-11-26T04:26:36.123Z","level":"info","proc":"api",
 *    "msg":"listening","addr":"127.0.0.1:8080"}
 * Safe to call from any thread (each line is written with one write(2)). */
#ifndef HT_LOG_H
#define HT_LOG_H

typedef enum { HT_LOG_DEBUG, HT_LOG_INFO, HT_LOG_WARN, HT_LOG_ERROR } ht_log_level_t;

/* Names the process in every line ("api", "worker", "cli") and sets the
 * lowest level written. */
void ht_log_init(const char *proc, ht_log_level_t min_level);

/* Logs `msg` with extra string fields given as NULL-terminated key, value
 * pairs: ht_log(HT_LOG_INFO, "job claimed", "id", id, "type", type, NULL). */
void ht_log(ht_log_level_t level, const char *msg, ...) __attribute__((sentinel));

/* Parses "debug", "info", "warn", "error".  Returns 0 or HT_EINVAL. */
int ht_log_level_parse(const char *s, ht_log_level_t *out);

#endif
