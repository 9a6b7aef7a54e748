/* The growable byte buffer of hangtight: every text built piece by piece
 * (job documents, SSE frames, listing pages, webhook bodies, metrics,
 * response bodies read by the CLI) grows in one of these.
 *
 *     ht_buf_t b = HT_BUF_INIT;
 *     ht_buf_puts(&b, "{\"n\":");
 *     ht_buf_printf(&b, "%d}", n);
 *     if (ht_buf_failed(&b)) ... out of memory
 *     size_t len;
 *     char *text = ht_buf_steal(&b, &len);   the caller's now: free()
 *
 * The bytes are always NUL-terminated once something was appended (the
 * NUL is not counted in len), so a buffer of text is also a C string.
 *
 * Failure is sticky: once an allocation fails, every later append fails
 * too and the buffer keeps what it held, so a series of appends can be
 * checked once at the end (ht_buf_failed) or call by call (each returns 0
 * or HT_ENOMEM).
 *
 * Memory: a heap buffer grows through one allocation hook (realloc unless
 * a test replaced it, ht_buf_set_realloc); an arena buffer
 * (ht_buf_init_arena, e.g. on an h2o request's pool) takes each larger
 * block from its arena and leaves the old one there, so reserving the final
 * size first costs one allocation. */
#ifndef HT_BUF_H
#define HT_BUF_H

#include <stdarg.h>
#include <stddef.h>

/* Allocates `size` bytes from `arena`, freed with the arena; NULL when out
 * of memory. */
typedef void *(*ht_buf_arena_fn)(void *arena, size_t size);

typedef struct {
    char *data; /* NULL until the first append; then len bytes and a NUL */
    size_t len;
    size_t cap; /* bytes at data, the NUL's included */
    /* private */
    ht_buf_arena_fn arena_alloc_; /* NULL: a heap buffer */
    void *arena_;
    int failed_;
} ht_buf_t;

#define HT_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, NULL, NULL, 0                                                                  \
    }

/* An empty heap buffer (the same as HT_BUF_INIT). */
void ht_buf_init(ht_buf_t *b);

/* An empty buffer whose memory comes from alloc(arena, size). */
void ht_buf_init_arena(ht_buf_t *b, ht_buf_arena_fn alloc, void *arena);

/* Makes room for `more` bytes after len (and the NUL), so that the caller
 * may write up to `more` bytes at data + len and then ht_buf_set_len().
 * Returns 0 or HT_ENOMEM. */
int ht_buf_reserve(ht_buf_t *b, size_t more);

/* Append bytes, a C string, one byte, or printf-formatted text.  Each
 * returns 0 or HT_ENOMEM (and then leaves the buffer as it was). */
int ht_buf_append(ht_buf_t *b, const void *p, size_t n);
int ht_buf_puts(ht_buf_t *b, const char *s);
int ht_buf_putc(ht_buf_t *b, char c);
int ht_buf_printf(ht_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ht_buf_vprintf(ht_buf_t *b, const char *fmt, va_list ap);

/* Sets len (at most what ht_buf_reserve made room for: shortening, or
 * counting bytes the caller wrote at data + len) and writes the NUL. */
void ht_buf_set_len(ht_buf_t *b, size_t len);

/* 1 once an allocation failed (since the last reset). */
int ht_buf_failed(const ht_buf_t *b);

/* Marks the buffer failed: a writer whose own allocation failed midway
 * says so where its caller looks (ht_buf_failed, and every later append
 * fails). */
void ht_buf_fail(ht_buf_t *b);

/* The bytes as a NUL-terminated string the caller owns (free() for a heap
 * buffer; the arena's for an arena buffer), their length in *len (may be
 * NULL); "" when nothing was appended.  The buffer is left empty.  NULL
 * when an allocation failed (the buffer is then freed). */
char *ht_buf_steal(ht_buf_t *b, size_t *len);

/* Empties the buffer and forgets a failure, keeping its memory. */
void ht_buf_reset(ht_buf_t *b);

/* Frees a heap buffer's memory (an arena keeps its own) and empties it. */
void ht_buf_free(ht_buf_t *b);

/* The allocation hook of every heap buffer: realloc semantics, memory that
 * free() releases.  NULL restores realloc.  Not thread-safe: set it before
 * starting threads (tests use it to fail allocations). */
typedef void *(*ht_buf_realloc_fn)(void *ptr, size_t size);
void ht_buf_set_realloc(ht_buf_realloc_fn fn);

#endif
