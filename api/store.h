/* The api's non-blocking Redis store: one hiredis async connection per api
 * thread, on that thread's libuv loop.  All Redis access of the api goes
 * through here (the blocking twin for worker and CLI is shared/store.h, over
 * the same keys and functions of migrations/0001_core.lua).
 *
 * Connection states:
 *
 *     [down] --every ~500 ms--> [connecting] --connected--> [ready]
 *       ^                            |                         |
 *       +---- refused, or no answer within ~2 s; --------------+
 *             connection lost; a reply overdue by ~3 s
 *
 * Calls are sent only while ready; in any other state they fail at once with
 * HT_EREDIS (callers answer 503), so a request never waits on a dead Redis.
 *
 * Callbacks: every call's callback fires exactly once, possibly before the
 * call returns (a call made while not ready fails synchronously), with err 0
 * on success or a negative code: HT_EREDIS (unavailable: not connected,
 * connection lost, reply overdue), HT_EPROTO (Redis answered an error or an
 * unexpected shape; logged here), HT_ENOTFOUND, HT_EEXIST.
 *
 * Request binding: a call given an h2o request is tied to it.  When h2o
 * disposes of the request first (an HTTP/2 client resets the stream or closes
 * the connection), the callback is dropped instead of fired, because
 * everything it could touch lived in that request's pool.  Calls given NULL
 * (timers, housekeeping) always fire. */
#ifndef HT_API_STORE_H
#define HT_API_STORE_H

#include <h2o.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "shared/job.h"
#include "shared/keys.h"
#include "shared/redis_url.h"

#include "api/event_format.h"

typedef struct ht_astore ht_astore_t;

/* Creates the store on `loop` (the calling thread's) and starts connecting.
 * `url` is copied.  `on_first` (may be NULL) fires once, on the first
 * transition out of [connecting]: ready or not, the thread may start serving.
 * Returns 0 or HT_ENOMEM / HT_EINVAL (cluster URLs are not supported). */
int ht_astore_new(ht_astore_t **out, uv_loop_t *loop, const ht_redis_url_t *url,
                  void (*on_first)(void *data, int ready), void *data);

/* Fails every pending call with HT_EREDIS (their callbacks fire now), closes
 * the connection and the timer.  The memory is freed once libuv has closed
 * the timer, so the loop must run afterwards. */
void ht_astore_close(ht_astore_t *s);

/* 1 while connected and ready to send. */
int ht_astore_ready(const ht_astore_t *s);

/* Calls sent and not yet answered (the shutdown drain waits for 0). */
size_t ht_astore_pending(const ht_astore_t *s);

/* ---- calls ------------------------------------------------------------ */

/* FCALL ht_submit: stores a new queued job `id` from the validated request.
 * `payload_json` and `metadata_json` (NULL when none) are the request's JSON
 * as text, encoded once by the caller and stored as given.  On success
 * `version` and `created_at` (ms, Redis clock) describe the stored job. */
typedef void (*ht_astore_submit_cb)(void *data, int err, uint64_t version, int64_t created_at);
void ht_astore_submit(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                      const char *tenant, const ht_job_request_t *jr, const char *payload_json,
                      const char *metadata_json, ht_astore_submit_cb cb, void *data);

/* HGETALL of one job.  `job` is borrowed, valid only during the callback
 * (NULL unless err is 0); HT_ENOTFOUND when there is no such job. */
typedef void (*ht_astore_job_cb)(void *data, int err, const ht_job_t *job);
void ht_astore_get(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                   ht_astore_job_cb cb, void *data);

/* A job and its event log read together, consistently (MULTI/EXEC of
 * HGETALL and XRANGE), for the event stream.  With `from` (a valid log id),
 * the log's entries from that id on, inclusive, oldest first: the caller
 * sees whether that entry is still there (the log is capped, so old entries
 * go).  With `from` NULL, only the newest entry.  `job` and `entries` are
 * borrowed, valid only during the callback (NULL unless err is 0; n may be
 * 0: a job changed last before migration 0002 has no log).  HT_ENOTFOUND
 * when there is no such job. */
typedef void (*ht_astore_job_log_cb)(void *data, int err, const ht_job_t *job, size_t n,
                                     const ht_log_entry_t *entries);
void ht_astore_job_log(ht_astore_t *s, h2o_req_t *req, const ht_keys_t *k, const char *id,
                       const char *from, ht_astore_job_log_cb cb, void *data);

/* Calls answering one integer. */
typedef void (*ht_astore_int_cb)(void *data, int err, long long value);

/* The keyspace version recorded by `hangtight migrate` (0 when none). */
void ht_astore_schema_version(ht_astore_t *s, h2o_req_t *req, ht_astore_int_cb cb, void *data);

/* 1 when some worker registered `type` in HT_KEY_TYPES, else 0. */
void ht_astore_type_exists(ht_astore_t *s, h2o_req_t *req, const char *type, ht_astore_int_cb cb,
                           void *data);

/* Every type registered in HT_KEY_TYPES.  `types` is borrowed, valid only
 * during the callback. */
typedef void (*ht_astore_strings_cb)(void *data, int err, size_t n, const char *const *types);
void ht_astore_types(ht_astore_t *s, h2o_req_t *req, ht_astore_strings_cb cb, void *data);

#endif
