/* hangtight-api: reads the configuration, checks Redis and the keyspace,
 * starts the server threads and waits for SIGTERM or SIGINT.  Only wiring
 * here; the server is api/server.c. */
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/bgthread.h"
#include "shared/blob.h"
#include "shared/clock.h"
#include "shared/config.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/partition_store.h"
#include "shared/redis_url.h"
#include "shared/secretbox.h"
#include "shared/store.h"

#include "api/auth.h"
#include "api/files.h"
#include "api/listen.h"
#include "api/server.h"
#include "api/sweeper.h"
#include "api/tenants.h"

/* Redis may start after us (compose, the run script): keep trying this long. */
#define STARTUP_RETRY_MS       30000
#define STARTUP_RETRY_PAUSE_MS 500
#define CONNECT_TIMEOUT_MS     2000

static const char *opt_listen, *opt_redis_url, *opt_log_level;
static long opt_threads, opt_max_body, opt_heartbeat_ms, opt_max_wait_s, opt_failed_ttl_s;
static int opt_webhook_allow_private, opt_allow_eviction, opt_log_every_job;
static long opt_request_timeout_ms, opt_max_url_bytes, opt_max_header_bytes; /* api/guard.h */
static const char *opt_api_keys_file, *opt_rate_limit; /* api/auth.h, router.c */
static const char *opt_operator_keys_file;             /* api/auth.h */
/* The HTTP worker API (api/worker_api.h). */
static const char *opt_worker_keys_file;
static long opt_lease_ms, opt_grace_ms, opt_retry_base_ms, opt_retry_max_ms, opt_worker_ttl_s;
static long opt_max_held_per_tenant, opt_max_streams_per_tenant;
static int opt_metrics_public, opt_insecure_open, opt_generate_key;
static long opt_partitions;
static ht_parts_t parts;            /* shared/partition.h: read-only once the threads run */
static int opt_access_log;          /* api/access_log.h */
static ht_blob_settings_t opt_blob; /* api/files.h */
static long opt_max_upload, opt_file_threads, opt_blob_sweep_s, opt_blob_grace_s;
static const char *opt_spool_dir;
static long opt_max_connections, opt_max_streams_per_conn, opt_max_inflight; /* api/inflight.h */
static long opt_max_inflight_per_tenant, opt_max_inflight_per_conn, opt_max_resets;
static const char *opt_h2c;
static long opt_wait_replicas, opt_wait_timeout_ms; /* durable submits, api/jobs.c */
static int opt_schedule_seconds;                    /* api/schedules.c */

/* Tenants' webhook secrets (api/webhook_secrets.c). */
static const char *opt_secrets_key;
static long opt_webhook_rotation_s;
static ht_secretbox_keys_t secrets_keys;

static const ht_option_t options[] = {
    {"listen", "HANGTIGHT_LISTEN", HT_OPT_STRING, "127.0.0.1:8080",
     "ADDR to listen on: host:port, [v6addr]:port, or :port for every IPv4 interface", 0, 0,
     &opt_listen},
    {"redis-url", "HANGTIGHT_REDIS_URL", HT_OPT_STRING, "redis://127.0.0.1:6379",
     "URL of Redis: redis://[[user]:password@]host[:port][/db] or unix:///path", 0, 0,
     &opt_redis_url},
    {"threads", "HANGTIGHT_THREADS", HT_OPT_INT, NULL,
     "N event-loop threads (default: the number of cores)", 0, 1024, &opt_threads},
    {"max-body-bytes", "HANGTIGHT_MAX_BODY_BYTES", HT_OPT_INT, "1048576",
     "the largest request body in BYTES (larger: 413 problem+json)", 1, 1L << 30, &opt_max_body},
    {"heartbeat-ms", "HANGTIGHT_HEARTBEAT_MS", HT_OPT_INT, "10000",
     "default interval in MS of 102 Processing heartbeats (sync waits) and SSE comments", 100,
     3600000, &opt_heartbeat_ms},
    {"max-wait-s", "HANGTIGHT_MAX_WAIT_S", HT_OPT_INT, "600",
     "cap in SECONDS on Prefer: wait=N (sync submits and long polls)", 0, 86400, &opt_max_wait_s},
    {"failed-ttl-s", "HANGTIGHT_FAILED_TTL_S", HT_OPT_INT, "604800",
     "SECONDS a failed job (a dead letter) is kept at least, whatever its ttl_s", 1, 30L * 86400,
     &opt_failed_ttl_s},
    {"log-every-job", "HANGTIGHT_LOG_EVERY_JOB", HT_OPT_FLAG, NULL,
     "keep the event log and publish the changes of every job submitted here, not only of the "
     "jobs some request watches (a full history and exact SSE resumes at any time, for more "
     "Redis work and memory per job)",
     0, 0, &opt_log_every_job},
    {"webhook-allow-private", "HANGTIGHT_WEBHOOK_ALLOW_PRIVATE", HT_OPT_FLAG, NULL,
     "accept a callback_url naming a private or loopback address (development, tests)", 0, 0,
     &opt_webhook_allow_private},
    {"request-timeout-ms", "HANGTIGHT_REQUEST_TIMEOUT_MS", HT_OPT_INT, "10000",
     "MS a client has to send a request head and body (slower: connection closed)", 100, 3600000,
     &opt_request_timeout_ms},
    {"max-url-bytes", "HANGTIGHT_MAX_URL_BYTES", HT_OPT_INT, "8192",
     "the longest request target in BYTES (longer: 414 problem+json)", 64, 262144,
     &opt_max_url_bytes},
    {"max-header-bytes", "HANGTIGHT_MAX_HEADER_BYTES", HT_OPT_INT, "32768",
     "the largest request head in BYTES (larger: 431 problem+json)", 1024, 262144,
     &opt_max_header_bytes},
    {"api-keys-file", "HANGTIGHT_API_KEYS_FILE", HT_OPT_STRING, NULL,
     "PATH of the API keys file (tenant:key or tenant:sha256:<hex> lines; reread on SIGHUP); "
     "unset: the api is open, every request is tenant 'default'",
     0, 0, &opt_api_keys_file},
    {"operator-keys-file", "HANGTIGHT_OPERATOR_KEYS_FILE", HT_OPT_STRING, NULL,
     "PATH of the operator keys file (name:key or name:sha256:<hex> lines, reread on SIGHUP): "
     "the keys that pause and resume, set caps, see every tenant and read /metrics; no tenant "
     "key reaches those, and with keys but no operator keys nobody does",
     0, 0, &opt_operator_keys_file},
    {"generate-api-key", "HANGTIGHT_GENERATE_API_KEY", HT_OPT_FLAG, NULL,
     "when the API keys file does not exist, create it with one new key of tenant 'default' "
     "and log that key once (the container image's default)",
     0, 0, &opt_generate_key},
    {"rate-limit", "HANGTIGHT_RATE_LIMIT", HT_OPT_STRING, NULL,
     "RATE[:BURST] requests per second per tenant, shared by every api process through Redis "
     "(over it: 429 with Retry-After); BURST defaults to RATE; unset: no limit",
     0, 0, &opt_rate_limit},
    {"max-held-per-tenant", "HANGTIGHT_MAX_HELD_PER_TENANT", HT_OPT_INT, "1000",
     "N held sync requests and long polls per tenant in this process (more: 429); 0: no cap", 0,
     1000000, &opt_max_held_per_tenant},
    {"max-streams-per-tenant", "HANGTIGHT_MAX_STREAMS_PER_TENANT", HT_OPT_INT, "100",
     "N SSE streams per tenant in this process (more: 429); 0: no cap", 0, 1000000,
     &opt_max_streams_per_tenant},
    {"metrics-public", "HANGTIGHT_METRICS_PUBLIC", HT_OPT_FLAG, NULL,
     "serve /metrics without a key even when keys are configured (else it takes an operator "
     "key)",
     0, 0, &opt_metrics_public},
    {"insecure-open", "HANGTIGHT_INSECURE_OPEN", HT_OPT_FLAG, NULL,
     "serve with no API keys file on an address beyond loopback (anyone who can reach it "
     "submits and reads jobs as tenant 'default'); without it such an api refuses to start",
     0, 0, &opt_insecure_open},
    {"access-log", "HANGTIGHT_ACCESS_LOG", HT_OPT_FLAG, NULL,
     "log one JSON line per finished request (method, path, status, bytes, ms, request id)", 0, 0,
     &opt_access_log},
    {"log-level", "HANGTIGHT_LOG_LEVEL", HT_OPT_STRING, "info",
     "LEVEL of the least important log line written: debug, info, warn, error", 0, 0,
     &opt_log_level},
    {"allow-eviction", "HANGTIGHT_ALLOW_EVICTION", HT_OPT_FLAG, NULL,
     "start even if Redis' maxmemory-policy may evict job keys (logs a loud warning)", 0, 0,
     &opt_allow_eviction},
    HT_BLOB_OPTIONS(opt_blob),
    {"max-upload-bytes", "HANGTIGHT_MAX_UPLOAD_BYTES", HT_OPT_INT, "5368709120",
     "the largest file a job may take in BYTES (larger: 413 problem+json, before the body is "
     "read when Content-Length says so)",
     1, 1L << 40, &opt_max_upload},
    {"upload-spool-dir", "HANGTIGHT_UPLOAD_SPOOL_DIR", HT_OPT_STRING, NULL,
     "DIR where request bodies over 512 KiB wait while they arrive (a disk, not tmpfs; "
     "unset: a dir: store's tmp/, else HANGTIGHT_BLOB_TMPDIR, $TMPDIR or /var/tmp)",
     0, 0, &opt_spool_dir},
    {"file-threads", "HANGTIGHT_FILE_THREADS", HT_OPT_INT, "8",
     "N threads per api process for blob store calls (file copies, reads, deletes)", 1, 128,
     &opt_file_threads},
    {"blob-sweep-s", "HANGTIGHT_BLOB_SWEEP_S", HT_OPT_INT, "3600",
     "SECONDS between two sweeps of the blob store for files no job names (one api sweeps "
     "at a time)",
     1, 30L * 86400, &opt_blob_sweep_s},
    {"blob-grace-s", "HANGTIGHT_BLOB_GRACE_S", HT_OPT_INT, "3600",
     "SECONDS a file no job names is kept before the sweep removes it", 1, 30L * 86400,
     &opt_blob_grace_s},
    {"max-connections", "HANGTIGHT_MAX_CONNECTIONS", HT_OPT_INT, "20000",
     "N connections this process serves at once (more: closed at accept); 0: no cap", 0, 10000000,
     &opt_max_connections},
    {"max-streams-per-connection", "HANGTIGHT_MAX_STREAMS_PER_CONNECTION", HT_OPT_INT, "100",
     "N requests one HTTP/2 connection runs at once (the rest of its streams wait)", 1, 100,
     &opt_max_streams_per_conn},
    {"max-inflight", "HANGTIGHT_MAX_INFLIGHT", HT_OPT_INT, "10000",
     "N Redis calls of requests in flight in this process (more: 503 at once); 0: no cap", 0,
     10000000, &opt_max_inflight},
    {"max-inflight-per-tenant", "HANGTIGHT_MAX_INFLIGHT_PER_TENANT", HT_OPT_INT, "2000",
     "N Redis calls of one tenant's requests in flight in this process (more: 429 at once); "
     "0: no cap",
     0, 10000000, &opt_max_inflight_per_tenant},
    {"max-inflight-per-connection", "HANGTIGHT_MAX_INFLIGHT_PER_CONNECTION", HT_OPT_INT, "200",
     "N Redis calls of one connection's requests in flight (more: 503 at once); 0: no cap", 0,
     10000000, &opt_max_inflight_per_conn},
    {"max-resets", "HANGTIGHT_MAX_RESETS", HT_OPT_INT, "100",
     "N requests a connection may abandon (HTTP/2 stream resets) in 10 s; one more closes the "
     "connection; 0: no limit",
     0, 10000000, &opt_max_resets},
    {"h2c", "HANGTIGHT_H2C", HT_OPT_STRING, "on",
     "on|off: serve cleartext HTTP/2 (prior knowledge and Upgrade: h2c); off: HTTP/1.x only", 0, 0,
     &opt_h2c},
    {"wait-replicas", "HANGTIGHT_WAIT_REPLICAS", HT_OPT_INT, "0",
     "N replicas that must acknowledge a submit (Redis WAIT) before its answer; not in time: "
     "503; 0: answer once the master has it",
     0, 16, &opt_wait_replicas},
    {"wait-timeout-ms", "HANGTIGHT_WAIT_TIMEOUT_MS", HT_OPT_INT, "1000",
     "MS a submit waits for --wait-replicas acknowledgements", 1, 60000, &opt_wait_timeout_ms},
    {"schedule-seconds", "HANGTIGHT_SCHEDULE_SECONDS", HT_OPT_FLAG, NULL,
     "for tests: cron expressions of new schedules may have a leading seconds field, so a "
     "schedule can run every second",
     0, 0, &opt_schedule_seconds},
    {"partitions", "HANGTIGHT_PARTITIONS", HT_OPT_INT, "1",
     "the queue's N partitions (the same N for api, workers and CLI; see the README on "
     "changing it)",
     1, HT_PARTITIONS_MAX, &opt_partitions},
    {"secrets-key", "HANGTIGHT_SECRETS_KEY", HT_OPT_STRING, NULL,
     "KEYS that seal tenants' webhook secrets in Redis (AES-256-GCM): 32 bytes as 64 hex digits "
     "or base64, comma-separated, the first sealing; the workers need the same; unset: POST "
     "/v1/webhook-secrets answers 501 (set it in the environment, not as a flag)",
     0, 0, &opt_secrets_key},
    {"webhook-rotation-s", "HANGTIGHT_WEBHOOK_ROTATION_S", HT_OPT_INT, "86400",
     "SECONDS a tenant's previous webhook secrets keep signing beside a new one", 0, 30L * 86400,
     &opt_webhook_rotation_s},
    {"worker-keys-file", "HANGTIGHT_WORKER_KEYS_FILE", HT_OPT_STRING, NULL,
     "PATH of the worker keys file of the HTTP worker API (name:key or name:sha256:<hex> lines; "
     "reread on SIGHUP): those keys claim and settle jobs of every tenant and do nothing else; "
     "unset: the worker API is open when the api is, closed when other keys are set",
     0, 0, &opt_worker_keys_file},
    {"lease-ms", "HANGTIGHT_LEASE_MS", HT_OPT_INT, "10000",
     "the lease in MS of a claim of the HTTP worker API, renewed by its progress calls: a remote "
     "worker's job runs again about MS + 1 s after its last renewal (as hangtight-worker's)",
     1000, 600000, &opt_lease_ms},
    {"timeout-grace-ms", "HANGTIGHT_TIMEOUT_GRACE_MS", HT_OPT_INT, "30000",
     "a remote worker's attempt still running MS past its timeout_s is ended as timed out (as "
     "hangtight-worker's)",
     1000, 3600000, &opt_grace_ms},
    {"retry-base-ms", "HANGTIGHT_RETRY_BASE_MS", HT_OPT_INT, "1000",
     "backoff of an attempt a remote worker failed: the Nth retry waits a random "
     "0..MS*2^(N-1) ms (as hangtight-worker's)",
     0, 3600000, &opt_retry_base_ms},
    {"retry-max-ms", "HANGTIGHT_RETRY_MAX_MS", HT_OPT_INT, "600000",
     "cap of that backoff in MS", 0, 86400000, &opt_retry_max_ms},
    {"worker-ttl-s", "HANGTIGHT_WORKER_TTL_S", HT_OPT_INT, "600",
     "SECONDS a remote worker is remembered after its last claim (its record, the types only "
     "remote workers serve); while one claimed within it, the api also requeues expired leases "
     "and promotes due jobs",
     1, 86400, &opt_worker_ttl_s},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Connects and checks Redis: its eviction policy, the partitions (our N
 * recorded, every N recorded served: README "Partitions"), the keyspace
 * version.  Any step that finds Redis unreachable or not answering
 * (HT_EREDIS: not up yet, LOADING, stopped) starts over, for up to
 * STARTUP_RETRY_MS, with one "waiting for redis" line saying why.
 * Returns 0, or logs why not and returns a negative code. */
static int check_redis(const ht_redis_url_t *url)
{
    int64_t deadline = ht_now_ms() + STARTUP_RETRY_MS;
    int warned = 0, rc;
    ht_store_t *st = NULL;
    for (;;) {
        rc = ht_store_open(&st, url, CONNECT_TIMEOUT_MS);
        if (rc == 0)
            rc = ht_store_check_eviction(st, opt_allow_eviction);
        if (rc == 0)
            rc = ht_parts_sync(&parts, st, 1);
        if (rc == 0)
            rc = ht_store_check_schema(st);
        if (rc != HT_EREDIS || ht_now_ms() >= deadline)
            break;
        if (!warned++)
            ht_log(HT_LOG_WARN, "waiting for redis", "detail", ht_store_errstr(st), NULL);
        ht_store_close(st);
        st = NULL;
        pause_ms(STARTUP_RETRY_PAUSE_MS);
    }
    if (rc == HT_ESCHEMA)
        ht_log(HT_LOG_ERROR, ht_store_errstr(st), NULL);
    else if (rc < 0)
        ht_log(HT_LOG_ERROR, "cannot use redis", "detail", ht_store_errstr(st), NULL);
    else if (warned)
        ht_log(HT_LOG_INFO, "redis answers", NULL);
    ht_store_close(st);
    return rc;
}

/* Re-records the api's N every minute, like the workers (worker/lease.c):
 * a `hangtight partitions --retire` run after the start must still see
 * that an api of this N is running.  Its own blocking connection, away
 * from the event loops. */
#define RECORD_EVERY_MS 60000
static ht_bgthread_t recorder = HT_BGTHREAD_INIT;

static void *recorder_main(void *arg)
{
    const ht_redis_url_t *url = arg;
    ht_store_t *st = NULL;
    while (!ht_bgthread_nap(&recorder, RECORD_EVERY_MS)) {
        int rc = st ? 0 : ht_store_open(&st, url, CONNECT_TIMEOUT_MS);
        if (rc == 0)
            rc = ht_parts_record(&parts, st);
        if (rc < 0) { /* tried again next minute, on a new connection */
            ht_log(HT_LOG_WARN, "cannot re-record the partitions", "detail",
                   st ? ht_store_errstr(st) : ht_strerror(rc), NULL);
            ht_store_close(st);
            st = NULL;
        }
    }
    ht_store_close(st);
    return NULL;
}

static void recorder_start(const ht_redis_url_t *url)
{
    if (ht_bgthread_start(&recorder, recorder_main, (void *)url) < 0)
        ht_log(HT_LOG_WARN, "partitions are recorded only at start (no thread)", NULL);
}

/* "RATE[:BURST]" of --rate-limit (NULL or "": no limit). */
static int parse_rate(const char *s, double *rate, long *burst)
{
    *rate = 0;
    *burst = 0;
    if (!s || !s[0])
        return 0;
    char *end;
    errno = 0;
    *rate = strtod(s, &end);
    if (errno || end == s || !(*rate > 0) || *rate > 1e6)
        return -1;
    double b = *rate;
    if (*end == ':') {
        const char *p = end + 1;
        b = strtod(p, &end);
        if (errno || end == p || !(b >= 1) || b > 1e7)
            return -1;
    }
    if (*end)
        return -1;
    *burst = b < 1 ? 1 : (long)b;
    return 0;
}

/* Blocks SIGINT and SIGTERM in every thread (the server threads inherit the
 * mask) so that only sigwait() below sees them. */
static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP); /* reload the keys files */
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return */
}

int main(int argc, char **argv)
{
    char err[512];
    int first;
    int rc = ht_options_parse(options, N_OPTIONS, argc, argv, &first, err, sizeof(err));
    if (rc == 1) {
        ht_options_usage(stdout, "hangtight-api", "[options]", options, N_OPTIONS);
        return 0;
    }
    if (rc < 0 || first < argc) {
        fprintf(stderr, "hangtight-api: %s\n", rc < 0 ? err : "unexpected argument (see --help)");
        return 2;
    }
    ht_log_level_t level;
    if (ht_log_level_parse(opt_log_level, &level) < 0) {
        fprintf(stderr, "hangtight-api: --log-level: '%s' is not debug, info, warn or error\n",
                opt_log_level);
        return 2;
    }
    ht_log_init("api", level);

    ht_api_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    if (ht_redis_url_parse(opt_redis_url, &cfg.redis, err, sizeof(err)) < 0 ||
        ht_listen_parse(opt_listen, &cfg.listen, err, sizeof(err)) < 0) {
        ht_log(HT_LOG_ERROR, err, NULL);
        return 1;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg.threads = opt_threads > 0 ? (size_t)opt_threads : (size_t)(cores > 0 ? cores : 1);
    cfg.max_body_bytes = (size_t)opt_max_body;
    cfg.heartbeat_ms = opt_heartbeat_ms;
    cfg.max_wait_s = opt_max_wait_s;
    cfg.failed_ttl_s = opt_failed_ttl_s;
    cfg.log_every_job = opt_log_every_job;
    cfg.webhook_allow_private = opt_webhook_allow_private;
    cfg.schedule_seconds = opt_schedule_seconds;
    cfg.request_timeout_ms = opt_request_timeout_ms;
    cfg.max_url_bytes = (size_t)opt_max_url_bytes;
    cfg.max_header_bytes = (size_t)opt_max_header_bytes;
    cfg.max_held_per_tenant = opt_max_held_per_tenant;
    cfg.max_streams_per_tenant = opt_max_streams_per_tenant;
    cfg.metrics_public = opt_metrics_public;
    cfg.access_log = opt_access_log;
    cfg.max_connections = opt_max_connections;
    cfg.max_streams_per_conn = opt_max_streams_per_conn;
    cfg.max_inflight = opt_max_inflight;
    cfg.max_inflight_per_tenant = opt_max_inflight_per_tenant;
    cfg.max_inflight_per_conn = opt_max_inflight_per_conn;
    cfg.max_resets = opt_max_resets;
    cfg.wait_replicas = opt_wait_replicas;
    cfg.wait_timeout_ms = opt_wait_timeout_ms;
    if (strcmp(opt_h2c, "on") != 0 && strcmp(opt_h2c, "off") != 0) {
        fprintf(stderr, "hangtight-api: --h2c: '%s' is not on or off\n", opt_h2c);
        return 2;
    }
    cfg.h2c = strcmp(opt_h2c, "on") == 0;
    cfg.webhook_rotation_s = opt_webhook_rotation_s;
    cfg.lease_ms = opt_lease_ms;
    cfg.grace_ms = opt_grace_ms;
    cfg.retry_base_ms = opt_retry_base_ms;
    cfg.retry_max_ms = opt_retry_max_ms;
    cfg.worker_ttl_s = opt_worker_ttl_s;
    rc = ht_secretbox_keys_parse(opt_secrets_key, &secrets_keys, err, sizeof(err));
    /* Wiped where it lies (environment or argv: /proc/<pid>/environ shows them). */
    if (opt_secrets_key)
        OPENSSL_cleanse((char *)opt_secrets_key, strlen(opt_secrets_key));
    if (rc < 0) {
        fprintf(stderr, "hangtight-api: --secrets-key: %s\n", err);
        return 2;
    }
    cfg.secrets_keys = secrets_keys.n ? &secrets_keys : NULL;
    if (!cfg.secrets_keys)
        ht_log(HT_LOG_INFO,
               "no HANGTIGHT_SECRETS_KEY: tenants cannot make their own webhook secrets", NULL);
    if (parse_rate(opt_rate_limit, &cfg.rate_per_s, &cfg.rate_burst) < 0) {
        fprintf(stderr,
                "hangtight-api: --rate-limit: '%s' is not RATE[:BURST] (positive numbers)\n",
                opt_rate_limit);
        return 2;
    }
    int open_mode = (!opt_api_keys_file || !opt_api_keys_file[0]) &&
                    (!opt_operator_keys_file || !opt_operator_keys_file[0]) &&
                    (!opt_worker_keys_file || !opt_worker_keys_file[0]);
    if (opt_generate_key) {
        char key[HT_AUTH_GENERATED_KEY_LEN + 1];
        if (!opt_api_keys_file || !opt_api_keys_file[0]) {
            ht_log(HT_LOG_ERROR, "--generate-api-key needs HANGTIGHT_API_KEYS_FILE", NULL);
            return 1;
        }
        rc = ht_auth_generate(opt_api_keys_file, key, err, sizeof(err));
        if (rc < 0) {
            ht_log(HT_LOG_ERROR, "cannot generate an API key", "detail", err, NULL);
            return 1;
        }
        if (rc == 1) {
            ht_log(HT_LOG_WARN,
                   "generated an API key for tenant 'default'; it is shown only this once "
                   "(send it as Authorization: Bearer <key>)",
                   "path", opt_api_keys_file, "key", key, NULL);
            OPENSSL_cleanse(key, sizeof(key));
        }
    }
    if (open_mode && !ht_listen_is_loopback(&cfg.listen) && !opt_insecure_open) {
        char addr[128];
        ht_listen_format(&cfg.listen, addr, sizeof(addr));
        ht_log(HT_LOG_ERROR,
               "refusing to serve an open api beyond loopback: set HANGTIGHT_API_KEYS_FILE, "
               "listen on 127.0.0.1, or pass --insecure-open (HANGTIGHT_INSECURE_OPEN=1)",
               "addr", addr, NULL);
        return 1;
    }
    cfg.host_check = open_mode && ht_listen_is_loopback(&cfg.listen);
    if (ht_auth_install(opt_api_keys_file, opt_operator_keys_file, opt_worker_keys_file, err,
                        sizeof(err)) < 0) {
        ht_log(HT_LOG_ERROR, "cannot load the API keys", "detail", err, NULL);
        return 1;
    }

    if (ht_parts_init(&parts, HT_QUEUE_DEFAULT, (unsigned)opt_partitions) < 0) {
        ht_log(HT_LOG_ERROR, "cannot set up the partitions", NULL);
        return 1;
    }
    cfg.parts = &parts;
    if (check_redis(&cfg.redis) < 0)
        return 1;
    ht_files_config_t files = {.blob = opt_blob,
                               .max_upload_bytes = (uint64_t)opt_max_upload,
                               .spool_dir = opt_spool_dir,
                               .threads = opt_file_threads,
                               .sweep_s = opt_blob_sweep_s,
                               .grace_s = opt_blob_grace_s};
    if (ht_files_init(&files, err, sizeof(err)) < 0) {
        ht_log(HT_LOG_ERROR, "cannot use the blob store", "detail", err, NULL);
        return 1;
    }

    sigset_t stop_signals;
    block_stop_signals(&stop_signals);
    ht_server_t *server;
    if (ht_server_start(&server, &cfg, err, sizeof(err)) < 0) {
        ht_log(HT_LOG_ERROR, err, NULL);
        return 1;
    }
    char addr[128], threads[16];
    ht_listen_format(&cfg.listen, addr, sizeof(addr));
    snprintf(threads, sizeof(threads), "%zu", cfg.threads);
    char nparts[16], served[16];
    snprintf(nparts, sizeof(nparts), "%u", parts.n);
    snprintf(served, sizeof(served), "%zu", parts.count);
    ht_log(HT_LOG_INFO, "listening", "addr", addr, "threads", threads, "partitions", nparts,
           "partitions_served", served, NULL);

    recorder_start(&cfg.redis);
    ht_sweeper_start(&cfg.redis, &parts);
    int sig = 0;
    for (;;) {
        sigwait(&stop_signals, &sig);
        if (sig != SIGHUP)
            break;
        /* A bad file keeps the keys in force: a typo must not lock everyone out. */
        if (open_mode)
            ht_log(HT_LOG_WARN, "SIGHUP ignored: no API keys file to reload", NULL);
        else if (ht_auth_reload(err, sizeof(err)) < 0)
            ht_log(HT_LOG_ERROR, "API keys not reloaded; the previous keys stay in force", "detail",
                   err, NULL);
    }
    ht_log(HT_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    ht_bgthread_stop(&recorder);
    ht_sweeper_stop();
    ht_server_stop(server);
    ht_files_shutdown();
    ht_auth_shutdown();
    ht_tenants_shutdown();
    ht_parts_clear(&parts);
    ht_secretbox_keys_clear(&secrets_keys);
    ht_log(HT_LOG_INFO, "stopped", NULL);
    return 0;
}
