/* Request ids (see reqid.h). */
#include "api/reqid.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shared/decimal.h"
#include "shared/log.h"

#include "api/access_log.h"
#include "api/http.h"

static pthread_once_t prefix_once = PTHREAD_ONCE_INIT;
static char prefix[9];
static __thread uint64_t counter;

/* 32 random bits per process, so ids of api processes (and restarts) do
 * not collide; getrandom failing (never on Linux 3.17+) falls back to the
 * pid and the clock, still distinct enough for log correlation. */
static void make_prefix(void)
{
    uint32_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)getpid() ^ (uint32_t)time(NULL);
    snprintf(prefix, sizeof(prefix), "%08" PRIx32, r);
}

int ht_reqid_valid(const char *s, size_t len)
{
    static const char extra[] = "._:/+=@-";
    if (len == 0 || len > HT_REQID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (c != '\0' && strchr(extra, c) != NULL);
        if (!ok)
            return 0;
    }
    return 1;
}

/* "<prefix>-<thread>-<counter>": at most 8 + 1 + 20 + 1 + 20 characters,
 * within HT_REQID_MAX; written by hand, as it is made for every request. */
void ht_reqid_make(size_t thread_index, char out[HT_REQID_MAX + 1])
{
    pthread_once(&prefix_once, make_prefix);
    char *o = out;
    memcpy(o, prefix, 8);
    o += 8;
    *o++ = '-';
    o += ht_decimal_put(o, thread_index);
    *o++ = '-';
    o += ht_decimal_put(o, ++counter);
    *o = '\0';
}

const char *ht_reqid_begin(ht_api_thread_t *t, h2o_req_t *req)
{
    const char *id = NULL;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (ht_reqid_valid(v.base, v.len))
            id = h2o_strdup(&req->pool, v.base, v.len).base;
    }
    if (!id) {
        char made[HT_REQID_MAX + 1];
        ht_reqid_make(t->index, made);
        id = h2o_strdup(&req->pool, made, SIZE_MAX).base;
    }
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, id,
                          strlen(id));
    ht_log_set_request_id(id);
    ht_access_track(t, req, id);
    return id;
}

void ht_reqid_end(const char *const *scope)
{
    (void)scope;
    ht_log_set_request_id(NULL);
}
