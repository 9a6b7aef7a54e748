/* The Prefer header parser (see prefer.h): a cursor over one header value,
 * one preference (list element) at a time.  A malformed element is skipped
 * up to the next comma outside a quoted string, so one bad element never
 * hides the good ones around it. */
#include "shared/prefer.h"

#include <string.h>
#include <strings.h>

enum { SEEN_RESPOND_ASYNC = 1u << 0, SEEN_WAIT = 1u << 1, SEEN_HEARTBEAT = 1u << 2 };

/* A quoted value with escapes is unescaped into a buffer this big; longer
 * ones are unusable (no preference we know has such a value). */
#define ESCAPED_MAX 64

typedef struct {
    const char *s;
    size_t len, i;
} cursor_t;

typedef struct {
    const char *base;
    size_t len;
} span_t;

void ht_prefer_init(ht_prefer_t *p)
{
    p->respond_async = 0;
    p->wait_s = -1;
    p->heartbeat_s = -1;
    p->seen_ = 0;
}

int ht_prefer_seconds(const char *s, size_t len, long *out)
{
    if (len == 0)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v < HT_PREFER_SECONDS_MAX)
            v = v * 10 + (s[i] - '0');
    }
    *out = v > HT_PREFER_SECONDS_MAX ? HT_PREFER_SECONDS_MAX : v;
    return 0;
}

/* RFC 9110 section 5.6.2. */
static int is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int at(const cursor_t *c, char ch)
{
    return c->i < c->len && c->s[c->i] == ch;
}

static void skip_ows(cursor_t *c)
{
    while (c->i < c->len && (c->s[c->i] == ' ' || c->s[c->i] == '\t'))
        c->i++;
}

static span_t read_token(cursor_t *c)
{
    span_t t = {c->s + c->i, 0};
    while (c->i < c->len && is_tchar(c->s[c->i]))
        c->i++;
    t.len = (size_t)(c->s + c->i - t.base);
    return t;
}

/* A quoted-string at the cursor (which is on the opening quote).  The
 * value is the raw inside when it has no escapes, else it is unescaped into
 * `buf`.  Returns 0, or -1 when unterminated; `usable` is 0 when the value
 * did not fit in `buf`. */
static int read_quoted(cursor_t *c, span_t *v, char buf[ESCAPED_MAX], int *usable)
{
    size_t start = ++c->i, n = 0;
    int escaped = 0;
    *usable = 1;
    while (c->i < c->len && c->s[c->i] != '"') {
        char ch = c->s[c->i];
        if (ch == '\\') {
            if (++c->i >= c->len)
                return -1;
            ch = c->s[c->i];
            escaped = 1;
        }
        if (n < ESCAPED_MAX)
            buf[n] = ch;
        n++;
        c->i++;
    }
    if (c->i >= c->len)
        return -1;
    if (!escaped) {
        v->base = c->s + start;
        v->len = c->i - start;
    } else {
        v->base = buf;
        v->len = n < ESCAPED_MAX ? n : ESCAPED_MAX;
        *usable = n <= ESCAPED_MAX;
    }
    c->i++; /* the closing quote */
    return 0;
}

/* word = token / quoted-string.  Returns 0 or -1 (nothing usable there). */
static int read_word(cursor_t *c, span_t *v, char buf[ESCAPED_MAX], int *usable)
{
    if (at(c, '"'))
        return read_quoted(c, v, buf, usable);
    *usable = 1;
    *v = read_token(c);
    return v->len > 0 ? 0 : -1;
}

/* Moves past the next comma that is outside a quoted string (or to the
 * end): the recovery from a malformed element. */
static void skip_element(cursor_t *c)
{
    int quoted = 0;
    while (c->i < c->len) {
        char ch = c->s[c->i++];
        if (quoted && ch == '\\' && c->i < c->len)
            c->i++;
        else if (ch == '"')
            quoted = !quoted;
        else if (ch == ',' && !quoted)
            return;
    }
}

/* The parameters after ";" are read only to step over them. */
static int skip_parameters(cursor_t *c)
{
    char buf[ESCAPED_MAX];
    span_t v;
    int usable;
    while (at(c, ';')) {
        c->i++;
        skip_ows(c);
        if (read_token(c).len == 0)
            continue; /* "; ;" and a trailing ";" are allowed */
        skip_ows(c);
        if (at(c, '=')) {
            c->i++;
            skip_ows(c);
            if (read_word(c, &v, buf, &usable) < 0)
                return -1;
        }
        skip_ows(c);
    }
    return 0;
}

static int name_is(span_t name, const char *want)
{
    return name.len == strlen(want) && strncasecmp(name.base, want, name.len) == 0;
}

/* Records one well-formed preference, unless its name was seen before. */
static void apply(ht_prefer_t *p, span_t name, const span_t *value, int usable)
{
    long secs = -1;
    int have_secs = value && usable && ht_prefer_seconds(value->base, value->len, &secs) == 0;
    if (name_is(name, "respond-async")) {
        if (!(p->seen_ & SEEN_RESPOND_ASYNC))
            p->respond_async = 1;
        p->seen_ |= SEEN_RESPOND_ASYNC;
    } else if (name_is(name, "wait")) {
        if (!(p->seen_ & SEEN_WAIT) && have_secs)
            p->wait_s = secs;
        p->seen_ |= SEEN_WAIT;
    } else if (name_is(name, "heartbeat")) {
        if (!(p->seen_ & SEEN_HEARTBEAT) && have_secs)
            p->heartbeat_s = secs;
        p->seen_ |= SEEN_HEARTBEAT;
    }
}

/* One list element at the cursor.  Returns 0 when it was well formed (and
 * applied), -1 when it was skipped. */
static int parse_element(ht_prefer_t *p, cursor_t *c)
{
    char buf[ESCAPED_MAX];
    span_t value;
    int has_value = 0, usable = 0;
    span_t name = read_token(c);
    if (name.len == 0)
        goto bad;
    skip_ows(c);
    if (at(c, '=')) {
        c->i++;
        skip_ows(c);
        if (read_word(c, &value, buf, &usable) < 0)
            goto bad;
        has_value = 1;
        skip_ows(c);
    }
    if (skip_parameters(c) < 0)
        goto bad;
    if (c->i < c->len && !at(c, ','))
        goto bad; /* "wait=5 6" or "wait=5x=" */
    apply(p, name, has_value ? &value : NULL, usable);
    if (at(c, ','))
        c->i++;
    return 0;
bad:
    skip_element(c);
    return -1;
}

void ht_prefer_parse(ht_prefer_t *p, const char *value, size_t len)
{
    cursor_t c = {value, len, 0};
    while (c.i < c.len) {
        skip_ows(&c);
        if (c.i >= c.len)
            break;
        if (at(&c, ',')) {
            c.i++; /* an empty element */
            continue;
        }
        parse_element(p, &c);
    }
}
