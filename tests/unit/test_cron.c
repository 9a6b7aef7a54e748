/* shared/cron.c: the grammar and its refusals, the table of known next runs
 * (tests/cases/cron/next.txt, checked independently by cron_oracle.py),
 * runs across daylight saving changes, the latest run and the count of
 * missed runs, and interval schedules. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "shared/clock.h"
#include "shared/cron.h"
#include "shared/error.h"
#include "shared/tz.h"

static int64_t at(const char *rfc3339)
{
    int64_t ms;
    cr_assert_eq(ht_parse_time(rfc3339, &ms), 0, "bad instant in the test: %s", rfc3339);
    return ms;
}

static const char *show(int64_t ms, char buf[HT_TIME_BUFSZ])
{
    return ht_format_time(ms, buf);
}

static ht_tz_t *zone(const char *id)
{
    ht_tz_t *tz;
    char err[256];
    cr_assert_eq(ht_tz_open(id, &tz, err, sizeof err), 0, "%s: %s", id, err);
    return tz;
}

static ht_cron_t parse(const char *expr)
{
    ht_cron_t c;
    ht_cron_error_t e;
    cr_assert_eq(ht_cron_parse(expr, HT_CRON_SECONDS, &c, &e), 0, "'%s': %s", expr, e.message);
    return c;
}

/* ---- grammar ---------------------------------------------------------- */

Test(cron_parse, fields_become_bit_sets)
{
    ht_cron_t c = parse("5,10-12,50/5 */6 1-31/10 FEB-apr/2 SAT-SUN");
    cr_expect_eq(c.second, 1ULL, "no seconds field: second 0");
    cr_expect_eq(c.minute,
                 1ULL << 5 | 1ULL << 10 | 1ULL << 11 | 1ULL << 12 | 1ULL << 50 | 1ULL << 55);
    cr_expect_eq(c.hour, 1u << 0 | 1u << 6 | 1u << 12 | 1u << 18);
    cr_expect_eq(c.dom, 1u << 1 | 1u << 11 | 1u << 21 | 1u << 31);
    cr_expect_eq(c.month, 1u << 2 | 1u << 4);
    cr_expect_eq(c.dow, 1u << 6 | 1u << 0, "SAT-SUN is Saturday and Sunday");
    cr_expect_eq(c.flags & HT__CRON_HOUR_STAR, HT__CRON_HOUR_STAR);
    cr_expect_eq(c.flags & (HT__CRON_DOM_STAR | HT__CRON_DOW_STAR), 0);

    c = parse("0-59/20 0 0 * * 7");
    cr_expect_eq(c.second, 1ULL | 1ULL << 20 | 1ULL << 40, "test mode: 6 fields, seconds first");
    cr_expect_eq(c.dow, 1u, "7 is Sunday");
    cr_expect_eq(c.flags, HT__CRON_DOM_STAR);

    c = parse("* * * * *");
    cr_expect_eq(c.minute, (1ULL << 60) - 1);
    cr_expect_eq(c.hour, (1u << 24) - 1);
    cr_expect_eq(c.dom, ((1u << 31) - 1) << 1);
    cr_expect_eq(c.month, ((1u << 12) - 1) << 1);
    cr_expect_eq(c.dow, (1u << 7) - 1);
    cr_expect_eq(c.flags, HT__CRON_DOM_STAR | HT__CRON_DOW_STAR | HT__CRON_HOUR_STAR);

    c = parse("  0\t0  1 1   *  "); /* any blanks around and between fields */
    cr_expect_eq(c.month, 1u << 1);
}

Test(cron_parse, macros_are_their_expansions)
{
    static const char *const pairs[][2] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {" @Daily ", "0 0 * * *"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        ht_cron_t a = parse(pairs[i][0]), b = parse(pairs[i][1]);
        cr_expect_eq(memcmp(&a, &b, sizeof a), 0, "%s differs from %s", pairs[i][0], pairs[i][1]);
    }
}

Test(cron_parse, seconds_only_in_test_mode)
{
    ht_cron_t c;
    ht_cron_error_t e;
    cr_expect_eq(ht_cron_parse("*/5 * * * * *", 0, &c, &e), HT_EINVAL);
    cr_expect_str_eq(e.field, "expression");
    cr_expect_eq(e.column, 13, "points at the 6th field");
    cr_expect(strstr(e.message, "6 fields, expected 5"), "%s", e.message);
    cr_expect_eq(ht_cron_parse("*/5 * * * * *", HT_CRON_SECONDS, &c, &e), 0);
    cr_expect_eq(ht_cron_parse("* * * * *", HT_CRON_SECONDS, &c, &e), 0, "5 fields still do");
}

Test(cron_parse, never_firing_is_refused_but_or_rule_is_not)
{
    ht_cron_t c;
    cr_expect_eq(ht_cron_parse("0 0 30 2 MON", 0, &c, NULL), 0,
                 "OR rule: every Monday of February");
    cr_expect_eq(ht_cron_parse("0 0 29 2 *", 0, &c, NULL), 0, "leap days come");
    cr_expect_eq(ht_cron_parse("0 0 31 1-12 *", 0, &c, NULL), 0);
    cr_expect_eq(ht_cron_parse("0 0 30 2 *", 0, &c, NULL), HT_EINVAL, "NULL err is allowed");
}

/* expression | flags | field | column | words the message must hold */
static const struct {
    const char *expr;
    unsigned flags;
    const char *field;
    int column;
    const char *words;
} bad[] = {
    {"", 0, "expression", 1, "empty expression"},
    {"   ", 0, "expression", 4, "empty expression"},
    {"* * * *", 0, "expression", 8, "4 fields, expected 5: minute hour"},
    {"*", 0, "expression", 2, "1 field, expected 5"},
    {"* * * * * *", 0, "expression", 11, "6 fields, expected 5"},
    {"* * * * * * *", HT_CRON_SECONDS, "expression", 13, "too many fields (expected 5 or 6)"},
    {"60 * * * *", 0, "minute", 1, "60 is out of range 0-59"},
    {"99999999999 * * * *", 0, "minute", 1, "99999999999 is out of range 0-59"},
    {"0 24 * * *", 0, "hour", 3, "24 is out of range 0-23"},
    {"0 0 0 * *", 0, "day-of-month", 5, "0 is out of range 1-31"},
    {"0 0 32 * *", 0, "day-of-month", 5, "32 is out of range 1-31"},
    {"0 0 * 13 *", 0, "month", 7, "13 is out of range 1-12"},
    {"0 0 * 0 *", 0, "month", 7, "0 is out of range 1-12"},
    {"0 0 * * 8", 0, "day-of-week", 9, "8 is out of range 0-7"},
    {"60 * * * * *", HT_CRON_SECONDS, "second", 1, "60 is out of range 0-59"},
    {"0 0 * JANUARY *", 0, "month", 7, "unknown month name 'JANUARY' (expected JAN-DEC)"},
    {"0 0 * * FUN", 0, "day-of-week", 9, "unknown day name 'FUN' (expected SUN-SAT)"},
    {"MON 0 * * *", 0, "minute", 1, "names such as 'MON' are only allowed in the month and"},
    {"0 0 JAN * *", 0, "day-of-month", 5, "names such as 'JAN'"},
    {"*/0 * * * *", 0, "minute", 3, "step 0 is out of range 1-59"},
    {"0 */24 * * *", 0, "hour", 5, "step 24 is out of range 1-23"},
    {"*/ * * * *", 0, "minute", 3, "expected a step number after '/', found end of field"},
    {"*/x * * * *", 0, "minute", 3, "expected a step number after '/', found 'x'"},
    {"5-3 * * * *", 0, "minute", 3, "range 5-3 is backwards"},
    {"0 0 * * SAT-MON", 0, "day-of-week", 13, "range SAT-MON is backwards"},
    {"1,,2 * * * *", 0, "minute", 3, "expected a number or '*', found ','"},
    {"1, * * * *", 0, "minute", 2, "nothing after ','"},
    {"*5 * * * *", 0, "minute", 2, "unexpected '5'"},
    {"1-2-3 * * * *", 0, "minute", 4, "unexpected '-'"},
    {"-5 * * * *", 0, "minute", 1, "expected a number or '*', found '-'"},
    {"0 0 * * MON-", 0, "day-of-week", 13, "expected a number, a name or '*', found end of field"},
    {"0\x01 * * * *", 0, "minute", 2, "unexpected 0x01"},
    {"0 0 ? * *", 0, "day-of-month", 5, "'?' is not supported (Quartz cron syntax)"},
    {"0 0 L * *", 0, "day-of-month", 5, "'L' is not supported"},
    {"0 0 15W * *", 0, "day-of-month", 7, "'W' is not supported"},
    {"0 0 * * 5#3", 0, "day-of-week", 10, "'#' is not supported"},
    {"0 0 30 2 *", 0, "day-of-month", 5, "never fire"},
    {"0 0 31 4,6,9,11 *", 0, "day-of-month", 5, "never fire"},
    {"0 0 30-31 FEB */2", 0, "day-of-month", 5, "never fire"},
    {"@reboot", 0, "expression", 1, "unknown macro '@reboot'"},
    {"@daily extra", 0, "expression", 8, "unexpected text after @daily"},
};

Test(cron_parse, refusals_name_field_and_column)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ht_cron_t c;
        ht_cron_error_t e;
        int rc = ht_cron_parse(bad[i].expr, bad[i].flags, &c, &e);
        cr_expect_eq(rc, HT_EINVAL, "'%s' accepted", bad[i].expr);
        if (rc != HT_EINVAL)
            continue;
        cr_expect_str_eq(e.field, bad[i].field, "'%s': %s", bad[i].expr, e.message);
        cr_expect_eq(e.column, bad[i].column, "'%s': column %d: %s", bad[i].expr, e.column,
                     e.message);
        cr_expect(strstr(e.message, bad[i].words), "'%s': '%s' lacks '%s'", bad[i].expr, e.message,
                  bad[i].words);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s: ", bad[i].field);
        cr_expect_eq(strncmp(e.message, prefix, strlen(prefix)), 0,
                     "the message starts with the field: %s", e.message);
    }
}

Test(cron_parse, overlong_and_null)
{
    char longer[HT_CRON_MAX_LEN + 2];
    memset(longer, ' ', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    memcpy(longer, "* * * * *", 9);
    ht_cron_t c;
    ht_cron_error_t e;
    cr_expect_eq(ht_cron_parse(longer, 0, &c, &e), HT_EINVAL);
    cr_expect_eq(e.column, HT_CRON_MAX_LEN + 1);
    cr_expect(strstr(e.message, "longer than 256 characters"), "%s", e.message);
    longer[HT_CRON_MAX_LEN] = '\0';
    cr_expect_eq(ht_cron_parse(longer, 0, &c, &e), 0, "exactly the limit: %s", e.message);
    cr_expect_eq(ht_cron_parse(NULL, 0, &c, &e), HT_EINVAL);
    cr_expect_str_eq(e.field, "expression");
}

/* ---- the table of known next runs ------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

static char *table_path(void)
{
    const char *src = getenv("HT_SOURCE_DIR");
    cr_assert(src, "HT_SOURCE_DIR must name the source tree (ctest sets it)");
    static char path[4096];
    snprintf(path, sizeof path, "%s/tests/cases/cron/next.txt", src);
    return path;
}

/* Each row: next(after) is the expected instant, prev() of it is itself,
 * nothing fires between after and it. */
Test(cron_table, known_next_runs)
{
    FILE *f = fopen(table_path(), "r");
    cr_assert(f, "%s: %s", table_path(), strerror(errno));
    char line[512];
    int rows = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || !strchr(line, '|'))
            continue;
        char *col[5] = {0};
        char *p = line;
        for (int i = 0; i < 5; i++) {
            col[i] = p;
            p = strchr(p, '|');
            if (!p)
                break;
            *p++ = '\0';
        }
        cr_assert(col[4], "line %d: 5 columns expected", lineno);
        const char *expr = trim(col[0]), *zid = trim(col[1]), *why = trim(col[4]);
        int64_t after = at(trim(col[2])), want = at(trim(col[3])), got = 0, prev = 0;
        ht_cron_t c = parse(expr);
        ht_tz_t *tz = zone(zid);
        char b1[HT_TIME_BUFSZ], b2[HT_TIME_BUFSZ];
        int rc = ht_cron_next(&c, tz, after, &got);
        cr_expect_eq(rc, 0, "line %d: %s", lineno, ht_strerror(rc));
        cr_expect_eq(got, want, "line %d: '%s' in %s after %s: %s, expected %s (%s)", lineno, expr,
                     zid, col[2], show(got, b1), show(want, b2), why);
        cr_expect_eq(ht_cron_prev(&c, tz, want, &prev), 0);
        cr_expect_eq(prev, want, "line %d: prev(%s) = %s", lineno, show(want, b1), show(prev, b2));
        rc = ht_cron_prev(&c, tz, want - 1, &prev);
        cr_expect(rc == HT_ENOTFOUND || (rc == 0 && prev <= after),
                  "line %d: fired at %s, between after and the expected run", lineno,
                  show(prev, b1));
        uint32_t n = 0;
        cr_expect_eq(ht_cron_count(&c, tz, after, want, 10, &n), 0);
        cr_expect_eq(n, 1, "line %d: %u runs in (after, expected]", lineno, n);
        ht_tz_close(tz);
        rows++;
    }
    fclose(f);
    cr_expect_geq(rows, 100, "only %d rows read", rows);
}

/* The table's expected values agree with an independent brute-force walk
 * over instants with Python's zoneinfo (the system tz database). */
Test(cron_table, zoneinfo_agrees, .timeout = 100)
{
    const char *src = getenv("HT_SOURCE_DIR");
    cr_assert(src);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/unit/cron_oracle.py' '%s' 2>&1", src,
             table_path());
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen: %s", strerror(errno));
    char out[16384];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cron_oracle.py: %s", out);
    int rows = 0;
    cr_assert_eq(sscanf(out, "%d rows agree", &rows), 1, "%s", out);
    cr_expect_geq(rows, 100, "%s", out);
}

/* ---- runs across daylight saving changes, as sequences ---------------- */

/* The runs of `expr` in `zid` after `after`, in order, must be `want`. */
static void sequence(const char *expr, const char *zid, const char *after, const char *const *want,
                     int n)
{
    ht_cron_t c = parse(expr);
    ht_tz_t *tz = zone(zid);
    int64_t t = at(after);
    for (int i = 0; i < n; i++) {
        int64_t w = at(want[i]);
        char b1[HT_TIME_BUFSZ], b2[HT_TIME_BUFSZ];
        cr_expect_eq(ht_cron_next(&c, tz, t, &t), 0);
        cr_expect_eq(t, w, "'%s' in %s, run %d: %s, expected %s", expr, zid, i + 1, show(t, b1),
                     show(w, b2));
        t = w;
    }
    ht_tz_close(tz);
}

Test(cron_dst, every_30_minutes_in_new_york_both_changes)
{
    static const char *const spring[] = {
        "2024-03-10T01:00:00-05:00",
        "2024-03-10T01:30:00-05:00",
        "2024-03-10T03:00:00-04:00", /* 02:00 and 02:30 skipped: 30 real minutes later */
        "2024-03-10T03:30:00-04:00",
    };
    sequence("*/30 * * * *", "America/New_York", "2024-03-10T00:30:00-05:00", spring, 4);
    static const char *const fall[] = {
        "2024-11-03T01:00:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-03T01:00:00-05:00",
        "2024-11-03T01:30:00-05:00", "2024-11-03T02:00:00-05:00",
    };
    sequence("*/30 * * * *", "America/New_York", "2024-11-03T00:30:00-04:00", fall, 5);
}

Test(cron_dst, daily_fixed_time_runs_once_a_day_through_both_changes)
{
    static const char *const paris[] = {
        "2024-03-30T02:30:00+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-04-01T02:30:00+02:00",
    };
    sequence("30 2 * * *", "Europe/Paris", "2024-03-29T12:00:00+01:00", paris, 3);
    static const char *const paris_fall[] = {
        "2024-10-26T02:30:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
    };
    sequence("30 2 * * *", "Europe/Paris", "2024-10-25T12:00:00+02:00", paris_fall, 3);
    static const char *const lord_howe[] = {
        "2024-04-06T01:45:00+11:00",
        "2024-04-07T01:45:00+11:00",
        "2024-04-08T01:45:00+10:30",
    };
    sequence("45 1 * * *", "Australia/Lord_Howe", "2024-04-05T12:00:00+11:00", lord_howe, 3);
}

Test(cron_dst, seconds_tick_through_the_jump)
{
    /* Test mode, every 20 s across Paris's spring change: 01:59:40,
     * 01:59:59 -> 03:00:00 takes one second. */
    static const char *const want[] = {
        "2024-03-31T01:59:20+01:00",
        "2024-03-31T01:59:40+01:00",
        "2024-03-31T03:00:00+02:00",
        "2024-03-31T03:00:20+02:00",
    };
    sequence("*/20 * * * * *", "Europe/Paris", "2024-03-31T01:59:00+01:00", want, 4);
}

Test(cron_dst, utc_and_tokyo_have_no_changes)
{
    ht_cron_t c = parse("*/7 * * * *");
    ht_tz_t *tokyo = zone("Asia/Tokyo"), *utc = zone("UTC");
    /* A year of runs every 7 minutes of the hour: the Tokyo runs are the UTC
     * runs, shifted by 9 hours (both whole hours). */
    int64_t a = at("2025-01-01T00:00:00Z"), b = a;
    for (int i = 0; i < 2000; i++) {
        int64_t na, nb;
        cr_assert_eq(ht_cron_next(&c, tokyo, a, &na), 0);
        cr_assert_eq(ht_cron_next(&c, utc, b, &nb), 0);
        cr_assert_eq(na, nb, "run %d", i);
        a = na;
        b = nb;
    }
    ht_tz_close(tokyo);
    ht_tz_close(utc);
}

/* ---- the latest run, missed runs ---------------------------------------- */

Test(cron_prev, latest_run_at_or_before)
{
    ht_tz_t *paris = zone("Europe/Paris");
    ht_cron_t c = parse("30 2 * * *");
    int64_t p;
    char b1[HT_TIME_BUFSZ];
    cr_expect_eq(ht_cron_prev(&c, paris, at("2024-03-31T12:00:00+02:00"), &p), 0);
    cr_expect_eq(p, at("2024-03-31T03:00:00+02:00"), "the skipped run: %s", show(p, b1));
    cr_expect_eq(ht_cron_prev(&c, paris, at("2024-10-27T02:45:00+01:00"), &p), 0);
    cr_expect_eq(p, at("2024-10-27T02:30:00+02:00"), "first pass: %s", show(p, b1));
    cr_expect_eq(ht_cron_prev(&c, paris, at("2024-10-27T02:30:00+02:00"), &p), 0,
                 "at the run itself");
    cr_expect_eq(p, at("2024-10-27T02:30:00+02:00"));

    c = parse("0 0 29 2 *");
    cr_expect_eq(ht_cron_prev(&c, paris, at("2027-06-01T00:00:00Z"), &p), 0);
    cr_expect_eq(p, at("2024-02-29T00:00:00+01:00"), "three years back: %s", show(p, b1));

    c = parse("*/15 * * * *");
    cr_expect_eq(ht_cron_prev(&c, paris, at("2024-10-27T02:10:00+01:00"), &p), 0);
    cr_expect_eq(p, at("2024-10-27T02:00:00+01:00"), "second pass: %s", show(p, b1));
    cr_expect_eq(ht_cron_prev(&c, paris, at("2024-10-27T02:14:59.999+01:00"), &p), 0);
    cr_expect_eq(p, at("2024-10-27T02:00:00+01:00"));
    ht_tz_close(paris);

    ht_tz_t *utc = zone(NULL);
    c = parse("0 0 2 1 *");
    cr_expect_eq(ht_cron_prev(&c, utc, HT_CRON_MIN_MS + 3600 * 1000, &p), HT_ENOTFOUND,
                 "nothing before the start of the range");
    c = parse("0 1 1 1 *");
    cr_expect_eq(ht_cron_prev(&c, utc, HT_CRON_MIN_MS + 7200 * 1000, &p), 0);
    cr_expect_eq(p, HT_CRON_MIN_MS + 3600 * 1000, "01:00 on 1 January 1900");
    ht_tz_close(utc);
}

Test(cron_prev, count_of_missed_runs)
{
    ht_tz_t *ny = zone("America/New_York");
    ht_cron_t c = parse("*/30 * * * *");
    uint32_t n;
    /* (00:30 EDT, 02:00 EST] on the fall-back day: 01:00, 01:30 EDT,
     * 01:00, 01:30, 02:00 EST. */
    cr_expect_eq(ht_cron_count(&c, ny, at("2024-11-03T00:30:00-04:00"),
                               at("2024-11-03T02:00:00-05:00"), 100, &n),
                 0);
    cr_expect_eq(n, 5);
    cr_expect_eq(ht_cron_count(&c, ny, at("2024-11-03T00:30:00-04:00"),
                               at("2024-11-03T02:00:00-05:00"), 2, &n),
                 0);
    cr_expect_eq(n, 2, "stops at the cap");
    cr_expect_eq(ht_cron_count(&c, ny, at("2024-11-03T00:31:00-04:00"),
                               at("2024-11-03T00:59:59-04:00"), 100, &n),
                 0);
    cr_expect_eq(n, 0);
    cr_expect_eq(ht_cron_count(&c, ny, at("2024-11-03T01:00:00-04:00"),
                               at("2024-11-03T00:00:00-04:00"), 100, &n),
                 0);
    cr_expect_eq(n, 0, "an empty interval");
    /* A day of every-30-minutes in New York on the spring day has 46 runs
     * (23 hours), on the fall day 50 (25 hours). */
    cr_expect_eq(ht_cron_count(&c, ny, at("2024-03-10T00:00:00-05:00"),
                               at("2024-03-11T00:00:00-04:00"), 1000, &n),
                 0);
    cr_expect_eq(n, 46);
    cr_expect_eq(ht_cron_count(&c, ny, at("2024-11-03T00:00:00-04:00"),
                               at("2024-11-04T00:00:00-05:00"), 1000, &n),
                 0);
    cr_expect_eq(n, 50);
    ht_tz_close(ny);
}

Test(cron_prev, instants_out_of_range)
{
    ht_tz_t *utc = zone("UTC");
    ht_cron_t c = parse("* * * * *");
    int64_t t;
    cr_expect_eq(ht_cron_next(&c, utc, HT_CRON_MIN_MS - 1, &t), HT_EINVAL);
    cr_expect_eq(ht_cron_next(&c, utc, HT_CRON_MAX_MS + 1, &t), HT_EINVAL);
    cr_expect_eq(ht_cron_prev(&c, utc, INT64_MIN, &t), HT_EINVAL);
    cr_expect_eq(ht_cron_next(&c, utc, HT_CRON_MAX_MS, &t), 0);
    cr_expect_eq(t, HT_CRON_MAX_MS + 60000);
    c = parse("0 0 29 2 *");
    cr_expect_eq(ht_cron_next(&c, utc, HT_CRON_MAX_MS, &t), 0, "9004 is a leap year");
    cr_expect_eq(t, ht_days_from_civil(9004, 2, 29) * 86400 * 1000);
    ht_tz_close(utc);
}

/* ---- interval schedules ------------------------------------------------- */

Test(every, ticks_are_anchored)
{
    int64_t a = at("2025-01-01T00:00:00.250Z"), t;
    cr_expect_eq(ht_every_next(a, 60, a - 5000, &t), 0);
    cr_expect_eq(t, a, "before the anchor: the anchor");
    cr_expect_eq(ht_every_next(a, 60, a, &t), 0);
    cr_expect_eq(t, a + 60000, "strictly after");
    /* A run that happened late (at +75 s) does not move the next tick. */
    cr_expect_eq(ht_every_next(a, 60, a + 75000, &t), 0);
    cr_expect_eq(t, a + 120000);
    cr_expect_eq(ht_every_next(a, 60, a + 119999, &t), 0);
    cr_expect_eq(t, a + 120000);

    cr_expect_eq(ht_every_prev(a, 60, a - 1, &t), HT_ENOTFOUND);
    cr_expect_eq(ht_every_prev(a, 60, a, &t), 0);
    cr_expect_eq(t, a);
    cr_expect_eq(ht_every_prev(a, 60, a + 3 * 3600 * 1000 + 59999, &t), 0);
    cr_expect_eq(t, a + 3 * 3600 * 1000);

    int64_t n;
    cr_expect_eq(ht_every_count(a, 60, a - 1, a, &n), 0);
    cr_expect_eq(n, 1, "the anchor is a tick");
    cr_expect_eq(ht_every_count(a, 60, a, a + 600000, &n), 0);
    cr_expect_eq(n, 10, "(a, a+10 min]");
    cr_expect_eq(ht_every_count(a, 60, a + 1, a + 600000 - 1, &n), 0);
    cr_expect_eq(n, 9);
    cr_expect_eq(ht_every_count(a, 60, a + 600000, a, &n), 0);
    cr_expect_eq(n, 0);
    cr_expect_eq(ht_every_count(a, 1, a - 86400000, a + 86400000, &n), 0);
    cr_expect_eq(n, 86401, "a day of seconds, the anchor and after");
    /* A year-long interval over a leap year. */
    int64_t y = at("2024-01-01T00:00:00Z");
    cr_expect_eq(ht_every_next(y, HT_EVERY_MAX_S, y, &t), 0);
    cr_expect_eq(t, at("2025-01-01T00:00:00Z"));
}

Test(every, bounds)
{
    char err[128];
    cr_expect_eq(ht_every_check(0, err, sizeof err), HT_EINVAL);
    cr_expect(strstr(err, "every_s must be from 1 to 31622400 seconds"), "%s", err);
    cr_expect_eq(ht_every_check(-5, err, sizeof err), HT_EINVAL);
    cr_expect_eq(ht_every_check(HT_EVERY_MAX_S + 1, err, sizeof err), HT_EINVAL);
    cr_expect_eq(ht_every_check(1, err, sizeof err), 0);
    cr_expect_eq(ht_every_check(HT_EVERY_MAX_S, err, sizeof err), 0);
    int64_t t;
    cr_expect_eq(ht_every_next(0, 0, 0, &t), HT_EINVAL);
    cr_expect_eq(ht_every_next(0, 60, INT64_MAX, &t), HT_EINVAL);
    cr_expect_eq(ht_every_prev(INT64_MIN, 60, 0, &t), HT_EINVAL);
    cr_expect_eq(ht_every_count(0, 60, 0, INT64_MAX, &t), HT_EINVAL);
}
