/* Validation of a POST /v1/jobs body.  The schema is the `fields` table
 * below: one row per accepted key, each with a small check function.  Every
 * problem is collected into the problem's `errors` list (never only the
 * first), each with a JSON Pointer into the body and a stable code:
 *   required, invalid_type, invalid_format, invalid_value, out_of_range,
 *   too_deep, unknown_field, conflict (two fields that exclude each other,
 *   such as delay_s and run_at), refused_callback_url (a callback_url naming
 *   a private, loopback or otherwise unreachable literal address). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/job.h"
#include "shared/netguard.h"

#define DEFAULT_PAYLOAD_DEPTH 32

typedef struct {
    ht_job_request_t *req;
    const ht_job_limits_t *limits;
    ht_problem_t *problem;
} ctx_t;

typedef void (*check_fn)(ctx_t *c, const char *name, json_t *v);

/* Writes "/<name>" as a JSON Pointer (RFC 6901: '~' -> ~0, '/' -> ~1). */
static void pointer(char *out, size_t outlen, const char *prefix, const char *name)
{
    size_t o = (size_t)snprintf(out, outlen, "%s/", prefix);
    for (const char *p = name; *p && o + 3 < outlen; p++) {
        if (*p == '~' || *p == '/') {
            out[o++] = '~';
            out[o++] = *p == '~' ? '0' : '1';
        } else {
            out[o++] = *p;
        }
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

#define ERR(c, ptr, code, ...) ht_problem_add_error((c)->problem, (ptr), (code), __VA_ARGS__)

/* An integer field in [min, max]; JSON integers only (not 3.5, not "3"). */
static int check_int(ctx_t *c, const char *name, json_t *v, long min, long max, long *out)
{
    char ptr[80];
    pointer(ptr, sizeof ptr, "", name);
    if (!json_is_integer(v)) {
        ERR(c, ptr, "invalid_type", "must be an integer, not %s", ht_problem_json_kind(v));
        return -1;
    }
    json_int_t n = json_integer_value(v);
    if (n < min || n > max) {
        ERR(c, ptr, "out_of_range", "must be between %ld and %ld", min, max);
        return -1;
    }
    *out = (long)n;
    return 0;
}

static void check_type(ctx_t *c, const char *name, json_t *v)
{
    (void)name;
    if (!json_is_string(v)) {
        ERR(c, "/type", "invalid_type", "must be a string, not %s", ht_problem_json_kind(v));
        return;
    }
    const char *t = json_string_value(v);
    if (strlen(t) != json_string_length(v) || !ht_job_type_valid(t)) {
        ERR(c, "/type", "invalid_format", "must match [a-z0-9_.-]{1,%d}", HT_TYPE_MAX);
        return;
    }
    size_t len = strlen(t); /* ht_job_type_valid: at most HT_TYPE_MAX */
    if (len >= sizeof c->req->type)
        len = sizeof c->req->type - 1;
    memcpy(c->req->type, t, len);
    c->req->type[len] = '\0';
}

/* Nesting depth of v (a scalar is 0, {} is 1), giving up past `limit`. */
static size_t depth(json_t *v, size_t limit)
{
    size_t max = 0;
    if (limit == 0 || !(json_is_object(v) || json_is_array(v)))
        return json_is_object(v) || json_is_array(v) ? 1 : 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach(v, k, child) {
            size_t d = depth(child, limit - 1);
            if (d > max)
                max = d;
        }
    } else {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            size_t d = depth(child, limit - 1);
            if (d > max)
                max = d;
        }
    }
    return max + 1;
}

static void check_payload(ctx_t *c, const char *name, json_t *v)
{
    (void)name;
    size_t limit = c->limits && c->limits->max_payload_depth ? c->limits->max_payload_depth
                                                             : DEFAULT_PAYLOAD_DEPTH;
    if (depth(v, limit) > limit) {
        ERR(c, "/payload", "too_deep", "must not nest deeper than %zu levels", limit);
        return;
    }
    c->req->payload = json_incref(v);
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80; /* count lead bytes only */
    return n;
}

static void check_metadata(ctx_t *c, const char *name, json_t *v)
{
    (void)name;
    if (!json_is_object(v)) {
        ERR(c, "/metadata", "invalid_type", "must be an object of strings, not %s",
            ht_problem_json_kind(v));
        return;
    }
    if (json_object_size(v) > HT_METADATA_MAX_KEYS) {
        ERR(c, "/metadata", "out_of_range", "must have at most %d keys", HT_METADATA_MAX_KEYS);
        return;
    }
    int ok = 1;
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        char ptr[300];
        pointer(ptr, sizeof ptr, "/metadata", k);
        size_t klen = utf8_chars(k);
        if (klen < 1 || klen > 64) {
            ERR(c, ptr, "invalid_format", "metadata keys must be 1 to 64 characters");
            ok = 0;
        }
        if (!json_is_string(val)) {
            ERR(c, ptr, "invalid_type", "must be a string, not %s", ht_problem_json_kind(val));
            ok = 0;
        } else if (json_string_length(val) > HT_METADATA_VALUE_MAX) {
            ERR(c, ptr, "out_of_range", "must be at most %d bytes", HT_METADATA_VALUE_MAX);
            ok = 0;
        }
    }
    if (ok)
        c->req->metadata = json_incref(v);
}

static void check_priority(ctx_t *c, const char *name, json_t *v)
{
    (void)name;
    if (!json_is_string(v)) {
        ERR(c, "/priority", "invalid_type", "must be a string, not %s", ht_problem_json_kind(v));
        return;
    }
    if (ht_priority_parse(json_string_value(v), &c->req->priority) < 0)
        ERR(c, "/priority", "invalid_value", "must be one of high, default, low");
}

static void check_max_attempts(ctx_t *c, const char *name, json_t *v)
{
    long n;
    if (check_int(c, name, v, 1, HT_MAX_ATTEMPTS_MAX, &n) == 0)
        c->req->max_attempts = (int)n;
}

static void check_timeout(ctx_t *c, const char *name, json_t *v)
{
    check_int(c, name, v, 1, HT_TIMEOUT_S_MAX, &c->req->timeout_s);
}

static void check_ttl(ctx_t *c, const char *name, json_t *v)
{
    check_int(c, name, v, 1, HT_TTL_S_MAX, &c->req->ttl_s);
}

static void check_delay(ctx_t *c, const char *name, json_t *v)
{
    check_int(c, name, v, 0, HT_DELAY_S_MAX, &c->req->delay_s);
}

/* An RFC 3339 time at most HT_DELAY_S_MAX ahead.  A time in the past is
 * accepted and means "now": a client whose clock runs a little behind ours
 * must not get a 422 for asking for a job at about now. */
static void check_run_at(ctx_t *c, const char *name, json_t *v)
{
    (void)name;
    int64_t ms;
    if (!json_is_string(v)) {
        ERR(c, "/run_at", "invalid_type", "must be an RFC 3339 date-time string, not %s",
            ht_problem_json_kind(v));
        return;
    }
    if (strlen(json_string_value(v)) != json_string_length(v) ||
        ht_parse_time(json_string_value(v), &ms) < 0) {
        ERR(c, "/run_at", "invalid_format",
            "must be an RFC 3339 date-time such as 2030-01-01T12:00:00Z");
        return;
    }
    if (ms > ht_now_ms() + HT_DELAY_S_MAX * 1000) {
        ERR(c, "/run_at", "out_of_range", "must be at most %ld days ahead", HT_DELAY_S_MAX / 86400);
        return;
    }
    c->req->run_at_ms = ms > 0 ? ms : 1; /* 0 means "not given" */
}

/* An http(s) URL without credentials; a literal address in it must be
 * public unless the limits allow private ones.  Checked twice so the code
 * tells a malformed URL (invalid_format) from a refused target
 * (refused_callback_url). */
static void check_callback_url(ctx_t *c, const char *name, json_t *v)
{
    (void)name;
    char why[200];
    if (!json_is_string(v)) {
        ERR(c, "/callback_url", "invalid_type", "must be a string, not %s",
            ht_problem_json_kind(v));
        return;
    }
    const char *url = json_string_value(v);
    if (strlen(url) != json_string_length(v)) {
        ERR(c, "/callback_url", "invalid_format", "must not contain NUL characters");
        return;
    }
    if (ht_callback_url_check(url, 1, why, sizeof why) < 0) {
        ERR(c, "/callback_url", "invalid_format", "%s", why);
        return;
    }
    int allow_private = c->limits && c->limits->allow_private_callbacks;
    if (ht_callback_url_check(url, allow_private, why, sizeof why) < 0) {
        ERR(c, "/callback_url", "refused_callback_url", "%s", why);
        return;
    }
    if (!(c->req->callback_url = strdup(url)))
        ERR(c, "/callback_url", "internal", "out of memory");
}

static const struct field {
    const char *name;
    check_fn check;
    int required;
    int null_is_value; /* 0: null means "not given" (optional fields) */
} fields[] = {
    {"type", check_type, 1, 1},
    {"payload", check_payload, 0, 1},
    {"metadata", check_metadata, 0, 0},
    {"priority", check_priority, 0, 0},
    {"max_attempts", check_max_attempts, 0, 0},
    {"timeout_s", check_timeout, 0, 0},
    {"ttl_s", check_ttl, 0, 0},
    {"callback_url", check_callback_url, 0, 0},
    {"delay_s", check_delay, 0, 0},
    {"run_at", check_run_at, 0, 0},
};
#define N_FIELDS (sizeof fields / sizeof fields[0])

static const struct field *known(const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    }
    return NULL;
}

static void check_object(ctx_t *c, json_t *body)
{
    /* One pass over the body's members finds the fields (no lookup per
     * field of the schema); the checks then run in schema order, so errors
     * read in a stable order, and unknown members come last. */
    json_t *vals[N_FIELDS] = {0};
    const char *k;
    json_t *v;
    int unknown = 0;
    json_object_foreach(body, k, v) {
        const struct field *f = known(k);
        if (f)
            vals[f - fields] = v;
        else
            unknown = 1;
    }
    for (size_t i = 0; i < N_FIELDS; i++) {
        const struct field *f = &fields[i];
        v = vals[i];
        if (v && json_is_null(v) && !f->null_is_value)
            v = NULL;
        if (v) {
            f->check(c, f->name, v);
        } else if (f->required) {
            char ptr[80];
            pointer(ptr, sizeof ptr, "", f->name);
            ERR(c, ptr, "required", "is required");
        }
    }
    json_t *delay = vals[known("delay_s") - fields], *run_at = vals[known("run_at") - fields];
    if (delay && !json_is_null(delay) && run_at && !json_is_null(run_at))
        ERR(c, "/run_at", "conflict", "give delay_s or run_at, not both");
    if (!unknown)
        return;
    json_object_foreach(body, k, v) {
        if (!known(k)) {
            char ptr[300];
            pointer(ptr, sizeof ptr, "", k);
            ERR(c, ptr, "unknown_field", "is not a field of a job request");
        }
    }
}

static void request_defaults(ht_job_request_t *req)
{
    memset(req, 0, sizeof *req);
    req->priority = HT_PRIO_DEFAULT;
    req->max_attempts = HT_MAX_ATTEMPTS_DEFAULT;
    req->timeout_s = HT_TIMEOUT_S_DEFAULT;
    req->ttl_s = HT_TTL_S_DEFAULT;
}

/* The schema's checks on a parsed document (doc NULL: nothing to check but
 * the problems already collected).  `what` names the request's part in the
 * problem's detail. */
static int validate(ht_job_request_t *req, json_t *doc, const ht_job_limits_t *limits,
                    ht_problem_t *problem, const char *what)
{
    ctx_t c = {req, limits, problem};
    if (doc && !json_is_object(doc)) {
        ERR(&c, "", "invalid_type", "the body must be a JSON object, not %s",
            ht_problem_json_kind(doc));
    } else if (doc) {
        check_object(&c, doc);
    }
    size_t n = problem->errors ? json_array_size(problem->errors) : 0;
    if (n > 0) {
        ht_problem_set(problem, HT_P_INVALID_FIELDS, "%zu problem%s with the %s", n,
                       n == 1 ? "" : "s", what);
        ht_job_request_clear(req);
        return -1;
    }
    if (!req->payload && !(req->payload = json_object())) {
        ht_problem_set(problem, HT_P_INTERNAL, "out of memory");
        return -1;
    }
    return 0;
}

int ht_job_request_parse(ht_job_request_t *req, const char *body, size_t len,
                         const ht_job_limits_t *limits, ht_problem_t *problem)
{
    request_defaults(req);
    json_t *doc = ht_problem_load_json(body, len, problem);
    if (!doc)
        return -1;
    int rc = validate(req, doc, limits, problem, "request body");
    json_decref(doc);
    return rc;
}

/* How a query parameter becomes the JSON value of its field. */
static json_t *param_value(ctx_t *c, const char *name, const char *value)
{
    static const char *const integers[] = {"max_attempts", "timeout_s", "ttl_s", "delay_s"};
    for (size_t i = 0; i < sizeof integers / sizeof integers[0]; i++) {
        if (strcmp(name, integers[i]) != 0)
            continue;
        /* Decimal digits (an optional '-'): an integer, whose range the
         * schema checks; anything else stays a string, which the schema
         * refuses as not an integer. */
        const char *p = value + (*value == '-');
        size_t digits = strspn(p, "0123456789");
        if (digits > 0 && digits <= 18 && p[digits] == '\0')
            return json_integer(strtoll(value, NULL, 10));
        return json_string(value);
    }
    if (strcmp(name, "payload") == 0 || strcmp(name, "metadata") == 0) {
        json_error_t jerr;
        json_t *v = json_loads(value, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (!v) {
            char ptr[80];
            pointer(ptr, sizeof ptr, "", name);
            ERR(c, ptr, "invalid_format", "must be URL-encoded JSON: %s at column %d", jerr.text,
                jerr.column);
        }
        return v;
    }
    return json_string(value); /* NULL when not UTF-8: then an invalid_format below */
}

int ht_job_request_from_params(ht_job_request_t *req, const ht_job_param_t *params, size_t n,
                               const char *const *ignore, const ht_job_limits_t *limits,
                               ht_problem_t *problem)
{
    request_defaults(req);
    json_t *doc = json_object();
    if (!doc) {
        ht_problem_set(problem, HT_P_INTERNAL, "out of memory");
        return -1;
    }
    ctx_t c = {req, limits, problem};
    for (size_t i = 0; i < n; i++) {
        const char *name = params[i].name;
        json_t *probe = json_string(name);
        if (!probe) { /* not UTF-8: no field has such a name */
            ERR(&c, "", "unknown_field", "a parameter name is not valid UTF-8");
            continue;
        }
        json_decref(probe);
        int skip = json_object_get(doc, name) != NULL; /* the first one counts */
        for (size_t k = 0; ignore && ignore[k] && !skip; k++)
            skip = strcmp(ignore[k], name) == 0;
        if (skip)
            continue;
        json_t *v = param_value(&c, name, params[i].value);
        if (!v && strcmp(name, "payload") != 0 && strcmp(name, "metadata") != 0) {
            char ptr[300];
            pointer(ptr, sizeof ptr, "", name);
            ERR(&c, ptr, "invalid_format", "is not valid UTF-8");
        }
        /* A value that could not be read counts as given (null), so that a
         * later parameter of the same name does not take its place. */
        json_object_set_new(doc, name, v ? v : json_null());
    }
    int rc = validate(req, doc, limits, problem, "query parameters");
    json_decref(doc);
    return rc;
}

void ht_job_request_start_job(const ht_job_request_t *req, ht_job_t *job)
{
    memset(job, 0, sizeof(*job));
    job->type = (char *)req->type;
    job->priority = req->priority;
    job->callback_url = req->callback_url;
    job->max_attempts = req->max_attempts;
    job->timeout_s = req->timeout_s;
    job->ttl_s = req->ttl_s;
    job->progress_pct = -1;
}

void ht_job_request_clear(ht_job_request_t *req)
{
    json_decref(req->payload);
    json_decref(req->metadata);
    free(req->callback_url);
    memset(req, 0, sizeof *req);
}
