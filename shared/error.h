/* Error codes of the hangtight library: 0 is success, failures are negative.
 * Every function of shared/ that can fail returns one of these (or a negative
 * errno for system calls, which ht_strerror() also understands). */
#ifndef HT_ERROR_H
#define HT_ERROR_H

#include <stddef.h>

enum {
    HT_EINVAL = -1000, /* bad argument or malformed input */
    HT_ENOMEM,         /* allocation failed */
    HT_EREDIS,         /* Redis unreachable or connection lost */
    HT_EPROTO,         /* Redis answered something we did not expect */
    HT_ENOTFOUND,      /* no such job or blob (or not visible to this tenant) */
    HT_ESTALE,         /* the caller no longer holds the job (fencing token) */
    HT_ESCHEMA,        /* keyspace older than this binary needs */
    HT_EEXIST,         /* already exists */
    HT_ETIMEDOUT,      /* a deadline passed */
    HT_ECANCELED,      /* the job is held but its cancel was requested */
    HT_ENOSPACE,       /* the blob store's disk or quota is full (HTTP 507) */
    HT_EUNAVAIL,       /* the blob store's service is unreachable or failing (HTTP 503) */
    HT_ETOOBIG,        /* a blob larger than its limit (HTTP 413) */
    HT_EDIGEST,        /* the bytes do not match the digest given for them */
    HT_ELIMIT,         /* over a limit: an operator's cap, a tenant's quota (HTTP 429) */
};

/* A static string describing `err` (an HT_E* code or a negative errno). */
const char *ht_strerror(int err);

/* Writes a formatted message into err[errlen] (when err is not NULL) and
 * returns `code`: the one helper of every parser that explains its refusals,
 *     return ht_errorf(err, errlen, HT_EINVAL, "line %zu: ...", n); */
int ht_errorf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
