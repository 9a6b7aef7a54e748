/* Cron expressions and interval schedules: the parser (text to bit sets,
 * with refusals that name the field and the column) and the searches for
 * the next and the previous firing in a time zone.
 *
 * The search works on wall-clock seconds ("local seconds since the epoch",
 * wall = UTC + offset) in the proleptic Gregorian calendar, one stretch of
 * constant UTC offset at a time (ht_tz_span): inside a stretch the mapping
 * from wall time to instant is a plain subtraction.  The time zone rules of
 * cron.h fall out of how consecutive stretches meet:
 *   - forward change at T (offset a to b > a): the wall times [T+a, T+b)
 *     never happen; if one of them matches, the schedule fires at T;
 *   - backward change at T (a to b < a): the wall times [T+b, T+a) happen a
 *     second time; they are skipped in the later stretch unless the hour
 *     field begins with '*'. */
#include "shared/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "shared/clock.h"
#include "shared/error.h"

/* ---- parsing ---------------------------------------------------------- */

enum { F_SECOND, F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const day_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

typedef struct {
    const char *name;
    int min, max; /* the values a number may take */
    int star_max; /* where "*" and "a/n" end (day-of-week: 6, not 7) */
    const char *const *names;
    int name_base; /* the value of names[0] */
    int n_names;
} field_def_t;

static const field_def_t fields[F_COUNT] = {
    [F_SECOND] = {"second", 0, 59, 59, NULL, 0, 0},
    [F_MINUTE] = {"minute", 0, 59, 59, NULL, 0, 0},
    [F_HOUR] = {"hour", 0, 23, 23, NULL, 0, 0},
    [F_DOM] = {"day-of-month", 1, 31, 31, NULL, 0, 0},
    [F_MONTH] = {"month", 1, 12, 12, month_names, 1, 12},
    [F_DOW] = {"day-of-week", 0, 7, 6, day_names, 0, 7},
};

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

typedef struct {
    const char *expr; /* the whole expression, for columns */
    ht_cron_error_t *err;
} parser_t;

/* Fills the error (field name, 1-based column of expr[at]) and returns
 * HT_EINVAL. */
static int refuse(parser_t *ps, const char *field, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(parser_t *ps, const char *field, const char *at, const char *fmt, ...)
{
    if (!ps->err)
        return HT_EINVAL;
    ht_cron_error_t *e = ps->err;
    e->field = field;
    e->column = (int)(at - ps->expr) + 1;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(e->message, sizeof e->message, "%s: %s (column %d)", field, what, e->column);
    return HT_EINVAL;
}

/* A printable rendering of the character at p for messages. */
static const char *show_char(const char *p, char buf[8])
{
    if (!*p)
        return "end of field";
    if (isprint((unsigned char)*p))
        snprintf(buf, 8, "'%c'", *p);
    else
        snprintf(buf, 8, "0x%02x", (unsigned char)*p);
    return buf;
}

/* Quartz's "?", "#" and the letters L and W standing alone ("L", "15W",
 * "5L"): refused by name rather than as unknown names. */
static int is_quartz(const char *p, const char *end)
{
    if (p >= end)
        return 0;
    if (*p == '?' || *p == '#')
        return 1;
    return (*p == 'L' || *p == 'W' || *p == 'l' || *p == 'w') &&
           (p + 1 == end || !isalpha((unsigned char)p[1]));
}

/* Reads a number or a name at *p (before `end`) into *v.  *is_sun is set
 * when it was the name SUN. */
static int parse_value(parser_t *ps, const field_def_t *f, const char **p, const char *end, int *v,
                       int *is_sun)
{
    const char *s = *p;
    *is_sun = 0;
    if (is_quartz(s, end))
        return refuse(ps, f->name, s, "'%c' is not supported (Quartz cron syntax)", *s);
    if (s < end && isdigit((unsigned char)*s)) {
        long n = 0;
        const char *q = s;
        for (; q < end && isdigit((unsigned char)*q); q++) {
            if (n < 1000000)
                n = n * 10 + (*q - '0');
        }
        if (n < f->min || n > f->max)
            return refuse(ps, f->name, s, "%.*s is out of range %d-%d", (int)(q - s), s, f->min,
                          f->max);
        *v = (int)n;
        *p = q;
        return 0;
    }
    if (s < end && isalpha((unsigned char)*s)) {
        const char *q = s;
        while (q < end && isalpha((unsigned char)*q))
            q++;
        if (!f->names)
            return refuse(ps, f->name, s,
                          "names such as '%.*s' are only allowed in the month and day-of-week "
                          "fields",
                          (int)(q - s > 12 ? 12 : q - s), s);
        for (int i = 0; i < f->n_names; i++) {
            if (q - s == 3 && strncasecmp(s, f->names[i], 3) == 0) {
                *v = f->name_base + i;
                *is_sun = f->names == day_names && i == 0;
                *p = q;
                return 0;
            }
        }
        return refuse(ps, f->name, s, "unknown %s name '%.*s' (expected %s-%s)",
                      f->names == month_names ? "month" : "day", (int)(q - s > 12 ? 12 : q - s), s,
                      f->names[0], f->names[f->n_names - 1]);
    }
    char cb[8];
    return refuse(ps, f->name, s, "expected a number%s or '*', found %s",
                  f->names ? ", a name" : "", show_char(s < end ? s : "", cb));
}

/* Parses one field, text [start, end), into *bits. */
static int parse_field(parser_t *ps, int fi, const char *start, const char *end, uint64_t *bits,
                       int *star)
{
    const field_def_t *f = &fields[fi];
    const char *p = start;
    char cb[8];
    *bits = 0;
    *star = *p == '*';
    for (;;) {
        const char *item = p;
        int lo, hi, step = 1, ranged = 0, all = 0, sun;
        if (p < end && *p == '*') {
            lo = f->min;
            hi = f->star_max;
            all = 1;
            p++;
        } else {
            if (parse_value(ps, f, &p, end, &lo, &sun))
                return HT_EINVAL;
            hi = lo;
            if (p < end && *p == '-') {
                p++;
                const char *hs = p;
                if (parse_value(ps, f, &p, end, &hi, &sun))
                    return HT_EINVAL;
                if (sun && lo > 0)
                    hi = 7; /* FRI-SUN */
                if (hi < lo)
                    return refuse(ps, f->name, hs,
                                  "range %.*s is backwards (wrap-around ranges are not supported)",
                                  (int)(p - item), item);
                ranged = 1;
            }
        }
        if (p < end && *p == '/') {
            p++;
            const char *ss = p;
            long n = 0;
            for (; p < end && isdigit((unsigned char)*p); p++) {
                if (n < 1000000)
                    n = n * 10 + (*p - '0');
            }
            if (p == ss)
                return refuse(ps, f->name, ss, "expected a step number after '/', found %s",
                              show_char(p < end ? p : "", cb));
            if (n < 1 || n > f->max)
                return refuse(ps, f->name, ss, "step %.*s is out of range 1-%d", (int)(p - ss), ss,
                              f->max);
            step = (int)n;
            if (!all && !ranged)
                hi = f->star_max; /* "a/n" is "a-max/n" */
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ULL << (fi == F_DOW && v == 7 ? 0 : v);
        if (p == end)
            return 0;
        if (is_quartz(p, end))
            return refuse(ps, f->name, p, "'%c' is not supported (Quartz cron syntax)", *p);
        if (*p != ',')
            return refuse(ps, f->name, p, "unexpected %s", show_char(p, cb));
        p++;
        if (p == end)
            return refuse(ps, f->name, p - 1, "nothing after ','");
    }
}

/* Whether some selected day of some selected month exists (29 February
 * counts: leap years come). */
static int some_date_exists(const ht_cron_t *c)
{
    static const int longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++) {
        if (!(c->month >> m & 1))
            continue;
        for (int d = 1; d <= longest[m]; d++) {
            if (c->dom >> d & 1)
                return 1;
        }
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int parse_fields(parser_t *ps, const char *text, unsigned flags, ht_cron_t *out)
{
    const char *start[F_COUNT + 1], *end[F_COUNT + 1];
    int n = 0;
    const char *p = text;
    for (;;) {
        while (is_space(*p))
            p++;
        if (!*p)
            break;
        if (n == F_COUNT)
            return refuse(ps, "expression", p, "too many fields (expected %s)",
                          flags & HT_CRON_SECONDS ? "5 or 6" : "5");
        start[n] = p;
        while (*p && !is_space(*p))
            p++;
        end[n++] = p;
    }
    if (n == 0)
        return refuse(ps, "expression", p, "empty expression");
    int first; /* the fields[] index of the first field given */
    if (n == 6 && (flags & HT_CRON_SECONDS)) {
        first = F_SECOND;
    } else if (n == 5) {
        first = F_MINUTE;
    } else if (n < 5) {
        return refuse(ps, "expression", p,
                      "%d field%s, expected 5: minute hour day-of-month month day-of-week", n,
                      n == 1 ? "" : "s");
    } else {
        return refuse(ps, "expression", start[5],
                      "6 fields, expected 5: minute hour day-of-month month day-of-week");
    }

    memset(out, 0, sizeof *out);
    out->second = 1; /* second 0 when there is no seconds field */
    for (int i = 0; i < n; i++) {
        int fi = first + i, star;
        uint64_t bits;
        if (parse_field(ps, fi, start[i], end[i], &bits, &star))
            return HT_EINVAL;
        switch (fi) {
        case F_SECOND:
            out->second = bits;
            break;
        case F_MINUTE:
            out->minute = bits;
            break;
        case F_HOUR:
            out->hour = (uint32_t)bits;
            out->flags |= star ? HT__CRON_HOUR_STAR : 0;
            break;
        case F_DOM:
            out->dom = (uint32_t)bits;
            out->flags |= star ? HT__CRON_DOM_STAR : 0;
            break;
        case F_MONTH:
            out->month = (uint16_t)bits;
            break;
        case F_DOW:
            out->dow = (uint8_t)bits;
            out->flags |= star ? HT__CRON_DOW_STAR : 0;
            break;
        }
    }
    /* Under the OR rule any selected weekday of any selected month will do;
     * under the AND rule the day of the month must exist. */
    if ((out->flags & (HT__CRON_DOM_STAR | HT__CRON_DOW_STAR)) && !some_date_exists(out))
        return refuse(ps, "day-of-month", start[F_DOM - first],
                      "no selected day exists in the selected months, the expression would "
                      "never fire");
    return 0;
}

int ht_cron_parse(const char *expr, unsigned flags, ht_cron_t *out, ht_cron_error_t *err)
{
    parser_t ps = {expr ? expr : "", err};
    if (err) {
        err->field = NULL;
        err->column = 0;
        err->message[0] = '\0';
    }
    if (!expr)
        return refuse(&ps, "expression", ps.expr, "empty expression");
    size_t len = strnlen(expr, HT_CRON_MAX_LEN + 1);
    if (len > HT_CRON_MAX_LEN)
        return refuse(&ps, "expression", expr + HT_CRON_MAX_LEN, "longer than %d characters",
                      HT_CRON_MAX_LEN);
    const char *p = expr;
    while (is_space(*p))
        p++;
    if (*p != '@')
        return parse_fields(&ps, expr, flags, out);

    const char *q = p;
    while (*q && !is_space(*q))
        q++;
    const char *r = q;
    while (is_space(*r))
        r++;
    if (*r)
        return refuse(&ps, "expression", r, "unexpected text after %.*s", (int)(q - p), p);
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if ((size_t)(q - p) == strlen(macros[i].name) &&
            strncasecmp(p, macros[i].name, (size_t)(q - p)) == 0) {
            /* The expansion is valid: no error can point into it. */
            return parse_fields(&ps, macros[i].expr, flags, out);
        }
    }
    return refuse(&ps, "expression", p,
                  "unknown macro '%.*s' (expected @yearly, @annually, @monthly, @weekly, @daily, "
                  "@midnight or @hourly)",
                  (int)(q - p > 16 ? 16 : q - p), p);
}

/* ---- matching wall times ---------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The lowest set bit of `mask` at or above `i`, or -1. */
static int next_bit(uint64_t mask, int i)
{
    if (i > 63)
        return -1;
    uint64_t m = mask & (~0ULL << i);
    return m ? __builtin_ctzll(m) : -1;
}

static int day_matches(const ht_cron_t *c, int64_t day, int dom)
{
    int wd = (int)(((day % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int dom_ok = c->dom >> dom & 1, dow_ok = c->dow >> wd & 1;
    if (c->flags & (HT__CRON_DOM_STAR | HT__CRON_DOW_STAR))
        return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

/* The first second of the day at or after h:m:s that matches, as seconds
 * into the day, or -1. */
static int time_in_day(const ht_cron_t *c, int h, int m, int s)
{
    while (h < 24) {
        int nh = next_bit(c->hour, h);
        if (nh < 0)
            return -1;
        if (nh > h) {
            h = nh;
            m = s = 0;
        }
        int nm = next_bit(c->minute, m);
        if (nm < 0) {
            h++;
            m = s = 0;
            continue;
        }
        if (nm > m) {
            m = nm;
            s = 0;
        }
        int ns = next_bit(c->second, s);
        if (ns < 0) {
            m++;
            s = 0;
            continue;
        }
        return h * 3600 + m * 60 + ns;
    }
    return -1;
}

/* The first wall second in [lo, hi) that `c` matches: 0 and *out, or 1. */
static int next_wall(const ht_cron_t *c, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t day = floor_div(lo, 86400);
    int sod = (int)(lo - day * 86400);
    int h = sod / 3600, m = sod / 60 % 60, s = sod % 60;
    while (day * 86400 < hi) {
        int y, mo, d;
        ht_civil_from_days(day, &y, &mo, &d);
        if (!(c->month >> mo & 1)) {
            if (++mo > 12) {
                mo = 1;
                y++;
            }
            day = ht_days_from_civil(y, mo, 1);
            h = m = s = 0;
            continue;
        }
        if (day_matches(c, day, d)) {
            int t = time_in_day(c, h, m, s);
            if (t >= 0) {
                int64_t w = day * 86400 + t;
                if (w >= hi)
                    return 1;
                *out = w;
                return 0;
            }
        }
        day++;
        h = m = s = 0;
    }
    return 1;
}

/* ---- searching instants ----------------------------------------------- */

int ht_cron_next(const ht_cron_t *c, ht_tz_t *tz, int64_t after_ms, int64_t *next_ms)
{
    if (after_ms < HT_CRON_MIN_MS || after_ms > HT_CRON_MAX_MS)
        return HT_EINVAL;
    int64_t t = floor_div(after_ms, 1000) + 1; /* the first candidate instant */
    int64_t horizon = t + HT_CRON_HORIZON_S;
    int twice = c->flags & HT__CRON_HOUR_STAR;
    ht_tz_span_t sp, nx;
    if (ht_tz_span(tz, t, &sp))
        return HT_EINVAL;
    /* Wall times below `seen` already happened before the current stretch:
     * after a backward change, the ones the previous stretch went through. */
    int64_t seen = INT64_MIN, w;
    if (sp.start_s != INT64_MIN && sp.prev_off_s > sp.off_s)
        seen = sp.start_s + sp.prev_off_s;
    /* t may be the very instant of a forward change: its skipped wall times
     * fire now. */
    if (sp.start_s == t && sp.prev_off_s < sp.off_s &&
        next_wall(c, t + sp.prev_off_s, t + sp.off_s, &w) == 0) {
        *next_ms = t * 1000;
        return 0;
    }
    for (;;) {
        int64_t end = sp.end_s < horizon ? sp.end_s : horizon;
        int64_t lo = t + sp.off_s;
        if (!twice && lo < seen)
            lo = seen;
        if (next_wall(c, lo, end + sp.off_s, &w) == 0) {
            *next_ms = (w - sp.off_s) * 1000;
            return 0;
        }
        if (end >= horizon)
            return HT_ENOTFOUND;
        if (ht_tz_span(tz, end, &nx))
            return HT_EINVAL;
        /* A forward change: the skipped wall times fire as the clocks jump. */
        if (nx.off_s > sp.off_s && next_wall(c, end + sp.off_s, end + nx.off_s, &w) == 0) {
            *next_ms = end * 1000;
            return 0;
        }
        if (seen < end + sp.off_s)
            seen = end + sp.off_s;
        t = end;
        sp = nx;
    }
}

/* Whether `c` fires in (x_s, now_s]; sets *first to the first such firing. */
static int fires_between(const ht_cron_t *c, ht_tz_t *tz, int64_t x_s, int64_t now_s, int *yes,
                         int64_t *first)
{
    int64_t n;
    int rc = ht_cron_next(c, tz, x_s * 1000, &n);
    if (rc == HT_ENOTFOUND) {
        *yes = 0;
        return 0;
    }
    if (rc)
        return rc;
    *yes = n <= now_s * 1000;
    *first = n;
    return 0;
}

int ht_cron_prev(const ht_cron_t *c, ht_tz_t *tz, int64_t now_ms, int64_t *prev_ms)
{
    if (now_ms < HT_CRON_MIN_MS || now_ms > HT_CRON_MAX_MS)
        return HT_EINVAL;
    /* Firings are whole seconds.  With f(x) the first firing after x,
     * "f(x) <= now" holds for x below the latest firing p and fails from p
     * on: widen the window backwards until it holds, then bisect; p is
     * f(the largest x where it holds). */
    int64_t now_s = floor_div(now_ms, 1000);
    int64_t floor_s = now_s - HT_CRON_HORIZON_S, min_s = floor_div(HT_CRON_MIN_MS, 1000);
    if (floor_s < min_s)
        floor_s = min_s;
    int64_t hi = now_s, lo = now_s, step = 1, first = 0;
    int yes = 0, rc;
    while (!yes) {
        if (lo == floor_s)
            return HT_ENOTFOUND;
        hi = lo;
        lo = now_s - step < floor_s ? floor_s : now_s - step;
        step *= 2;
        if ((rc = fires_between(c, tz, lo, now_s, &yes, &first)))
            return rc;
    }
    int64_t at = first;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if ((rc = fires_between(c, tz, mid, now_s, &yes, &first)))
            return rc;
        if (yes) {
            lo = mid;
            at = first;
        } else {
            hi = mid;
        }
    }
    *prev_ms = at;
    return 0;
}

int ht_cron_count(const ht_cron_t *c, ht_tz_t *tz, int64_t from_ms, int64_t to_ms, uint32_t cap,
                  uint32_t *count)
{
    uint32_t n = 0;
    int64_t t = from_ms;
    while (n < cap && t < to_ms) {
        int rc = ht_cron_next(c, tz, t, &t);
        if (rc == HT_ENOTFOUND)
            break;
        if (rc)
            return rc;
        if (t > to_ms)
            break;
        n++;
    }
    *count = n;
    return 0;
}

/* ---- intervals -------------------------------------------------------- */

int ht_every_check(int64_t every_s, char *err, size_t errlen)
{
    if (every_s < HT_EVERY_MIN_S || every_s > HT_EVERY_MAX_S)
        return ht_errorf(err, errlen, HT_EINVAL, "every_s must be from %lld to %lld seconds",
                         (long long)HT_EVERY_MIN_S, (long long)HT_EVERY_MAX_S);
    return 0;
}

static int every_args_ok(int64_t anchor_ms, int64_t every_s, int64_t at_ms)
{
    return every_s >= HT_EVERY_MIN_S && every_s <= HT_EVERY_MAX_S && anchor_ms >= HT_CRON_MIN_MS &&
           anchor_ms <= HT_CRON_MAX_MS && at_ms >= HT_CRON_MIN_MS && at_ms <= HT_CRON_MAX_MS;
}

/* The number of ticks at or before at_ms. */
static int64_t ticks_upto(int64_t anchor_ms, int64_t every_s, int64_t at_ms)
{
    return at_ms < anchor_ms ? 0 : (at_ms - anchor_ms) / (every_s * 1000) + 1;
}

int ht_every_next(int64_t anchor_ms, int64_t every_s, int64_t after_ms, int64_t *next_ms)
{
    if (!every_args_ok(anchor_ms, every_s, after_ms))
        return HT_EINVAL;
    *next_ms = anchor_ms + ticks_upto(anchor_ms, every_s, after_ms) * every_s * 1000;
    return 0;
}

int ht_every_prev(int64_t anchor_ms, int64_t every_s, int64_t now_ms, int64_t *tick_ms)
{
    if (!every_args_ok(anchor_ms, every_s, now_ms))
        return HT_EINVAL;
    int64_t k = ticks_upto(anchor_ms, every_s, now_ms);
    if (k == 0)
        return HT_ENOTFOUND;
    *tick_ms = anchor_ms + (k - 1) * every_s * 1000;
    return 0;
}

int ht_every_count(int64_t anchor_ms, int64_t every_s, int64_t from_ms, int64_t to_ms,
                   int64_t *count)
{
    if (!every_args_ok(anchor_ms, every_s, from_ms) || !every_args_ok(anchor_ms, every_s, to_ms))
        return HT_EINVAL;
    *count = to_ms <= from_ms
                 ? 0
                 : ticks_upto(anchor_ms, every_s, to_ms) - ticks_upto(anchor_ms, every_s, from_ms);
    return 0;
}
