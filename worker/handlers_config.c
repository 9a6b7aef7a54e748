/* The handler file (format and rules in handlers_config.h).  Strict on
 * purpose: a typo in an operator's config should stop the worker at start
 * with a message naming the field, not surface later as a job failure. */
#include "worker/handlers_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

#include "worker/exec_output.h"
#include "worker/registry.h"

#define MAX_JOBS_MAX 2147483647LL

int ht_handlers_env_name_ok(const char *name)
{
    if (!name || !*name || (*name >= '0' && *name <= '9'))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return 0;
    return strncmp(name, "HANGTIGHT_", 10) != 0;
}

static int parse_command(ht_exec_handler_t *h, const json_t *cmd, const char *source, char *err,
                         size_t errlen)
{
    if (!json_is_array(cmd) || json_array_size(cmd) == 0)
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s.command: must be a non-empty array of strings", source,
                         h->type);
    size_t n = json_array_size(cmd);
    h->argv = calloc(n + 1, sizeof(*h->argv));
    if (!h->argv)
        return HT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(cmd, i);
        if (!json_is_string(a) || (i == 0 && json_string_length(a) == 0))
            return ht_errorf(err, errlen, HT_EINVAL,
                             "%s: handlers.%s.command[%zu]: must be a %sstring", source, h->type, i,
                             i == 0 ? "non-empty " : "");
        if (strlen(json_string_value(a)) != json_string_length(a))
            return ht_errorf(err, errlen, HT_EINVAL,
                             "%s: handlers.%s.command[%zu]: must not contain NUL", source, h->type,
                             i);
        if (!(h->argv[i] = strdup(json_string_value(a))))
            return HT_ENOMEM;
        h->argc++;
    }
    return 0;
}

static int bad_env_name(const ht_exec_handler_t *h, const char *field, const char *name,
                        const char *source, char *err, size_t errlen)
{
    if (strncmp(name, "HANGTIGHT_", 10) == 0)
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s.%s: \"%s\": the worker's HANGTIGHT_ settings never "
                         "reach a handler",
                         source, h->type, field, name);
    return ht_errorf(err, errlen, HT_EINVAL,
                     "%s: handlers.%s.%s: \"%s\" is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
                     source, h->type, field, name);
}

static int parse_env(ht_exec_handler_t *h, const json_t *env, const char *source, char *err,
                     size_t errlen)
{
    if (!json_is_object(env))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s.env: must be an object of NAME: \"value\"", source,
                         h->type);
    h->env = calloc(json_object_size(env) + 1, sizeof(*h->env));
    if (!h->env)
        return HT_ENOMEM;
    const char *name;
    const json_t *value;
    json_object_foreach((json_t *)env, name, value) {
        if (!ht_handlers_env_name_ok(name))
            return bad_env_name(h, "env", name, source, err, errlen);
        if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value))
            return ht_errorf(err, errlen, HT_EINVAL,
                             "%s: handlers.%s.env.%s: must be a string without NUL", source,
                             h->type, name);
        if (asprintf(&h->env[h->n_env], "%s=%s", name, json_string_value(value)) < 0) {
            h->env[h->n_env] = NULL;
            return HT_ENOMEM;
        }
        h->n_env++;
    }
    return 0;
}

static int parse_env_pass(ht_exec_handler_t *h, const json_t *pass, const json_t *env,
                          const char *source, char *err, size_t errlen)
{
    if (!json_is_array(pass))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s.env_pass: must be an array of variable names", source,
                         h->type);
    h->env_pass = calloc(json_array_size(pass) + 1, sizeof(*h->env_pass));
    if (!h->env_pass)
        return HT_ENOMEM;
    size_t i;
    const json_t *v;
    json_array_foreach(pass, i, v) {
        const char *name = json_string_value(v);
        if (!json_is_string(v) || strlen(name) != json_string_length(v))
            return ht_errorf(err, errlen, HT_EINVAL,
                             "%s: handlers.%s.env_pass[%zu]: must be a variable name", source,
                             h->type, i);
        if (!ht_handlers_env_name_ok(name))
            return bad_env_name(h, "env_pass", name, source, err, errlen);
        if (env && json_object_get(env, name))
            return ht_errorf(err, errlen, HT_EINVAL,
                             "%s: handlers.%s.env_pass: \"%s\" is also set in env", source, h->type,
                             name);
        for (size_t j = 0; j < h->n_env_pass; j++)
            if (strcmp(h->env_pass[j], name) == 0)
                return ht_errorf(err, errlen, HT_EINVAL,
                                 "%s: handlers.%s.env_pass: \"%s\" is named twice", source, h->type,
                                 name);
        if (!(h->env_pass[h->n_env_pass] = strdup(name)))
            return HT_ENOMEM;
        h->n_env_pass++;
    }
    return 0;
}

/* An optional integer member within [lo, hi]: 0 when absent. */
static int range(const ht_exec_handler_t *h, const json_t *spec, const char *field, long long lo,
                 long long hi, long long *out, const char *source, char *err, size_t errlen)
{
    const json_t *v = json_object_get(spec, field);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s.%s: must be between %lld and %lld (an integer)", source,
                         h->type, field, lo, hi);
    *out = json_integer_value(v);
    return 0;
}

static int parse_handler(ht_exec_handler_t *h, const char *type, json_t *spec, const char *source,
                         char *err, size_t errlen)
{
    h->max_line = HT_EXEC_LINE_MAX;
    if (!ht_job_type_valid(type))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers: \"%s\" is not a valid job type ([a-z0-9_.-]{1,64})", source,
                         type);
    if (ht_registry_is_builtin(type))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s: a built-in type cannot be replaced", source, type);
    snprintf(h->type, sizeof(h->type), "%s", type);

    json_t *cmd = NULL, *env = NULL, *pass = NULL, *ignored = NULL;
    const char *mode = "exec";
    json_error_t jerr;
    if (!json_is_object(spec))
        return ht_errorf(err, errlen, HT_EINVAL, "%s: handlers.%s: must be an object", source,
                         type);
    /* Types of the numbers are checked by range() with their own message. */
    if (json_unpack_ex(spec, &jerr, JSON_STRICT, "{s:o, s?s, s?o, s?o, s?o, s?o, s?o, s?o}",
                       "command", &cmd, "mode", &mode, "timeout_s", &ignored, "processes", &ignored,
                       "max_jobs", &ignored, "max_line_bytes", &ignored, "env", &env, "env_pass",
                       &pass) < 0)
        return ht_errorf(err, errlen, HT_EINVAL, "%s: handlers.%s: %s", source, type, jerr.text);
    if (strcmp(mode, "persistent") == 0)
        h->mode = HT_HANDLER_PERSISTENT;
    else if (strcmp(mode, "exec") != 0)
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s.mode: must be \"exec\" or \"persistent\"", source, type);

    long long timeout_s, processes, max_jobs, max_line;
    int rc;
    if ((rc = range(h, spec, "timeout_s", 1, HT_TIMEOUT_S_MAX, &timeout_s, source, err, errlen)) <
            0 ||
        (rc = range(h, spec, "processes", 1, HT_HANDLER_PROCESSES_MAX, &processes, source, err,
                    errlen)) < 0 ||
        (rc = range(h, spec, "max_jobs", 1, MAX_JOBS_MAX, &max_jobs, source, err, errlen)) < 0 ||
        (rc = range(h, spec, "max_line_bytes", HT_HANDLER_LINE_MIN, HT_HANDLER_LINE_CEILING,
                    &max_line, source, err, errlen)) < 0)
        return rc;
    if (h->mode != HT_HANDLER_PERSISTENT && (processes || max_jobs))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s.%s: only with \"mode\": \"persistent\"", source, type,
                         processes ? "processes" : "max_jobs");
    h->timeout_s = (long)timeout_s;
    h->processes = (long)processes;
    h->max_jobs = (long)max_jobs;
    if (max_line)
        h->max_line = (size_t)max_line;
    if ((rc = parse_command(h, cmd, source, err, errlen)) < 0)
        return rc;
    if (env && (rc = parse_env(h, env, source, err, errlen)) < 0)
        return rc;
    if (pass && (rc = parse_env_pass(h, pass, env, source, err, errlen)) < 0)
        return rc;
    return 0;
}

int ht_handlers_config_parse(ht_handlers_config_t *cfg, const char *text, size_t len,
                             const char *source, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    json_error_t jerr;
    json_t *handlers = NULL;
    int rc = 0;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = ht_errorf(err, errlen, HT_EINVAL, "%s: line %d column %d: %s", source, jerr.line,
                       jerr.column, jerr.text);
        goto out;
    }
    if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:o}", "handlers", &handlers) < 0) {
        rc = ht_errorf(err, errlen, HT_EINVAL, "%s: %s", source, jerr.text);
        goto out;
    }
    if (!json_is_object(handlers)) {
        rc = ht_errorf(err, errlen, HT_EINVAL, "%s: handlers: must be an object of type -> handler",
                       source);
        goto out;
    }
    cfg->handlers = calloc(json_object_size(handlers) + 1, sizeof(*cfg->handlers));
    if (!cfg->handlers) {
        rc = HT_ENOMEM;
        goto out;
    }
    const char *type;
    json_t *spec;
    json_object_foreach(handlers, type, spec) {
        rc = parse_handler(&cfg->handlers[cfg->n], type, spec, source, err, errlen);
        cfg->n++; /* counted even when half-filled, so clear() frees it */
        if (rc < 0)
            goto out;
    }
out:
    if (rc == HT_ENOMEM)
        snprintf(err, errlen, "%s: out of memory", source);
    json_decref(root);
    return rc;
}

int ht_handlers_config_load(ht_handlers_config_t *cfg, const char *path, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *t = realloc(text, cap);
            if (!t) {
                rc = HT_ENOMEM;
                snprintf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rc = -EIO;
        snprintf(err, errlen, "%s: read error", path);
        goto out;
    }
    rc = ht_handlers_config_parse(cfg, text, len, path, err, errlen);
out:
    free(text);
    fclose(f);
    return rc;
}

static void free_strings(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void ht_handlers_config_clear(ht_handlers_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        free_strings(cfg->handlers[i].argv);
        free_strings(cfg->handlers[i].env);
        free_strings(cfg->handlers[i].env_pass);
    }
    free(cfg->handlers);
    cfg->handlers = NULL;
    cfg->n = 0;
}
