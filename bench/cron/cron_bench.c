/* Next-run computations per second of shared/cron.c: parsing, ht_cron_next
 * with a zone kept open and with a zone opened per call, ht_cron_prev.  Run
 * by bench/cron/run against the Release library. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "shared/cron.h"
#include "shared/error.h"
#include "shared/tz.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct {
    const char *expr, *zone;
} cases[] = {
    {"*/5 * * * *", "Europe/Paris"},       {"0 9 * * MON-FRI", "America/New_York"},
    {"30 2 * * *", "Australia/Lord_Howe"}, {"0 0 1 */3 *", "Asia/Tokyo"},
    {"0 0 29 2 *", "Europe/Paris"},
};

enum { KEPT, CACHED, OPENED };

/* Walks `n` runs forward from 2025-01-01 (each call starts where the last
 * run was, back to 2025 after 2100), the way a scheduler asks, with the
 * zone kept open, taken from ht_tz_cached() for each call, or opened and
 * closed for each call. */
static double next_rate(const ht_cron_t *c, const char *zone, int n, int how)
{
    ht_tz_t *tz = NULL;
    if (how == KEPT && ht_tz_open(zone, &tz, NULL, 0))
        exit(1);
    int64_t t = 1735689600000LL;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (how == CACHED && ht_tz_cached(zone, &tz, NULL, 0))
            exit(1);
        if (how == OPENED && ht_tz_open(zone, &tz, NULL, 0))
            exit(1);
        if (ht_cron_next(c, tz, t, &t))
            exit(1);
        if (t > 4102444800000LL) /* 2100: start over */
            t = 1735689600000LL;
        if (how == OPENED)
            ht_tz_close(tz);
    }
    double dt = now_s() - t0;
    if (how == KEPT)
        ht_tz_close(tz);
    return n / dt;
}

static double prev_rate(const ht_cron_t *c, const char *zone, int n)
{
    ht_tz_t *tz;
    if (ht_tz_open(zone, &tz, NULL, 0))
        exit(1);
    int64_t t = 1735689600000LL, p;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (ht_cron_prev(c, tz, t + (int64_t)i * 60000, &p))
            exit(1);
    }
    double dt = now_s() - t0;
    ht_tz_close(tz);
    return n / dt;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    ht_cron_t c;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (ht_cron_parse("*/5 9-17 1,15 JAN-JUN MON-FRI", 0, &c, NULL))
            return 1;
    }
    double parse_rate = n / (now_s() - t0);
    printf("tz data %s; parse: %.0f expressions/s\n", ht_tz_data_version(), parse_rate);
    printf("| expression | zone | next/s, zone kept open | next/s, ht_tz_cached | next/s, zone "
           "opened per call | prev/s |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: |\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (ht_cron_parse(cases[i].expr, 0, &c, NULL))
            return 1;
        int m = i == 4 ? n / 20 : n;
        printf("| `%s` | %s | %.0f | %.0f | %.0f | %.0f |\n", cases[i].expr, cases[i].zone,
               next_rate(&c, cases[i].zone, m, KEPT), next_rate(&c, cases[i].zone, m, CACHED),
               next_rate(&c, cases[i].zone, m / 4, OPENED), prev_rate(&c, cases[i].zone, m / 20));
    }
    ht_tz_cache_clear();
    return 0;
}
