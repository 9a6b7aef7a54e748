/* The exec handler file (format and rules in handlers_config.h).  Strict on
 * purpose: a typo in an operator's config should stop the worker at start
 * with a message naming the field, not surface later as a job failure. */
#include "worker/handlers_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

#include "worker/registry.h"

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

static int parse_handler(ht_exec_handler_t *h, const char *type, json_t *spec, const char *source,
                         char *err, size_t errlen)
{
    if (!ht_job_type_valid(type))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers: \"%s\" is not a valid job type ([a-z0-9_.-]{1,64})", source,
                         type);
    if (ht_registry_is_builtin(type))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s: a built-in type cannot be replaced", source, type);
    snprintf(h->type, sizeof(h->type), "%s", type);

    json_t *cmd = NULL;
    json_int_t timeout_s = 0;
    json_error_t jerr;
    if (!json_is_object(spec))
        return ht_errorf(err, errlen, HT_EINVAL, "%s: handlers.%s: must be an object", source,
                         type);
    if (json_unpack_ex(spec, &jerr, JSON_STRICT, "{s:o, s?I}", "command", &cmd, "timeout_s",
                       &timeout_s) < 0)
        return ht_errorf(err, errlen, HT_EINVAL, "%s: handlers.%s: %s", source, type, jerr.text);
    if (json_object_get(spec, "timeout_s") && (timeout_s < 1 || timeout_s > HT_TIMEOUT_S_MAX))
        return ht_errorf(err, errlen, HT_EINVAL,
                         "%s: handlers.%s.timeout_s: must be between 1 and %d", source, type,
                         HT_TIMEOUT_S_MAX);
    h->timeout_s = (long)timeout_s;
    return parse_command(h, cmd, source, err, errlen);
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
    json_object_foreach(handlers, type, spec)
    {
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

void ht_handlers_config_clear(ht_handlers_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        for (size_t j = 0; cfg->handlers[i].argv && j < cfg->handlers[i].argc; j++)
            free(cfg->handlers[i].argv[j]);
        free(cfg->handlers[i].argv);
    }
    free(cfg->handlers);
    cfg->handlers = NULL;
    cfg->n = 0;
}
