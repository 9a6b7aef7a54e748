/* Job change notifications for one api thread: one Redis pub/sub connection
 * per thread (not per request), a channel per watched job, fanned out to the
 * watchers of that job on this thread (sync waits, long polls, SSE streams).
 *
 * Every change of a job (the function library's `changed`) bumps its
 * version, appends an entry to the job's capped event log (the list
 * "ht:{Q}:job:<id>:ev") and publishes "<version> <status> <log id> <kind>"
 * on the channel "ht:{Q}:events:<id>", kind being "status" or "progress".
 * The thread SUBSCRIBEs to a job's channel when its first watcher arrives
 * and UNSUBSCRIBEs when its last one leaves, so Redis sends each api thread
 * only the events of the jobs it holds requests for.
 *
 * Gaps: pub/sub loses what happens while not subscribed (before the
 * SUBSCRIBE is confirmed, or while the connection is down).  So a watcher
 * is told "ready" (ev == NULL) each time its subscription becomes active,
 * first and after every reconnect, and must then re-read the job (or its
 * event log) to catch anything it missed.  Events after "ready" are not
 * lost while the connection lasts. */
#ifndef HT_API_PUBSUB_H
#define HT_API_PUBSUB_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/partition.h"
#include "shared/redis_url.h"

typedef struct ht_pubsub ht_pubsub_t;
typedef struct ht_watch ht_watch_t;

typedef struct {
    const char *id;   /* the job's id */
    uint64_t version; /* the job's version after the change (its ETag) */
    ht_job_status_t status;
    const char *log_id; /* id of the change's entry in the job's event log */
    int progress;       /* 1 for a progress report, 0 for a status change */
} ht_job_event_t;

/* A watcher's callback: `ev` (borrowed, valid only during the call) is a
 * change, or NULL for "ready: re-read the job now".  Never called from
 * within ht_watch_add() or after ht_watch_remove(). */
typedef void (*ht_watch_cb)(void *data, const ht_job_event_t *ev);

/* Starts the thread's subscriber connection on `loop` (reconnecting on its
 * own while Redis is away).  `url` and `k` are copied.  Returns 0 or a
 * negative code. */
int ht_pubsub_new(ht_pubsub_t **out, uv_loop_t *loop, const ht_redis_url_t *url,
                  const ht_keys_t *k);

/* Serves several partitions (shared/partition.h, borrowed): a job's channel
 * is then that of its id's partition.  Call before the first watch. */
void ht_pubsub_set_parts(ht_pubsub_t *ps, const ht_parts_t *parts);

/* Drops every watch (without callbacks) and closes the connection; the
 * memory is freed once libuv has closed its handles, so the loop must run
 * afterwards. */
void ht_pubsub_close(ht_pubsub_t *ps);

/* Watches job `id` (copied).  Returns the watch, or NULL when out of memory.
 * The first callback is "ready" once the subscription is active. */
ht_watch_t *ht_watch_add(ht_pubsub_t *ps, const char *id, ht_watch_cb cb, void *data);

/* Stops watching; safe from inside the watch's own callback.  No callback
 * fires for it afterwards. */
void ht_watch_remove(ht_watch_t *w);

/* Watches alive on this thread (for limits and metrics). */
size_t ht_pubsub_watch_count(const ht_pubsub_t *ps);

#endif
