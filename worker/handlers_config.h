/* The handler file named by HANGTIGHT_HANDLERS (docs/handlers.md):
 *
 *   {"handlers": {"<type>": {"command": ["/path/prog", "arg"],
 *                            "mode": "exec" | "persistent",
 *                            "timeout_s": 600,
 *                            "processes": 4, "max_jobs": 10000,
 *                            "env": {"NAME": "value"}, "env_pass": ["NAME"],
 *                            "max_line_bytes": 1048576}}}
 *
 * Parsed strictly: unknown members are errors, and so are
 *   - a <type> that is not a valid job type, or a built-in (sleep, echo,
 *     fail);
 *   - a "command" that is not a non-empty array of strings (the first
 *     non-empty, none holding NUL);
 *   - a "mode" other than "exec" (the default: a process per job) and
 *     "persistent" (processes that serve job after job);
 *   - "timeout_s" (optional, 1..86400: caps every attempt of that type
 *     below the job's own timeout_s) out of range;
 *   - "processes" (1..1024, default the worker's concurrency) or
 *     "max_jobs" (1..2^31-1, default unlimited) out of range, or given
 *     without "mode": "persistent";
 *   - an "env" that is not an object of strings, or an "env_pass" that is
 *     not an array of distinct names; every name a valid variable name
 *     ([A-Za-z_][A-Za-z0-9_]*) that does not start with HANGTIGHT_ (the
 *     worker's own settings, secrets among them, never reach a child) and
 *     is not named by both;
 *   - "max_line_bytes" (the longest stdout line a handler may write,
 *     default 1 MiB) outside 1 KiB..64 MiB.
 * Unit-tested in tests/unit/test_handlers_config.c. */
#ifndef HT_WORKER_HANDLERS_CONFIG_H
#define HT_WORKER_HANDLERS_CONFIG_H

#include <stddef.h>

#include "shared/job.h"

/* max_line_bytes: its range (the default is HT_EXEC_LINE_MAX, exec_output.h) */
#define HT_HANDLER_LINE_MIN      1024
#define HT_HANDLER_LINE_CEILING  (64 * 1024 * 1024)
#define HT_HANDLER_PROCESSES_MAX 1024

typedef enum {
    HT_HANDLER_EXEC = 0,   /* a process per job (exec.c) */
    HT_HANDLER_PERSISTENT, /* processes that stay (pool.c, persistent.c) */
} ht_handler_mode_t;

typedef struct {
    char type[HT_TYPE_MAX + 1];
    char **argv; /* argc strings and a NULL, owned */
    size_t argc;
    ht_handler_mode_t mode;
    long timeout_s;  /* 0: no cap beyond the job's own timeout_s */
    long processes;  /* persistent: 0 means the worker's concurrency */
    long max_jobs;   /* persistent: jobs a process serves before it is replaced; 0: no limit */
    size_t max_line; /* bytes of one stdout line */
    char **env;      /* "NAME=value" from "env", n_env of them and a NULL, owned */
    size_t n_env;
    char **env_pass; /* names from "env_pass", n_env_pass of them and a NULL, owned */
    size_t n_env_pass;
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

/* 1 when `name` may be set in a child's environment by the config: a
 * valid variable name not starting with HANGTIGHT_. */
int ht_handlers_env_name_ok(const char *name);

#endif
