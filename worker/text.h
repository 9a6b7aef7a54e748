/* Bytes from the outside world made safe to store as JSON text: a bounded
 * tail of a stream (the exec handler's stderr) and UTF-8 repair.  Pure: no
 * I/O, unit-tested in tests/unit/test_text.c. */
#ifndef HT_WORKER_TEXT_H
#define HT_WORKER_TEXT_H

#include <stddef.h>

#define HT_TAIL_MAX 4096

/* The last HT_TAIL_MAX bytes written to it.  Zero-initialise to use. */
typedef struct {
    char buf[HT_TAIL_MAX];
    size_t len;
    int truncated; /* 1 once bytes were dropped from the front */
} ht_tail_t;

void ht_tail_append(ht_tail_t *t, const char *data, size_t len);

/* The tail as a NUL-terminated, valid UTF-8 string without surrounding
 * whitespace (a leading partial character is dropped): a new malloc'd
 * string, "" when nothing was written, NULL on allocation failure. */
char *ht_tail_text(const ht_tail_t *t);

/* A copy of s[0..len) with every byte that is not part of a valid UTF-8
 * sequence (and every NUL) replaced by '?': a new malloc'd string, or NULL
 * on allocation failure. */
char *ht_utf8_sanitize(const char *s, size_t len);

#endif
