/* A small argument vector for Redis commands (redisCommandArgv and
 * redisAsyncCommandArgv), so callers build FCALL arguments without format
 * strings.  Strings are either borrowed (must outlive the command call) or
 * copied into the vector with ht_argv_addf(). */
#ifndef HT_ARGV_H
#define HT_ARGV_H

#include <stddef.h>

#define HT_ARGV_MAX 64

typedef struct {
    size_t n;
    const char *v[HT_ARGV_MAX];
    size_t len[HT_ARGV_MAX];
    char *owned_[HT_ARGV_MAX]; /* private: copies to free */
    size_t n_owned_;
    int overflow; /* set when an add did not fit; the vector must not be sent */
} ht_argv_t;

void ht_argv_init(ht_argv_t *a);
/* Borrowed string (len from strlen). */
void ht_argv_add(ht_argv_t *a, const char *s);
/* Borrowed bytes. */
void ht_argv_addn(ht_argv_t *a, const char *s, size_t len);
/* Formatted copy owned by the vector. */
void ht_argv_addf(ht_argv_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes ownership of a malloc'd string. */
void ht_argv_add_owned(ht_argv_t *a, char *s);
void ht_argv_clear(ht_argv_t *a);

/* Starts a fresh vector with "FCALL name numkeys" (or "FCALL_RO ..." when
 * read_only): a call of a function of the keyspace library. */
void ht_argv_fcall(ht_argv_t *a, const char *name, int numkeys, int read_only);

#endif
