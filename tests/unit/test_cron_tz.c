/* shared/tz.c: zone ids validated by ICU, offsets and their changes, and the
 * process's TZ variable left alone. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "shared/clock.h"
#include "shared/cron.h"
#include "shared/error.h"
#include "shared/tz.h"

static int64_t at_s(const char *rfc3339)
{
    int64_t ms;
    cr_assert_eq(ht_parse_time(rfc3339, &ms), 0, "%s", rfc3339);
    return ms / 1000;
}

Test(tz, known_ids_open_with_their_canonical_id)
{
    static const char *const pairs[][2] = {
        {"Europe/Paris", "Europe/Paris"},   {"America/New_York", "America/New_York"},
        {"US/Eastern", "America/New_York"}, {"UTC", "Etc/UTC"},
        {"Etc/GMT+3", "Etc/GMT+3"},         {"Australia/Lord_Howe", "Australia/Lord_Howe"},
        {"Asia/Kolkata", "Asia/Calcutta"}, /* ICU keeps CLDR's older names canonical */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        ht_tz_t *tz;
        char err[256] = "";
        cr_assert_eq(ht_tz_open(pairs[i][0], &tz, err, sizeof err), 0, "%s: %s", pairs[i][0], err);
        cr_expect_str_eq(ht_tz_id(tz), pairs[i][1]);
        ht_tz_close(tz);
    }
    ht_tz_t *tz;
    cr_assert_eq(ht_tz_open(NULL, &tz, NULL, 0), 0);
    cr_expect_str_eq(ht_tz_id(tz), "Etc/UTC", "no zone: UTC");
    ht_tz_close(tz);
    cr_assert_eq(ht_tz_open("", &tz, NULL, 0), 0);
    cr_expect_str_eq(ht_tz_id(tz), "Etc/UTC");
    ht_tz_close(tz);
    ht_tz_close(NULL);
}

Test(tz, unknown_ids_are_refused_by_name)
{
    static const char *const ids[] = {
        "Nowhere/City",     "europe/paris",         "GMT+3",       "Europe/Paris ",
        "../../etc/passwd", "Europe/Pa\xc3\xa9ris", "Etc/Unknown", "Z",
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        ht_tz_t *tz = (ht_tz_t *)1;
        char err[256] = "";
        cr_expect_eq(ht_tz_open(ids[i], &tz, err, sizeof err), HT_EINVAL, "'%s' accepted", ids[i]);
        cr_expect_null(tz, "*out is NULL on failure");
        char want[128];
        snprintf(want, sizeof want, "unknown time zone '%s'", ids[i]);
        cr_expect(strstr(err, want), "'%s': %s", ids[i], err);
    }
    char longer[HT_TZ_ID_MAX + 2];
    memset(longer, 'A', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    ht_tz_t *tz;
    char err[256] = "";
    cr_expect_eq(ht_tz_open(longer, &tz, err, sizeof err), HT_EINVAL);
    cr_expect(strstr(err, "longer than 64 characters"), "%s", err);
}

Test(tz, spans_of_constant_offset)
{
    ht_tz_t *tz;
    cr_assert_eq(ht_tz_open("Europe/Paris", &tz, NULL, 0), 0);
    ht_tz_span_t s;
    cr_assert_eq(ht_tz_span(tz, at_s("2024-07-01T00:00:00Z"), &s), 0);
    cr_expect_eq(s.off_s, 7200);
    cr_expect_eq(s.prev_off_s, 3600);
    cr_expect_eq(s.start_s, at_s("2024-03-31T01:00:00Z"));
    cr_expect_eq(s.end_s, at_s("2024-10-27T01:00:00Z"));
    /* At the change itself: the new offset. */
    cr_assert_eq(ht_tz_span(tz, at_s("2024-10-27T01:00:00Z"), &s), 0);
    cr_expect_eq(s.off_s, 3600);
    cr_expect_eq(s.prev_off_s, 7200);
    cr_expect_eq(s.start_s, at_s("2024-10-27T01:00:00Z"));
    cr_expect_eq(s.end_s, at_s("2025-03-30T01:00:00Z"));
    cr_assert_eq(ht_tz_span(tz, at_s("2024-10-27T00:59:59Z"), &s), 0);
    cr_expect_eq(s.off_s, 7200);
    ht_tz_close(tz);

    cr_assert_eq(ht_tz_open("Australia/Lord_Howe", &tz, NULL, 0), 0);
    cr_assert_eq(ht_tz_span(tz, at_s("2024-05-01T00:00:00Z"), &s), 0);
    cr_expect_eq(s.off_s, 10 * 3600 + 1800);
    cr_expect_eq(s.prev_off_s, 11 * 3600);
    cr_expect_eq(s.start_s, at_s("2024-04-06T15:00:00Z"));
    ht_tz_close(tz);

    cr_assert_eq(ht_tz_open("UTC", &tz, NULL, 0), 0);
    cr_assert_eq(ht_tz_span(tz, at_s("2024-05-01T00:00:00Z"), &s), 0);
    cr_expect_eq(s.off_s, 0);
    cr_expect_eq(s.start_s, INT64_MIN);
    cr_expect_eq(s.end_s, INT64_MAX);
    ht_tz_close(tz);

    /* Tokyo: no change since 1951, none ahead. */
    cr_assert_eq(ht_tz_open("Asia/Tokyo", &tz, NULL, 0), 0);
    cr_assert_eq(ht_tz_span(tz, at_s("2024-05-01T00:00:00Z"), &s), 0);
    cr_expect_eq(s.off_s, 9 * 3600);
    cr_expect_eq(s.end_s, INT64_MAX);
    cr_expect_lt(s.start_s, at_s("1952-01-01T00:00:00Z"));
    ht_tz_close(tz);
}

Test(tz, data_version)
{
    const char *v = ht_tz_data_version();
    cr_expect(strlen(v) >= 5 && v[0] == '2', "'%s'", v);
}

/* Two threads compute in different zones at once while TZ says a third:
 * each gets its own zone's answers and TZ is untouched. */
typedef struct {
    const char *zone;
    int64_t want_ms;
    int ok;
} job_t;

static void *compute(void *arg)
{
    job_t *j = arg;
    ht_tz_t *tz;
    ht_cron_t c;
    if (ht_tz_open(j->zone, &tz, NULL, 0) || ht_cron_parse("0 9 * * *", 0, &c, NULL))
        return NULL;
    j->ok = 1;
    for (int i = 0; i < 2000; i++) {
        int64_t t;
        if (ht_cron_next(&c, tz, 1735689600000LL /* 2025-01-01T00:00Z */, &t) || t != j->want_ms)
            j->ok = 0;
    }
    ht_tz_close(tz);
    return NULL;
}

Test(tz, threads_and_tz_variable)
{
    setenv("TZ", "America/Los_Angeles", 1);
    job_t jobs[2] = {
        {"Europe/Paris", 1735718400000LL, 0}, /* 2025-01-01T09:00+01:00 */
        {"Asia/Tokyo", 1735776000000LL, 0},   /* 2025-01-02T09:00+09:00 */
    };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, compute, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_expect(jobs[i].ok, "%s: wrong next run", jobs[i].zone);
    }
    cr_expect_str_eq(getenv("TZ"), "America/Los_Angeles");
}

Test(tz, per_thread_cache)
{
    ht_tz_t *a, *b, *c;
    char err[256];
    cr_assert_eq(ht_tz_cached("Europe/Paris", &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ht_tz_cached("Europe/Paris", &b, err, sizeof err), 0, "%s", err);
    cr_expect_eq(a, b, "the same zone comes back");
    cr_assert_eq(ht_tz_cached(NULL, &c, err, sizeof err), 0);
    cr_expect_str_eq(ht_tz_id(c), "Etc/UTC");
    cr_expect_eq(ht_tz_cached("Nowhere/City", &c, err, sizeof err), HT_EINVAL);
    cr_expect_null(c);
    cr_expect(strstr(err, "unknown time zone 'Nowhere/City'"), "%s", err);

    /* More zones than slots: the least recently used goes, Paris (used
     * again each round) stays. */
    static const char *const ids[] = {
        "Asia/Tokyo",       "America/New_York", "Australia/Sydney", "Europe/London",
        "America/Chicago",  "Asia/Karachi",     "Africa/Cairo",     "Europe/Berlin",
        "America/Denver",   "Asia/Shanghai",    "Pacific/Auckland", "Europe/Madrid",
        "America/Santiago", "Asia/Dubai",       "Europe/Rome",      "America/Lima",
        "Asia/Seoul",       "Europe/Oslo",      "Africa/Lagos",     "America/Bogota",
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        cr_assert_eq(ht_tz_cached(ids[i], &c, err, sizeof err), 0, "%s: %s", ids[i], err);
        cr_expect_str_eq(ht_tz_id(c), ids[i]);
        cr_assert_eq(ht_tz_cached("Europe/Paris", &b, err, sizeof err), 0);
        cr_expect_eq(b, a, "Paris evicted at %s", ids[i]);
    }
    /* The cached zone computes like a fresh one. */
    ht_cron_t cr;
    int64_t t;
    cr_assert_eq(ht_cron_parse("30 2 * * *", 0, &cr, NULL), 0);
    cr_assert_eq(ht_cron_next(&cr, a, 1711843200000LL /* 2024-03-31T00:00Z */, &t), 0);
    cr_expect_eq(t, 1711846800000LL, "03:00 CEST");
    ht_tz_cache_clear();
    cr_assert_eq(ht_tz_cached("Europe/Paris", &b, err, sizeof err), 0);
    ht_tz_cache_clear();
}

/* A thread that uses the cache and exits leaves nothing behind (the
 * sanitizer's leak check would say). */
static void *cache_user(void *arg)
{
    ht_tz_t *tz;
    *(int *)arg = ht_tz_cached("America/Sao_Paulo", &tz, NULL, 0) == 0 &&
                  ht_tz_cached("Asia/Tokyo", &tz, NULL, 0) == 0;
    return NULL;
}

Test(tz, cache_is_freed_at_thread_exit)
{
    for (int i = 0; i < 3; i++) {
        pthread_t th;
        int ok = 0;
        cr_assert_eq(pthread_create(&th, NULL, cache_user, &ok), 0);
        pthread_join(th, NULL);
        cr_expect(ok);
    }
}

/* The time zone rules for a fixed wall time are ICU's own resolution of
 * wall times, UCAL_WALLTIME_NEXT_VALID for skipped ones and
 * UCAL_WALLTIME_FIRST for repeated ones: ICU's ucal_setDateTime, asked
 * independently of the offset spans shared/cron.c walks, gives the same
 * instants. */
Test(tz, fixed_times_resolve_as_icu_does)
{
    static const struct {
        const char *zone;
        int y, mo, d, h, mi;
    } walls[] = {
        {"Europe/Paris", 2024, 3, 31, 2, 30},        /* skipped */
        {"Europe/Paris", 2024, 10, 27, 2, 30},       /* repeated */
        {"Europe/Paris", 2024, 6, 1, 12, 0},         /* ordinary */
        {"America/New_York", 2024, 3, 10, 2, 0},     /* skipped */
        {"America/New_York", 2024, 11, 3, 1, 30},    /* repeated */
        {"Australia/Lord_Howe", 2024, 10, 6, 2, 15}, /* skipped, 30-minute change */
        {"Australia/Lord_Howe", 2024, 4, 7, 1, 45},  /* repeated, 30-minute change */
        {"Australia/Sydney", 2024, 10, 6, 2, 30},    /* skipped, southern spring */
        {"Australia/Sydney", 2024, 4, 7, 2, 30},     /* repeated, southern autumn */
        {"America/Sao_Paulo", 2018, 11, 4, 0, 0},    /* skipped midnight */
        {"America/Sao_Paulo", 2019, 2, 16, 23, 30},  /* repeated before midnight */
        {"Pacific/Apia", 2011, 12, 30, 12, 0},       /* a skipped day */
        {"Asia/Tokyo", 2024, 3, 31, 2, 30},          /* nothing happens */
    };
    for (size_t i = 0; i < sizeof walls / sizeof walls[0]; i++) {
        UChar uz[HT_TZ_ID_MAX + 1];
        u_uastrcpy(uz, walls[i].zone);
        UErrorCode st = U_ZERO_ERROR;
        UCalendar *cal = ucal_open(uz, -1, "", UCAL_GREGORIAN, &st);
        cr_assert(U_SUCCESS(st), "%s", u_errorName(st));
        ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
        ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, UCAL_WALLTIME_FIRST);
        ucal_clear(cal);
        ucal_setDateTime(cal, walls[i].y, walls[i].mo - 1, walls[i].d, walls[i].h, walls[i].mi, 0,
                         &st);
        int64_t icu = (int64_t)ucal_getMillis(cal, &st);
        cr_assert(U_SUCCESS(st), "%s", u_errorName(st));
        ucal_close(cal);

        char expr[64];
        snprintf(expr, sizeof expr, "%d %d %d %d *", walls[i].mi, walls[i].h, walls[i].d,
                 walls[i].mo);
        ht_cron_t c;
        ht_tz_t *tz;
        int64_t next;
        cr_assert_eq(ht_cron_parse(expr, 0, &c, NULL), 0);
        cr_assert_eq(ht_tz_cached(walls[i].zone, &tz, NULL, 0), 0);
        int64_t day_before =
            ht_days_from_civil(walls[i].y, walls[i].mo, walls[i].d) * 86400000 - 86400000;
        cr_assert_eq(ht_cron_next(&c, tz, day_before, &next), 0);
        char b1[HT_TIME_BUFSZ], b2[HT_TIME_BUFSZ];
        cr_expect_eq(next, icu, "'%s' in %s: %s, ICU says %s", expr, walls[i].zone,
                     ht_format_time(next, b1), ht_format_time(icu, b2));
    }
    ht_tz_cache_clear();
}
