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
