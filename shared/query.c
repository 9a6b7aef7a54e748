/* Query strings: the one decoding rule (see query.h). */
#include "shared/query.h"

#include <string.h>

#include "shared/error.h"
#include "shared/hex.h"

int ht_query_decode(const char *s, size_t len, char *out, size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = len - i > 2 ? ht_hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? ht_hex_digit(s[i + 2]) : -1;
            if (lo < 0 || (hi | lo) == 0)
                return HT_EINVAL; /* not %XX, or %00 */
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
}

void ht_query_init(ht_query_t *q, const char *query, size_t len, char *scratch)
{
    q->p_ = query;
    q->end_ = query + len;
    q->scratch_ = scratch;
}

int ht_query_next(ht_query_t *q, ht_query_param_t *p)
{
    memset(p, 0, sizeof(*p));
    const char *start, *stop;
    do {
        if (q->p_ >= q->end_)
            return 0;
        start = q->p_;
        const char *amp = memchr(start, '&', (size_t)(q->end_ - start));
        stop = amp ? amp : q->end_;
        q->p_ = amp ? amp + 1 : q->end_;
    } while (stop == start); /* "&&" */
    p->raw = start;
    p->raw_len = (size_t)(stop - start);
    const char *eq = memchr(start, '=', p->raw_len);
    char *name = q->scratch_, *value;
    if (ht_query_decode(start, (size_t)((eq ? eq : stop) - start), name, &p->name_len) < 0)
        goto malformed;
    value = name + p->name_len + 1;
    if (ht_query_decode(eq ? eq + 1 : stop, eq ? (size_t)(stop - eq - 1) : 0, value,
                        &p->value_len) < 0)
        goto malformed;
    p->name = name;
    p->value = value;
    return 1;
malformed:
    q->p_ = q->end_;
    return HT_EINVAL;
}

int ht_query_get(const char *query, size_t len, const char *name, char *scratch, const char **value)
{
    ht_query_t q;
    ht_query_param_t p;
    const char *found = NULL; /* the first one's value, still encoded */
    size_t found_len = 0;
    int rc;
    ht_query_init(&q, query, len, scratch);
    while ((rc = ht_query_next(&q, &p)) == 1) {
        if (!found && strcmp(p.name, name) == 0) {
            const char *eq = memchr(p.raw, '=', p.raw_len);
            found = eq ? eq + 1 : p.raw + p.raw_len;
            found_len = (size_t)(p.raw + p.raw_len - found);
        }
    }
    if (rc < 0)
        return rc;
    if (!found)
        return 0;
    size_t n;
    ht_query_decode(found, found_len, scratch, &n); /* decoded once already */
    *value = scratch;
    return 1;
}
