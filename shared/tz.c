/* Time zones through ICU (ucal_*): id validation, offsets and their
 * changes, and a per-thread cache of open zones.  A ht_tz_t is one
 * UCalendar and the last stretch of constant offset it looked up (schedules
 * ask about nearby instants over and over).  A fresh calendar builds its
 * zone's transition rules on the first question, which costs many times a
 * computation: hence the cache. */
#include "shared/tz.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

#include "shared/error.h"

struct ht_tz {
    UCalendar *cal;
    char id[HT_TZ_ID_MAX + 1]; /* canonical */
    int have_span;
    ht_tz_span_t span;
};

/* tz database names are ASCII letters, digits and "/_+-"; anything else is
 * refused before ICU sees it (ICU ids are invariant characters). */
static int id_chars_ok(const char *id)
{
    for (const char *p = id; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '_' || c == '+' || c == '-'))
            return 0;
    }
    return 1;
}

int ht_tz_open(const char *id, ht_tz_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!id || !*id)
        id = HT_TZ_DEFAULT;
    size_t n = strlen(id);
    if (n > HT_TZ_ID_MAX)
        return ht_errorf(err, errlen, HT_EINVAL, "time zone id longer than %d characters",
                         HT_TZ_ID_MAX);
    if (!id_chars_ok(id))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "unknown time zone '%s' (expected a tz database name such as "
                         "Europe/Paris)",
                         id);

    UChar uid[HT_TZ_ID_MAX + 1], canon[HT_TZ_ID_MAX + 1];
    u_charsToUChars(id, uid, (int32_t)n);
    UBool is_system = 0;
    UErrorCode st = U_ZERO_ERROR;
    int32_t cn = ucal_getCanonicalTimeZoneID(uid, (int32_t)n, canon, HT_TZ_ID_MAX, &is_system, &st);
    /* ICU's custom ids ("GMT+3") and its "Etc/Unknown" are not system ids. */
    if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING || !is_system || cn <= 0 ||
        cn > HT_TZ_ID_MAX)
        return ht_errorf(err, errlen, HT_EINVAL,
                         "unknown time zone '%s' (expected a tz database name such as "
                         "Europe/Paris)",
                         id);

    ht_tz_t *tz = calloc(1, sizeof *tz);
    if (!tz)
        return ht_errorf(err, errlen, HT_ENOMEM, "out of memory");
    u_UCharsToChars(canon, tz->id, cn);
    tz->id[cn] = '\0';
    tz->cal = ucal_open(canon, cn, "", UCAL_GREGORIAN, &st);
    if (U_FAILURE(st) || !tz->cal) {
        if (tz->cal)
            ucal_close(tz->cal);
        free(tz);
        return ht_errorf(err, errlen, HT_EINVAL, "time zone '%s': ICU cannot open it (%s)", id,
                         u_errorName(st));
    }
    *out = tz;
    return 0;
}

void ht_tz_close(ht_tz_t *tz)
{
    if (!tz)
        return;
    ucal_close(tz->cal);
    free(tz);
}

const char *ht_tz_id(const ht_tz_t *tz)
{
    return tz->id;
}

/* The total offset (standard + daylight) in force at `ms`. */
static int offset_at(UCalendar *cal, double ms, int32_t *off_s)
{
    UErrorCode st = U_ZERO_ERROR;
    ucal_setMillis(cal, ms, &st);
    int32_t zone = ucal_get(cal, UCAL_ZONE_OFFSET, &st);
    int32_t dst = ucal_get(cal, UCAL_DST_OFFSET, &st);
    if (U_FAILURE(st))
        return HT_EINVAL;
    /* tz database offsets are whole seconds (LMT ones included). */
    *off_s = (zone + dst) / 1000;
    return 0;
}

int ht_tz_span(ht_tz_t *tz, int64_t at_s, ht_tz_span_t *out)
{
    if (tz->have_span && at_s >= tz->span.start_s && at_s < tz->span.end_s) {
        *out = tz->span;
        return 0;
    }
    ht_tz_span_t s;
    double at_ms = (double)at_s * 1000.0;
    if (offset_at(tz->cal, at_ms, &s.off_s))
        return HT_EINVAL;

    UErrorCode st = U_ZERO_ERROR;
    UDate t = 0;
    /* The calendar is still at at_ms: NEXT is the first change after it,
     * PREVIOUS_INCLUSIVE the last change at or before it. */
    if (ucal_getTimeZoneTransitionDate(tz->cal, UCAL_TZ_TRANSITION_NEXT, &t, &st))
        s.end_s = (int64_t)(t / 1000.0);
    else
        s.end_s = INT64_MAX;
    if (U_FAILURE(st))
        return HT_EINVAL;
    if (ucal_getTimeZoneTransitionDate(tz->cal, UCAL_TZ_TRANSITION_PREVIOUS_INCLUSIVE, &t, &st)) {
        s.start_s = (int64_t)(t / 1000.0);
        if (U_FAILURE(st) || offset_at(tz->cal, t - 1.0, &s.prev_off_s))
            return HT_EINVAL;
    } else {
        if (U_FAILURE(st))
            return HT_EINVAL;
        s.start_s = INT64_MIN;
        s.prev_off_s = s.off_s;
    }
    if (s.end_s <= at_s || s.start_s > at_s)
        return HT_EINVAL; /* ICU disagrees with itself: never trust the span */
    tz->span = s;
    tz->have_span = 1;
    *out = s;
    return 0;
}

/* ---- the per-thread cache ------------------------------------------------ */

typedef struct {
    char id[HT_TZ_ID_MAX + 1]; /* as asked, not canonical */
    ht_tz_t *tz;
    uint64_t used; /* larger is more recent */
} cache_slot_t;

typedef struct {
    cache_slot_t slot[HT_TZ_CACHE_SIZE];
    uint64_t clock;
} cache_t;

static __thread cache_t thread_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_close(cache_t *c)
{
    for (int i = 0; i < HT_TZ_CACHE_SIZE; i++) {
        ht_tz_close(c->slot[i].tz);
        c->slot[i].tz = NULL;
    }
}

/* At thread exit: the key's value is the exiting thread's own cache. */
static void cache_destructor(void *arg)
{
    cache_close(arg);
}

static void cache_key_create(void)
{
    pthread_key_create(&cache_key, cache_destructor);
}

int ht_tz_cached(const char *id, ht_tz_t **out, char *err, size_t errlen)
{
    cache_t *c = &thread_cache;
    if (!id || !*id)
        id = HT_TZ_DEFAULT;
    *out = NULL;
    cache_slot_t *victim = &c->slot[0];
    for (int i = 0; i < HT_TZ_CACHE_SIZE; i++) {
        cache_slot_t *s = &c->slot[i];
        if (s->tz && strcmp(s->id, id) == 0) {
            s->used = ++c->clock;
            *out = s->tz;
            return 0;
        }
        if (!s->tz || (victim->tz && s->used < victim->used))
            victim = s;
    }
    ht_tz_t *tz;
    int rc = ht_tz_open(id, &tz, err, errlen);
    if (rc)
        return rc;
    pthread_once(&cache_once, cache_key_create);
    pthread_setspecific(cache_key, c);
    ht_tz_close(victim->tz);
    snprintf(victim->id, sizeof victim->id, "%s", id); /* ht_tz_open checked its length */
    victim->tz = tz;
    victim->used = ++c->clock;
    *out = tz;
    return 0;
}

void ht_tz_cache_clear(void)
{
    cache_close(&thread_cache);
}

const char *ht_tz_data_version(void)
{
    UErrorCode st = U_ZERO_ERROR;
    const char *v = ucal_getTZDataVersion(&st);
    return U_SUCCESS(st) && v ? v : "unknown";
}
