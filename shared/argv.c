/* Argument vectors for Redis commands.  Adds past HT_ARGV_LIMIT, or past
 * what memory allows, set `overflow` instead of writing out of bounds;
 * callers check it once before sending. */
#include "shared/argv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/decimal.h"

void ht_argv_init(ht_argv_t *a)
{
    a->n = 0;
    a->v = a->v_;
    a->len = a->len_;
    a->overflow = 0;
    a->cap_ = HT_ARGV_MAX;
    a->owned_ = a->owned_in_;
    a->n_owned_ = 0;
    a->cap_owned_ = HT_ARGV_MAX;
    a->n_nums_ = 0;
}

static size_t digits_u64(unsigned long long v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Room for one more argument (and, with `owned`, one more copy).  0 or -1. */
static int grow(ht_argv_t *a, int owned)
{
    if (a->n >= HT_ARGV_LIMIT)
        return -1;
    if (a->n < a->cap_ && (!owned || a->n_owned_ < a->cap_owned_))
        return 0;
    if (a->n >= a->cap_) {
        size_t cap = a->cap_ * 2;
        const char **v = malloc(cap * sizeof(*v));
        size_t *len = malloc(cap * sizeof(*len));
        if (!v || !len) {
            free(v);
            free(len);
            return -1;
        }
        memcpy(v, a->v, a->n * sizeof(*v));
        memcpy(len, a->len, a->n * sizeof(*len));
        if (a->v != a->v_) {
            free(a->v);
            free(a->len);
        }
        a->v = v;
        a->len = len;
        a->cap_ = cap;
    }
    if (owned && a->n_owned_ >= a->cap_owned_) {
        size_t cap = a->cap_owned_ * 2;
        char **o = malloc(cap * sizeof(*o));
        if (!o)
            return -1;
        memcpy(o, a->owned_, a->n_owned_ * sizeof(*o));
        if (a->owned_ != a->owned_in_)
            free(a->owned_);
        a->owned_ = o;
        a->cap_owned_ = cap;
    }
    return 0;
}

void ht_argv_addn(ht_argv_t *a, const char *s, size_t len)
{
    if (!s || grow(a, 0) < 0) {
        a->overflow = 1;
        return;
    }
    a->v[a->n] = s;
    a->len[a->n] = len;
    a->n++;
}

void ht_argv_add(ht_argv_t *a, const char *s)
{
    ht_argv_addn(a, s, s ? strlen(s) : 0);
}

void ht_argv_add_owned(ht_argv_t *a, char *s)
{
    if (!s || grow(a, 1) < 0) {
        free(s);
        a->overflow = 1;
        return;
    }
    a->owned_[a->n_owned_++] = s;
    ht_argv_addn(a, s, strlen(s));
}

void ht_argv_addf(ht_argv_t *a, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int rc = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (rc < 0)
        s = NULL; /* out of memory: add_owned flags the vector */
    ht_argv_add_owned(a, s);
}

void ht_argv_addll(ht_argv_t *a, long long v)
{
    if (a->n_nums_ >= HT_ARGV_NUMS) {
        ht_argv_addf(a, "%lld", v);
        return;
    }
    char *p = a->nums_[a->n_nums_++];
    size_t n = 0;
    unsigned long long u = (unsigned long long)v;
    if (v < 0) {
        p[n++] = '-';
        u = 0ULL - u;
    }
    n += ht_decimal_put(p + n, u);
    p[n] = '\0';
    ht_argv_addn(a, p, n);
}

long ht_argv_resp(const ht_argv_t *a, char **out)
{
    *out = NULL;
    if (a->overflow)
        return -1;
    size_t total = 1 + digits_u64(a->n) + 2;
    for (size_t i = 0; i < a->n; i++)
        total += 1 + digits_u64(a->len[i]) + 2 + a->len[i] + 2;
    char *buf = malloc(total + 1);
    if (!buf)
        return -1;
    char *p = buf;
    *p++ = '*';
    p += ht_decimal_put(p, a->n);
    *p++ = '\r';
    *p++ = '\n';
    for (size_t i = 0; i < a->n; i++) {
        *p++ = '$';
        p += ht_decimal_put(p, a->len[i]);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, a->v[i], a->len[i]);
        p += a->len[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    *out = buf;
    return (long)total;
}

void ht_argv_clear(ht_argv_t *a)
{
    for (size_t i = 0; i < a->n_owned_; i++)
        free(a->owned_[i]);
    if (a->v != a->v_) {
        free(a->v);
        free(a->len);
    }
    if (a->owned_ != a->owned_in_)
        free(a->owned_);
    ht_argv_init(a);
}

void ht_argv_fcall(ht_argv_t *a, const char *name, int numkeys, int read_only)
{
    ht_argv_init(a);
    ht_argv_add(a, read_only ? "FCALL_RO" : "FCALL");
    ht_argv_add(a, name);
    ht_argv_addll(a, numkeys);
}
