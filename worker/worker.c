/* The worker process: options, startup (Redis, schema, handler types),
 * the slot and lease threads, and the drain on SIGTERM/SIGINT.
 *
 * Drain: the first signal stops claiming and waits up to --drain-timeout-s
 * for running jobs to finish; then (or at once on a second signal) the
 * remaining handlers are told to stop and their jobs are handed back to the
 * queue without counting the attempt.  The webhook thread stops last: the
 * delivery in flight is finished.  Exit status 0. */
#include "worker/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shared/config.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/partition_store.h"
#include "shared/store.h"
#include "worker/builtins.h"
#include "worker/handler.h"
#include "worker/job_ctx.h"
#include "worker/registry.h"
#include "worker/tenant_secrets.h"

#define CONNECT_PATIENCE_MS 30000
/* After stopping handlers at the end of a drain, how long to wait for them
 * (the exec handler's SIGKILL comes 5 s after its SIGTERM). */
#define STOP_GRACE_MS 10000
#define REGISTER_BATCH 20 /* types per HSET: the argv vector has a bound */

static const char *const worker_synopsis = "[options]";

static int parse_options(ht_worker_t *w, int argc, char **argv)
{
    const ht_option_t opts[] = {
        {"concurrency", "HANGTIGHT_CONCURRENCY", HT_OPT_INT, "4",
         "run up to N jobs at once", 1, 1024, &w->concurrency},
        {"redis-url", "HANGTIGHT_REDIS_URL", HT_OPT_STRING, "redis://127.0.0.1:6379",
         "Redis to use: URL (redis://host:port/db or unix:///path)", 0, 0, &w->redis_url},
        {"handlers", "HANGTIGHT_HANDLERS", HT_OPT_STRING, NULL,
         "exec handler config: FILE (JSON, see the README)", 0, 0, &w->handlers_path},
        {"drain-timeout-s", "HANGTIGHT_DRAIN_TIMEOUT_S", HT_OPT_INT, "30",
         "when draining (SIGTERM), wait up to SECONDS for running jobs, then hand them back", 0,
         86400, &w->drain_timeout_s},
        {"retry-base-ms", "HANGTIGHT_RETRY_BASE_MS", HT_OPT_INT, "1000",
         "backoff of a failed attempt: the Nth retry waits a random 0..MS*2^(N-1) ms", 0,
         3600000, &w->retry_base_ms},
        {"retry-max-ms", "HANGTIGHT_RETRY_MAX_MS", HT_OPT_INT, "600000",
         "cap of the retry backoff in MS", 0, 86400000, &w->retry_max_ms},
        {"webhook-secret", "HANGTIGHT_WEBHOOK_SECRET", HT_OPT_STRING, NULL,
         "sign callbacks with SECRETS: whsec_<base64> items, comma- or space-separated "
         "(one signature each, for rotation)", 0, 0, &w->webhook_secret},
        {"webhook-retry-base-ms", "HANGTIGHT_WEBHOOK_RETRY_BASE_MS", HT_OPT_INT, "5000",
         "backoff of a failed callback: the Nth retry waits a random 0..MS*2^(N-1) ms", 0,
         3600000, &w->webhook_retry_base_ms},
        {"webhook-max-attempts", "HANGTIGHT_WEBHOOK_MAX_ATTEMPTS", HT_OPT_INT, "8",
         "give a callback up after N attempts", 1, 100, &w->webhook_max_attempts},
        {"webhook-timeout-ms", "HANGTIGHT_WEBHOOK_TIMEOUT_MS", HT_OPT_INT, "10000",
         "a callback attempt may take up to MS in all (connecting at most 5000 of them)", 100,
         600000, &w->webhook_timeout_ms},
        {"webhook-allow-private", "HANGTIGHT_WEBHOOK_ALLOW_PRIVATE", HT_OPT_FLAG, NULL,
         "let callbacks reach private, loopback and other non-public addresses "
         "(development and tests only)", 0, 0, &w->webhook_allow_private},
        {"partitions", "HANGTIGHT_PARTITIONS", HT_OPT_INT, "1",
         "the queue's N partitions (issue 10; the same N for api, workers and CLI, see the "
         "README on changing it)", 1, HT_PARTITIONS_MAX, &w->partitions},
        {"log-level", "HANGTIGHT_LOG_LEVEL", HT_OPT_STRING, "info",
         "lowest LEVEL logged: debug, info, warn, error", 0, 0, &w->log_level},
        {"allow-eviction", "HANGTIGHT_ALLOW_EVICTION", HT_OPT_FLAG, NULL,
         "start even if Redis' maxmemory-policy may evict job keys (logs a loud warning)", 0, 0,
         &w->allow_eviction},
        {"secrets-key", "HANGTIGHT_SECRETS_KEY", HT_OPT_STRING, NULL,
         "KEYS that open tenants' webhook secrets: the api's HANGTIGHT_SECRETS_KEY (set it in "
         "the environment, not as a flag); unset: a tenant with its own secrets gets no delivery",
         0, 0, &ht_tsecrets_settings.key_text},
        {"webhook-secrets-cache-ms", "HANGTIGHT_WEBHOOK_SECRETS_CACHE_MS", HT_OPT_INT, "5000",
         "MS a tenant's webhook secrets are cached (a revoked one may sign for this long)", 0,
         300000, &ht_tsecrets_settings.cache_ms},
    };
    size_t n = sizeof(opts) / sizeof(opts[0]);
    char err[512];
    int first;
    int rc = ht_options_parse(opts, n, argc, argv, &first, err, sizeof(err));
    if (rc == 1) {
        ht_options_usage(stdout, "hangtight-worker", worker_synopsis, opts, n);
        return 1;
    }
    if (rc == 0 && first < argc) {
        snprintf(err, sizeof(err), "unexpected argument '%s' (see --help)", argv[first]);
        rc = HT_EINVAL;
    }
    if (rc == 0)
        rc = ht_webhook_secrets_parse(w->webhook_secret, &w->webhook_secrets, err, sizeof(err));
    if (rc == 0)
        rc = ht_tsecrets_init(err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "hangtight-worker: %s\n", err);
        return rc;
    }
    return 0;
}

static int make_id(ht_worker_t *w)
{
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    unsigned char r[3];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -errno;
    snprintf(w->id, sizeof(w->id), "%s:%ld:%02x%02x%02x", host, (long)getpid(), r[0], r[1],
             r[2]);
    return 0;
}

/* Loads the exec handler file and registers its types. */
static int load_handlers(ht_worker_t *w)
{
    if (!w->handlers_path || !*w->handlers_path)
        return 0;
    char err[512];
    int rc = ht_handlers_config_load(&w->handlers, w->handlers_path, err, sizeof(err));
    if (rc < 0) {
        ht_log(HT_LOG_ERROR, "bad handler config", "error", err, NULL);
        return rc;
    }
    for (size_t i = 0; i < w->handlers.n; i++) {
        const ht_exec_handler_t *h = &w->handlers.handlers[i];
        /* Catch a wrong path now rather than as a failure of every job. */
        if (strchr(h->argv[0], '/') && access(h->argv[0], X_OK) < 0) {
            snprintf(err, sizeof(err), "%s: handlers.%s.command[0]: %s: %s", w->handlers_path,
                     h->type, h->argv[0], strerror(errno));
            ht_log(HT_LOG_ERROR, "bad handler config", "error", err, NULL);
            return HT_EINVAL;
        }
        if ((rc = ht_registry_add(h->type, ht_exec_run, h)) < 0) {
            snprintf(err, sizeof(err), "%s: handlers.%s: %s", w->handlers_path, h->type,
                     rc == HT_EEXIST ? "the type is already served by a linked-in handler"
                                     : ht_strerror(rc));
            ht_log(HT_LOG_ERROR, "bad handler config", "error", err, NULL);
            return rc;
        }
    }
    return 0;
}

int ht_worker_register_types(const ht_worker_t *w, ht_store_t *s)
{
    size_t n;
    const char *const *types = ht_registry_names(&n);
    for (size_t i = 0; i < n; i += REGISTER_BATCH) {
        size_t batch = n - i < REGISTER_BATCH ? n - i : REGISTER_BATCH;
        int rc = ht_store_register_types(s, types + i, batch, w->id);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Sleeps up to ms, returning early (1) if SIGTERM or SIGINT arrives. */
static int wait_signal(const sigset_t *set, long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return sigtimedwait(set, NULL, &ts) > 0;
}

/* Connects (retrying for up to 30 s: Redis may start after us), checks the
 * keyspace version and registers our types.  Returns 0 or a negative code
 * after logging why. */
static int connect_redis(ht_worker_t *w, ht_store_t **out, const sigset_t *sigs)
{
    int64_t give_up = ht_mono_ms() + CONNECT_PATIENCE_MS;
    int rc, logged = 0;
    ht_store_t *s = NULL;
    for (;;) {
        ht_store_close(s);
        rc = ht_store_open(&s, &w->url, HT_WORKER_REDIS_TIMEOUT_MS);
        if (rc == 0 && (rc = ht_store_check_schema(s)) == 0 &&
            (rc = ht_store_check_eviction(s, w->allow_eviction)) == 0)
            break;
        if (rc != HT_EREDIS || ht_mono_ms() >= give_up)
            goto fail;
        if (!logged++)
            ht_log(HT_LOG_WARN, "waiting for redis", "error", ht_store_errstr(s), NULL);
        if (wait_signal(sigs, 1000)) {
            ht_store_close(s);
            return HT_ETIMEDOUT;
        }
    }
    if ((rc = ht_worker_register_types(w, s)) < 0)
        goto fail;
    /* Record our N and serve every N recorded: jobs made under an earlier
     * N still run (README "Partitions"). */
    if ((rc = ht_parts_sync(&w->parts, s, 1)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    ht_log(HT_LOG_ERROR, "cannot start", "error", s ? ht_store_errstr(s) : ht_strerror(rc),
           NULL);
    ht_store_close(s);
    return rc;
}

static int all_exited(const ht_worker_t *w)
{
    for (long i = 0; i < w->concurrency; i++)
        if (w->slots[i].started && !atomic_load(&w->slots[i].exited))
            return 0;
    return 1;
}

static void stop_busy_slots(ht_worker_t *w)
{
    for (long i = 0; i < w->concurrency; i++) {
        ht_slot_t *slot = &w->slots[i];
        pthread_mutex_lock(&slot->mu);
        if (slot->busy)
            ht_stop_request(&slot->stop, HT_STOP_DRAIN);
        pthread_mutex_unlock(&slot->mu);
    }
}

/* Last resort when a handler ignores its stop request: hand its job back
 * from here and leave without joining its thread. */
static void abandon_stuck_slots(ht_worker_t *w, ht_store_t *store)
{
    for (long i = 0; i < w->concurrency; i++) {
        ht_slot_t *slot = &w->slots[i];
        pthread_mutex_lock(&slot->mu);
        ht_job_t held = slot->held;
        int busy = slot->busy;
        pthread_mutex_unlock(&slot->mu);
        if (!busy)
            continue;
        ht_keys_t scratch;
        const ht_keys_t *k = ht_worker_keys_of(w, held.id, &scratch);
        int rc = k ? ht_store_release(store, k, &held) : HT_EINVAL;
        ht_log(HT_LOG_WARN, "handler ignored its stop request; job handed back", "id", held.id,
               "result", ht_strerror(rc), NULL);
    }
}

/* Waits for SIGTERM/SIGINT, then drains.  Returns 1 when every slot thread
 * exited (joinable), 0 when some had to be abandoned. */
static int run_until_signal(ht_worker_t *w, ht_store_t *store, const sigset_t *sigs)
{
    while (!wait_signal(sigs, 1000)) {
    }
    atomic_store(&w->draining, 1);
    char secs[16];
    snprintf(secs, sizeof(secs), "%ld", w->drain_timeout_s);
    ht_log(HT_LOG_INFO, "draining: no new jobs; waiting for running ones", "timeout_s", secs,
           NULL);
    int64_t deadline = ht_mono_ms() + w->drain_timeout_s * 1000;
    while (!all_exited(w) && ht_mono_ms() < deadline) {
        if (wait_signal(sigs, 100)) {
            ht_log(HT_LOG_INFO, "second signal: handing running jobs back now", NULL);
            break;
        }
    }
    if (all_exited(w))
        return 1;
    stop_busy_slots(w);
    deadline = ht_mono_ms() + STOP_GRACE_MS;
    while (!all_exited(w) && ht_mono_ms() < deadline)
        wait_signal(sigs, 100);
    if (all_exited(w))
        return 1;
    abandon_stuck_slots(w, store);
    return 0;
}

static int start_threads(ht_worker_t *w)
{
    w->slots = calloc((size_t)w->concurrency, sizeof(*w->slots));
    if (!w->slots)
        return HT_ENOMEM;
    for (long i = 0; i < w->concurrency; i++) {
        w->slots[i].w = w;
        w->slots[i].index = (int)i;
        pthread_mutex_init(&w->slots[i].mu, NULL);
    }
    /* The cancel listener first, so that it is usually subscribed before the
     * first claim (a cancel it misses is still caught by the lease renewal). */
    int rc = ht_cancel_start(w);
    if (rc == 0)
        rc = ht_lease_start(w);
    if (rc == 0)
        rc = ht_webhook_start(w);
    for (long i = 0; rc == 0 && i < w->concurrency; i++)
        rc = ht_slot_start(&w->slots[i]);
    if (rc < 0)
        ht_log(HT_LOG_ERROR, "cannot start threads", "error", ht_strerror(rc), NULL);
    return rc;
}

static void log_ready(const ht_worker_t *w)
{
    size_t n;
    const char *const *types = ht_registry_names(&n);
    char list[2048] = "", conc[16], parts[16], served[16];
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "",
                                 types[i]);
    snprintf(conc, sizeof(conc), "%ld", w->concurrency);
    snprintf(parts, sizeof(parts), "%u", w->parts.n);
    snprintf(served, sizeof(served), "%zu", w->parts.count);
    ht_log(HT_LOG_INFO, "worker ready", "worker", w->id, "concurrency", conc, "types", list,
           "partitions", parts, "partitions_served", served, NULL);
}

int ht_worker_main(int argc, char **argv)
{
    static ht_worker_t w; /* static: stuck threads may outlive main's frame */
    ht_store_t *store = NULL;
    int status = 1, joinable = 1;
    sigset_t sigs;

    int rc = parse_options(&w, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    ht_log_level_t level;
    if (ht_log_level_parse(w.log_level, &level) < 0) {
        fprintf(stderr, "hangtight-worker: --log-level: '%s' is not debug, info, warn or error\n",
                w.log_level);
        return 2;
    }
    ht_log_init("worker", level);
    char err[512];
    if (ht_redis_url_parse(w.redis_url, &w.url, err, sizeof(err)) < 0) {
        fprintf(stderr, "hangtight-worker: --redis-url: %s\n", err);
        return 2;
    }

    /* Signals are taken synchronously by the main thread (sigtimedwait);
     * every thread started below inherits the mask.  SIGPIPE is ignored:
     * a child that does not read its stdin must not kill us. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (ht_parts_init(&w.parts, HT_QUEUE_DEFAULT, (unsigned)w.partitions) < 0 || make_id(&w) < 0 ||
        ht_registry_add_builtins() < 0 || load_handlers(&w) < 0)
        goto out;
    if (connect_redis(&w, &store, &sigs) < 0)
        goto out;
    if (start_threads(&w) < 0) {
        atomic_store(&w.draining, 1);
        goto stop;
    }
    log_ready(&w);
    joinable = run_until_signal(&w, store, &sigs);
    status = 0;
stop:
    atomic_store(&w.draining, 1);
    if (!joinable) {
        ht_log(HT_LOG_WARN, "worker stopped (some handlers abandoned)", NULL);
        exit(status); /* cannot free what stuck threads still use */
    }
    for (long i = 0; w.slots && i < w.concurrency; i++)
        if (w.slots[i].started)
            pthread_join(w.slots[i].thread, NULL);
    /* After the slots: the callbacks of jobs finished while draining go out. */
    ht_webhook_stop(&w);
    ht_lease_stop(&w);
    ht_cancel_stop(&w);
    ht_log(HT_LOG_INFO, "worker stopped", NULL);
out:
    for (long i = 0; w.slots && i < w.concurrency; i++)
        pthread_mutex_destroy(&w.slots[i].mu);
    free(w.slots);
    w.slots = NULL;
    ht_store_close(store);
    ht_handlers_config_clear(&w.handlers);
    ht_registry_clear();
    ht_parts_clear(&w.parts);
    ht_tsecrets_clear();
    return status;
}
