/* shared/bgthread.c: a napping thread wakes at once when stopped (a stop
 * during a nap of an hour returns at once), its rounds run while it is
 * not stopped, and it can be started again. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>

#include "shared/bgthread.h"

static ht_bgthread_t t = HT_BGTHREAD_INIT;
static atomic_int rounds;

static void *napper(void *arg)
{
    long ms = *(long *)arg;
    while (!ht_bgthread_nap(&t, ms))
        atomic_fetch_add(&rounds, 1);
    cr_assert(ht_bgthread_stopping(&t));
    return NULL;
}

/* A nap of an hour: only the stop's wake-up ends it before ctest's
 * timeout (120 s) does. */
Test(bgthread, stop_wakes_a_nap)
{
    static long hour = 3600000;
    atomic_store(&rounds, 0);
    cr_assert_eq(ht_bgthread_start(&t, napper, &hour), 0);
    cr_assert_not(ht_bgthread_stopping(&t));
    ht_bgthread_stop(&t);
    cr_assert_eq(atomic_load(&rounds), 0);
    ht_bgthread_stop(&t); /* stopped already: nothing to do */
}

Test(bgthread, rounds_then_restart)
{
    static long ms = 1;
    for (int run = 0; run < 2; run++) {
        atomic_store(&rounds, 0);
        cr_assert_eq(ht_bgthread_start(&t, napper, &ms), 0);
        while (atomic_load(&rounds) < 3)
            sched_yield();
        ht_bgthread_stop(&t);
        cr_assert_geq(atomic_load(&rounds), 3);
    }
}
