/* ht_strerror(): the one place where hangtight's error codes get words. */
#include "shared/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ht_strerror(int err)
{
    switch (err) {
    case 0: return "success";
    case HT_EINVAL: return "invalid argument or malformed input";
    case HT_ENOMEM: return "out of memory";
    case HT_EREDIS: return "Redis unreachable or connection lost";
    case HT_EPROTO: return "unexpected reply from Redis";
    case HT_ENOTFOUND: return "no such job";
    case HT_ESTALE: return "job no longer held by this worker";
    case HT_ESCHEMA: return "keyspace older than this binary needs";
    case HT_EEXIST: return "already exists";
    case HT_ETIMEDOUT: return "deadline passed";
    case HT_ECANCELED: return "cancel requested";
    case HT_ENOSPACE: return "no space left in the blob store";
    case HT_EUNAVAIL: return "blob store unavailable";
    case HT_ETOOBIG: return "larger than allowed";
    case HT_EDIGEST: return "digest mismatch";
    case HT_ELIMIT: return "over a limit";
    default: break;
    }
    if (err < 0 && err > -4096)
        return strerror(-err); /* glibc's table is static and thread-safe */
    return "unknown error";
}

int ht_errorf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
