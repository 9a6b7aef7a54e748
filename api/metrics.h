/* GET /metrics: Prometheus text exposition format 0.0.4.
 *
 * Three sources, one scrape:
 *  - cluster-wide job figures, counted exactly inside the Redis function
 *    library (shared/library.lua: the metrics and hist:* hashes),
 *    so every worker's work is counted without workers exposing anything;
 *    read with one FCALL_RO ht_metrics;
 *  - the workers' records (HT_KEY_WORKERS: each worker's persistent
 *    handler processes, refreshed every few seconds; each remote worker of
 *    the HTTP worker API, api/remote_workers.h), read with HVALS, and the
 *    jobs the remote workers hold (FCALL_RO ht_workers_held per
 *    partition);
 *  - this api process's own figures, summed over its threads' counters
 *    (api/metrics_counters.h).
 * When Redis does not answer, the scrape still succeeds with the process
 * figures and hangtight_redis_up 0.
 *
 * The writer and the renderer are pure (unit-tested in
 * tests/unit/test_metrics.c); the handler only gathers their input. */
#ifndef HT_API_METRICS_H
#define HT_API_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "shared/buf.h"

#include "api/metrics_counters.h"
#include "api/router.h"

#define HT_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- the exposition writer ----------------------------------------------- */

/* The writer appends to a buffer (shared/buf.h): out of memory leaves it
 * failed (ht_buf_failed), the text incomplete. */

/* "# HELP name help" (help escaped) and "# TYPE name type" (counter, gauge,
 * histogram). */
void ht_expo_family(ht_buf_t *e, const char *name, const char *type, const char *help);

/* One sample line: name{l1="v1",...} value.  `labels` is a NULL-terminated
 * array of label name, value pairs (NULL: none); values are escaped.
 * Integral values print without a fraction, infinities as +Inf/-Inf. */
void ht_expo_sample(ht_buf_t *e, const char *name, const char *const *labels, double value);

/* Writes `v` as an exposition value into out[32]. */
const char *ht_expo_value(double v, char out[32]);

/* ---- the whole page --------------------------------------------------------- */

typedef struct {
    int redis_up; /* 0: names/values are not there */
    size_t n;     /* (name, value) pairs of FCALL_RO ht_metrics */
    const char *const *names;
    const long long *values;
    int64_t process[HT_M_COUNT]; /* summed over the api's threads */
    int64_t now_ms;              /* wall clock: how old the workers' records are */
    size_t n_workers;            /* records of HT_KEY_WORKERS (JSON text) */
    const char *const *workers;
    size_t n_held;                 /* remote workers holding jobs: */
    const char *const *held_ids;   /* their ids ("http:<name>") */
    const long long *held_counts;  /* and how many each */
} ht_metrics_input_t;

/* A worker's record counts while it is younger than this. */
#define HT_METRICS_WORKER_FRESH_MS 30000
/* A remote worker is shown while it claimed within this, or holds jobs. */
#define HT_METRICS_REMOTE_FRESH_MS 60000

/* Renders every family of `in` into `e`. */
void ht_metrics_render(ht_buf_t *e, const ht_metrics_input_t *in);

/* The route (router.c): GET /metrics. */
int ht_metrics_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args);

#endif
