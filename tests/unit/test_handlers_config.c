/* worker/handlers_config.c: the exec handler file, read from real files in
 * a temporary directory. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/error.h"

#include "worker/handlers_config.h"

static char dir[] = "/tmp/ht-handlers-XXXXXX";
static char path[256];
static ht_handlers_config_t cfg;
static char err[512];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/handlers.json", dir);
    memset(&cfg, 0, sizeof(cfg));
    err[0] = '\0';
}

static void teardown(void)
{
    ht_handlers_config_clear(&cfg);
    unlink(path);
    rmdir(dir);
    strcpy(dir, "/tmp/ht-handlers-XXXXXX");
}

static int load(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return ht_handlers_config_load(&cfg, path, err, sizeof(err));
}

/* Asserts that `text` is refused with a message naming the file and
 * containing `needle`. */
static void assert_refused(const char *text, const char *needle)
{
    cr_assert_eq(load(text), HT_EINVAL, "accepted: %s", text);
    cr_assert(strstr(err, path) != NULL, "message does not name the file: %s", err);
    cr_assert(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
    ht_handlers_config_clear(&cfg);
}

TestSuite(handlers_config, .init = setup, .fini = teardown);

Test(handlers_config, valid_file)
{
    int rc = load("{\"handlers\": {"
                  "  \"video.transcode\": {"
                  "     \"command\": [\"/usr/bin/ffmpeg-job\", \"--fast\", \"\"],"
                  "                        \"timeout_s\": 600},"
                  "  \"report\": {\"command\": [\"python3\"]}}}");
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg.n, 2);
    const ht_exec_handler_t *v = NULL, *r = NULL;
    for (size_t i = 0; i < cfg.n; i++) {
        if (strcmp(cfg.handlers[i].type, "video.transcode") == 0)
            v = &cfg.handlers[i];
        if (strcmp(cfg.handlers[i].type, "report") == 0)
            r = &cfg.handlers[i];
    }
    cr_assert_not_null(v);
    cr_assert_not_null(r);
    cr_assert_eq(v->argc, 3);
    cr_assert_str_eq(v->argv[0], "/usr/bin/ffmpeg-job");
    cr_assert_str_eq(v->argv[1], "--fast");
    cr_assert_str_eq(v->argv[2], "");
    cr_assert_null(v->argv[3], "argv is NULL-terminated");
    cr_assert_eq(v->timeout_s, 600);
    cr_assert_eq(r->argc, 1);
    cr_assert_eq(r->timeout_s, 0, "no cap when timeout_s is absent");
}

Test(handlers_config, empty_handlers_is_fine)
{
    cr_assert_eq(load("{\"handlers\": {}}"), 0, "%s", err);
    cr_assert_eq(cfg.n, 0);
}

Test(handlers_config, missing_file)
{
    snprintf(path, sizeof(path), "%s/nope.json", dir);
    int rc = ht_handlers_config_load(&cfg, path, err, sizeof(err));
    cr_assert_lt(rc, 0);
    cr_assert(strstr(err, path) && strstr(err, "cannot open"), "%s", err);
}

Test(handlers_config, malformed_json_names_line)
{
    assert_refused("{\"handlers\": {\n\"a\": }\n", "line 2");
}

Test(handlers_config, root_must_be_an_object_with_handlers)
{
    assert_refused("[]", "object");
    assert_refused("{}", "handlers");
    assert_refused("{\"handlers\": []}", "handlers: must be an object");
}

Test(handlers_config, unknown_members_are_refused)
{
    assert_refused("{\"handlers\": {}, \"extra\": 1}", "extra");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"/bin/true\"], \"timeout\": 5}}}",
                   "timeout");
}

Test(handlers_config, duplicate_keys_are_refused)
{
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"]}, \"a\": {\"command\": [\"y\"]}}}",
                   "duplicate");
}

Test(handlers_config, type_names_are_validated)
{
    assert_refused("{\"handlers\": {\"Bad Type\": {\"command\": [\"/bin/true\"]}}}",
                   "\"Bad Type\" is not a valid job type");
    assert_refused("{\"handlers\": {\"\": {\"command\": [\"/bin/true\"]}}}",
                   "not a valid job type");
}

Test(handlers_config, builtins_cannot_be_shadowed)
{
    assert_refused("{\"handlers\": {\"echo\": {\"command\": [\"/bin/cat\"]}}}",
                   "handlers.echo: a built-in type cannot be replaced");
    assert_refused("{\"handlers\": {\"sleep\": {\"command\": [\"/bin/sleep\"]}}}", "built-in");
    assert_refused("{\"handlers\": {\"fail\": {\"command\": [\"/bin/false\"]}}}", "built-in");
}

Test(handlers_config, command_is_required_and_checked)
{
    assert_refused("{\"handlers\": {\"a\": {}}}", "handlers.a");
    assert_refused("{\"handlers\": {\"a\": {\"command\": []}}}",
                   "handlers.a.command: must be a non-empty array");
    assert_refused("{\"handlers\": {\"a\": {\"command\": \"/bin/true\"}}}", "handlers.a.command");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"/bin/echo\", 3]}}}",
                   "handlers.a.command[1]: must be a string");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"\"]}}}",
                   "handlers.a.command[0]: must be a non-empty string");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"/bin/e\\u0000cho\"]}}}", "NUL");
    assert_refused("{\"handlers\": {\"a\": [\"/bin/true\"]}}", "handlers.a: must be an object");
}

Test(handlers_config, timeout_range)
{
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"timeout_s\": 0}}}",
                   "handlers.a.timeout_s: must be between 1 and 86400");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"timeout_s\": 86401}}}",
                   "timeout_s");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"timeout_s\": \"60\"}}}",
                   "handlers.a");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"timeout_s\": 1.5}}}",
                   "handlers.a");
    cr_assert_eq(load("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"timeout_s\": 86400}}}"), 0,
                 "%s", err);
    cr_assert_eq(cfg.handlers[0].timeout_s, 86400);
}

Test(handlers_config, persistent_mode_and_its_options)
{
    int rc = load("{\"handlers\": {"
                  " \"py\": {\"command\": [\"python3\", \"w.py\"], \"mode\": \"persistent\","
                  "          \"processes\": 4, \"max_jobs\": 10000, \"timeout_s\": 60,"
                  "          \"max_line_bytes\": 4096},"
                  " \"sh\": {\"command\": [\"/bin/sh\"], \"mode\": \"exec\"},"
                  " \"pd\": {\"command\": [\"x\"], \"mode\": \"persistent\"}}}");
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg.n, 3);
    for (size_t i = 0; i < cfg.n; i++) {
        const ht_exec_handler_t *h = &cfg.handlers[i];
        if (strcmp(h->type, "py") == 0) {
            cr_assert_eq(h->mode, HT_HANDLER_PERSISTENT);
            cr_assert_eq(h->processes, 4);
            cr_assert_eq(h->max_jobs, 10000);
            cr_assert_eq(h->timeout_s, 60);
            cr_assert_eq(h->max_line, 4096);
        } else if (strcmp(h->type, "sh") == 0) {
            cr_assert_eq(h->mode, HT_HANDLER_EXEC);
            cr_assert_eq(h->max_line, 1024 * 1024, "1 MiB by default");
        } else {
            cr_assert_eq(h->mode, HT_HANDLER_PERSISTENT);
            cr_assert_eq(h->processes, 0, "0: the worker's concurrency");
            cr_assert_eq(h->max_jobs, 0, "0: unlimited");
        }
    }
}

Test(handlers_config, persistent_options_are_checked)
{
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"mode\": \"forever\"}}}",
                   "handlers.a.mode: must be \"exec\" or \"persistent\"");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"mode\": 1}}}", "handlers.a");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"processes\": 2}}}",
                   "handlers.a.processes: only with \"mode\": \"persistent\"");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"max_jobs\": 2}}}",
                   "handlers.a.max_jobs: only with");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"mode\": \"persistent\","
                   " \"processes\": 0}}}",
                   "handlers.a.processes: must be between 1 and 1024");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"mode\": \"persistent\","
                   " \"processes\": 1025}}}",
                   "processes");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"mode\": \"persistent\","
                   " \"max_jobs\": 0}}}",
                   "handlers.a.max_jobs: must be between 1");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"mode\": \"persistent\","
                   " \"max_jobs\": \"10\"}}}",
                   "max_jobs");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"max_line_bytes\": 1023}}}",
                   "handlers.a.max_line_bytes: must be between 1024 and 67108864");
}

Test(handlers_config, env_and_env_pass)
{
    int rc = load("{\"handlers\": {\"a\": {\"command\": [\"x\"],"
                  " \"env\": {\"MODEL_DIR\": \"/m\", \"EMPTY\": \"\"},"
                  " \"env_pass\": [\"AWS_PROFILE\", \"HOME\"]}}}");
    cr_assert_eq(rc, 0, "%s", err);
    const ht_exec_handler_t *h = &cfg.handlers[0];
    cr_assert_eq(h->n_env, 2);
    cr_assert_str_eq(h->env[0], "MODEL_DIR=/m");
    cr_assert_str_eq(h->env[1], "EMPTY=");
    cr_assert_null(h->env[2]);
    cr_assert_eq(h->n_env_pass, 2);
    cr_assert_str_eq(h->env_pass[0], "AWS_PROFILE");
    cr_assert_str_eq(h->env_pass[1], "HOME");
    cr_assert_null(h->env_pass[2]);
}

Test(handlers_config, env_never_carries_the_workers_settings)
{
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"],"
                   " \"env_pass\": [\"HANGTIGHT_REDIS_URL\"]}}}",
                   "handlers.a.env_pass: \"HANGTIGHT_REDIS_URL\": the worker's HANGTIGHT_ "
                   "settings never reach a handler");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"],"
                   " \"env\": {\"HANGTIGHT_WEBHOOK_SECRET\": \"x\"}}}}",
                   "handlers.a.env: \"HANGTIGHT_WEBHOOK_SECRET\"");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"env\": {\"A-B\": \"x\"}}}}",
                   "\"A-B\" is not a variable name");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"env\": {\"A\": 1}}}}",
                   "handlers.a.env.A: must be a string");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"env\": [\"A=1\"]}}}",
                   "handlers.a.env: must be an object");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"env_pass\": \"HOME\"}}}",
                   "handlers.a.env_pass: must be an array");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"env_pass\": [\"H\", \"H\"]}}}",
                   "\"H\" is named twice");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"env\": {\"H\": \"1\"},"
                   " \"env_pass\": [\"H\"]}}}",
                   "\"H\" is also set in env");
    assert_refused("{\"handlers\": {\"a\": {\"command\": [\"x\"], \"env_pass\": [3]}}}",
                   "handlers.a.env_pass[0]: must be a variable name");
}
