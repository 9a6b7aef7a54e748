/* Wall-clock milliseconds (behind a hook tests can replace) and the RFC 3339
 * text form used in every job document and log line. */
#include "shared/clock.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shared/error.h"

static int64_t real_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ht_clock_fn clock_hook = real_clock;

int64_t ht_now_ms(void)
{
    return clock_hook();
}

void ht_set_clock(ht_clock_fn fn)
{
    clock_hook = fn ? fn : real_clock;
}

/* Representable range of the fixed-width form: years 0000..9999. */
#define MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define MAX_MS (253402300799999LL) /* 9999-12-31T23:59:59.999Z */

char *ht_format_time(int64_t ms, char *buf)
{
    if (ms < MIN_MS)
        ms = MIN_MS;
    if (ms > MAX_MS)
        ms = MAX_MS;
    /* Floor division so times before 1970 still print correctly. */
    int64_t secs = ms / 1000, frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    /* A roomy scratch buffer keeps -Wformat-truncation quiet; the clamp above
     * guarantees the text is exactly 24 characters. */
    char tmp[96];
    int n = snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    if (n < 0 || n >= HT_TIME_BUFSZ)
        n = 0;
    memcpy(buf, tmp, (size_t)n);
    buf[n] = '\0';
    return buf;
}

/* Reads exactly `n` digits at *p into *out and advances *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return HT_EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return HT_EINVAL;
    (*p)++;
    return 0;
}

static int leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int ht_days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Howard Hinnant's days_from_civil and civil_from_days: no timegm()/TZ
 * dependence. */
int64_t ht_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void ht_civil_from_days(int64_t days, int *y, int *m, int *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int ht_parse_time(const char *s, int64_t *ms)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, frac = 0;
    if (!s)
        return HT_EINVAL;
    if (digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) || expect(&p, '-') ||
        digits(&p, 2, &d))
        return HT_EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return HT_EINVAL;
    p++;
    if (digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) || expect(&p, ':') ||
        digits(&p, 2, &sec))
        return HT_EINVAL;
    if (*p == '.') {
        /* Any number of fraction digits; keep milliseconds, truncate the rest. */
        p++;
        if (!isdigit((unsigned char)*p))
            return HT_EINVAL;
        int n = 0;
        for (; isdigit((unsigned char)*p); p++, n++) {
            if (n < 3)
                frac = frac * 10 + (*p - '0');
        }
        for (; n < 3; n++)
            frac *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om))
            return HT_EINVAL;
        if (oh > 23 || om > 59)
            return HT_EINVAL;
        offset_min = sign * (oh * 60 + om);
    } else {
        return HT_EINVAL;
    }
    if (*p != '\0')
        return HT_EINVAL;
    /* Leap second 60 is allowed by RFC 3339; it folds into the next second. */
    if (mo < 1 || mo > 12 || d < 1 || d > ht_days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return HT_EINVAL;
    int64_t secs = ht_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    secs -= (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac;
    return 0;
}
