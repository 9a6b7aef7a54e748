/* Table-driven configuration: every setting is a command-line flag and an
 * environment variable of the same meaning (the flag wins), with a default,
 * a range and one line of help.  Each binary declares its own table. */
#ifndef HT_CONFIG_H
#define HT_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef enum { HT_OPT_STRING, HT_OPT_INT, HT_OPT_FLAG } ht_opt_type_t;

typedef struct {
    const char *name;    /* long flag without the dashes: "listen" */
    const char *env;     /* "HANGTIGHT_LISTEN", or NULL for flag-only */
    ht_opt_type_t type;
    const char *defval;  /* default as text; NULL: unset (string) or 0 */
    const char *help;    /* one line; its first ALL-CAPS word (>= 2 letters, not in
                          * parentheses) is the value's placeholder: "--listen ADDR" */
    long min, max;       /* HT_OPT_INT only: inclusive range (both 0: any long) */
    /* Where the value goes: const char ** for strings (the pointer aims into
     * argv, environ or defval, all of which live as long as the process),
     * long * for ints, int * for flags (1 when given or env is "1"/"true"). */
    void *target;
} ht_option_t;

/* Fills every target from defaults, then the environment, then argv.
 * Returns 0, 1 when --help/-h was given (nothing else is checked), or
 * HT_EINVAL with a message in err (unknown flag, bad number, out of range).
 * *first_arg gets the index of the first non-option argument. */
int ht_options_parse(const ht_option_t *opts, size_t n, int argc, char **argv,
                     int *first_arg, char *err, size_t errlen);

/* Prints "usage: prog synopsis" and one block per option with its
 * environment variable and default. */
void ht_options_usage(FILE *out, const char *prog, const char *synopsis,
                      const ht_option_t *opts, size_t n);

#endif
