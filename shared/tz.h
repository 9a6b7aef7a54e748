/* Time zones: a tz database zone id validated and opened through ICU's C
 * calendar API, and the UTC offset a zone has at an instant together with
 * the instants where that offset changes.  The process's TZ variable is
 * never read or changed (the api and the workers are threaded). */
#ifndef HT_TZ_H
#define HT_TZ_H

#include <stddef.h>
#include <stdint.h>

/* The longest zone id accepted, in bytes. */
#define HT_TZ_ID_MAX 64
/* The zone of a schedule that names none. */
#define HT_TZ_DEFAULT "UTC"

typedef struct ht_tz ht_tz_t;

/* Opens zone `id`: a tz database name as ICU knows it ("Europe/Paris",
 * "UTC", "US/Eastern"); case matters.  NULL or "" opens HT_TZ_DEFAULT.
 * Returns 0 and sets *out (close it with ht_tz_close), HT_EINVAL with a
 * message naming the id when the id is not a tz database zone (ICU's custom
 * "GMT+3" forms are refused too), or HT_ENOMEM.
 *
 * A ht_tz_t holds an ICU calendar and a cache: use it from one thread at a
 * time (ht_tz_cached() keeps one per zone and thread). */
int ht_tz_open(const char *id, ht_tz_t **out, char *err, size_t errlen);
void ht_tz_close(ht_tz_t *tz);

/* This thread's open zone for `id`, from a small per-thread cache (the
 * HT_TZ_CACHE_SIZE most recently used zones; opening one costs far more
 * than a computation, bench/README.md).  Returns 0 and a borrowed *out,
 * valid until this thread's next ht_tz_cached() or ht_tz_cache_clear()
 * call: never close it.  Errors as ht_tz_open() (refused ids are not
 * cached).  A thread's zones are closed when it exits. */
#define HT_TZ_CACHE_SIZE 16
int ht_tz_cached(const char *id, ht_tz_t **out, char *err, size_t errlen);

/* Closes this thread's cached zones (the main thread, before it exits). */
void ht_tz_cache_clear(void);

/* ICU's canonical id of the zone ("US/Eastern" gives "America/New_York",
 * "UTC" gives "Etc/UTC", "Asia/Kolkata" CLDR's "Asia/Calcutta"): for logs;
 * show users the id they gave.  Lives as long as tz. */
const char *ht_tz_id(const ht_tz_t *tz);

/* A stretch of time during which the zone's UTC offset does not change:
 * [start_s, end_s) in seconds since the epoch, wall clock = UTC + off_s. */
typedef struct {
    int64_t start_s;    /* INT64_MIN when no change is known before */
    int64_t end_s;      /* INT64_MAX when no change is known after */
    int32_t off_s;      /* the offset inside the stretch */
    int32_t prev_off_s; /* the offset just before start_s (off_s if none) */
} ht_tz_span_t;

/* Fills *out with the stretch that holds the instant `at_s`.  Returns 0, or
 * HT_EINVAL when ICU cannot compute it.  Consecutive stretches may share an
 * offset (a rule change that leaves the sum of standard and daylight time
 * unchanged). */
int ht_tz_span(ht_tz_t *tz, int64_t at_s, ht_tz_span_t *out);

/* The version of the tz database ICU carries (such as "2022e"): ICU brings
 * its own copy, which may be older than the system's /usr/share/zoneinfo. */
const char *ht_tz_data_version(void);

#endif
