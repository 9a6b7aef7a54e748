/* Child processes of handlers: the clean environment and the spawn (see
 * child.h). */
#include "worker/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The base set: exact names, then the LC_ prefix. */
static const char *const base_names[] = {"PATH", "HOME", "LANG", "TZ", "TMPDIR"};

/* Length of the name of "NAME=value" (the whole string without '='). */
static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int in_base_set(const char *entry)
{
    size_t n = name_len(entry);
    if (n > 3 && strncmp(entry, "LC_", 3) == 0)
        return 1;
    for (size_t i = 0; i < sizeof(base_names) / sizeof(base_names[0]); i++)
        if (strlen(base_names[i]) == n && strncmp(entry, base_names[i], n) == 0)
            return 1;
    return 0;
}

/* The entry of `name` in `parent`, or NULL. */
static const char *find(char *const *parent, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; parent && parent[i]; i++)
        if (name_len(parent[i]) == n && strncmp(parent[i], name, n) == 0)
            return parent[i];
    return NULL;
}

typedef struct {
    char **v;
    size_t n, cap;
    int failed;
} env_t;

/* Adds a copy of "NAME=value", replacing an entry of the same name. */
static void put(env_t *e, const char *entry)
{
    if (e->failed)
        return;
    char *copy = strdup(entry);
    if (!copy) {
        e->failed = 1;
        return;
    }
    size_t n = name_len(entry);
    for (size_t i = 0; i < e->n; i++) {
        if (name_len(e->v[i]) == n && strncmp(e->v[i], entry, n) == 0) {
            free(e->v[i]);
            e->v[i] = copy;
            return;
        }
    }
    if (e->n + 1 >= e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        char **v = realloc(e->v, cap * sizeof(*v));
        if (!v) {
            free(copy);
            e->failed = 1;
            return;
        }
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = copy;
    e->v[e->n] = NULL;
}

char **ht_child_env(const ht_exec_handler_t *h, char *const *parent, const char *const *extra)
{
    env_t e = {0};
    put(&e, "PATH=" HT_CHILD_PATH_DEFAULT);
    for (size_t i = 0; parent && parent[i]; i++)
        if (in_base_set(parent[i]) && strchr(parent[i], '='))
            put(&e, parent[i]);
    for (size_t i = 0; i < h->n_env_pass; i++) {
        const char *entry = find(parent, h->env_pass[i]);
        if (entry && strchr(entry, '='))
            put(&e, entry);
    }
    for (size_t i = 0; i < h->n_env; i++)
        put(&e, h->env[i]);
    for (size_t i = 0; extra && extra[i]; i++)
        put(&e, extra[i]);
    if (e.failed) {
        ht_child_env_free(e.v);
        return NULL;
    }
    return e.v;
}

void ht_child_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

void ht_child_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

int ht_child_spawn(ht_child_t *c, char *const *argv, char *const *env)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = 0;
    c->pid = -1;
    c->in_fd = c->out_fd = c->err_fd = -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        rc = -errno;
        goto out;
    }
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    /* Other threads' Redis sockets are not close-on-exec. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);

    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    int defs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD};
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        sigaddset(&defaults, defs[i]);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);

    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, &attr, argv, env);
    if (e != 0) {
        rc = -e;
        goto out;
    }
    c->pid = pid;
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    in[1] = out[0] = err[0] = -1;
    if ((rc = set_nonblock(c->in_fd)) < 0 || (rc = set_nonblock(c->out_fd)) < 0 ||
        (rc = set_nonblock(c->err_fd)) < 0)
        goto out; /* the caller still owns a running child: it stops and reaps it */
out:
    for (int i = 0; i < 2; i++) {
        ht_child_close(&in[i]);
        ht_child_close(&out[i]);
        ht_child_close(&err[i]);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

void ht_child_signal(const ht_child_t *c, int sig, int reaped)
{
    /* The group outlives its leader while descendants remain; ESRCH only
     * means everyone is gone.  The leader alone only while it is ours: a
     * reaped pid may be another process' by now. */
    if (c->pid > 0 && kill(-c->pid, sig) < 0 && errno != ESRCH && !reaped)
        kill(c->pid, sig);
}
