/* The end of every request: status class counters and the access log (see
 * access_log.h). */
#include "api/access_log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "shared/log.h"

#include "api/metrics_counters.h"
#include "api/reqid.h"

/* Lives in the request's pool (a shared entry, so h2o calls on_done when
 * it clears the pool, from h2o_dispose_request(), while the h2o_req_t
 * itself is still there).  The method and path are copied at the start:
 * the request head's buffer may be gone by then. */
typedef struct {
    ht_api_thread_t *t;
    h2o_req_t *req;
    char reqid[HT_REQID_MAX + 1];
    char method[16];
    char path[]; /* only with the access log on */
} track_t;

void ht_access_path(const char *path, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        int plain = c >= 0x20 && c < 0x7f;
        /* Room for this byte, and for "..." should the next not fit. */
        if (o + (plain ? 1 : 3) + 3 >= cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

static double ms_since(const struct timeval *from)
{
    if (from->tv_sec == 0 && from->tv_usec == 0)
        return 0;
    struct timeval now;
    gettimeofday(&now, NULL);
    double ms = (double)(now.tv_sec - from->tv_sec) * 1000.0 +
                (double)(now.tv_usec - from->tv_usec) / 1000.0;
    return ms > 0 ? ms : 0;
}

static const ht_metric_t status_classes[] = {HT_M_HTTP_1XX, HT_M_HTTP_2XX, HT_M_HTTP_3XX,
                                             HT_M_HTTP_4XX, HT_M_HTTP_5XX};

static void on_done(void *p)
{
    track_t *tr = p;
    h2o_req_t *req = tr->req;
    int status = req->res.status;
    /* 0: the client left before any answer; not a response. */
    if (status >= 100 && status <= 599)
        ht_counters_add(&tr->t->counters, status_classes[status / 100 - 1], 1);
    if (!tr->t->cfg->access_log)
        return;
    double ms = ms_since(&req->timestamps.request_begin_at);
    ht_logj(HT_LOG_INFO, "access",
            json_pack("{s:s, s:s, s:s, s:i, s:I, s:f}", "request_id", tr->reqid, "method",
                      tr->method, "path", tr->path, "status", status, "bytes",
                      (json_int_t)req->bytes_sent, "duration_ms",
                      (double)(long long)(ms * 1000.0 + 0.5) / 1000.0)); /* µs */
}

void ht_access_track(ht_api_thread_t *t, h2o_req_t *req, const char *reqid)
{
    size_t pathcap = t->cfg->access_log ? HT_ACCESS_PATH_MAX : 1;
    track_t *tr = h2o_mem_alloc_shared(&req->pool, sizeof(*tr) + pathcap, on_done);
    tr->t = t;
    tr->req = req;
    size_t n = strnlen(reqid, sizeof(tr->reqid) - 1);
    memcpy(tr->reqid, reqid, n);
    tr->reqid[n] = '\0';
    tr->path[0] = '\0';
    tr->method[0] = '\0';
    if (!t->cfg->access_log)
        return;
    ht_access_path(req->method.base, req->method.len, tr->method, sizeof(tr->method));
    ht_access_path(req->path.base, req->path.len, tr->path, pathcap);
}
