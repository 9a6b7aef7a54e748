/* Job ids: RFC 9562 UUID version 4, 122 bits from the kernel CSPRNG
 * (getrandom).  Random rather than time-ordered (v7) on purpose: an id is a
 * capability-like handle that must not be guessable or reveal submit times,
 * and listing order comes from the job's created_at, not from its id. */
#ifndef HT_ID_H
#define HT_ID_H

#include <stddef.h>

#define HT_ID_LEN 36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */

/* Writes a new id and its NUL into out[HT_ID_LEN + 1].  Returns 0 or a
 * negative errno from getrandom. */
int ht_id_new(char out[HT_ID_LEN + 1]);

/* 1 when s[0..len) is a lowercase v4 UUID as ht_id_new() makes them. */
int ht_id_valid(const char *s, size_t len);

#endif
