/* The bounded line reader (see lines.h).  A line that arrives whole in one
 * chunk is handed over in place; only a line split across chunks is
 * copied. */
#include "worker/lines.h"

#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

void ht_lines_init(ht_lines_t *l, size_t max)
{
    memset(l, 0, sizeof(*l));
    l->max = max;
}

void ht_lines_free(ht_lines_t *l)
{
    free(l->buf);
    l->buf = NULL;
    l->len = l->cap = 0;
}

static int append(ht_lines_t *l, const char *data, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + n)
            cap *= 2;
        char *b = realloc(l->buf, cap);
        if (!b)
            return HT_ENOMEM;
        l->buf = b;
        l->cap = cap;
    }
    memcpy(l->buf + l->len, data, n);
    l->len += n;
    return 0;
}

long ht_lines_feed(ht_lines_t *l, const char *data, size_t n, ht_line_fn fn, void *arg)
{
    const char *p = data, *end = data + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t chunk = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t next = chunk + (nl != NULL);
        int stop = 0;
        if (l->dropping) {
            l->dropping = !nl;
        } else if (l->len + chunk > l->max) {
            /* Past the bound: hand over what fits now, drop the rest. */
            size_t keep = l->max - l->len;
            int rc = append(l, p, keep);
            if (rc < 0)
                return rc;
            stop = fn(arg, l->buf, l->len, 1);
            l->len = 0;
            l->dropping = !nl;
        } else if (!nl) {
            int rc = append(l, p, chunk);
            if (rc < 0)
                return rc;
        } else if (l->len == 0) {
            stop = fn(arg, p, chunk, 0);
        } else {
            int rc = append(l, p, chunk);
            if (rc < 0)
                return rc;
            size_t len = l->len;
            l->len = 0;
            stop = fn(arg, l->buf, len, 0);
        }
        p += next;
        if (stop)
            break;
    }
    return (long)(p - data);
}

int ht_lines_finish(ht_lines_t *l, ht_line_fn fn, void *arg)
{
    if (l->dropping || l->len == 0)
        return 0;
    size_t len = l->len;
    l->len = 0;
    return fn(arg, l->buf, len, 0);
}
