/* Job ids: RFC 9562 UUIDs from the kernel CSPRNG (getrandom, drawn a pool
 * of bytes at a time per thread; see id.c).  Random
 * rather than time-ordered (v7) on purpose: an id is a capability-like
 * handle that must not be guessable or reveal submit times, and listing
 * order comes from the job's created_at, not from its id.
 *
 * Two layouts, both lowercase "xxxxxxxx-xxxx-Vxxx-yxxx-xxxxxxxxxxxx":
 *
 *   v4  (HANGTIGHT_PARTITIONS=1, and every id made before partitions):
 *       122 random bits.  Means partition 0 of 1: the keys ht:{default}:...
 *
 *   v8  (a job of partition i of N, N >= 2): the custom layout RFC 9562
 *       leaves to applications (version nibble 8, variant 10).  Bits
 *       numbered from the most significant, as in the RFC:
 *         0..47    random                    (hex digits 1..12)
 *         48..51   version, 8                (hex digit 13, "8xxx")
 *         52..63   random
 *         64..65   variant, binary 10        (first digit of group 4: 8..b)
 *         66..107  random
 *         108..127 (N - 1) << 10 | i         (the last 5 hex digits)
 *       102 random bits, so an id stays unguessable (the partition is no
 *       secret), and the id alone says where the job lives: no lookup, and
 *       it stays true when the system later runs with another N (an id
 *       made as 3 of 6 names partition 3 of the 6-way layout for good, so
 *       jobs made before a change of N stay readable).
 *       Example: last digits "01401" = 0x01401: N - 1 = 0x01401 >> 10 = 5,
 *       i = 0x01401 & 0x3ff = 1: partition 1 of 6. */
#ifndef HT_ID_H
#define HT_ID_H

#include <stddef.h>

#define HT_ID_LEN 36 /* "xxxxxxxx-xxxx-Vxxx-yxxx-xxxxxxxxxxxx" */
#define HT_ID_PARTITIONS_MAX 1024 /* N fits in 10 bits as N - 1 */

/* Writes a new v4 id (partition 0 of 1) and its NUL into out[HT_ID_LEN + 1].
 * Returns 0 or a negative errno from getrandom. */
int ht_id_new(char out[HT_ID_LEN + 1]);

/* Writes a new id of partition `index` of `n`: v4 when n == 1, else v8 as
 * above.  Returns 0, HT_EINVAL (n outside 1..1024 or index >= n), or a
 * negative errno from getrandom. */
int ht_id_new_in(char out[HT_ID_LEN + 1], unsigned index, unsigned n);

/* 1 when s[0..len) is a lowercase id as ht_id_new_in() makes them (v4, or
 * v8 naming a partition i < N with N >= 2). */
int ht_id_valid(const char *s, size_t len);

/* The partition of a valid id: *index of *n (0 of 1 for v4).  Returns 0, or
 * HT_EINVAL when the id is not valid. */
int ht_id_partition(const char *s, size_t len, unsigned *index, unsigned *n);

#endif
