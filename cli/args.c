/* Command-line splitting for the `hangtight` commands: options may come
 * before, between or after the positional arguments (`submit sleep '{}'
 * --max-attempts 1`), so the options are gathered in front and handed to
 * the shared table-driven parser, and the rest are the positionals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Room for the "--name=implied" arguments made from bare optional-value
 * flags: static, because string options keep pointers into the arguments. */
#define IMPLIED_MAX 4
static char implied_args[IMPLIED_MAX][96];

static int same_name(const char *name, const char *flag)
{
    size_t len = strcspn(flag, "=");
    return strlen(name) == len && strncmp(name, flag, len) == 0;
}

/* The optional-value option named by "--name" (or "--name=..."), or NULL. */
static const ht_cli_optional_t *optional_of(const ht_cli_optional_t *optional, size_t nopt,
                                            const char *flag)
{
    for (size_t i = 0; i < nopt; i++) {
        if (same_name(optional[i].name, flag))
            return &optional[i];
    }
    return NULL;
}

/* 1 when "--name" (or "--name=...") names an option that takes a value. */
static int takes_value(const ht_option_t *opts, size_t n, const char *flag)
{
    for (size_t i = 0; i < n; i++) {
        if (same_name(opts[i].name, flag))
            return opts[i].type != HT_OPT_FLAG;
    }
    return 0;
}

int ht_cli_parse(const ht_option_t *opts, size_t n, int argc, char **argv, const char *synopsis,
                 ht_cli_args_t *args)
{
    return ht_cli_parse_ex(opts, n, NULL, 0, argc, argv, synopsis, args);
}

int ht_cli_parse_ex(const ht_option_t *opts, size_t n, const ht_cli_optional_t *optional,
                    size_t nopt, int argc, char **argv, const char *synopsis, ht_cli_args_t *args)
{
    int nimplied = 0;
    char **v = calloc((size_t)argc + 1, sizeof *v);
    int nv = 0, rc = 0, first = 0, only_positional = 0;
    char err[256] = "", prog[64];

    snprintf(prog, sizeof prog, "hangtight %s", argv[0]);
    memset(args, 0, sizeof *args);
    if (!v) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return HT_CLI_USAGE;
    }
    v[nv++] = argv[0];
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_positional || a[0] != '-' || strcmp(a, "-") == 0) {
            if (args->npos == HT_CLI_MAX_POSITIONAL) {
                fprintf(stderr, "%s: too many arguments (see --help)\n", prog);
                rc = HT_CLI_USAGE;
                goto out;
            }
            args->pos[args->npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_positional = 1;
            continue;
        }
        const ht_cli_optional_t *o =
            strncmp(a, "--", 2) == 0 ? optional_of(optional, nopt, a + 2) : NULL;
        if (o) {
            /* "--wait" alone: its implied value; "--wait=N" as given. */
            if (!strchr(a, '=') && nimplied < IMPLIED_MAX) {
                char *buf = implied_args[nimplied++];
                snprintf(buf, sizeof implied_args[0], "--%s=%s", o->name, o->implied);
                a = buf;
            }
            v[nv++] = a;
            continue;
        }
        v[nv++] = a;
        /* "--timeout 5": keep the value next to its flag. */
        if (strncmp(a, "--", 2) == 0 && !strchr(a, '=') && takes_value(opts, n, a + 2) &&
            i + 1 < argc)
            v[nv++] = argv[++i];
    }

    rc = ht_options_parse(opts, n, nv, v, &first, err, sizeof err);
    if (rc == 1) {
        ht_options_usage(stdout, prog, synopsis, opts, n);
    } else if (rc < 0) {
        /* The parser's message may already point at --help. */
        fprintf(stderr, "%s: %s%s\n", prog, err, strstr(err, "--help") ? "" : " (see --help)");
        rc = HT_CLI_USAGE;
    }
out:
    free(v);
    return rc;
}
