/* Whole-string decimal numbers. */
#include "shared/decimal.h"

#include <errno.h>
#include <stdlib.h>

#include "shared/error.h"

int ht_decimal_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !(*s == '-' || (*s >= '0' && *s <= '9')))
        return HT_EINVAL; /* strtoll would skip spaces and accept '+' */
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return HT_EINVAL;
    *out = v;
    return 0;
}

size_t ht_decimal_put(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}
