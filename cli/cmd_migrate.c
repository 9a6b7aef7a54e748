/* `hangtight migrate`: brings the Redis keyspace up to the version these
 * binaries need: the data steps above the recorded version and the
 * function library, once (shared/store.h ht_store_migrate).  Safe to run
 * any number of times; a run with nothing to do changes nothing. */
#include <stdio.h>
#include <string.h>
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

/* Appends to out[size] the names of the steps of ht_keyspace above version
 * `from` that run `when`, each after ", ". */
static void steps_run(char *out, size_t size, int from, ht_step_when_t when)
{
    for (size_t i = 0; i < ht_keyspace.nsteps; i++) {
        const ht_data_step_t *st = &ht_keyspace.steps[i];
        size_t used = strlen(out);
        if (st->version > from && st->when == when)
            snprintf(out + used, size - used, ", %s", st->name);
    }
}

/* What was done, in order, e.g. "from 5: 0008_started_marks.lua, library
 * loaded, 0006_tenant_indexes.lua, 0008_event_lists.lua", or "up to date". */
static void describe(const ht_migrate_result_t *res, char *out, size_t size)
{
    char parts[768] = "";
    if (res->from != res->to)
        steps_run(parts, sizeof parts, res->from, HT_STEP_BEFORE_LIBRARY);
    size_t used = strlen(parts);
    if (res->loaded > 0 && res->masters > 1)
        snprintf(parts + used, sizeof parts - used, ", library loaded on %d of %d masters",
                 res->loaded, res->masters);
    else if (res->loaded > 0)
        snprintf(parts + used, sizeof parts - used, ", library loaded");
    if (res->from != res->to)
        steps_run(parts, sizeof parts, res->from, HT_STEP_AFTER_LIBRARY);
    const char *done = parts[0] ? parts + 2 : "";
    if (res->from != res->to)
        snprintf(out, size, "from %d%s%s", res->from, *done ? ": " : "", done);
    else
        snprintf(out, size, "%s", *done ? done : "up to date");
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
    ht_migrate_result_t res;
    char done[1024];
    int status = HT_CLI_FAILED;

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
    rc = ht_store_migrate(store, &ht_keyspace, &res);
    if (rc == HT_ESCHEMA) {
        fprintf(stderr, "hangtight migrate: %s\n", ht_store_errstr(store));
        goto out;
    }
    if (rc != 0) {
        fprintf(stderr, "hangtight migrate: failed, keyspace at version %d: %s (%s)\n", res.from,
                ht_store_errstr(store), ht_strerror(rc));
        goto out;
    }
    describe(&res, done, sizeof done);
    printf("keyspace at version %d (%s)\n", res.to, done);
    status = HT_CLI_OK;
out:
    if (store)
        ht_store_close(store);
    return status;
}
