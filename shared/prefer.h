/* The Prefer request header (RFC 7240): the preferences hangtight acts on,
 * read from any number of Prefer header values.  Pure parsing, no policy:
 * caps and bounds are the caller's (api/wait.c).
 *
 *     Prefer: respond-async, wait=120
 *     Prefer: wait=120, heartbeat=30        (heartbeat is our extension)
 *
 * Grammar (RFC 7240 section 2, with the list rule of RFC 9110 section 5.6.1):
 *
 *     Prefer     = 1#preference
 *     preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )
 *     word       = token / quoted-string
 *
 * Names compare case-insensitively; values may be quoted ("wait=\"10\"");
 * parameters after ";" are ignored; empty list elements are skipped.  When
 * a preference appears more than once (in one header or across several),
 * only its first occurrence counts (RFC 7240 section 2), even when that one
 * has an unusable value.  Unknown preferences and malformed elements are
 * ignored, never an error: a Prefer header can only ask. */
#ifndef HT_PREFER_H
#define HT_PREFER_H

#include <stddef.h>

/* Seconds above this are read as this (RFC 9111 section 1.2.2 does the same
 * for delta-seconds), so a huge value is "very long", not an error. */
#define HT_PREFER_SECONDS_MAX 2147483648L

typedef struct {
    int respond_async; /* 1 when "respond-async" was given */
    long wait_s;       /* "wait=N": N delta-seconds, or -1 when absent or unusable */
    long heartbeat_s;  /* "heartbeat=S": S seconds (0 = none), or -1 when absent or unusable */
    /* private: which names were seen, so that the first occurrence wins */
    unsigned seen_;
} ht_prefer_t;

/* Empties `p`: nothing preferred. */
void ht_prefer_init(ht_prefer_t *p);

/* Adds the preferences of one Prefer header value (`len` bytes, no NUL
 * needed).  Call once per Prefer header, in the order received. */
void ht_prefer_parse(ht_prefer_t *p, const char *value, size_t len);

/* Parses delta-seconds (1*DIGIT), saturating at HT_PREFER_SECONDS_MAX.
 * Returns 0, or -1 when `s` is empty or has anything but digits. */
int ht_prefer_seconds(const char *s, size_t len, long *out);

#endif
