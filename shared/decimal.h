/* Whole-string decimal numbers, as Redis stores them and headers carry
 * them: the one parser of stored counts, times and versions. */
#ifndef HT_DECIMAL_H
#define HT_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* Parses `s` (NULL refused) as a decimal integer within [min, max]: an
 * optional '-' and digits, nothing before or after (no spaces, no '+').
 * Returns 0 with *out set, or HT_EINVAL (then *out is untouched). */
int ht_decimal_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Writes the decimal digits of `v` at `p` (20 at most, no NUL); returns
 * how many: the one integer writer of Redis arguments and ids. */
size_t ht_decimal_put(char *p, uint64_t v);

#endif
