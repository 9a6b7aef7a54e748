/* The growable byte buffer (see buf.h). */
#include "shared/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

#define MIN_CAP 64

static ht_buf_realloc_fn realloc_hook = realloc;

void ht_buf_set_realloc(ht_buf_realloc_fn fn)
{
    realloc_hook = fn ? fn : realloc;
}

void ht_buf_init(ht_buf_t *b)
{
    memset(b, 0, sizeof(*b));
}

void ht_buf_init_arena(ht_buf_t *b, ht_buf_arena_fn alloc, void *arena)
{
    memset(b, 0, sizeof(*b));
    b->arena_alloc_ = alloc;
    b->arena_ = arena;
}

int ht_buf_reserve(ht_buf_t *b, size_t more)
{
    if (b->failed_)
        return HT_ENOMEM;
    if (more < b->cap && b->len < b->cap - more)
        return 0; /* len + more + 1 <= cap */
    if (more > SIZE_MAX / 2 - b->len - 1) {
        b->failed_ = 1;
        return HT_ENOMEM;
    }
    size_t need = b->len + more + 1;
    /* Doubling keeps appends amortised O(1); an empty buffer takes just
     * what was asked, so that reserving the final size is one allocation. */
    size_t cap = b->cap ? b->cap * 2 : MIN_CAP;
    if (cap < need)
        cap = need;
    char *data;
    if (b->arena_alloc_) {
        if ((data = b->arena_alloc_(b->arena_, cap)) && b->data)
            memcpy(data, b->data, b->len + 1);
    } else {
        data = realloc_hook(b->data, cap);
    }
    if (!data) {
        b->failed_ = 1;
        return HT_ENOMEM;
    }
    if (!b->data)
        data[0] = '\0';
    b->data = data;
    b->cap = cap;
    return 0;
}

int ht_buf_append(ht_buf_t *b, const void *p, size_t n)
{
    if (ht_buf_reserve(b, n) < 0)
        return HT_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ht_buf_puts(ht_buf_t *b, const char *s)
{
    return ht_buf_append(b, s, strlen(s));
}

int ht_buf_putc(ht_buf_t *b, char c)
{
    return ht_buf_append(b, &c, 1);
}

int ht_buf_vprintf(ht_buf_t *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    int n = b->failed_ ? -1 : vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    if (n >= 0 && (size_t)n >= room) {
        if (ht_buf_reserve(b, (size_t)n) == 0)
            vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        else
            n = -1;
    }
    va_end(again);
    if (n < 0) {
        if (b->data)
            b->data[b->len] = '\0'; /* a cut-short attempt is not kept */
        b->failed_ = 1;
        return HT_ENOMEM;
    }
    b->len += (size_t)n;
    return 0;
}

int ht_buf_printf(ht_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = ht_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void ht_buf_set_len(ht_buf_t *b, size_t len)
{
    if (!b->data || len >= b->cap)
        abort(); /* past what was reserved: a bug, never a write out of bounds */
    b->len = len;
    b->data[len] = '\0';
}

int ht_buf_failed(const ht_buf_t *b)
{
    return b->failed_;
}

void ht_buf_fail(ht_buf_t *b)
{
    b->failed_ = 1;
}

char *ht_buf_steal(ht_buf_t *b, size_t *len)
{
    if (!b->failed_ && !b->data)
        ht_buf_reserve(b, 0);
    if (b->failed_) {
        ht_buf_free(b);
        return NULL;
    }
    char *data = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return data;
}

void ht_buf_reset(ht_buf_t *b)
{
    b->len = 0;
    b->failed_ = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ht_buf_free(ht_buf_t *b)
{
    if (!b->arena_alloc_)
        free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed_ = 0;
}
