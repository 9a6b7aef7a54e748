/* The parser of an exec handler's stdout.  Pure: it is fed bytes and
 * reports what they meant; the exec handler does the I/O.  Unit-tested in
 * tests/unit/test_exec_output.c.
 *
 * The protocol, one JSON value per line (LF or CRLF):
 *   - an object whose "progress" member is a number is a progress report:
 *     the number is clamped to 0..100 and rounded, and an optional string
 *     "message" goes with it (other members are ignored);
 *   - an object whose "error" member is a string is the permanent-error
 *     convention: the job fails with that message, even if the child then
 *     exits 0, and is retried only when "retry" is true (the default when
 *     "retry" is absent) — {"error": "bad input", "retry": false} fails the
 *     job at once without using its remaining attempts;
 *   - an object whose "output_content_type" member is a string (and which
 *     is neither of the above) sets the content type of the output file the
 *     child writes to HT_OUTPUT_PATH (the last one wins; other members are
 *     ignored);
 *   - any other JSON value is a result candidate: the last one wins;
 *   - lines that are not JSON (logs, blank lines) are ignored.
 * A line longer than HT_EXEC_LINE_MAX bytes puts the parser into an error
 * state (HT_EXEC_OUTPUT_TOO_LARGE) in which further input is ignored. */
#ifndef HT_WORKER_EXEC_OUTPUT_H
#define HT_WORKER_EXEC_OUTPUT_H

#include <jansson.h>
#include <stddef.h>

#define HT_EXEC_LINE_MAX (1024 * 1024)

typedef enum {
    HT_EXEC_OUTPUT_OK = 0,
    HT_EXEC_OUTPUT_TOO_LARGE, /* a line was longer than the limit */
} ht_exec_output_state_t;

typedef struct ht_exec_output ht_exec_output_t;

/* A parser accepting lines up to `max_line` bytes (0 means
 * HT_EXEC_LINE_MAX).  NULL on allocation failure. */
ht_exec_output_t *ht_exec_output_new(size_t max_line);
void ht_exec_output_free(ht_exec_output_t *p);

/* Feeds the next `len` bytes of the stream; complete lines are parsed at
 * once, a partial one is kept for the next call.  Returns 0, or HT_ENOMEM
 * (the parser state is then unchanged but the bytes are lost). */
int ht_exec_output_feed(ht_exec_output_t *p, const char *data, size_t len);

/* End of stream: a last line without a newline is parsed. */
int ht_exec_output_finish(ht_exec_output_t *p);

ht_exec_output_state_t ht_exec_output_state(const ht_exec_output_t *p);

/* The latest progress report not yet taken: returns 1 and sets *percent and
 * *message (borrowed, valid until the next feed, NULL when none), or 0 when
 * none arrived since the last call.  Reports in between are skipped: only
 * the latest matters. */
int ht_exec_output_take_progress(ht_exec_output_t *p, int *percent, const char **message);

/* The last result candidate: borrowed, NULL when none. */
json_t *ht_exec_output_result(const ht_exec_output_t *p);

/* The content type of the last {"output_content_type": ...} line
 * (borrowed, NULL when none). */
const char *ht_exec_output_content_type(const ht_exec_output_t *p);

/* The message of the last {"error": ...} line (borrowed, NULL when none) and
 * its retryability. */
const char *ht_exec_output_error(const ht_exec_output_t *p, int *retryable);

#endif
