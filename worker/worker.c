/* The worker process: options, startup (Redis, schema, handler types),
 * the threads (state.h lists them), and the drain on SIGTERM/SIGINT.
 *
 * Drain: the first signal stops claiming and waits up to --drain-timeout-s
 * for running jobs to finish; then (or at once on a second signal) the
 * remaining handlers are told to stop and their jobs are handed back to the
 * queue without counting the attempt.  The webhook thread stops last: the
 * delivery in flight is finished.  Exit status 0. */
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
#include "worker/cancel.h"
#include "worker/dispatch.h"
#include "worker/files.h"
#include "worker/handler.h"
#include "worker/handlers_config.h"
#include "worker/job_ctx.h"
#include "worker/lease.h"
#include "worker/loop.h"
#include "worker/persistent.h"
#include "worker/pool.h"
#include "worker/registry.h"
#include "worker/state.h"
#include "worker/tenant_secrets.h"
#include "worker/webhook.h"

#define CONNECT_PATIENCE_MS 30000
/* After stopping handlers at the end of a drain, how long to wait for them
 * (the exec handler's SIGKILL comes 5 s after its SIGTERM). */
#define STOP_GRACE_MS 10000

/* The process: its options and its parts. */
typedef struct {
    long drain_timeout_s;
    long partitions; /* HANGTIGHT_PARTITIONS: this process' N */
    const char *redis_url;
    const char *handlers_path;
    const char *log_level;
    const char *webhook_secret; /* "whsec_..." list; NULL: deliveries unsigned */
    int allow_eviction;         /* start on a Redis that may evict keys (warn only) */
    ht_blob_settings_t blobs;   /* the blob store of file jobs (files.h) */

    ht_wstate_t st;
    ht_handlers_config_t handlers;
    ht_lease_t lease;
    ht_cancel_t cancel;
    ht_webhooks_t webhooks;
    ht_pools_t *pools; /* the persistent handlers' processes */
    char *types;       /* the registered types, space-separated: what the slots claim */
} ht_worker_t;

static const char *const worker_synopsis = "[options]";

static int parse_options(ht_worker_t *w, int argc, char **argv)
{
    const ht_option_t opts[] = {
        {"concurrency", "HANGTIGHT_CONCURRENCY", HT_OPT_INT, "4", "run up to N jobs at once", 1,
         1024, &w->st.concurrency},
        {"redis-url", "HANGTIGHT_REDIS_URL", HT_OPT_STRING, "redis://127.0.0.1:6379",
         "Redis to use: URL (redis://host:port/db or unix:///path)", 0, 0, &w->redis_url},
        {"handlers", "HANGTIGHT_HANDLERS", HT_OPT_STRING, NULL,
         "handlers file: FILE (JSON: exec and persistent handlers, docs/handlers.md)", 0, 0,
         &w->handlers_path},
        {"drain-timeout-s", "HANGTIGHT_DRAIN_TIMEOUT_S", HT_OPT_INT, "30",
         "when draining (SIGTERM), wait up to SECONDS for running jobs, then hand them back", 0,
         86400, &w->drain_timeout_s},
        {"retry-base-ms", "HANGTIGHT_RETRY_BASE_MS", HT_OPT_INT, "1000",
         "backoff of a failed attempt: the Nth retry waits a random 0..MS*2^(N-1) ms", 0, 3600000,
         &w->st.retry_base_ms},
        {"retry-max-ms", "HANGTIGHT_RETRY_MAX_MS", HT_OPT_INT, "600000",
         "cap of the retry backoff in MS", 0, 86400000, &w->st.retry_max_ms},
        {"webhook-secret", "HANGTIGHT_WEBHOOK_SECRET", HT_OPT_STRING, NULL,
         "sign callbacks with SECRETS: whsec_<base64> items, comma- or space-separated "
         "(one signature each, for rotation)",
         0, 0, &w->webhook_secret},
        {"webhook-retry-base-ms", "HANGTIGHT_WEBHOOK_RETRY_BASE_MS", HT_OPT_INT, "5000",
         "backoff of a failed callback: the Nth retry waits a random 0..MS*2^(N-1) ms", 0, 3600000,
         &w->webhooks.webhook_retry_base_ms},
        {"webhook-max-attempts", "HANGTIGHT_WEBHOOK_MAX_ATTEMPTS", HT_OPT_INT, "8",
         "give a callback up after N attempts", 1, 100, &w->webhooks.webhook_max_attempts},
        {"webhook-timeout-ms", "HANGTIGHT_WEBHOOK_TIMEOUT_MS", HT_OPT_INT, "10000",
         "a callback attempt may take up to MS in all (connecting at most 5000 of them)", 100,
         600000, &w->webhooks.webhook_timeout_ms},
        {"webhook-allow-private", "HANGTIGHT_WEBHOOK_ALLOW_PRIVATE", HT_OPT_FLAG, NULL,
         "let callbacks reach private, loopback and other non-public addresses "
         "(development and tests only)",
         0, 0, &w->webhooks.webhook_allow_private},
        {"lease-ms", "HANGTIGHT_LEASE_MS", HT_OPT_INT, "10000",
         "a claimed job stays ours MS without a renewal (renewed every third of it): a dead "
         "worker's job runs again about MS + 1 s later",
         1000, 600000, &w->st.claimer.lease_ms},
        {"timeout-grace-ms", "HANGTIGHT_TIMEOUT_GRACE_MS", HT_OPT_INT, "30000",
         "an attempt still running MS past its timeout_s is ended as timed out in Redis, "
         "whatever its worker says (keep it above the exec handler's 5 s kill grace)",
         1000, 3600000, &w->st.claimer.grace_ms},
        {"counts-every-ms", "HANGTIGHT_COUNTS_EVERY_MS", HT_OPT_INT, "1000",
         "send the counts of the jobs this worker ran (started, outcomes, wait and run times) "
         "to Redis every MS, and when it stops: /metrics and the totals trail by up to MS",
         100, 600000, &w->st.counts_every_ms},
        {"partitions", "HANGTIGHT_PARTITIONS", HT_OPT_INT, "1",
         "the queue's N partitions (issue 10; the same N for api, workers and CLI, see the "
         "README on changing it)",
         1, HT_PARTITIONS_MAX, &w->partitions},
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
        HT_BLOB_OPTIONS(w->blobs),
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
        rc = ht_webhook_secrets_parse(w->webhook_secret, &w->webhooks.webhook_secrets, err,
                                      sizeof(err));
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
    snprintf(w->st.id, sizeof(w->st.id), "%s:%ld:%02x%02x%02x", host, (long)getpid(), r[0], r[1],
             r[2]);
    w->st.claimer.worker_id = w->st.id;
    return 0;
}

/* Loads the handler file and registers its types (exec and persistent). */
static int load_handlers(ht_worker_t *w)
{
    if (!w->handlers_path || !*w->handlers_path)
        return 0;
    char err[512];
    int rc = ht_handlers_config_load(&w->handlers, w->handlers_path, err, sizeof(err));
    if (rc == 0 && (rc = ht_pools_new(&w->pools, &w->handlers, w->st.concurrency)) < 0)
        snprintf(err, sizeof(err), "%s: %s", w->handlers_path, ht_strerror(rc));
    w->lease.pools = w->pools;
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
        for (size_t k = 0; k < h->n_env_pass; k++)
            if (!getenv(h->env_pass[k]))
                ht_log(HT_LOG_WARN, "env_pass names a variable the worker does not have", "type",
                       h->type, "name", h->env_pass[k], NULL);
        if (h->mode == HT_HANDLER_PERSISTENT)
            rc = ht_registry_add_raw(h->type, ht_persistent_run, ht_pools_pool_of(w->pools, h));
        else
            rc = ht_registry_add_raw(h->type, ht_exec_run, h);
        if (rc < 0) {
            snprintf(err, sizeof(err), "%s: handlers.%s: %s", w->handlers_path, h->type,
                     rc == HT_EEXIST ? "the type is already served by a linked-in handler"
                                     : ht_strerror(rc));
            ht_log(HT_LOG_ERROR, "bad handler config", "error", err, NULL);
            return rc;
        }
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
        rc = ht_store_open(&s, &w->st.url, HT_WORKER_REDIS_TIMEOUT_MS);
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
    if ((rc = ht_lease_register(&w->lease, s)) < 0)
        goto fail;
    /* Record our N and serve every N recorded: jobs made under an earlier
     * N still run (README "Partitions"). */
    if ((rc = ht_parts_sync(&w->st.parts, s, 1)) < 0)
        goto fail;
    *out = s;
    return 0;
fail:
    ht_log(HT_LOG_ERROR, "cannot start", "error", s ? ht_store_errstr(s) : ht_strerror(rc), NULL);
    ht_store_close(s);
    return rc;
}

/* Last resort when a handler ignores its stop request: hand its job back
 * from here and leave without joining its thread. */
static void abandon_stuck_slots(ht_worker_t *w, ht_store_t *store)
{
    for (long i = 0; i < w->st.concurrency; i++) {
        ht_slot_t *slot = &w->st.slots[i];
        pthread_mutex_lock(&slot->mu);
        ht_job_t held = slot->held;
        int busy = slot->busy;
        pthread_mutex_unlock(&slot->mu);
        if (!busy)
            continue;
        ht_keys_t scratch;
        const ht_keys_t *k = ht_wstate_keys_of(&w->st, held.id, &scratch);
        int rc = k ? ht_store_release(store, k, &held) : HT_EINVAL;
        /* A connection idle since start-up may be dead (Redis restarted):
         * the failed call dropped it and the next connects again. */
        for (int try = 0; k && rc < 0 && rc != HT_ESTALE && try < 2; try++)
            rc = ht_store_release(store, k, &held);
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
    atomic_store(&w->st.draining, 1);
    ht_dispatch_drain(w->st.dispatch);
    char secs[16];
    snprintf(secs, sizeof(secs), "%ld", w->drain_timeout_s);
    ht_log(HT_LOG_INFO, "draining: no new jobs; waiting for running ones", "timeout_s", secs, NULL);
    int64_t deadline = ht_mono_ms() + w->drain_timeout_s * 1000;
    while (!ht_wstate_all_exited(&w->st) && ht_mono_ms() < deadline) {
        if (wait_signal(sigs, 100)) {
            ht_log(HT_LOG_INFO, "second signal: handing running jobs back now", NULL);
            break;
        }
    }
    if (ht_wstate_all_exited(&w->st))
        return 1;
    ht_wstate_stop_busy(&w->st, HT_STOP_DRAIN);
    deadline = ht_mono_ms() + STOP_GRACE_MS;
    while (!ht_wstate_all_exited(&w->st) && ht_mono_ms() < deadline)
        wait_signal(sigs, 100);
    if (ht_wstate_all_exited(&w->st))
        return 1;
    abandon_stuck_slots(w, store);
    return 0;
}

static int start_threads(ht_worker_t *w)
{
    ht_wstate_t *st = &w->st;
    st->slots = calloc((size_t)st->concurrency, sizeof(*st->slots));
    if (!st->slots)
        return HT_ENOMEM;
    for (long i = 0; i < st->concurrency; i++) {
        st->slots[i].st = st;
        st->slots[i].index = (int)i;
        pthread_mutex_init(&st->slots[i].mu, NULL);
    }
    /* The handler processes first: they start while the rest connects.
     * The cancel listener next, so that it is usually subscribed before the
     * first claim (a cancel it misses is still caught by the lease renewal). */
    int rc = w->pools ? ht_pools_start(w->pools) : 0;
    if (rc == 0)
        rc = ht_cancel_start(&w->cancel);
    if (rc == 0)
        rc = ht_lease_start(&w->lease);
    if (rc == 0)
        rc = ht_webhook_start(&w->webhooks);
    if (rc == 0)
        rc = ht_dispatch_start(&st->dispatch, st);
    for (long i = 0; rc == 0 && i < st->concurrency; i++)
        rc = ht_slot_start(&st->slots[i]);
    if (rc < 0)
        ht_log(HT_LOG_ERROR, "cannot start threads", "error", ht_strerror(rc), NULL);
    return rc;
}

/* The claim takes the registered types only (st->claimer.types), so a job
 * of a type this worker has no handler for stays queued for one that has. */
static int claim_types(ht_worker_t *w)
{
    size_t n, len = 1;
    const char *const *types = ht_registry_names(&n);
    for (size_t i = 0; i < n; i++)
        len += strlen(types[i]) + 1;
    if (!(w->types = malloc(len)))
        return HT_ENOMEM;
    size_t used = 0;
    w->types[0] = '\0';
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(w->types + used, len - used, "%s%s", i ? " " : "", types[i]);
    w->st.claimer.types = w->types;
    return 0;
}

static void log_ready(const ht_worker_t *w)
{
    size_t n;
    const char *const *types = ht_registry_names(&n);
    char list[2048] = "", conc[16], parts[16], served[16], lease[24];
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof(list); i++)
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? "," : "", types[i]);
    snprintf(conc, sizeof(conc), "%ld", w->st.concurrency);
    snprintf(parts, sizeof(parts), "%u", w->st.parts.n);
    snprintf(served, sizeof(served), "%zu", w->st.parts.count);
    snprintf(lease, sizeof(lease), "%ld", w->st.claimer.lease_ms);
    ht_log(HT_LOG_INFO, "worker ready", "worker", w->st.id, "concurrency", conc, "types", list,
           "partitions", parts, "partitions_served", served, "lease_ms", lease, NULL);
}

int ht_worker_main(int argc, char **argv)
{
    static ht_worker_t w; /* static: stuck threads may outlive main's frame */
    ht_wstate_t *st = &w.st;
    ht_store_t *store = NULL;
    int status = 1, joinable = 1;
    sigset_t sigs;

    w.lease.st = st;
    w.cancel.st = st;
    w.webhooks.st = st;
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
    if (ht_redis_url_parse(w.redis_url, &st->url, err, sizeof(err)) < 0) {
        fprintf(stderr, "hangtight-worker: --redis-url: %s\n", err);
        return 2;
    }
    ht_files_configure(&w.blobs);
    if (ht_files_check(err, sizeof(err)) < 0) {
        fprintf(stderr, "hangtight-worker: --blob-store: %s\n", err);
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

    if (ht_parts_init(&st->parts, HT_QUEUE_DEFAULT, (unsigned)w.partitions) < 0 ||
        make_id(&w) < 0 || ht_counts_new(&st->counts, st->id) < 0 ||
        ht_registry_add_builtins() < 0 || load_handlers(&w) < 0 || claim_types(&w) < 0)
        goto out;
    if (connect_redis(&w, &store, &sigs) < 0)
        goto out;
    if (start_threads(&w) < 0) {
        atomic_store(&st->draining, 1);
        goto stop;
    }
    log_ready(&w);
    joinable = run_until_signal(&w, store, &sigs);
    status = 0;
stop:
    atomic_store(&st->draining, 1);
    ht_dispatch_drain(st->dispatch);
    if (!joinable) {
        ht_lease_stop(&w.lease); /* sends the last counters */
        ht_log(HT_LOG_WARN, "worker stopped (some handlers abandoned)", NULL);
        exit(status); /* cannot free what stuck threads still use */
    }
    for (long i = 0; st->slots && i < st->concurrency; i++)
        ht_wthread_join(&st->slots[i].thread);
    /* After the slots (no outcome is handed over any more), before the
     * lease thread sends the last counts. */
    ht_dispatch_stop(st->dispatch);
    st->dispatch = NULL;
    /* No job runs any more: the handler processes can go. */
    ht_pools_stop(w.pools);
    /* After the slots: the callbacks of jobs finished while draining go out. */
    ht_webhook_stop(&w.webhooks);
    ht_lease_stop(&w.lease);
    ht_cancel_stop(&w.cancel);
    ht_log(HT_LOG_INFO, "worker stopped", NULL);
out:
    for (long i = 0; st->slots && i < st->concurrency; i++)
        pthread_mutex_destroy(&st->slots[i].mu);
    free(st->slots);
    st->slots = NULL;
    ht_store_close(store);
    ht_pools_free(w.pools);
    w.pools = NULL;
    ht_handlers_config_clear(&w.handlers);
    free(w.types);
    w.types = NULL;
    st->claimer.types = NULL;
    ht_registry_clear();
    ht_parts_clear(&st->parts);
    ht_tsecrets_clear();
    ht_counts_free(st->counts);
    st->counts = NULL;
    return status;
}
