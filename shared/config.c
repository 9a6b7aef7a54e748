/* Table-driven options: defaults, then HANGTIGHT_* environment variables,
 * then command-line flags (--name=value or --name value), each step
 * overriding the one before.  Hand-rolled rather than getopt_long so that
 * errors can name the flag or variable and parsing has no global state. */
#include "shared/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

/* Parses the whole of `s` as a decimal long within [o->min, o->max] (no
 * range when both are 0).  `what` names the source in the error. */
static int parse_int(const ht_option_t *o, const char *what, const char *s, long *out,
                     char *err, size_t errlen)
{
    char *end;
    errno = 0;
    if (!s || !*s || isspace((unsigned char)*s)) {
        snprintf(err, errlen, "%s: '%s' is not an integer", what, s ? s : "");
        return HT_EINVAL;
    }
    long v = strtol(s, &end, 10);
    if (*end != '\0') {
        snprintf(err, errlen, "%s: '%s' is not an integer", what, s);
        return HT_EINVAL;
    }
    int ranged = o->min != 0 || o->max != 0;
    if (errno == ERANGE || (ranged && (v < o->min || v > o->max))) {
        snprintf(err, errlen, "%s: %s is out of range %ld..%ld", what, s, o->min, o->max);
        return HT_EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *what, const char *s, int *out, char *err, size_t errlen)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    snprintf(err, errlen, "%s: '%s' is not a boolean (want 1/0, true/false)", what, s);
    return HT_EINVAL;
}

/* Stores a textual value into the option's target. */
static int assign(const ht_option_t *o, const char *what, const char *val, char *err,
                  size_t errlen)
{
    switch (o->type) {
    case HT_OPT_STRING:
        *(const char **)o->target = val;
        return 0;
    case HT_OPT_INT:
        return parse_int(o, what, val, (long *)o->target, err, errlen);
    case HT_OPT_FLAG:
        return parse_bool(what, val, (int *)o->target, err, errlen);
    }
    return HT_EINVAL;
}

static int set_defaults(const ht_option_t *opts, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const ht_option_t *o = &opts[i];
        if (o->type == HT_OPT_STRING) {
            *(const char **)o->target = o->defval;
        } else if (!o->defval) {
            if (o->type == HT_OPT_INT)
                *(long *)o->target = 0;
            else
                *(int *)o->target = 0;
        } else {
            char what[128];
            snprintf(what, sizeof what, "default of --%s", o->name);
            int rc = assign(o, what, o->defval, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int apply_env(const ht_option_t *opts, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const char *val = opts[i].env ? getenv(opts[i].env) : NULL;
        if (!val || !*val)
            continue; /* unset and empty both mean "use the default" */
        int rc = assign(&opts[i], opts[i].env, val, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The option named by arg ("--name" or "--name=value"; arg without the
 * leading dashes), or NULL. */
static const ht_option_t *find(const ht_option_t *opts, size_t n, const char *arg)
{
    size_t len = strcspn(arg, "=");
    for (size_t i = 0; i < n; i++) {
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0)
            return &opts[i];
    }
    return NULL;
}

static int is_help(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0;
}

/* Walks the options part of argv.  With `apply` 0 it only looks for --help
 * (so `--help` wins over any bad value); with 1 it assigns.  Returns 1 for
 * help, 0, or HT_EINVAL; *first gets the first non-option index. */
static int walk(const ht_option_t *opts, size_t n, int argc, char **argv, int apply,
                int *first, char *err, size_t errlen)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break; /* first operand: a subcommand keeps its own arguments */
        if (is_help(a)) {
            if (!apply)
                return 1;
            continue;
        }
        const ht_option_t *o = a[1] == '-' ? find(opts, n, a + 2) : NULL;
        if (!o) {
            if (!apply)
                continue;
            snprintf(err, errlen, "unknown option '%s' (see --help)", a);
            return HT_EINVAL;
        }
        const char *eq = strchr(a, '=');
        const char *val;
        char what[128];
        snprintf(what, sizeof what, "--%s", o->name);
        if (o->type == HT_OPT_FLAG) {
            if (eq) {
                if (!apply)
                    continue;
                snprintf(err, errlen, "%s takes no value", what);
                return HT_EINVAL;
            }
            val = "1";
        } else if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            if (!apply)
                continue;
            snprintf(err, errlen, "%s needs a value", what);
            return HT_EINVAL;
        }
        if (apply) {
            int rc = assign(o, what, val, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    if (first)
        *first = i;
    return 0;
}

int ht_options_parse(const ht_option_t *opts, size_t n, int argc, char **argv,
                     int *first_arg, char *err, size_t errlen)
{
    int rc;
    if (err && errlen)
        err[0] = '\0';
    if ((rc = walk(opts, n, argc, argv, 0, first_arg, err, errlen)) != 0)
        return rc;
    if ((rc = set_defaults(opts, n, err, errlen)) < 0)
        return rc;
    if ((rc = apply_env(opts, n, err, errlen)) < 0)
        return rc;
    return walk(opts, n, argc, argv, 1, first_arg, err, errlen);
}

/* The placeholder shown after a flag: the first all-caps word of the help
 * text outside parentheses ("listen on ADDR (host:port)" gives ADDR, while
 * "when draining (SIGTERM), wait SECONDS" gives SECONDS), else N or VALUE. */
static void metavar(const ht_option_t *o, char *out, size_t outlen)
{
    const char *h = o->help ? o->help : "";
    int parens = 0;
    for (const char *p = h; *p; p++) {
        parens += *p == '(';
        parens -= *p == ')' && parens > 0;
        if (parens || !isupper((unsigned char)*p) || (p > h && isalnum((unsigned char)p[-1])))
            continue;
        size_t len = 0;
        while (isupper((unsigned char)p[len]) || isdigit((unsigned char)p[len]) ||
               p[len] == '_')
            len++;
        if (len >= 2 && !isalnum((unsigned char)p[len]) && len < outlen) {
            memcpy(out, p, len);
            out[len] = '\0';
            return;
        }
    }
    snprintf(out, outlen, "%s", o->type == HT_OPT_INT ? "N" : "VALUE");
}

void ht_options_usage(FILE *out, const char *prog, const char *synopsis,
                      const ht_option_t *opts, size_t n)
{
    fprintf(out, "usage: %s %s\n\noptions:\n", prog, synopsis ? synopsis : "[options]");
    for (size_t i = 0; i < n; i++) {
        const ht_option_t *o = &opts[i];
        char mv[32] = "";
        if (o->type != HT_OPT_FLAG)
            metavar(o, mv, sizeof mv);
        fprintf(out, "  --%s%s%s", o->name, *mv ? " " : "", mv);
        int has_default = o->defval && o->type != HT_OPT_FLAG;
        if (o->env || has_default) {
            fprintf(out, "   (");
            if (o->env)
                fprintf(out, "%s", o->env);
            if (has_default)
                fprintf(out, "%sdefault %s", o->env ? ", " : "", o->defval);
            fprintf(out, ")");
        }
        fprintf(out, "\n");
        if (o->help && *o->help)
            fprintf(out, "      %s\n", o->help);
    }
    fprintf(out, "  --help, -h\n      show this help and exit\n");
}
