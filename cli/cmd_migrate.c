/* `hangtight migrate`: brings the Redis keyspace up to the version these
 * binaries need (the only command that talks to Redis rather than the
 * HTTP API).  Safe to run any number of times. */
#include <stdio.h>
#include <time.h>

#include "shared/error.h"
#include "shared/migrations.h"
#include "shared/redis_url.h"
#include "shared/store.h"

#include "cli/cli.h"

#define REDIS_TIMEOUT_MS 5000

static const char *redis_url_text;
static long wait_s;

static const ht_option_t options[] = {
    {"redis-url", "HANGTIGHT_REDIS_URL", HT_OPT_STRING, "redis://127.0.0.1:6379",
     "Redis to migrate: redis://[[user]:password@]host[:port][/db] or unix:///path", 0, 0,
     &redis_url_text},
    {"wait-s", NULL, HT_OPT_INT, "10",
     "wait up to N seconds for Redis to answer (starting, loading its data)", 0, 3600, &wait_s},
};

/* How many migration steps lie in (from, to]. */
static int steps_between(int from, int to)
{
    int n = 0;
    for (size_t i = 0; i < ht_migrations_count; i++)
        n += ht_migrations[i].version > from && ht_migrations[i].version <= to;
    return n;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where the URL points, without its password: for the wait's log line. */
static void redis_where(const ht_redis_url_t *url, char *out, size_t len)
{
    if (url->kind == HT_REDIS_UNIX)
        snprintf(out, len, "%s", url->path);
    else if (url->kind == HT_REDIS_CLUSTER && url->n_seeds > 1)
        snprintf(out, len, "%s:%d (cluster, %d seeds)", url->host, url->port, url->n_seeds);
    else
        snprintf(out, len, "%s:%d", url->host, url->port);
}

/* Connects and reads the keyspace version, retrying while Redis is not
 * there yet or not ready: a name that does not resolve yet (its container
 * is starting), a refused connection, LOADING (reading its data after a
 * restart), no answer (each try gives up after REDIS_TIMEOUT_MS).  No try
 * starts after wait_s, so the wait ends within wait_s plus one try.  The
 * first failure is logged with what is awaited; the last is the caller's
 * to report. */
static int connect_store(const ht_redis_url_t *url, ht_store_t **out)
{
    int64_t deadline = mono_ms() + wait_s * 1000;
    int logged = 0;
    for (;;) {
        int version;
        int rc = ht_store_open(out, url, REDIS_TIMEOUT_MS);
        if (rc == 0)
            rc = ht_store_schema_version(*out, &version);
        if (rc == 0 || rc != HT_EREDIS || mono_ms() >= deadline)
            return rc;
        if (!logged++) {
            char where[300];
            redis_where(url, where, sizeof where);
            fprintf(stderr, "hangtight migrate: waiting up to %ld s for Redis at %s: %s\n", wait_s,
                    where, ht_store_errstr(*out));
        }
        ht_store_close(*out);
        *out = NULL;
        nanosleep(&(struct timespec){0, 250 * 1000000L}, NULL);
    }
}

int ht_cli_migrate(int argc, char **argv)
{
    ht_cli_args_t args;
    ht_redis_url_t url;
    ht_store_t *store = NULL;
    char err[256];
    int from = 0, to = 0, status = HT_CLI_FAILED;

    int rc = ht_cli_parse(options, sizeof options / sizeof options[0], argc, argv,
                          "[--redis-url URL]", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 0) {
        fprintf(stderr, "hangtight migrate: takes no arguments (see --help)\n");
        return HT_CLI_USAGE;
    }
    if (ht_redis_url_parse(redis_url_text, &url, err, sizeof err) != 0) {
        fprintf(stderr, "hangtight migrate: bad Redis URL: %s\n", err);
        return HT_CLI_USAGE;
    }
    rc = connect_store(&url, &store);
    if (rc != 0) {
        char where[300];
        redis_where(&url, where, sizeof where);
        fprintf(stderr, "hangtight migrate: cannot reach Redis at %s (waited up to %ld s): %s\n",
                where, wait_s, store ? ht_store_errstr(store) : ht_strerror(rc));
        goto out;
    }
    rc = ht_store_migrate(store, &from, &to);
    if (rc != 0) {
        fprintf(stderr, "hangtight migrate: failed at version %d: %s (%s)\n", from,
                ht_store_errstr(store), ht_strerror(rc));
        goto out;
    }
    printf("keyspace at version %d (applied %d migrations)\n", to, steps_between(from, to));
    status = HT_CLI_OK;
out:
    if (store)
        ht_store_close(store);
    return status;
}
