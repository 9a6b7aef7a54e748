/* A background thread that naps between rounds until told to stop. */
#include "shared/bgthread.h"

#include <errno.h>
#include <time.h>

#include "shared/error.h"

int ht_bgthread_start(ht_bgthread_t *t, void *(*main)(void *), void *arg)
{
    t->stop_ = 0;
    t->started_ = pthread_create(&t->thread_, NULL, main, arg) == 0;
    return t->started_ ? 0 : HT_ENOMEM;
}

int ht_bgthread_nap(ht_bgthread_t *t, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu_);
    while (!t->stop_ && pthread_cond_timedwait(&t->cv_, &t->mu_, &until) != ETIMEDOUT)
        ;
    int stop = t->stop_;
    pthread_mutex_unlock(&t->mu_);
    return stop;
}

int ht_bgthread_stopping(ht_bgthread_t *t)
{
    pthread_mutex_lock(&t->mu_);
    int stop = t->stop_;
    pthread_mutex_unlock(&t->mu_);
    return stop;
}

void ht_bgthread_stop(ht_bgthread_t *t)
{
    if (!t->started_)
        return;
    pthread_mutex_lock(&t->mu_);
    t->stop_ = 1;
    pthread_cond_signal(&t->cv_);
    pthread_mutex_unlock(&t->mu_);
    pthread_join(t->thread_, NULL);
    t->started_ = 0;
}
