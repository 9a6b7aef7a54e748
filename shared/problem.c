/* The table of problem types (RFC 9457) and their problem+json rendering.
 * A new kind of HTTP error is one row here and one enum value in problem.h. */
#include "shared/problem.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const ht_problem_type_t table[HT_P__COUNT] = {
    [HT_P_MALFORMED_JSON] = {400, "malformed-json", "The request body is not valid JSON"},
    [HT_P_BAD_REQUEST] = {400, "bad-request", "Bad request"},
    [HT_P_DIGEST_MISMATCH] = {400, "digest-mismatch", "The body does not match its Content-Digest"},
    [HT_P_UNAUTHORIZED] = {401, "unauthorized", "Authentication required"},
    [HT_P_FORBIDDEN] = {403, "forbidden", "Not allowed"},
    [HT_P_NOT_FOUND] = {404, "not-found", "No such resource"},
    [HT_P_JOB_NOT_FOUND] = {404, "job-not-found", "No such job"},
    [HT_P_SCHEDULE_NOT_FOUND] = {404, "schedule-not-found", "No such schedule"},
    [HT_P_METHOD_NOT_ALLOWED] = {405, "method-not-allowed", "Method not allowed"},
    [HT_P_REQUEST_TIMEOUT] = {408, "request-timeout", "The request body stopped arriving"},
    [HT_P_CONFLICT] = {409, "conflict", "Conflict with the current state"},
    [HT_P_STALE_TOKEN] = {409, "stale-token", "The lease token no longer holds the job"},
    [HT_P_JOB_CANCELED] = {409, "job-canceled", "The job was canceled"},
    [HT_P_TOO_LARGE] = {413, "payload-too-large", "Request body too large"},
    [HT_P_URI_TOO_LONG] = {414, "uri-too-long", "Request target too long"},
    [HT_P_UNSUPPORTED_MEDIA] = {415, "unsupported-media-type", "Unsupported media type"},
    [HT_P_RANGE_NOT_SATISFIABLE] = {416, "range-not-satisfiable", "The range is outside the file"},
    [HT_P_EXPECTATION_FAILED] = {417, "expectation-failed", "Expectation not supported"},
    [HT_P_INVALID_FIELDS] = {422, "invalid-fields", "The request has invalid fields"},
    [HT_P_RATE_LIMITED] = {429, "rate-limited", "Too many requests"},
    [HT_P_OVER_CAP] = {429, "over-cap", "Over a cap the operator set"},
    [HT_P_HEADERS_TOO_LARGE] = {431, "headers-too-large", "Request header fields too large"},
    [HT_P_INTERNAL] = {500, "internal", "Internal server error"},
    [HT_P_NOT_IMPLEMENTED] = {501, "not-implemented", "Not implemented"},
    [HT_P_UNAVAILABLE] = {503, "unavailable", "Service temporarily unavailable"},
    [HT_P_INSUFFICIENT_STORAGE] = {507, "insufficient-storage", "The file store is full"},
};

const ht_problem_type_t *ht_problem_type(ht_problem_kind_t kind)
{
    if ((unsigned)kind >= HT_P__COUNT)
        kind = HT_P_INTERNAL;
    return &table[kind];
}

/* A JSON string of s; when s is not valid UTF-8 (a detail cut mid-character
 * by its buffer, or quoting raw input) the bad tail is dropped or the bytes
 * replaced, so rendering a problem never fails. */
static json_t *text(const char *s)
{
    size_t len = strlen(s);
    json_t *j = json_stringn(s, len);
    /* Up to 3 bytes of a cut multi-byte character. */
    for (size_t cut = 1; !j && cut <= 3 && cut <= len; cut++)
        j = json_stringn(s, len - cut);
    if (!j)
        j = json_string("(detail not valid UTF-8)");
    return j;
}

void ht_problem_set(ht_problem_t *p, ht_problem_kind_t kind, const char *fmt, ...)
{
    p->kind = kind;
    p->detail[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->detail, sizeof p->detail, fmt, ap);
        va_end(ap);
    }
}

void ht_problem_add_error(ht_problem_t *p, const char *pointer, const char *code, const char *fmt,
                          ...)
{
    p->kind = HT_P_INVALID_FIELDS;
    if (p->errors && json_array_size(p->errors) >= HT_PROBLEM_ERRORS_MAX) {
        p->errors_omitted++;
        return;
    }
    char detail[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
    }
    if (!p->errors && !(p->errors = json_array()))
        return;
    json_t *e = json_object();
    if (!e)
        return;
    json_object_set_new(e, "pointer", text(pointer ? pointer : ""));
    json_object_set_new(e, "code", text(code ? code : "invalid"));
    json_object_set_new(e, "detail", text(detail));
    json_array_append_new(p->errors, e);
}

json_t *ht_problem_to_json(const ht_problem_t *p)
{
    const ht_problem_type_t *t = ht_problem_type(p->kind);
    char type[128];
    snprintf(type, sizeof type, "%s%s", HT_PROBLEM_TYPE_PREFIX, t->code);
    json_t *doc = json_object();
    if (!doc)
        return NULL;
    json_object_set_new(doc, "type", json_string(type));
    json_object_set_new(doc, "title", json_string(t->title));
    json_object_set_new(doc, "status", json_integer(t->status));
    if (p->detail[0])
        json_object_set_new(doc, "detail", text(p->detail));
    if (p->errors && json_array_size(p->errors) > 0)
        json_object_set_new(doc, "errors", json_deep_copy(p->errors));
    if (p->errors_omitted > 0)
        json_object_set_new(doc, "errors_omitted", json_integer((json_int_t)p->errors_omitted));
    return doc;
}

json_t *ht_problem_load_json(const char *body, size_t len, ht_problem_t *problem)
{
    if (!body || len == 0) {
        /* jansson would say "unexpected token near end of file". */
        ht_problem_set(problem, HT_P_MALFORMED_JSON, "the request body is empty");
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!doc)
        ht_problem_set(problem, HT_P_MALFORMED_JSON, "invalid JSON at line %d column %d: %s",
                       jerr.line, jerr.column, jerr.text);
    return doc;
}

const char *ht_problem_json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

void ht_problem_clear(ht_problem_t *p)
{
    json_decref(p->errors);
    memset(p, 0, sizeof *p);
}
