/* When a recurring schedule fires: cron expressions in a time zone, and
 * fixed intervals anchored to the schedule's start.  Pure computation, no
 * I/O; docs/schedules.md states the grammar and the rules.
 *
 * Grammar (5 fields; a 6th, leading, seconds field only with
 * HT_CRON_SECONDS):
 *
 *   [second] minute hour day-of-month month day-of-week
 *   field = item *("," item)
 *   item  = "*" ["/" step] | value ["-" value] ["/" step]
 *   value = number | name        names: JAN-DEC, SUN-SAT (any case)
 *
 *   second 0-59, minute 0-59, hour 0-23, day-of-month 1-31, month 1-12,
 *   day-of-week 0-7 (0 and 7 are Sunday).  "a/n" is "a-max/n" ("*" and
 *   "a/n" stop at 6 in day-of-week).  A range ending at the name SUN ends
 *   at 7 ("FRI-SUN").  Steps are 1 to the field's maximum.  Macros: @yearly
 *   (@annually), @monthly, @weekly, @daily (@midnight), @hourly.
 *
 * Day rule (Vixie cron's): when the day-of-month or the day-of-week field
 * begins with "*", a day must match both; when neither does, a day matches
 * if either matches ("0 0 1,15 * MON" fires on the 1st, the 15th and every
 * Monday).
 *
 * Time zone rules:
 *   - a wall time skipped by a forward change (02:30 on the last Sunday of
 *     March in Europe/Paris) fires at the first instant after the gap, the
 *     moment the clocks jump (03:00 there); several skipped wall times fire
 *     once, at that instant;
 *   - a wall time repeated by a backward change fires once, at its first
 *     occurrence, unless the hour field begins with "*" (every 15 minutes
 *     of every hour, "0 * * * *"): such schedules fire in both passes of
 *     the repeated wall times, as "every 15 minutes" means. */
#ifndef HT_CRON_H
#define HT_CRON_H

#include <stddef.h>
#include <stdint.h>

#include "shared/tz.h"

/* ht_cron_parse() flags. */
#define HT_CRON_SECONDS 1u /* test mode: accept a leading seconds field */

/* The longest expression accepted, in bytes. */
#define HT_CRON_MAX_LEN 256
/* How far ht_cron_next() and ht_cron_prev() look before giving up, in
 * seconds: 50 years.  An expression that can fire at all fires at least
 * once in any 40 years (29 February on a given weekday, around 2100, is the
 * rarest), and ht_cron_parse() refuses one that never can. */
#define HT_CRON_HORIZON_S (50LL * 366 * 86400)
/* Instants accepted by the searches: 1900-01-01T00:00:00Z up to
 * 9000-01-01T00:00:00Z. */
#define HT_CRON_MIN_MS (-2208988800000LL)
#define HT_CRON_MAX_MS (221845392000000LL)

/* A parsed expression: immutable, may be shared between threads. */
typedef struct {
    uint64_t second; /* bits 0-59 */
    uint64_t minute; /* bits 0-59 */
    uint32_t hour;   /* bits 0-23 */
    uint32_t dom;    /* bits 1-31 */
    uint16_t month;  /* bits 1-12 */
    uint8_t dow;     /* bits 0-6, Sunday 0 */
    uint8_t flags;   /* HT__CRON_* */
} ht_cron_t;

#define HT__CRON_DOM_STAR  1u /* the day-of-month field begins with '*' */
#define HT__CRON_DOW_STAR  2u /* the day-of-week field begins with '*' */
#define HT__CRON_HOUR_STAR 4u /* the hour field begins with '*' */

/* Why an expression was refused.  `field` is one of "second", "minute",
 * "hour", "day-of-month", "month", "day-of-week" or "expression" (the
 * whole: field count, length, macros); `column` is the 1-based position of
 * the offending character in the expression as given; `message` says it
 * all in one line: "minute: 61 is out of range 0-59 (column 4)". */
typedef struct {
    const char *field; /* static */
    int column;
    char message[192];
} ht_cron_error_t;

/* Parses `expr`.  Returns 0 and fills *out, or HT_EINVAL and fills *err
 * (when not NULL).  An expression that can never fire ("0 0 30 2 *") is
 * refused, naming the day-of-month field. */
int ht_cron_parse(const char *expr, unsigned flags, ht_cron_t *out, ht_cron_error_t *err);

/* The first instant strictly after `after_ms` at which `c` fires in `tz`,
 * in milliseconds since the epoch (always whole seconds).  Returns 0,
 * HT_ENOTFOUND when nothing fires within HT_CRON_HORIZON_S (only near the
 * end of the accepted range), or HT_EINVAL for an instant outside
 * [HT_CRON_MIN_MS, HT_CRON_MAX_MS]. */
int ht_cron_next(const ht_cron_t *c, ht_tz_t *tz, int64_t after_ms, int64_t *next_ms);

/* The latest instant at or before `now_ms` at which `c` fired, looking back
 * at most HT_CRON_HORIZON_S.  Returns 0, HT_ENOTFOUND or HT_EINVAL. */
int ht_cron_prev(const ht_cron_t *c, ht_tz_t *tz, int64_t now_ms, int64_t *prev_ms);

/* How many times `c` fires in (from_ms, to_ms], counting at most `cap`
 * (the count stops there: a caller that only needs "none, one or more"
 * passes 2).  Returns 0 and sets *count, or an error of ht_cron_next(). */
int ht_cron_count(const ht_cron_t *c, ht_tz_t *tz, int64_t from_ms, int64_t to_ms, uint32_t cap,
                  uint32_t *count);

/* Interval schedules ("every_s"): ticks at anchor_ms + k * every_s seconds
 * for k = 0, 1, 2 ..., whatever happened at earlier ticks, so a late run
 * does not shift the next ones.  The anchor is the schedule's first tick
 * (its creation time, or creation + every_s: the caller's choice). */
#define HT_EVERY_MIN_S 1LL
#define HT_EVERY_MAX_S (366LL * 86400) /* a year, leap or not */

/* Returns 0 when every_s is within [HT_EVERY_MIN_S, HT_EVERY_MAX_S], else
 * HT_EINVAL with a message. */
int ht_every_check(int64_t every_s, char *err, size_t errlen);

/* These return 0, or HT_EINVAL when every_s is out of range or an instant
 * is outside [HT_CRON_MIN_MS, HT_CRON_MAX_MS]. */

/* The first tick strictly after `after_ms` (the anchor itself when after_ms
 * is before it). */
int ht_every_next(int64_t anchor_ms, int64_t every_s, int64_t after_ms, int64_t *next_ms);

/* The latest tick at or before `now_ms`, or HT_ENOTFOUND when now_ms is
 * before the anchor. */
int ht_every_prev(int64_t anchor_ms, int64_t every_s, int64_t now_ms, int64_t *tick_ms);

/* The number of ticks in (from_ms, to_ms]; 0 when to_ms <= from_ms. */
int ht_every_count(int64_t anchor_ms, int64_t every_s, int64_t from_ms, int64_t to_ms,
                   int64_t *count);

#endif
