/* The one start/stop pattern of the worker's long-lived threads (lease,
 * cancel listener, webhook deliverer, persistent handler supervisor, and
 * the slots): a handle that knows whether its thread runs and asks it to
 * quit.  A thread's main loop checks ht_wthread_quitting() (or naps with
 * ht_wthread_nap()) and returns; ht_wthread_stop() asks and joins.  A
 * thread that blocks in a call of its own (poll, a Redis read) bounds that
 * call so that it sees the request in time, or is woken by its owner. */
#ifndef HT_WORKER_THREAD_H
#define HT_WORKER_THREAD_H

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    pthread_t id;
    int started;     /* the thread runs (or ran) and has not been joined */
    atomic_int quit; /* asked to return */
} ht_wthread_t;

/* Starts `main(arg)` on a new thread.  Returns 0 or a negative errno. */
int ht_wthread_start(ht_wthread_t *t, void *(*main)(void *), void *arg);

/* Asks the thread to quit and joins it; does nothing when it was not
 * started.  Call from one thread (the owner). */
void ht_wthread_stop(ht_wthread_t *t);

/* Asks without joining: for an owner that must wake the thread (from a
 * poll of its own) between the request and the join. */
void ht_wthread_ask(ht_wthread_t *t);

/* Joins without asking (a thread that ends by itself, like a slot when the
 * worker drains). */
void ht_wthread_join(ht_wthread_t *t);

/* Nonzero once ht_wthread_stop() asked the thread to return. */
int ht_wthread_quitting(ht_wthread_t *t);

/* Sleeps up to `ms`, in slices of at most 50 ms, returning early once the
 * thread is asked to quit.  Returns nonzero when it returned early. */
int ht_wthread_nap(ht_wthread_t *t, long ms);

#endif
