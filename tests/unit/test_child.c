/* worker/child.c: the clean environment of handler children (pure), and a
 * real spawn that shows a child gets exactly that environment. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "worker/child.h"

static ht_exec_handler_t h;
static char **env;

static void setup(void)
{
    memset(&h, 0, sizeof(h));
    env = NULL;
}

static void teardown(void)
{
    ht_child_env_free(env);
}

TestSuite(child, .init = setup, .fini = teardown, .timeout = 30);

static const char *get(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
            return env[i] + n + 1;
    return NULL;
}

static size_t count(void)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    return n;
}

static char *worker_env[] = {"PATH=/opt/bin:/usr/bin",
                             "HOME=/home/w",
                             "LANG=C.UTF-8",
                             "LC_ALL=C.UTF-8",
                             "LC_TIME=en_GB.UTF-8",
                             "TZ=Europe/Paris",
                             "TMPDIR=/var/tmp",
                             "HANGTIGHT_REDIS_URL=redis://:secret@db:6379/0",
                             "HANGTIGHT_WEBHOOK_SECRET=whsec_abc",
                             "HANGTIGHT_API_KEYS_FILE=/etc/keys",
                             "AWS_SECRET_ACCESS_KEY=shh",
                             "AWS_PROFILE=prod",
                             "LD_PRELOAD=/evil.so",
                             "LCX=not-a-locale",
                             "USER=w",
                             NULL};

Test(child, base_set_only)
{
    env = ht_child_env(&h, worker_env, NULL);
    cr_assert_not_null(env);
    cr_assert_str_eq(get("PATH"), "/opt/bin:/usr/bin");
    cr_assert_str_eq(get("HOME"), "/home/w");
    cr_assert_str_eq(get("LANG"), "C.UTF-8");
    cr_assert_str_eq(get("LC_ALL"), "C.UTF-8");
    cr_assert_str_eq(get("LC_TIME"), "en_GB.UTF-8");
    cr_assert_str_eq(get("TZ"), "Europe/Paris");
    cr_assert_str_eq(get("TMPDIR"), "/var/tmp");
    cr_assert_eq(count(), 7, "nothing else: not the secrets, LD_PRELOAD, USER or LCX");
    cr_assert_null(get("HANGTIGHT_REDIS_URL"));
    cr_assert_null(get("AWS_SECRET_ACCESS_KEY"));
}

Test(child, path_has_a_default)
{
    char *bare[] = {"HOME=/root", NULL};
    env = ht_child_env(&h, bare, NULL);
    cr_assert_str_eq(get("PATH"), HT_CHILD_PATH_DEFAULT);
    cr_assert_eq(count(), 2);
}

Test(child, config_env_pass_and_worker_extras)
{
    char *set[] = {"MODEL_DIR=/m", "TZ=UTC", NULL};
    char *pass[] = {"AWS_PROFILE", "NOT_SET_ANYWHERE", NULL};
    h.env = set;
    h.n_env = 2;
    h.env_pass = pass;
    h.n_env_pass = 2;
    const char *extra[] = {"HANGTIGHT_JOB_ID=j1", "MODEL_DIR=/from-worker", NULL};
    env = ht_child_env(&h, worker_env, extra);
    cr_assert_str_eq(get("AWS_PROFILE"), "prod", "env_pass takes the worker's value");
    cr_assert_null(get("NOT_SET_ANYWHERE"), "a name the worker lacks is left out");
    cr_assert_str_eq(get("TZ"), "UTC", "env replaces the base set");
    cr_assert_str_eq(get("MODEL_DIR"), "/from-worker", "the worker's own entries come last");
    cr_assert_str_eq(get("HANGTIGHT_JOB_ID"), "j1");
    cr_assert_eq(count(), 10);
}

Test(child, env_names)
{
    cr_assert(ht_handlers_env_name_ok("MODEL_DIR"));
    cr_assert(ht_handlers_env_name_ok("_x1"));
    cr_assert_not(ht_handlers_env_name_ok("HANGTIGHT_REDIS_URL"));
    cr_assert_not(ht_handlers_env_name_ok("HANGTIGHT_"));
    cr_assert_not(ht_handlers_env_name_ok("1ABC"));
    cr_assert_not(ht_handlers_env_name_ok("A-B"));
    cr_assert_not(ht_handlers_env_name_ok("A=B"));
    cr_assert_not(ht_handlers_env_name_ok(""));
    cr_assert(ht_handlers_env_name_ok("hangtight_lower"), "only the exact prefix is the worker's");
}

/* A real child prints its environment: exactly what was built. */
Test(child, spawned_child_sees_only_its_env)
{
    char *pass[] = {"AWS_PROFILE", NULL};
    h.env_pass = pass;
    h.n_env_pass = 1;
    env = ht_child_env(&h, worker_env, NULL);
    char *argv[] = {"/usr/bin/env", NULL};
    ht_child_t c;
    cr_assert_eq(ht_child_spawn(&c, argv, env), 0);
    ht_child_close(&c.in_fd);
    char out[4096];
    size_t len = 0;
    for (;;) {
        struct pollfd p = {c.out_fd, POLLIN, 0};
        poll(&p, 1, 5000);
        ssize_t n = read(c.out_fd, out + len, sizeof(out) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    int status;
    cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ht_child_close(&c.out_fd);
    ht_child_close(&c.err_fd);
    size_t lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        int known = 0;
        for (size_t i = 0; env[i]; i++)
            known |= strcmp(env[i], line) == 0;
        cr_assert(known, "the child saw '%s'", line);
    }
    cr_assert_eq(lines, count());
    cr_assert_eq(lines, 8);
}

Test(child, spawn_of_a_missing_program)
{
    char *argv[] = {"/nonexistent/prog", NULL};
    char *none[] = {NULL};
    ht_child_t c;
    cr_assert_lt(ht_child_spawn(&c, argv, none), 0);
    cr_assert_eq(c.pid, -1);
    cr_assert_eq(c.in_fd, -1);
}
