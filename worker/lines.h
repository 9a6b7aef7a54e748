/* Splitting a byte stream into lines, with a bound: the one line reader of
 * the handlers' pipes (an exec handler's stdout, exec_output.c; a
 * persistent handler's stdout, persistent.c, and its stderr, pool.c).
 * Pure: no I/O.  Unit-tested in tests/unit/test_lines.c. */
#ifndef HT_WORKER_LINES_H
#define HT_WORKER_LINES_H

#include <stddef.h>

/* Called with each line, without its LF (a CR before it is kept), and
 * `cut` nonzero when the line was longer than the bound: then `line` is
 * its first `max` bytes, delivered as soon as the bound is passed, and the
 * rest of that line is dropped.  `line` is valid during the call.  A
 * nonzero return stops the feed after this line. */
typedef int (*ht_line_fn)(void *arg, const char *line, size_t len, int cut);

typedef struct {
    size_t max; /* longest line delivered whole */
    char *buf;  /* the partial line so far */
    size_t len, cap;
    int dropping; /* the current line passed max: dropping it up to its LF */
} ht_lines_t;

/* A reader of lines of up to `max` bytes.  Zero-initialised otherwise. */
void ht_lines_init(ht_lines_t *l, size_t max);
void ht_lines_free(ht_lines_t *l);

/* Feeds data[0..n): each complete line goes to fn, a partial one is kept
 * for the next call.  Returns the number of bytes consumed (n unless fn
 * stopped the feed), or HT_ENOMEM (the partial line is lost). */
long ht_lines_feed(ht_lines_t *l, const char *data, size_t n, ht_line_fn fn, void *arg);

/* End of stream: a last line without a LF goes to fn.  Returns 0 or what
 * fn returned. */
int ht_lines_finish(ht_lines_t *l, ht_line_fn fn, void *arg);

#endif
