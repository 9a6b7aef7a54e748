/* The webhook deliverer: one thread per worker process, with its own Redis
 * connection, that POSTs the terminal event of every job that has a
 * callback_url (Standard Webhooks: signed with shared/webhook.h), retries
 * with full-jitter backoff, and records each attempt in the job.  The
 * pending deliveries live in Redis (ht:{Q}:deliveries, docs/keyspace.md), so
 * they survive a restart and are shared by every worker; the thread never
 * holds a job slot.  Internal to worker/. */
#ifndef HT_WORKER_WEBHOOK_H
#define HT_WORKER_WEBHOOK_H

#include <stdint.h>

#include "shared/buf.h"
#include "shared/job.h"
#include "shared/webhook.h"

#include "worker/state.h"

/* The deliverer: its thread and options. */
typedef struct {
    ht_wthread_t thread;
    const ht_wstate_t *st;
    ht_webhook_secrets_t webhook_secrets; /* none: deliveries unsigned */
    long webhook_retry_base_ms;
    long webhook_max_attempts;
    long webhook_timeout_ms;   /* total per attempt; connect at most 5 s of it */
    int webhook_allow_private; /* skip the address check (development, tests) */
} ht_webhooks_t;

/* How one attempt ended. */
typedef enum {
    HT_DELIVERY_DELIVERED, /* 2xx */
    HT_DELIVERY_RETRY,     /* try again later (if attempts are left) */
    HT_DELIVERY_FAILED,    /* stop: 410 Gone, or a refused address */
} ht_delivery_result_t;

/* Judges one attempt: `curl_failed` is nonzero when no HTTP status was
 * received, `refused` when the address check refused every address.  Pure:
 * unit-testable. */
ht_delivery_result_t ht_webhook_judge(int curl_failed, int refused, long http_status);

/* The delay before the next attempt after attempt `attempt` (1 for the
 * first) failed: full jitter from base_ms (shared/backoff.h), but at least
 * retry_after_ms (the receiver's Retry-After, -1 when none), at most an
 * hour.  `rnd` as in ht_backoff_delay_ms (NULL: the default source). */
long ht_webhook_retry_delay_ms(long base_ms, int attempt, long retry_after_ms,
                               uint64_t (*rnd)(void *), void *state);

/* Parses a Retry-After value (delay-seconds or an HTTP date) into ms from
 * now_s.  Returns -1 when absent or unparsable. */
long ht_webhook_retry_after_ms(const char *value, long long now_s);

/* Appends the body of the delivery of `job` made at now_ms:
 * {"type":"job.<status>","timestamp":"<RFC 3339>","data":<job document>}.
 * Returns 0 or HT_ENOMEM. */
int ht_webhook_body_append(ht_buf_t *b, const ht_job_t *job, int64_t now_ms);

/* Starts and stops the delivery thread.  Call ht_webhook_start() from the
 * main thread before any other thread uses libcurl; ht_webhook_stop()
 * joins it: the delivery in flight is finished (bounded by the request
 * timeout), claimed ones not yet tried come back when their claim runs out. */
int ht_webhook_start(ht_webhooks_t *w);
void ht_webhook_stop(ht_webhooks_t *w);

#endif
