/* Retry backoff of failed attempts: exponential with "full jitter" (the
 * delay is drawn uniformly from zero up to the exponential cap, so retries
 * of many jobs that failed together spread out instead of arriving in
 * waves).  Pure: the random source is a parameter, so tests can pin it.
 * Unit-tested in tests/unit/test_backoff.c. */
#ifndef HT_BACKOFF_H
#define HT_BACKOFF_H

#include <stdint.h>

/* A source of uniformly distributed 64-bit values.  `state` is whatever the
 * caller passed along with it. */
typedef uint64_t (*ht_random_fn)(void *state);

/* The cap of attempt `attempt` (1 for the first): min(max_ms,
 * base_ms * 2^(attempt-1)), computed without overflow for any attempt.
 * Negative bases and caps count as 0; an attempt below 1 counts as 1. */
long ht_backoff_cap_ms(long base_ms, long max_ms, int attempt);

/* The delay before the next attempt after attempt `attempt` failed: uniform
 * in [0, ht_backoff_cap_ms(base_ms, max_ms, attempt)], drawn from `rnd`
 * (NULL: ht_backoff_random, the kernel's CSPRNG-seeded generator). */
long ht_backoff_delay_ms(long base_ms, long max_ms, int attempt, ht_random_fn rnd, void *state);

/* The default random source: a thread-safe generator seeded once from
 * getrandom(2).  `state` is ignored. */
uint64_t ht_backoff_random(void *state);

#endif
