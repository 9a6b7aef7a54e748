/* `hangtight partitions` and `hangtight job-key` (issue 10, partitioned
 * queues; shared/partition.h).
 *
 *   partitions            every N recorded in Redis (each process records
 *                         its HANGTIGHT_PARTITIONS at start), each of its
 *                         partitions with its hash tag, slot and what it
 *                         still holds: queued, scheduled, running, awaiting
 *                         webhook delivery.
 *   partitions --retire N drops N from the record once nothing of its own
 *                         partitions (those no other recorded N shares) is
 *                         queued, scheduled, running or awaiting delivery;
 *                         refuses otherwise, saying why (exit 1), and
 *                         refuses the N this command is told is in use
 *                         (--partitions / HANGTIGHT_PARTITIONS).
 *   job-key ID            the Redis key of job ID's hash (no Redis needed:
 *                         the id names its partition). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/cluster.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/partition_store.h"
#include "shared/redis_url.h"
#include "shared/store.h"

#include "cli/cli.h"

#define REDIS_TIMEOUT_MS 5000

static const char *redis_url_text;
static long partitions_n, retire_n;

static const ht_option_t options[] = {
    {"redis-url", "HANGTIGHT_REDIS_URL", HT_OPT_STRING, "redis://127.0.0.1:6379",
     "Redis: redis://[[user]:password@]host[:port][/db] or unix:///path", 0, 0,
     &redis_url_text},
    {"partitions", "HANGTIGHT_PARTITIONS", HT_OPT_INT, "1",
     "the N the api and workers run with now (never retired)", 1, HT_PARTITIONS_MAX,
     &partitions_n},
    {"retire", NULL, HT_OPT_INT, "0", "drop N from the recorded partition counts (see above)", 0,
     HT_PARTITIONS_MAX, &retire_n},
};

/* Prints one N's partitions; *busy gets the work left in those of them no
 * other N in `p` shares (NULL: report only).  Returns 0 or a negative code. */
static int report_n(ht_store_t *s, const ht_parts_t *p, unsigned n, long long *busy,
                    char *why, size_t whylen)
{
    printf("N=%u%s%s\n", n, n == p->n ? " (HANGTIGHT_PARTITIONS)" : "",
           busy ? " (to retire)" : "");
    printf("  %-9s %-22s %5s %8s %9s %7s %10s\n", "partition", "hash tag", "slot", "queued",
           "scheduled", "running", "deliveries");
    for (unsigned i = 0; i < n; i++) {
        char tag[HT_CLUSTER_TAG_MAX];
        ht_keys_t k;
        int rc = ht_cluster_partition_tag(p->queue, i, n, tag, sizeof tag);
        if (rc < 0 || (rc = ht_keys_init_tag(&k, p->queue, tag)) < 0)
            return rc;
        ht_part_load_t load;
        if ((rc = ht_parts_load(s, &k, &load)) < 0)
            return rc;
        char part[24];
        snprintf(part, sizeof part, "%u/%u", i, n);
        /* Shared with an N that stays: its jobs stay served. */
        int shared = 0;
        for (size_t j = 0; busy && j < p->count; j++)
            shared |= p->parts[j].n != n && strcmp(p->parts[j].keys.base, k.base) == 0;
        printf("  %-9s %-22s %5u %8lld %9lld %7lld %10lld%s\n", part, tag,
               ht_cluster_keyslot(tag, strlen(tag)), load.queued, load.scheduled, load.running,
               load.deliveries, shared ? "  (shared with another N)" : "");
        long long left = load.queued + load.scheduled + load.running + load.deliveries;
        if (busy && !shared && left > 0) {
            *busy += left;
            size_t used = strlen(why);
            snprintf(why + used, whylen - used,
                     "%spartition %s (tag %s) holds %lld queued, %lld scheduled, %lld running, "
                     "%lld awaiting delivery",
                     used ? "; " : "", part, tag, load.queued, load.scheduled, load.running,
                     load.deliveries);
        }
    }
    return 0;
}

int ht_cli_partitions(int argc, char **argv)
{
    ht_cli_args_t args;
    ht_redis_url_t url;
    ht_store_t *store = NULL;
    ht_parts_t p;
    char err[256];
    int status = HT_CLI_FAILED;
    memset(&p, 0, sizeof p);

    int rc = ht_cli_parse(options, sizeof options / sizeof options[0], argc, argv,
                          "[--retire N] [--partitions N] [--redis-url URL]", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 0) {
        fprintf(stderr, "hangtight partitions: takes no arguments (see --help)\n");
        return HT_CLI_USAGE;
    }
    if (ht_redis_url_parse(redis_url_text, &url, err, sizeof err) != 0) {
        fprintf(stderr, "hangtight partitions: bad Redis URL: %s\n", err);
        return HT_CLI_USAGE;
    }
    if (ht_parts_init(&p, HT_QUEUE_DEFAULT, (unsigned)partitions_n) < 0) {
        fprintf(stderr, "hangtight partitions: bad --partitions\n");
        return HT_CLI_USAGE;
    }
    rc = ht_store_open(&store, &url, REDIS_TIMEOUT_MS);
    /* Read the record without adding to it: this command runs no queue. */
    if (rc == 0)
        rc = ht_parts_sync(&p, store, 0);
    if (rc < 0) {
        fprintf(stderr, "hangtight partitions: Redis at %s: %s\n", redis_url_text,
                store ? ht_store_errstr(store) : ht_strerror(rc));
        goto out;
    }
    /* p->ns: own N first, then the recorded ones; the own one may not be
     * recorded (no process started with it yet). */
    char key[HT_KEY_MAX];
    ht_parts_set_key(&p, key);
    if (retire_n == 0) {
        printf("recorded in %s:", key);
        for (size_t i = 0; i < p.n_ns; i++)
            printf(" %u", p.ns[i]);
        printf("\n");
        for (size_t i = 0; i < p.n_ns; i++)
            if ((rc = report_n(store, &p, p.ns[i], NULL, NULL, 0)) < 0)
                goto redis_failed;
        status = HT_CLI_OK;
        goto out;
    }

    unsigned n = (unsigned)retire_n;
    int recorded = 0;
    for (size_t i = 0; i < p.n_ns; i++)
        recorded |= p.ns[i] == n;
    if (n == p.n) {
        fprintf(stderr,
                "hangtight partitions: refusing to retire N=%u: it is the N in use "
                "(HANGTIGHT_PARTITIONS / --partitions); run every process with the new N first\n",
                n);
        goto out;
    }
    if (!recorded) {
        fprintf(stderr, "hangtight partitions: N=%u is not recorded in %s\n", n, key);
        goto out;
    }
    /* The N in use must be a recorded one: a partition shared with an N no
     * process has run with yet is served by nobody. */
    long long own_recorded = 0;
    ht_argv_t ism;
    ht_argv_init(&ism);
    ht_argv_add(&ism, "SISMEMBER");
    ht_argv_add(&ism, key);
    ht_argv_addf(&ism, "%u", p.n);
    if ((rc = ht_store_cmd_int(store, &ism, &own_recorded)) < 0)
        goto redis_failed;
    if (!own_recorded) {
        fprintf(stderr,
                "hangtight partitions: refusing to retire N=%u: --partitions N=%u is not recorded "
                "in %s (no api or worker runs with it); pass the N the processes run with\n",
                n, p.n, key);
        goto out;
    }
    /* The Ns that stay (recorded ones only), to tell which of N's
     * partitions they share. */
    ht_parts_t stay;
    if (ht_parts_init(&stay, HT_QUEUE_DEFAULT, p.n) < 0)
        goto out;
    for (size_t i = 0; i < p.n_ns; i++)
        if (p.ns[i] != n && ht_parts_add(&stay, p.ns[i]) < 0)
            break;
    long long busy = 0;
    char why[2048] = "";
    rc = report_n(store, &stay, n, &busy, why, sizeof why);
    ht_parts_clear(&stay);
    if (rc < 0)
        goto redis_failed;
    if (busy > 0) {
        fprintf(stderr,
                "hangtight partitions: refusing to retire N=%u: %s; let the workers (run with "
                "the new N, they serve every recorded N) finish them, then try again\n",
                n, why);
        goto out;
    }
    if ((rc = ht_parts_forget(&p, store, n)) < 0)
        goto redis_failed;
    printf("retired N=%u: its partitions hold nothing to run or deliver; jobs kept there stay "
           "readable by id\n",
           n);
    status = HT_CLI_OK;
    goto out;
redis_failed:
    fprintf(stderr, "hangtight partitions: Redis: %s\n", ht_store_errstr(store));
out:
    ht_store_close(store);
    ht_parts_clear(&p);
    return status;
}

int ht_cli_job_key(int argc, char **argv)
{
    static const ht_option_t none[] = {
        {"partitions", "HANGTIGHT_PARTITIONS", HT_OPT_INT, "1",
         "ignored: the id names its partition", 1, HT_PARTITIONS_MAX, &partitions_n},
    };
    ht_cli_args_t args;
    int rc = ht_cli_parse(none, 1, argc, argv, "ID", &args);
    if (rc != 0)
        return rc == 1 ? HT_CLI_OK : rc;
    if (args.npos != 1) {
        fprintf(stderr, "hangtight job-key: takes one job ID (see --help)\n");
        return HT_CLI_USAGE;
    }
    ht_parts_t p;
    char key[HT_KEY_MAX];
    if (ht_parts_init(&p, HT_QUEUE_DEFAULT, 1) < 0)
        return HT_CLI_FAILED;
    rc = ht_parts_job_key(&p, args.pos[0], key);
    ht_parts_clear(&p);
    if (rc < 0) {
        fprintf(stderr, "hangtight job-key: '%s' is not a job id\n", args.pos[0]);
        return HT_CLI_USAGE;
    }
    printf("%s\n", key);
    return HT_CLI_OK;
}
