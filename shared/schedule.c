/* Recurring schedules: the create request, when a schedule runs (the
 * catch-up rule), the stored record and its document.  The request's
 * fields are checked one row of `fields` each, every problem collected
 * with a JSON Pointer and a code as job_request.c does for jobs (whose
 * checks the job template goes through). */
#include "shared/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/decimal.h"
#include "shared/error.h"

static const char *const catch_up_names[] = {
    [HT_CATCH_UP_ONE] = "one", [HT_CATCH_UP_NONE] = "none"};

const char *ht_catch_up_name(ht_catch_up_t c)
{
    return c == HT_CATCH_UP_NONE ? catch_up_names[HT_CATCH_UP_NONE]
                                 : catch_up_names[HT_CATCH_UP_ONE];
}

int ht_catch_up_parse(const char *s, ht_catch_up_t *out)
{
    for (int i = 0; s && i < 2; i++) {
        if (strcmp(s, catch_up_names[i]) == 0) {
            *out = (ht_catch_up_t)i;
            return 0;
        }
    }
    return HT_EINVAL;
}

/* ---- when it runs ------------------------------------------------------- */

int ht_schedule_when_parse(ht_schedule_when_t *w, const char *cron, const char *every_s,
                           const char *anchor, const char *tz, const char *seconds,
                           const char *catch_up, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    if (catch_up && *catch_up && ht_catch_up_parse(catch_up, &w->catch_up) < 0)
        return ht_errorf(err, errlen, HT_EINVAL, "unknown catch_up '%s'", catch_up);
    if (cron && *cron) {
        ht_cron_error_t ce;
        unsigned flags = seconds && strcmp(seconds, "1") == 0 ? HT_CRON_SECONDS : 0;
        if (ht_cron_parse(cron, flags, &w->cron, &ce) < 0)
            return ht_errorf(err, errlen, HT_EINVAL, "cron: %s", ce.message);
        if (tz && strlen(tz) > HT_TZ_ID_MAX)
            return ht_errorf(err, errlen, HT_EINVAL, "time zone id too long");
        snprintf(w->tz, sizeof(w->tz), "%s", tz ? tz : "");
        w->is_cron = 1;
        return 0;
    }
    if (ht_decimal_i64(every_s, HT_EVERY_MIN_S, HT_EVERY_MAX_S, &w->every_s) < 0 ||
        ht_decimal_i64(anchor, HT_CRON_MIN_MS, HT_CRON_MAX_MS, &w->anchor_ms) < 0)
        return ht_errorf(err, errlen, HT_EINVAL, "neither a cron nor a valid interval");
    return 0;
}

int ht_schedule_next(const ht_schedule_when_t *w, int64_t after_ms, int64_t *next_ms, char *err,
                     size_t errlen)
{
    if (!w->is_cron) {
        int rc = ht_every_next(w->anchor_ms, w->every_s, after_ms, next_ms);
        return rc < 0 ? ht_errorf(err, errlen, rc, "interval out of range") : 0;
    }
    ht_tz_t *tz;
    int rc = ht_tz_cached(w->tz, &tz, err, errlen);
    if (rc < 0)
        return rc;
    rc = ht_cron_next(&w->cron, tz, after_ms, next_ms);
    if (rc == HT_EINVAL)
        return ht_errorf(err, errlen, rc, "instant out of range");
    return rc;
}

int ht_schedule_first(ht_schedule_when_t *w, int64_t now_ms, int64_t *first_ms, char *err,
                      size_t errlen)
{
    if (!w->is_cron) {
        int64_t second = (now_ms / 1000 + 1) * 1000;
        if (w->every_s > (HT_CRON_MAX_MS - second) / 1000)
            return ht_errorf(err, errlen, HT_EINVAL, "interval out of range");
        w->anchor_ms = second + w->every_s * 1000;
        *first_ms = w->anchor_ms;
        return 0;
    }
    return ht_schedule_next(w, now_ms, first_ms, err, errlen);
}

/* The latest run at or before now_ms. */
static int latest(const ht_schedule_when_t *w, int64_t now_ms, int64_t *tick_ms, char *err,
                  size_t errlen)
{
    if (!w->is_cron) {
        int rc = ht_every_prev(w->anchor_ms, w->every_s, now_ms, tick_ms);
        return rc == HT_EINVAL ? ht_errorf(err, errlen, rc, "interval out of range") : rc;
    }
    ht_tz_t *tz;
    int rc = ht_tz_cached(w->tz, &tz, err, errlen);
    if (rc < 0)
        return rc;
    rc = ht_cron_prev(&w->cron, tz, now_ms, tick_ms);
    return rc == HT_EINVAL ? ht_errorf(err, errlen, rc, "instant out of range") : rc;
}

int ht_schedule_plan(const ht_schedule_when_t *w, int64_t due_ms, int64_t now_ms,
                     ht_schedule_plan_t *out, char *err, size_t errlen)
{
    out->tick_ms = out->next_ms = 0;
    int64_t from = due_ms;
    if (now_ms - due_ms <= HT_SCHEDULE_LATE_MS) {
        out->tick_ms = due_ms;
    } else {
        from = now_ms;
        if (w->catch_up == HT_CATCH_UP_ONE) {
            int rc = latest(w, now_ms, &out->tick_ms, err, errlen);
            if (rc == HT_ENOTFOUND)
                out->tick_ms = due_ms; /* nothing found looking back: the one known */
            else if (rc < 0)
                return rc;
            if (out->tick_ms < due_ms)
                out->tick_ms = due_ms;
        }
    }
    int rc = ht_schedule_next(w, from, &out->next_ms, err, errlen);
    if (rc == HT_ENOTFOUND) {
        out->next_ms = 0;
        return 0;
    }
    return rc;
}

/* ---- the create request ------------------------------------------------- */

typedef struct {
    ht_schedule_request_t *r;
    const ht_schedule_limits_t *limits;
    ht_problem_t *problem;
    json_t *job; /* borrowed: the template object, checked after the fields */
    int has_cron, has_every, has_tz;
    char tz[HT_TZ_ID_MAX + 1];
} ctx_t;

#define ERR(c, ptr, code, ...) ht_problem_add_error((c)->problem, (ptr), (code), __VA_ARGS__)

/* A string without NUL characters, or NULL (the problem added). */
static const char *string_of(ctx_t *c, const char *ptr, json_t *v)
{
    if (!json_is_string(v)) {
        ERR(c, ptr, "invalid_type", "must be a string, not %s", ht_problem_json_kind(v));
        return NULL;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        ERR(c, ptr, "invalid_format", "must not contain NUL characters");
        return NULL;
    }
    return json_string_value(v);
}

static void check_name(ctx_t *c, json_t *v)
{
    const char *s = string_of(c, "/name", v);
    if (!s)
        return;
    if (!*s || strlen(s) > HT_SCHEDULE_NAME_MAX) {
        ERR(c, "/name", "out_of_range", "must be 1 to %d bytes", HT_SCHEDULE_NAME_MAX);
        return;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20) {
            ERR(c, "/name", "invalid_format", "must not contain control characters");
            return;
        }
    }
    snprintf(c->r->name, sizeof(c->r->name), "%s", s);
}

static void check_cron(ctx_t *c, json_t *v)
{
    c->has_cron = 1;
    const char *s = string_of(c, "/cron", v);
    if (!s)
        return;
    ht_cron_error_t ce;
    unsigned flags = c->limits && c->limits->cron_seconds ? HT_CRON_SECONDS : 0;
    if (ht_cron_parse(s, flags, &c->r->when.cron, &ce) < 0) {
        ERR(c, "/cron", "invalid_format", "%s", ce.message);
        return;
    }
    snprintf(c->r->cron_text, sizeof(c->r->cron_text), "%s", s); /* parsed: it fits */
    c->r->seconds = flags != 0;
    c->r->when.is_cron = 1;
}

static void check_timezone(ctx_t *c, json_t *v)
{
    c->has_tz = 1;
    const char *s = string_of(c, "/timezone", v);
    if (!s)
        return;
    char why[256];
    ht_tz_t *tz;
    if (ht_tz_cached(s, &tz, why, sizeof(why)) < 0) {
        ERR(c, "/timezone", "invalid_value", "%s", why);
        return;
    }
    snprintf(c->tz, sizeof(c->tz), "%s", s); /* opened: within HT_TZ_ID_MAX */
}

static void check_every(ctx_t *c, json_t *v)
{
    c->has_every = 1;
    if (!json_is_integer(v)) {
        ERR(c, "/every_s", "invalid_type", "must be an integer, not %s", ht_problem_json_kind(v));
        return;
    }
    json_int_t n = json_integer_value(v);
    if (n < HT_EVERY_MIN_S || n > HT_EVERY_MAX_S) {
        ERR(c, "/every_s", "out_of_range", "must be between %lld and %lld (a year)",
            (long long)HT_EVERY_MIN_S, (long long)HT_EVERY_MAX_S);
        return;
    }
    c->r->when.every_s = n;
}

static void check_catch_up(ctx_t *c, json_t *v)
{
    const char *s = string_of(c, "/catch_up", v);
    if (s && ht_catch_up_parse(s, &c->r->when.catch_up) < 0)
        ERR(c, "/catch_up", "invalid_value", "must be one of one, none");
}

static void check_job(ctx_t *c, json_t *v)
{
    if (!json_is_object(v)) {
        ERR(c, "/job", "invalid_type", "must be a job request object, not %s",
            ht_problem_json_kind(v));
        return;
    }
    c->job = v;
}

static const struct field {
    const char *name;
    void (*check)(ctx_t *c, json_t *v);
} fields[] = {
    {"name", check_name},     {"cron", check_cron},         {"timezone", check_timezone},
    {"every_s", check_every}, {"catch_up", check_catch_up}, {"job", check_job},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

/* The template through the submit schema; a schedule's jobs run at its
 * runs, so delay_s and run_at have no place in it. */
static void check_template(ctx_t *c)
{
    ht_problem_t jp = {0};
    char *text = json_dumps(c->job, JSON_COMPACT);
    if (!text) {
        ERR(c, "/job", "internal", "out of memory");
        return;
    }
    if (ht_job_request_parse(&c->r->job, text, strlen(text), c->limits ? c->limits->job : NULL,
                             &jp) == 0) {
        if (c->r->job.delay_s > 0)
            ht_problem_add_error(&jp, "/delay_s", "unknown_field",
                                 "a schedule's jobs run at its runs: shift the schedule instead");
        if (c->r->job.run_at_ms > 0)
            ht_problem_add_error(&jp, "/run_at", "unknown_field",
                                 "a schedule's jobs run at its runs: shift the schedule instead");
    }
    ht_problem_prefix_pointers(&jp, "/job");
    size_t n = jp.errors ? json_array_size(jp.errors) : 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(jp.errors, i);
        ERR(c, json_string_value(json_object_get(e, "pointer")),
            json_string_value(json_object_get(e, "code")), "%s",
            json_string_value(json_object_get(e, "detail")));
    }
    if (jp.kind == HT_P_INTERNAL)
        ERR(c, "/job", "internal", "%s", jp.detail);
    c->problem->errors_omitted += jp.errors_omitted;
    ht_problem_clear(&jp);
    if (n == 0)
        c->r->job_json = text;
    else
        free(text);
}

static void check_object(ctx_t *c, json_t *body)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        json_t *v = json_object_get(body, fields[i].name);
        if (v && !json_is_null(v))
            fields[i].check(c, v);
    }
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v) {
        int ok = 0;
        for (size_t i = 0; i < N_FIELDS && !ok; i++)
            ok = strcmp(fields[i].name, k) == 0;
        if (!ok) {
            char ptr[80];
            snprintf(ptr, sizeof(ptr), "/%.64s", k);
            ERR(c, ptr, "unknown_field", "is not a field of a schedule");
        }
    }
    if (c->has_cron && c->has_every)
        ERR(c, "/every_s", "conflict", "give cron or every_s, not both");
    else if (!c->has_cron && !c->has_every)
        ERR(c, "/cron", "required", "give cron (with an optional timezone) or every_s");
    if (c->has_tz && c->has_every && !c->has_cron)
        ERR(c, "/timezone", "conflict", "an interval (every_s) has no time zone");
    if (!json_object_get(body, "job") || json_is_null(json_object_get(body, "job")))
        ERR(c, "/job", "required", "is required: the job each run submits");
    else if (c->job)
        check_template(c);
    snprintf(c->r->when.tz, sizeof(c->r->when.tz), "%s", c->tz);
}

int ht_schedule_request_parse(ht_schedule_request_t *r, const char *body, size_t len,
                              const ht_schedule_limits_t *limits, ht_problem_t *problem)
{
    memset(r, 0, sizeof(*r));
    json_t *doc = ht_problem_load_json(body, len, problem);
    if (!doc)
        return -1;
    ctx_t c = {.r = r, .limits = limits, .problem = problem};
    if (!json_is_object(doc))
        ERR(&c, "", "invalid_type", "the body must be a JSON object, not %s",
            ht_problem_json_kind(doc));
    else
        check_object(&c, doc);
    json_decref(doc);
    size_t n = problem->errors ? json_array_size(problem->errors) : 0;
    if (n > 0 || problem->kind == HT_P_INVALID_FIELDS) {
        n += problem->errors_omitted;
        ht_problem_set(problem, HT_P_INVALID_FIELDS, "%zu problem%s with the request body", n,
                       n == 1 ? "" : "s");
        ht_schedule_request_clear(r);
        return -1;
    }
    return 0;
}

void ht_schedule_request_clear(ht_schedule_request_t *r)
{
    ht_job_request_clear(&r->job);
    free(r->job_json);
    memset(r, 0, sizeof(*r));
}

void ht_problem_prefix_pointers(ht_problem_t *p, const char *prefix)
{
    size_t i;
    json_t *e;
    json_array_foreach(p->errors, i, e) {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        char buf[512];
        snprintf(buf, sizeof(buf), "%s%s", prefix, ptr ? ptr : "");
        json_object_set_new(e, "pointer", json_string(buf));
    }
}

/* ---- the stored record -------------------------------------------------- */

static int set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = *v ? strdup(v) : NULL;
    return !*v || *dst ? 0 : HT_ENOMEM;
}

int ht_schedule_from_hash(ht_schedule_t *s, size_t n, const char *const *strs)
{
    memset(s, 0, sizeof(*s));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i + 1 < n; i += 2) {
        const char *f = strs[i], *v = strs[i + 1];
        int64_t x;
        if (strcmp(f, "id") == 0) {
            if (!ht_id_valid(v, strlen(v)))
                return HT_EINVAL;
            memcpy(s->id, v, HT_ID_LEN + 1);
        } else if (strcmp(f, "tenant") == 0) {
            rc = set_str(&s->tenant, v);
        } else if (strcmp(f, "name") == 0) {
            rc = set_str(&s->name, v);
        } else if (strcmp(f, "cron") == 0) {
            rc = set_str(&s->cron, v);
        } else if (strcmp(f, "timezone") == 0) {
            rc = set_str(&s->timezone, v);
        } else if (strcmp(f, "job") == 0) {
            rc = set_str(&s->job, v);
        } else if (strcmp(f, "last_error_code") == 0) {
            rc = set_str(&s->last_error_code, v);
        } else if (strcmp(f, "last_error_msg") == 0) {
            rc = set_str(&s->last_error_msg, v);
        } else if (strcmp(f, "last_job_id") == 0) {
            if (ht_id_valid(v, strlen(v)))
                memcpy(s->last_job_id, v, HT_ID_LEN + 1);
        } else if (strcmp(f, "catch_up") == 0) {
            ht_catch_up_parse(v, &s->catch_up); /* unknown: one, the default */
        } else if (strcmp(f, "paused") == 0) {
            s->paused = strcmp(v, "1") == 0;
        } else if (ht_decimal_i64(v, 0, INT64_MAX, &x) == 0) {
            if (strcmp(f, "every_s") == 0)
                s->every_s = x;
            else if (strcmp(f, "anchor") == 0)
                s->anchor_ms = x;
            else if (strcmp(f, "seconds") == 0)
                s->seconds = x == 1;
            else if (strcmp(f, "created_at") == 0)
                s->created_at = x;
            else if (strcmp(f, "next_run_at") == 0)
                s->next_run_at = x;
            else if (strcmp(f, "last_run_at") == 0)
                s->last_run_at = x;
            else if (strcmp(f, "last_error_at") == 0)
                s->last_error_at = x;
            else if (strcmp(f, "runs") == 0)
                s->runs = x;
        }
    }
    if (rc < 0)
        return rc;
    return s->id[0] && s->tenant ? 0 : HT_EINVAL;
}

void ht_schedule_clear(ht_schedule_t *s)
{
    free(s->tenant);
    free(s->name);
    free(s->cron);
    free(s->timezone);
    free(s->job);
    free(s->last_error_code);
    free(s->last_error_msg);
    memset(s, 0, sizeof(*s));
}

int ht_schedule_when_of(const ht_schedule_t *s, ht_schedule_when_t *w, char *err, size_t errlen)
{
    char every[24], anchor[24];
    snprintf(every, sizeof(every), "%lld", (long long)s->every_s);
    snprintf(anchor, sizeof(anchor), "%lld", (long long)s->anchor_ms);
    return ht_schedule_when_parse(w, s->cron ? s->cron : "", every, anchor,
                                  s->timezone ? s->timezone : "", s->seconds ? "1" : "",
                                  ht_catch_up_name(s->catch_up), err, errlen);
}

static json_t *time_or_null(int64_t ms)
{
    char buf[HT_TIME_BUFSZ];
    return ms > 0 ? json_string(ht_format_time(ms, buf)) : json_null();
}

static json_t *str_or_null(const char *s)
{
    json_t *v = s ? json_string(s) : NULL;
    return v ? v : json_null(); /* a stored string that is not UTF-8 shows as null */
}

json_t *ht_schedule_doc(const ht_schedule_t *s)
{
    json_t *d = json_object();
    if (!d)
        return NULL;
    char path[sizeof("/v1/schedules/") + HT_ID_LEN + sizeof("/resume")];
    json_object_set_new(d, "id", json_string(s->id));
    json_object_set_new(d, "name", str_or_null(s->name));
    json_object_set_new(d, "cron", str_or_null(s->cron));
    json_object_set_new(d, "every_s", s->cron ? json_null() : json_integer(s->every_s));
    json_object_set_new(d, "timezone",
                        s->cron ? json_string(s->timezone ? s->timezone : HT_TZ_DEFAULT)
                                : json_null());
    json_object_set_new(d, "catch_up", json_string(ht_catch_up_name(s->catch_up)));
    json_t *job = s->job ? json_loads(s->job, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(d, "job", job ? job : json_null());
    json_object_set_new(d, "paused", json_boolean(s->paused));
    json_object_set_new(d, "next_run_at", time_or_null(s->paused ? 0 : s->next_run_at));
    json_object_set_new(d, "last_run_at", time_or_null(s->last_run_at));
    json_object_set_new(d, "last_job_id",
                        s->last_job_id[0] ? json_string(s->last_job_id) : json_null());
    if (s->last_error_code) {
        json_t *e = json_object();
        json_object_set_new(e, "code", str_or_null(s->last_error_code));
        json_object_set_new(e, "message", str_or_null(s->last_error_msg));
        json_object_set_new(e, "run_at", time_or_null(s->last_error_at));
        json_object_set_new(d, "last_error", e);
    } else {
        json_object_set_new(d, "last_error", json_null());
    }
    json_object_set_new(d, "runs", json_integer(s->runs));
    json_object_set_new(d, "created_at", time_or_null(s->created_at));
    json_t *links = json_object();
    snprintf(path, sizeof(path), "/v1/schedules/%s", s->id);
    json_object_set_new(links, "self", json_string(path));
    snprintf(path, sizeof(path), "/v1/schedules/%s/%s", s->id, s->paused ? "resume" : "pause");
    json_object_set_new(links, s->paused ? "resume" : "pause", json_string(path));
    if (s->last_job_id[0]) {
        char job_path[sizeof("/v1/jobs/") + HT_ID_LEN];
        snprintf(job_path, sizeof(job_path), "/v1/jobs/%s", s->last_job_id);
        json_object_set_new(links, "last_job", json_string(job_path));
    }
    json_object_set_new(d, "links", links);
    return d;
}
