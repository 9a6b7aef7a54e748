/* Wall-clock time in milliseconds and its RFC 3339 form.  The clock goes
 * through a hook so tests can pin it. */
#ifndef HT_CLOCK_H
#define HT_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t (*ht_clock_fn)(void);

/* Milliseconds since the Unix epoch, from the current clock hook. */
int64_t ht_now_ms(void);

/* Replace the clock (NULL restores the real one).  Not thread-safe: set it
 * before starting threads. */
void ht_set_clock(ht_clock_fn fn);

/* Writes "2026-11-26T04:26:36.123Z" (always UTC, always milliseconds) into
 * `buf` of at least HT_TIME_BUFSZ bytes.  Returns `buf`. */
#define HT_TIME_BUFSZ 32
char *ht_format_time(int64_t ms, char *buf);

/* Parses an RFC 3339 date-time ("2026-11-26T04:26:36Z", optional fraction,
 * "Z" or "+hh:mm" offset).  Returns 0 and sets *ms, or HT_EINVAL. */
int ht_parse_time(const char *s, int64_t *ms);

/* The proleptic Gregorian calendar, independent of TZ: days since
 * 1970-01-01 of y-m-d (m 1-12, d 1-31), its inverse, and the length of a
 * month (29 for a leap February). */
int64_t ht_days_from_civil(int y, int m, int d);
void ht_civil_from_days(int64_t days, int *y, int *m, int *d);
int ht_days_in_month(int y, int m);

#endif
