/* `hangtight migrate`: brings the Redis keyspace up to the version these
 * binaries need: the data steps above the recorded version and the
 * function library, once (shared/store.h ht_store_migrate).  Safe to run
 * any number of times; a run with nothing to do changes nothing.
 *
 * It refuses a keyspace recorded below OLDEST_PEER_SCHEMA while processes
 * of that age may still run against it (old_processes): they would run
 * beside the new library, which they cannot (docs/keyspace.md, "Schema
 * 19: no id field"). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/keys.h"
#include "shared/migrations.h"
#include "shared/redis_url.h"
#include "shared/store.h"

#include "cli/cli.h"

#define REDIS_TIMEOUT_MS 5000

/* The oldest schema whose api and worker run beside this library: those
 * of schema 16 and older read a job hash only with its `id` field, which
 * the library no longer stores. */
#define OLDEST_PEER_SCHEMA 17
/* A record in ht:workers written this recently is a live process's: a
 * hangtight-worker rewrites its own every 5 s, an api a remote worker's
 * at that worker's claims (/metrics counts them live for 30 and 60 s). */
#define RECORD_FRESH_MS 60000

static const char *redis_url_text;
static long wait_s;
static int allow_old;

static const ht_option_t options[] = {
    {"redis-url", "HANGTIGHT_REDIS_URL", HT_OPT_STRING, "redis://127.0.0.1:6379",
     "Redis to migrate: redis://[[user]:password@]host[:port][/db] or unix:///path", 0, 0,
     &redis_url_text},
    {"wait-s", NULL, HT_OPT_INT, "10",
     "wait up to N seconds for Redis to answer (starting, loading its data)", 0, 3600, &wait_s},
    {"allow-old-processes", NULL, HT_OPT_FLAG, NULL,
     "migrate a keyspace of schema 16 or older even while its workers or apis seem to run "
     "(they fail on the jobs submitted after)",
     0, 0, &allow_old},
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

/* The fresh records of ht:workers on a keyspace at version `from`, below
 * OLDEST_PEER_SCHEMA: no worker or api of OLDEST_PEER_SCHEMA or newer
 * starts on it, so each is an older process's (a hangtight-worker's own,
 * or the record an api keeps of a remote worker it serves).  Processes of
 * schemas before the records existed, and apis without remote workers,
 * leave none.  Names the newest in out[size] ("" when none) and returns
 * their count, or a negative code. */
static int old_processes(ht_store_t *store, char *out, size_t size)
{
    char **v = NULL;
    int64_t *at = NULL;
    size_t n = 0;
    int rc = ht_store_worker_records(store, &v, &at, &n);
    if (rc < 0)
        return rc;
    int64_t now = ht_now_ms(), newest = -1;
    int fresh = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (at[i] < 0 || now - at[i] >= RECORD_FRESH_MS)
            continue;
        int64_t ago = now - at[i];
        fresh++;
        if (newest < 0 || ago < newest) {
            newest = ago < 0 ? 0 : ago;
            const char *id = v[2 * i];
            snprintf(out, size, "%s %s wrote its record %lld s ago",
                     strncmp(id, "http:", 5) == 0 ? "an api serving remote worker" : "worker", id,
                     (long long)(newest / 1000));
        }
    }
    free(at);
    ht_store_strings_free(v);
    return fresh;
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
    int from = 0;
    rc = ht_store_schema_version(store, &from);
    if (rc == 0 && from > 0 && from < OLDEST_PEER_SCHEMA) {
        char who[300];
        int n = old_processes(store, who, sizeof who);
        if (n < 0) {
            fprintf(stderr, "hangtight migrate: cannot read %s: %s\n", HT_KEY_WORKERS,
                    ht_store_errstr(store));
            goto out;
        }
        if (n > 0 && !allow_old) {
            fprintf(
                stderr,
                "hangtight migrate: refused: the keyspace is at version %d and %d process%s "
                "of that age seem%s to run (%s; records of the last %d s).  Schema %d stores "
                "jobs without the id field that workers and apis of schema %d and older require. "
                "Stop them, or upgrade through a release of schema %d or %d first (migrate, "
                "restart every api and worker), then run migrate again; "
                "--allow-old-processes migrates anyway.  Nothing was changed.\n",
                from, n, n == 1 ? "" : "es", n == 1 ? "s" : "", who, RECORD_FRESH_MS / 1000,
                ht_keyspace.schema, OLDEST_PEER_SCHEMA - 1, OLDEST_PEER_SCHEMA,
                ht_keyspace.schema - 1);
            goto out;
        }
        if (n > 0)
            fprintf(stderr,
                    "hangtight migrate: %d process%s of schema %d or older seem%s to run (%s): "
                    "migrating anyway (--allow-old-processes)\n",
                    n, n == 1 ? "" : "es", OLDEST_PEER_SCHEMA - 1, n == 1 ? "s" : "", who);
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
