/* Per-api-thread counters for GET /metrics (api/metrics.h serves them):
 * what one api process sees — held requests, SSE streams, 102s written,
 * Redis errors, responses by status class.  Job counters are not here:
 * they are counted in Redis (shared/library.lua, ht_metrics).
 *
 * No locks: every api thread owns one ht_api_counters_t (a field of its
 * ht_api_thread_t) and is its only writer; a scrape on any thread reads
 * every thread's counters and sums them.  The values are relaxed atomics,
 * written with a plain load + store by their one writer (no locked
 * read-modify-write on the hot path), so a concurrent reader sees each
 * value whole, maybe a moment old — which is all a counter scrape needs:
 * no two counters are ever meant to agree with each other.
 *
 * Code that has no ht_api_thread_t at hand (store.c, wait.c, events.c)
 * counts with ht_metrics_add(), into the counters the calling thread bound
 * with ht_metrics_bind() when it started; unbound threads (unit tests)
 * count nothing. */
#ifndef HT_API_METRICS_COUNTERS_H
#define HT_API_METRICS_COUNTERS_H

#include <stdatomic.h>
#include <stdint.h>

typedef enum {
    HT_M_HELD_SYNC,            /* gauge: sync submits held (Prefer: wait) */
    HT_M_HELD_POLL,            /* gauge: long polls held */
    HT_M_HELD_CLAIM,           /* gauge: worker API claims held (api/worker_claims.h) */
    HT_M_SSE_STREAMS,          /* gauge: open event streams */
    HT_M_PROCESSING_SENT,      /* counter: 102 Processing written */
    HT_M_REDIS_UNAVAILABLE,    /* counter: store calls failed: Redis down, lost, overdue */
    HT_M_REDIS_ERROR_REPLY,    /* counter: store calls Redis answered with an error */
    HT_M_REDIS_DROPPED_UNSENT, /* counter: store calls dropped unsent: their request was gone */
    HT_M_INFLIGHT_REFUSED,     /* counter: requests refused at a bound on Redis calls in flight */
    HT_M_CONNS_REFUSED,        /* counter: connections closed at accept: over max connections */
    HT_M_CONNS_CUT,            /* counter: connections closed for abandoning too many requests */
    HT_M_HTTP_1XX,             /* counter: final responses by status class, 1xx..5xx */
    HT_M_HTTP_2XX,
    HT_M_HTTP_3XX,
    HT_M_HTTP_4XX,
    HT_M_HTTP_5XX,
    HT_M_UPLOAD_SOCKET,     /* counter: file submits whose body was read from the socket */
    HT_M_UPLOAD_BUFFERED,   /* counter: file submits whose body h2o had read (api/upload.h) */
    HT_M_UPLOAD_BYTES,      /* counter: bytes of files stored */
    HT_M_COUNT
} ht_metric_t;

typedef struct {
    _Atomic int64_t v[HT_M_COUNT];
} ht_api_counters_t;

/* The calling thread counts into `c` from now on (NULL: stop counting). */
void ht_metrics_bind(ht_api_counters_t *c);

/* Adds `delta` to the calling thread's counter `m` (no-op when unbound). */
void ht_metrics_add(ht_metric_t m, int64_t delta);

/* Adds `delta` to `c` (owner thread only). */
static inline void ht_counters_add(ht_api_counters_t *c, ht_metric_t m, int64_t delta)
{
    int64_t v = atomic_load_explicit(&c->v[m], memory_order_relaxed);
    atomic_store_explicit(&c->v[m], v + delta, memory_order_relaxed);
}

/* Reads `c` from any thread (see above for why a racy read is fine). */
static inline int64_t ht_counters_get(const ht_api_counters_t *c, ht_metric_t m)
{
    return atomic_load_explicit(&c->v[m], memory_order_relaxed);
}

#endif
