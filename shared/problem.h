/* Problem details (RFC 9457): the one table of error kinds every HTTP error
 * of hangtight comes from, and their application/problem+json rendering:
 *   {"type": "urn:hangtight:problem:invalid-fields", "title": "...",
 *    "status": 422, "detail": "...",
 *    "errors": [{"pointer": "/max_attempts", "code": "out_of_range",
 *                "detail": "must be between 1 and 25"}]}          */
#ifndef HT_PROBLEM_H
#define HT_PROBLEM_H

#include <jansson.h>

typedef enum {
    HT_P_MALFORMED_JSON,        /* 400 */
    HT_P_BAD_REQUEST,           /* 400 */
    HT_P_DIGEST_MISMATCH,       /* 400 an upload's bytes against its Content-Digest */
    HT_P_UNAUTHORIZED,          /* 401 */
    HT_P_FORBIDDEN,             /* 403 */
    HT_P_NOT_FOUND,             /* 404 unknown route */
    HT_P_JOB_NOT_FOUND,         /* 404 */
    HT_P_SCHEDULE_NOT_FOUND,    /* 404 */
    HT_P_METHOD_NOT_ALLOWED,    /* 405 */
    HT_P_REQUEST_TIMEOUT,       /* 408 an upload's body stopped arriving */
    HT_P_CONFLICT,              /* 409 */
    HT_P_STALE_TOKEN,           /* 409 worker API: the lease token no longer holds the job */
    HT_P_JOB_CANCELED,          /* 409 worker API: a cancel of the running job was requested */
    HT_P_TOO_LARGE,             /* 413 */
    HT_P_URI_TOO_LONG,          /* 414 */
    HT_P_UNSUPPORTED_MEDIA,     /* 415 */
    HT_P_RANGE_NOT_SATISFIABLE, /* 416 */
    HT_P_EXPECTATION_FAILED,    /* 417 */
    HT_P_INVALID_FIELDS,        /* 422 */
    HT_P_RATE_LIMITED,          /* 429 */
    HT_P_OVER_CAP,              /* 429 */
    HT_P_HEADERS_TOO_LARGE,     /* 431 */
    HT_P_INTERNAL,              /* 500 */
    HT_P_NOT_IMPLEMENTED,       /* 501 */
    HT_P_UNAVAILABLE,           /* 503 */
    HT_P_INSUFFICIENT_STORAGE,  /* 507 */
    HT_P__COUNT
} ht_problem_kind_t;

typedef struct {
    int status;        /* HTTP status */
    const char *code;  /* stable slug, the last part of the type URI */
    const char *title; /* short, human, never changes per occurrence */
} ht_problem_type_t;

#define HT_PROBLEM_TYPE_PREFIX "urn:hangtight:problem:"

/* One occurrence.  Zero-initialise, fill with ht_problem_set() and
 * ht_problem_add_error(), render, then ht_problem_clear(). */
/* The most field problems one answer lists: a body of a million unknown
 * fields gets a bounded answer (the rest are counted in "errors_omitted"). */
#define HT_PROBLEM_ERRORS_MAX 20

typedef struct {
    ht_problem_kind_t kind;
    char detail[512];
    json_t *errors;        /* owned; NULL until the first ht_problem_add_error() */
    size_t errors_omitted; /* field problems past HT_PROBLEM_ERRORS_MAX */
} ht_problem_t;

const ht_problem_type_t *ht_problem_type(ht_problem_kind_t kind);

void ht_problem_set(ht_problem_t *p, ht_problem_kind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a field problem; `pointer` is a JSON Pointer into the request body
 * ("" for the whole body).  Sets kind to HT_P_INVALID_FIELDS.  Past
 * HT_PROBLEM_ERRORS_MAX problems only counts them. */
void ht_problem_add_error(ht_problem_t *p, const char *pointer, const char *code, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

/* A request body as JSON: any value (a body such as `42` is JSON, just not
 * an object: the caller's 422 says so rather than a misleading 400), no
 * duplicate keys.  Returns a new reference, or NULL with `problem` set to
 * HT_P_MALFORMED_JSON (the body is empty, or where and why it is not
 * JSON). */
json_t *ht_problem_load_json(const char *body, size_t len, ht_problem_t *problem);

/* What a field's value is, for a field problem's detail ("must be a
 * string, not an object"): "an object", "an array", "a string", "an
 * integer", "a number with a fraction", "a boolean" or "null". */
const char *ht_problem_json_kind(const json_t *v);

/* The problem+json document: a new reference. */
json_t *ht_problem_to_json(const ht_problem_t *p);

void ht_problem_clear(ht_problem_t *p);

#endif
