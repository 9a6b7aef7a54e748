/* Query strings (what follows '?' in a request's URL): the one parser of
 * them.  No I/O; the api's handlers reach it through api/http.h
 * (ht_http_query_or_reply), which answers 400 for a malformed one.
 *
 * The decoding rule, the same for names and values (docs/query-strings.md):
 *
 *   - parameters are separated by '&'; empty ones ("a=1&&b=2") are skipped;
 *     a parameter without '=' has the empty value;
 *   - "%XX", XX two hex digits of either case, is the byte XX (RFC 3986
 *     section 2.1 percent-encoding);
 *   - '+' is a space (the application/x-www-form-urlencoded rule: what HTML
 *     forms and the usual urlencode() functions send; a plus sign itself is
 *     "%2B");
 *   - every other byte is itself;
 *   - a '%' not followed by two hex digits, or an escape that decodes to a
 *     NUL byte, makes the whole query string malformed: it is refused,
 *     never guessed at (WHATWG URL parsing would keep such a '%' as it is);
 *   - when a name appears more than once, the first one counts
 *     (ht_query_get), as in the Prefer header. */
#ifndef HT_QUERY_H
#define HT_QUERY_H

#include <stddef.h>

/* One parameter, decoded.  Both strings are NUL-terminated and live in the
 * reader's scratch until its next call. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value; /* "" when the parameter has no '=' */
    size_t value_len;
    /* The parameter as it came (still encoded), to quote in an error. */
    const char *raw;
    size_t raw_len;
} ht_query_param_t;

/* A reader of one query string. */
typedef struct {
    const char *p_, *end_;
    char *scratch_;
} ht_query_t;

/* Starts reading query[0..len) (without the '?').  `scratch` must hold
 * len + 2 bytes: each parameter is decoded into it. */
void ht_query_init(ht_query_t *q, const char *query, size_t len, char *scratch);

/* The next parameter into *p.  Returns 1, 0 at the end, or HT_EINVAL when
 * the parameter is malformed (p->raw and p->raw_len then say which; the
 * reader is at its end). */
int ht_query_next(ht_query_t *q, ht_query_param_t *p);

/* The value of the first parameter named `name` in query[0..len), decoded
 * into scratch (len + 2 bytes).  Returns 1 with *value set, 0 when there
 * is none, or HT_EINVAL when the query string is malformed (anywhere). */
int ht_query_get(const char *query, size_t len, const char *name, char *scratch,
                 const char **value);

/* Decodes one component s[0..len) into out (len + 1 bytes at least),
 * NUL-terminated, its length in *out_len.  Returns 0 or HT_EINVAL. */
int ht_query_decode(const char *s, size_t len, char *out, size_t *out_len);

#endif
