/* The exec handler: runs one child process per job, as configured in the
 * HANGTIGHT_HANDLERS file (handlers_config.h).  The child gets the payload
 * JSON on stdin (the stored bytes, not parsed here), HANGTIGHT_JOB_ID,
 * HANGTIGHT_ATTEMPT and HANGTIGHT_JOB_TYPE in its environment, with
 * HT_INPUT_PATH and HT_OUTPUT_PATH for the job's files (which is otherwise
 * the clean one of child.h), and speaks the stdout protocol of
 * exec_output.h.
 *
 * One poll(2) loop per job on the slot thread: it feeds stdin without
 * blocking (a child that never reads it cannot block us; EPIPE is expected,
 * the worker ignores SIGPIPE), reads stdout into the parser and stderr into
 * a 4 KiB tail, and ticks every 100 ms to notice a stop request or the
 * handler's own timeout.  The child leads its own process group, so
 * stopping it reaches its children too: SIGTERM, then SIGKILL after a grace
 * period.  The child is always reaped before we return. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/error.h"
#include "shared/log.h"

#include "worker/builtins.h"
#include "worker/child.h"
#include "worker/exec_output.h"
#include "worker/handlers_config.h"
#include "worker/job_ctx.h"
#include "worker/text.h"

extern char **environ;

#define TICK_MS       100
#define KILL_GRACE_MS 5000
/* After the child exits, how long its stray descendants may keep our pipes
 * open before we stop reading. */
#define PIPE_LINGER_MS 1000
#define READ_CHUNK     65536

typedef enum { WHY_NONE, WHY_STOP, WHY_HANDLER_TIMEOUT, WHY_TOO_LARGE } kill_why_t;

typedef struct {
    const ht_exec_handler_t *h;
    ht_job_ctx_t *ctx;
    ht_child_t c; /* pid and our ends of its pipes; -1 once closed */
    char *input;  /* payload JSON and a newline */
    size_t input_len, input_off;
    ht_exec_output_t *out;
    ht_tail_t err;
    int exited, status;
    int64_t exited_at;
    kill_why_t why;
    int64_t term_at;          /* when SIGTERM went to the group, 0 if not */
    int killed;               /* SIGKILL sent */
    int64_t handler_deadline; /* monotonic; INT64_MAX when uncapped */
} run_t;

/* Starts the child with the clean environment (child.h) plus the job's
 * variables: HT_INPUT_PATH when the job has an input file, HT_OUTPUT_PATH
 * when the worker has a blob store (files.h).  `input` and `output` are
 * those paths or NULL.  Returns 0 or a negative errno (then r->c.pid says
 * whether a child runs anyway). */
static int spawn(run_t *r, const char *input, const char *output)
{
    char *vars[6] = {NULL};
    const char *extra[6] = {NULL};
    int rc = -ENOMEM, n = 3;
    if (asprintf(&vars[0], "HANGTIGHT_JOB_ID=%s", ht_job_id(r->ctx)) < 0 ||
        asprintf(&vars[1], "HANGTIGHT_ATTEMPT=%d", ht_job_attempt(r->ctx)) < 0 ||
        asprintf(&vars[2], "HANGTIGHT_JOB_TYPE=%s", ht_job_type(r->ctx)) < 0 ||
        (input && asprintf(&vars[n++], "HT_INPUT_PATH=%s", input) < 0) ||
        (output && asprintf(&vars[n++], "HT_OUTPUT_PATH=%s", output) < 0))
        goto out;
    for (int i = 0; i < n; i++)
        extra[i] = vars[i];
    char **env = ht_child_env(r->h, environ, extra);
    if (!env)
        goto out;
    rc = ht_child_spawn(&r->c, r->h->argv, env);
    ht_child_env_free(env);
out:
    for (int i = 0; i < 6; i++)
        free(vars[i]);
    return rc;
}

static void write_input(run_t *r)
{
    while (r->input_off < r->input_len) {
        ssize_t n = write(r->c.in_fd, r->input + r->input_off, r->input_len - r->input_off);
        if (n > 0) {
            r->input_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* EPIPE: the child does not read stdin, which is its right */
    }
    ht_child_close(&r->c.in_fd); /* EOF tells the child the payload is complete */
}

/* Reads what is available from one pipe; closes it on EOF. */
static void drain_pipe(run_t *r, int *fd, int is_stdout)
{
    char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n > 0) {
            if (is_stdout)
                ht_exec_output_feed(r->out, buf, (size_t)n);
            else
                ht_tail_append(&r->err, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        ht_child_close(fd); /* EOF or a real error: nothing more to read */
        return;
    }
}

static void signal_group(run_t *r, int sig)
{
    ht_child_signal(&r->c, sig, r->exited);
}

static void start_kill(run_t *r, kill_why_t why)
{
    if (r->why != WHY_NONE)
        return;
    r->why = why;
    r->term_at = ht_mono_ms();
    signal_group(r, SIGTERM);
}

static void reap(run_t *r, int options)
{
    if (r->exited)
        return;
    int status;
    pid_t p;
    do
        p = waitpid(r->c.pid, &status, options);
    while (p < 0 && errno == EINTR);
    if (p == r->c.pid) {
        r->exited = 1;
        r->status = status;
        r->exited_at = ht_mono_ms();
    }
}

/* One tick's checks: progress to publish, reasons to stop the child,
 * escalation to SIGKILL. */
static void check(run_t *r)
{
    int pct;
    const char *msg;
    if (ht_exec_output_take_progress(r->out, &pct, &msg))
        ht_job_progress(r->ctx, pct, msg);
    reap(r, WNOHANG);
    if (!r->exited && r->why == WHY_NONE) {
        if (ht_job_should_stop(r->ctx))
            start_kill(r, WHY_STOP);
        else if (ht_mono_ms() >= r->handler_deadline)
            start_kill(r, WHY_HANDLER_TIMEOUT);
        else if (ht_exec_output_state(r->out) != HT_EXEC_OUTPUT_OK)
            start_kill(r, WHY_TOO_LARGE);
    } else if (r->exited && r->why == WHY_NONE) {
        ht_job_should_stop(r->ctx); /* keeps progress flowing */
    }
    if (r->why != WHY_NONE && !r->killed && ht_mono_ms() - r->term_at >= KILL_GRACE_MS) {
        signal_group(r, SIGKILL);
        r->killed = 1;
    }
    if (r->exited && ht_mono_ms() - r->exited_at >= PIPE_LINGER_MS) {
        /* Descendants still hold the pipes: they are not our job any more. */
        ht_child_close(&r->c.out_fd);
        ht_child_close(&r->c.err_fd);
    }
}

static void poll_loop(run_t *r)
{
    while (!r->exited || r->c.out_fd >= 0 || r->c.err_fd >= 0) {
        struct pollfd fds[3];
        int *owners[3];
        nfds_t n = 0;
        if (r->c.in_fd >= 0) {
            fds[n] = (struct pollfd){r->c.in_fd, POLLOUT, 0};
            owners[n++] = &r->c.in_fd;
        }
        if (r->c.out_fd >= 0) {
            fds[n] = (struct pollfd){r->c.out_fd, POLLIN, 0};
            owners[n++] = &r->c.out_fd;
        }
        if (r->c.err_fd >= 0) {
            fds[n] = (struct pollfd){r->c.err_fd, POLLIN, 0};
            owners[n++] = &r->c.err_fd;
        }
        if (poll(fds, n, TICK_MS) > 0) {
            for (nfds_t i = 0; i < n; i++) {
                if (!fds[i].revents)
                    continue;
                if (owners[i] == &r->c.in_fd)
                    write_input(r);
                else
                    drain_pipe(r, owners[i], owners[i] == &r->c.out_fd);
            }
        }
        check(r);
    }
    ht_child_close(&r->c.in_fd);
}

/* Turns the finished child into the handler's answer. */
static int outcome(run_t *r, json_t **result)
{
    char msg[256];
    if (r->why == WHY_NONE && ht_exec_output_state(r->out) != HT_EXEC_OUTPUT_OK)
        r->why = WHY_TOO_LARGE; /* the child exited before we could stop it */
    switch (r->why) {
    case WHY_STOP:
        return HT_HANDLER_STOPPED;
    case WHY_HANDLER_TIMEOUT:
        snprintf(msg, sizeof(msg), "the %s handler ran past its timeout_s of %ld s", r->h->type,
                 r->h->timeout_s);
        ht_job_fail(r->ctx, "timeout", msg, 1);
        return HT_HANDLER_FAIL;
    case WHY_TOO_LARGE:
        snprintf(msg, sizeof(msg), "a line of the handler's stdout exceeded %zu bytes",
                 r->h->max_line);
        ht_job_fail(r->ctx, "output_too_large", msg, 0);
        return HT_HANDLER_FAIL;
    case WHY_NONE:
        break;
    }
    int retry;
    const char *error = ht_exec_output_error(r->out, &retry);
    if (error) {
        ht_job_fail(r->ctx, "handler_error", error, retry);
        return HT_HANDLER_FAIL;
    }
    if (WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0) {
        const char *type = ht_exec_output_content_type(r->out);
        if (type && ht_job_output_type(r->ctx, type) < 0)
            return HT_HANDLER_FAIL;
        json_t *res = ht_exec_output_result(r->out);
        *result = res ? json_incref(res) : NULL;
        return HT_HANDLER_OK;
    }
    char *tail = ht_tail_text(&r->err);
    if (tail && *tail) {
        ht_job_fail(r->ctx, "exit_status", tail, 1);
    } else {
        if (WIFEXITED(r->status))
            snprintf(msg, sizeof(msg), "exited with status %d", WEXITSTATUS(r->status));
        else
            snprintf(msg, sizeof(msg), "killed by signal %d (%s)", WTERMSIG(r->status),
                     strsignal(WTERMSIG(r->status)));
        ht_job_fail(r->ctx, "exit_status", msg, 1);
    }
    free(tail);
    return HT_HANDLER_FAIL;
}

int ht_exec_run(ht_job_ctx_t *ctx, const json_t *payload, json_t **result)
{
    (void)payload; /* registered for the stored bytes: NULL */
    run_t r = {.h = ht_job_handler_data(ctx),
               .ctx = ctx,
               .c = {.pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1},
               .handler_deadline = INT64_MAX};
    int ret = HT_HANDLER_FAIL;
    size_t len;
    const char *text = ht_job_payload_text(ctx, &len);
    r.out = ht_exec_output_new(r.h->max_line);
    if (!r.out || !(r.input = malloc(len + 1))) {
        ht_job_fail(ctx, "internal", "out of memory starting the handler", 1);
        goto out;
    }
    memcpy(r.input, text, len);
    r.input[len] = '\n';
    r.input_len = len + 1;
    if (r.h->timeout_s > 0)
        r.handler_deadline = ht_mono_ms() + r.h->timeout_s * 1000;

    const char *input, *output;
    if (ht_job_ctx_input_path(ctx, &input) < 0 || ht_job_ctx_output_path(ctx, &output) < 0)
        goto out;
    int rc = spawn(&r, input, output);
    if (rc < 0 && r.c.pid <= 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "cannot run %s: %s", r.h->argv[0], strerror(-rc));
        ht_log(HT_LOG_ERROR, "exec handler did not start", "id", ht_job_id(ctx), "type", r.h->type,
               "error", msg, NULL);
        ht_job_fail(ctx, "spawn_failed", msg, 1);
        goto out;
    }
    if (rc < 0)
        start_kill(&r, WHY_STOP); /* could not set up the pipes: give up */
    poll_loop(&r);
    if (!r.exited) {
        /* Only reachable if waitpid kept failing; never leave a zombie. */
        signal_group(&r, SIGKILL);
        reap(&r, 0);
    }
    ht_exec_output_finish(r.out);
    int pct;
    const char *msg;
    if (ht_exec_output_take_progress(r.out, &pct, &msg))
        ht_job_progress(ctx, pct, msg);
    ret = outcome(&r, result);
out:
    free(r.input);
    ht_exec_output_free(r.out);
    return ret;
}
