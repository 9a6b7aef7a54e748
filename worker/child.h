/* Starting a handler's child process, the same way for exec handlers (a
 * child per job, exec.c) and persistent ones (children that stay,
 * pool.c): the clean environment and the spawn.
 *
 * The environment of every child is built, never inherited:
 *   1. the base set, taken from the worker's environment when set there:
 *      PATH (default /usr/local/bin:/usr/bin:/bin), HOME, LANG, every
 *      LC_*, TZ and TMPDIR;
 *   2. the handler's "env_pass" names that the worker's environment has;
 *   3. the handler's "env" values;
 *   4. what the worker sets itself (an exec child's HANGTIGHT_JOB_ID,
 *      HANGTIGHT_ATTEMPT and HANGTIGHT_JOB_TYPE, and its HT_INPUT_PATH and
 *      HT_OUTPUT_PATH for a job's files: worker/files.h);
 * a later entry replacing an earlier one of the same name.  Nothing else
 * reaches a child: not HANGTIGHT_REDIS_URL, webhook secrets, API keys, nor
 * any other variable of the worker (the config refuses HANGTIGHT_* names
 * in 2 and 3).  Unit-tested in tests/unit/test_child.c. */
#ifndef HT_WORKER_CHILD_H
#define HT_WORKER_CHILD_H

#include <sys/types.h>

#include "worker/handlers_config.h"

#define HT_CHILD_PATH_DEFAULT "/usr/local/bin:/usr/bin:/bin"

/* The environment of a child of handler `h`, from the worker's
 * environment `parent` (NULL-terminated "NAME=value" strings) and the
 * worker's own `extra` entries (NULL-terminated, may be NULL).  A new
 * NULL-terminated array of new strings (ht_child_env_free()), or NULL when
 * out of memory. */
char **ht_child_env(const ht_exec_handler_t *h, char *const *parent, const char *const *extra);
void ht_child_env_free(char **env);

/* A running child: its pid and our ends of its stdin, stdout and stderr
 * (non-blocking, close-on-exec; -1 once closed). */
typedef struct {
    pid_t pid;
    int in_fd, out_fd, err_fd;
} ht_child_t;

/* Starts argv[0] (searched in the worker's PATH) with `env`, in a process
 * group of its own (so that stopping it reaches its descendants), with
 * default signal handling, an empty signal mask and only fds 0-2 open.
 * Returns 0, or a negative errno: the child did not start (c->pid is -1),
 * or it started but its pipes could not be set up (c->pid is set: the
 * caller stops and reaps it). */
int ht_child_spawn(ht_child_t *c, char *const *argv, char *const *env);

/* Signals the child's process group (the child alone when the group
 * cannot be signalled and the child is not `reaped` yet). */
void ht_child_signal(const ht_child_t *c, int sig, int reaped);

/* Closes *fd when open and sets it to -1. */
void ht_child_close(int *fd);

#endif
