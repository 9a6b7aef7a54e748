/* Full-jitter exponential backoff (see backoff.h). */
#include "shared/backoff.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <time.h>

long ht_backoff_cap_ms(long base_ms, long max_ms, int attempt)
{
    if (base_ms < 0)
        base_ms = 0;
    if (max_ms < 0)
        max_ms = 0;
    if (attempt < 1)
        attempt = 1;
    /* Double until the cap is reached instead of shifting, so a large
     * attempt number or base can never overflow. */
    long cap = base_ms;
    for (int i = 1; i < attempt && cap < max_ms; i++)
        cap = cap > max_ms / 2 ? max_ms : cap * 2;
    return cap < max_ms ? cap : max_ms;
}

long ht_backoff_delay_ms(long base_ms, long max_ms, int attempt, ht_random_fn rnd, void *state)
{
    long cap = ht_backoff_cap_ms(base_ms, max_ms, attempt);
    if (cap <= 0)
        return 0;
    if (!rnd)
        rnd = ht_backoff_random;
    /* cap + 1 values: 0..cap inclusive.  The modulo bias is below 2^-40
     * for any cap a long of milliseconds can name in practice. */
    return (long)(rnd(state) % ((uint64_t)cap + 1));
}

/* splitmix64 over an atomic counter: cheap, thread-safe, and good enough
 * for spreading retries (this is not a secret). */
static _Atomic uint64_t rng_state;
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;

static void rng_seed(void)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    }
    atomic_store(&rng_state, seed);
}

uint64_t ht_backoff_random(void *state)
{
    (void)state;
    pthread_once(&rng_once, rng_seed);
    uint64_t z = atomic_fetch_add(&rng_state, 0x9e3779b97f4a7c15ull) + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
