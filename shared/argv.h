/* A small argument vector for Redis commands (redisCommandArgv and
 * redisAsyncCommandArgv), so callers build FCALL arguments without format
 * strings.  Strings are either borrowed (must outlive the command call) or
 * copied into the vector with ht_argv_addf().
 *
 * The first HT_ARGV_MAX arguments live inside the vector; more (a batch of
 * jobs in one call) go to the heap, up to HT_ARGV_LIMIT.  `v` and `len`
 * point at whichever holds them, so an ht_argv_t is used in place and never
 * copied by value. */
#ifndef HT_ARGV_H
#define HT_ARGV_H

#include <stddef.h>

#define HT_ARGV_MAX   64
#define HT_ARGV_LIMIT (1u << 20)
/* Integers ht_argv_addll keeps in the vector itself (more are copies). */
#define HT_ARGV_NUMS 8

typedef struct {
    size_t n;
    const char **v; /* the arguments: v_ inside, or the heap */
    size_t *len;
    int overflow; /* set when an add did not fit; the vector must not be sent */
    /* private */
    size_t cap_;
    char **owned_; /* copies to free: owned_in_ inside, or the heap */
    size_t n_owned_, cap_owned_;
    const char *v_[HT_ARGV_MAX];
    size_t len_[HT_ARGV_MAX];
    char *owned_in_[HT_ARGV_MAX];
    char nums_[HT_ARGV_NUMS][24]; /* ht_argv_addll's digits */
    size_t n_nums_;
} ht_argv_t;

void ht_argv_init(ht_argv_t *a);
/* Borrowed string (len from strlen). */
void ht_argv_add(ht_argv_t *a, const char *s);
/* Borrowed bytes. */
void ht_argv_addn(ht_argv_t *a, const char *s, size_t len);
/* Formatted copy owned by the vector. */
void ht_argv_addf(ht_argv_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A decimal integer, written into the vector (no allocation, no printf). */
void ht_argv_addll(ht_argv_t *a, long long v);
/* Takes ownership of a malloc'd string. */
void ht_argv_add_owned(ht_argv_t *a, char *s);
/* Frees what the vector owns and leaves it empty, ready for reuse. */
void ht_argv_clear(ht_argv_t *a);

/* Starts a fresh vector with "FCALL name numkeys" (or "FCALL_RO ..." when
 * read_only): a call of a function of the keyspace library. */
void ht_argv_fcall(ht_argv_t *a, const char *name, int numkeys, int read_only);

/* The command in RESP (what redisFormatCommandArgv makes), written in one
 * malloc'd buffer of the exact length with lengths written by hand.
 * *out is the caller's to free(); returns its length, or -1 when out of
 * memory or the vector overflowed. */
long ht_argv_resp(const ht_argv_t *a, char **out);

#endif
