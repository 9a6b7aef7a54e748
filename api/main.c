/* hangtight-api: reads the configuration, checks Redis and the keyspace,
 * starts the server threads and waits for SIGTERM or SIGINT.  Only wiring
 * here; the server is api/server.c. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared/clock.h"
#include "shared/config.h"
#include "shared/error.h"
#include "shared/log.h"
#include "shared/redis_url.h"
#include "shared/store.h"

#include "api/listen.h"
#include "api/server.h"

/* Redis may start after us (compose, the run script): keep trying this long. */
#define STARTUP_RETRY_MS       30000
#define STARTUP_RETRY_PAUSE_MS 500
#define CONNECT_TIMEOUT_MS     2000

static const char *opt_listen, *opt_redis_url, *opt_log_level;
static long opt_threads, opt_max_body, opt_heartbeat_ms, opt_max_wait_s, opt_failed_ttl_s;
static int opt_webhook_allow_private;

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
     "SECONDS a failed job (a dead letter) is kept at least, whatever its ttl_s", 1,
     30L * 86400, &opt_failed_ttl_s},
    {"webhook-allow-private", "HANGTIGHT_WEBHOOK_ALLOW_PRIVATE", HT_OPT_FLAG, NULL,
     "accept a callback_url naming a private or loopback address (development, tests)", 0, 0,
     &opt_webhook_allow_private},
    {"log-level", "HANGTIGHT_LOG_LEVEL", HT_OPT_STRING, "info",
     "LEVEL of the least important log line written: debug, info, warn, error", 0, 0,
     &opt_log_level},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Connects (retrying while Redis is not up yet) and checks the keyspace
 * version.  Returns 0, or logs why not and returns a negative code. */
static int check_redis(const ht_redis_url_t *url)
{
    int64_t deadline = ht_now_ms() + STARTUP_RETRY_MS;
    int warned = 0, rc;
    ht_store_t *st = NULL;
    for (;;) {
        rc = ht_store_open(&st, url, CONNECT_TIMEOUT_MS);
        if (rc == 0 || rc == HT_EINVAL || ht_now_ms() >= deadline)
            break;
        if (!warned++)
            ht_log(HT_LOG_WARN, "waiting for redis", "detail", ht_store_errstr(st), NULL);
        ht_store_close(st);
        st = NULL;
        pause_ms(STARTUP_RETRY_PAUSE_MS);
    }
    if (rc == 0 && (rc = ht_store_check_schema(st)) == HT_ESCHEMA) {
        ht_log(HT_LOG_ERROR, ht_store_errstr(st), NULL);
    } else if (rc < 0) {
        ht_log(HT_LOG_ERROR, "cannot use redis", "detail", ht_store_errstr(st), NULL);
    }
    ht_store_close(st);
    return rc;
}

/* Blocks SIGINT and SIGTERM in every thread (the server threads inherit the
 * mask) so that only sigwait() below sees them. */
static void block_stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
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
    cfg.webhook_allow_private = opt_webhook_allow_private;

    if (check_redis(&cfg.redis) < 0)
        return 1;

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
    ht_log(HT_LOG_INFO, "listening", "addr", addr, "threads", threads, NULL);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    ht_log(HT_LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
    ht_server_stop(server);
    ht_log(HT_LOG_INFO, "stopped", NULL);
    return 0;
}
