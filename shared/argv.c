/* Argument vectors for Redis commands.  Adds past HT_ARGV_MAX set `overflow`
 * instead of writing out of bounds; callers check it once before sending. */
#include "shared/argv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ht_argv_init(ht_argv_t *a)
{
    memset(a, 0, sizeof *a);
}

void ht_argv_addn(ht_argv_t *a, const char *s, size_t len)
{
    if (a->n >= HT_ARGV_MAX || !s) {
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
    /* Owned slots never outnumber argument slots, so one check covers both. */
    if (a->n >= HT_ARGV_MAX || !s) {
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

void ht_argv_clear(ht_argv_t *a)
{
    for (size_t i = 0; i < a->n_owned_; i++)
        free(a->owned_[i]);
    ht_argv_init(a);
}

void ht_argv_fcall(ht_argv_t *a, const char *name, int numkeys, int read_only)
{
    ht_argv_init(a);
    ht_argv_add(a, read_only ? "FCALL_RO" : "FCALL");
    ht_argv_add(a, name);
    ht_argv_addf(a, "%d", numkeys);
}
