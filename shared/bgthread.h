/* A background thread that naps between rounds until it is told to stop:
 * the api's partition recorder and blob sweeper.  The thread's own
 * function loops on ht_bgthread_nap(); ht_bgthread_stop() wakes it and
 * joins it. */
#ifndef HT_BGTHREAD_H
#define HT_BGTHREAD_H

#include <pthread.h>

typedef struct {
    pthread_t thread_;
    pthread_mutex_t mu_;
    pthread_cond_t cv_;
    int stop_, started_;
} ht_bgthread_t;

#define HT_BGTHREAD_INIT                                                                           \
    {                                                                                              \
        .mu_ = PTHREAD_MUTEX_INITIALIZER, .cv_ = PTHREAD_COND_INITIALIZER                          \
    }

/* Starts `main(arg)` on a new thread.  Returns 0, or HT_ENOMEM when no
 * thread could be made (then nothing runs and ht_bgthread_stop does
 * nothing). */
int ht_bgthread_start(ht_bgthread_t *t, void *(*main)(void *), void *arg);

/* From the thread: waits up to ms unless told to stop.  1 when stopping,
 * else 0. */
int ht_bgthread_nap(ht_bgthread_t *t, long ms);

/* From the thread: 1 once told to stop, else 0 (for long rounds). */
int ht_bgthread_stopping(ht_bgthread_t *t);

/* Tells the thread to stop, wakes it from its nap and waits for it to
 * return.  The thread may then be started again. */
void ht_bgthread_stop(ht_bgthread_t *t);

#endif
