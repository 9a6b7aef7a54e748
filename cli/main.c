/* `hangtight`: the command-line client of hangtight-api (submit, status,
 * wait, cancel, retry, download, list, stats, schedule) and its admin tool
 * (migrate).  This file only dispatches; each command lives in cmd_*.c. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"

#include "cli/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command_t;

static const command_t commands[] = {
    {"migrate", ht_cli_migrate, "apply pending keyspace migrations to Redis"},
    {"submit", ht_cli_submit,
     "submit a job: TYPE [JSON-PAYLOAD] [--file PATH], or many: --batch FILE; prints the job "
     "documents"},
    {"status", ht_cli_status, "print the job document of ID"},
    {"wait", ht_cli_wait, "wait for job ID to finish, showing progress; exit 0 if it succeeded"},
    {"cancel", ht_cli_cancel, "cancel job ID (a running one is stopped); prints the job document"},
    {"retry", ht_cli_retry, "re-queue failed or canceled job ID with fresh attempts"},
    {"download", ht_cli_download, "write job ID's output file (--input: its input) to -o PATH"},
    {"list", ht_cli_list, "list jobs, newest first: [--status S] [--type T] [--limit N] [--all]"},
    {"stats", ht_cli_stats, "queue depths per priority and counts per status"},
    {"schedule", ht_cli_schedule,
     "recurring schedules: create (--cron EXPR | --every-s N) TYPE, list, get|pause|resume|delete "
     "ID"},
    {"partitions", ht_cli_partitions,
     "partitioned queues: each recorded N's partitions and what they hold; --retire N"},
    {"job-key", ht_cli_job_key, "print the Redis key of job ID's hash"},
    {"webhook", ht_cli_webhook,
     "verify a received webhook delivery: verify --secret whsec_... < request"},
    {"webhook-secret", ht_cli_webhook_secret,
     "your tenant's own webhook signing secrets: create, list, revoke ID"},
    {"pause", ht_cli_pause, "operator: nothing new starts (of --type T); running jobs finish"},
    {"resume", ht_cli_resume, "operator: claims start again (of --type T)"},
    {"caps", ht_cli_caps, "operator: list caps, or set a tenant's or a type's (--clear removes)"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: hangtight [--url URL] [--redis-url URL] COMMAND [ARGS] [--help]\n\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n  --url URL        hangtight-api base URL (env HANGTIGHT_URL, default %s)\n"
            "  --redis-url URL  Redis for migrate and partitions (env HANGTIGHT_REDIS_URL)\n"
            "  env HANGTIGHT_API_KEY  the API key sent as Authorization: Bearer (when the api\n"
            "                   has keys; never a flag, so it stays out of process lists)\n"
            "  env HANGTIGHT_OPERATOR_KEY  the operator key pause, resume and caps send\n"
            "                   instead, when set\n\n"
            "exit status: 0 done (wait: job succeeded), 1 refused by the server (wait: job\n"
            "failed or canceled; cancel: job finished or unknown), 2 usage, network trouble\n"
            "or wait timeout.\n"
            "`hangtight COMMAND --help` describes each command.\n",
            HT_CLI_URL_DEFAULT);
}

/* A global option before the command becomes the environment variable of
 * the same meaning, which the command's own option table then reads.
 * Returns the number of argv entries used, or -1 when unknown. */
static int global_option(int argc, char **argv, int i)
{
    static const struct {
        const char *flag, *env;
    } globals[] = {
        {"--url", "HANGTIGHT_URL"},
        {"--redis-url", "HANGTIGHT_REDIS_URL"},
    };
    for (size_t g = 0; g < sizeof globals / sizeof globals[0]; g++) {
        size_t len = strlen(globals[g].flag);
        if (strncmp(argv[i], globals[g].flag, len) != 0)
            continue;
        if (argv[i][len] == '=') {
            setenv(globals[g].env, argv[i] + len + 1, 1);
            return 1;
        }
        if (argv[i][len] == '\0' && i + 1 < argc) {
            setenv(globals[g].env, argv[i + 1], 1);
            return 2;
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return HT_CLI_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("hangtight %s\n", HT_VERSION);
            return HT_CLI_OK;
        }
        int used = global_option(argc, argv, i);
        if (used < 0) {
            fprintf(stderr, "hangtight: unknown option %s\n\n", argv[i]);
            usage(stderr);
            return HT_CLI_USAGE;
        }
        i += used;
    }
    if (i == argc) {
        usage(stderr);
        return HT_CLI_USAGE;
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (strcmp(argv[i], commands[c].name) != 0)
            continue;
        ht_log_init("cli", HT_LOG_WARN);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int status = commands[c].run(argc - i, argv + i);
        curl_global_cleanup();
        return status;
    }
    fprintf(stderr, "hangtight: unknown command '%s'\n\n", argv[i]);
    usage(stderr);
    return HT_CLI_USAGE;
}
