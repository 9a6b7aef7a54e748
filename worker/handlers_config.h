/* The exec handler file named by HANGTIGHT_HANDLERS:
 *
 *   {"handlers": {"<type>": {"command": ["/path/prog", "arg"], "timeout_s": 600}}}
 *
 * Parsed strictly: unknown members are errors, <type> must be a valid job
 * type that is not a built-in (sleep, echo, fail), "command" a non-empty
 * array of non-empty strings, "timeout_s" (optional) an integer 1..86400
 * that caps every attempt of that type below the job's own timeout_s.
 * Unit-tested in tests/unit/test_handlers_config.c. */
#ifndef HT_WORKER_HANDLERS_CONFIG_H
#define HT_WORKER_HANDLERS_CONFIG_H

#include <stddef.h>

#include "shared/job.h"

typedef struct {
    char type[HT_TYPE_MAX + 1];
    char **argv; /* argc strings and a NULL, owned */
    size_t argc;
    long timeout_s; /* 0: no cap beyond the job's own timeout_s */
} ht_exec_handler_t;

typedef struct {
    ht_exec_handler_t *handlers; /* owned */
    size_t n;
} ht_handlers_config_t;

/* Reads and parses `path`.  Returns 0, or HT_EINVAL / a negative errno with
 * a message naming the file and the field in err.  The config must be
 * ht_handlers_config_clear()ed either way. */
int ht_handlers_config_load(ht_handlers_config_t *cfg, const char *path, char *err, size_t errlen);

/* Parses text[0..len); `source` names it in error messages. */
int ht_handlers_config_parse(ht_handlers_config_t *cfg, const char *text, size_t len,
                             const char *source, char *err, size_t errlen);

void ht_handlers_config_clear(ht_handlers_config_t *cfg);

#endif
