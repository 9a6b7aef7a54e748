/* The calling thread's counters (see metrics_counters.h). */
#include "api/metrics_counters.h"

#include <stddef.h>

static __thread ht_api_counters_t *bound;

void ht_metrics_bind(ht_api_counters_t *c)
{
    bound = c;
}

void ht_metrics_add(ht_metric_t m, int64_t delta)
{
    if (bound && (unsigned)m < HT_M_COUNT)
        ht_counters_add(bound, m, delta);
}
