/* The worker's thread start/stop pattern (see thread.h). */
#include "worker/thread.h"

#include <time.h>

#define NAP_SLICE_MS 50

int ht_wthread_start(ht_wthread_t *t, void *(*main)(void *), void *arg)
{
    atomic_store(&t->quit, 0);
    int e = pthread_create(&t->id, NULL, main, arg);
    t->started = e == 0;
    return -e;
}

void ht_wthread_join(ht_wthread_t *t)
{
    if (!t->started)
        return;
    pthread_join(t->id, NULL);
    t->started = 0;
}

void ht_wthread_ask(ht_wthread_t *t)
{
    atomic_store(&t->quit, 1);
}

void ht_wthread_stop(ht_wthread_t *t)
{
    ht_wthread_ask(t);
    ht_wthread_join(t);
}

int ht_wthread_quitting(ht_wthread_t *t)
{
    return atomic_load(&t->quit);
}

int ht_wthread_nap(ht_wthread_t *t, long ms)
{
    while (ms > 0) {
        if (ht_wthread_quitting(t))
            return 1;
        long slice = ms < NAP_SLICE_MS ? ms : NAP_SLICE_MS;
        struct timespec ts = {0, slice * 1000000L};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
    return ht_wthread_quitting(t);
}
