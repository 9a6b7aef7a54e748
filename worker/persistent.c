/* Persistent handlers (see persistent.h): one job served over a process of
 * its handler's pool (pool.h).  The slot writes the job line without
 * blocking, reads the answers line by line (lines.h, proto.h), relays
 * progress, and watches the attempt's time and stop requests every
 * HT_POOL_TICK_MS; whatever goes wrong ends this attempt and, when the
 * process cannot be trusted with another job, retires it. */
#include "worker/persistent.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"

#include "worker/job_ctx.h"
#include "worker/lines.h"
#include "worker/pool.h"
#include "worker/proto.h"
#include "worker/text.h"

#define READ_CHUNK 65536
#define SHOW_MAX   200 /* bytes of an offending line quoted in an error */

typedef enum {
    OUT_NONE,      /* no final answer yet */
    OUT_FINAL,     /* a result or an error */
    OUT_INVALID,   /* a protocol error */
    OUT_TOO_LARGE, /* a line over max_line */
    OUT_NOMEM,
} out_t;

typedef struct {
    ht_pool_t *pool;
    const ht_exec_handler_t *h;
    ht_proc_t *p;   /* the process serving the job; NULL once given back */
    ht_child_t *io; /* its pid and pipes */
    ht_job_ctx_t *ctx;
    const char *line; /* the job line */
    size_t len, written;
    int64_t deadline; /* monotonic: the attempt's, or the handler's cap */
    int capped;       /* the deadline is the handler's timeout_s */
    ht_lines_t out;
    out_t outcome;
    ht_proto_answer_t answer; /* OUT_FINAL */
    char why[sizeof(((ht_proto_answer_t *)0)->why) + SHOW_MAX + 8];
    int progress_new, progress_pct;
    char *progress_msg;
} job_t;

static int on_out_line(void *arg, const char *line, size_t len, int cut)
{
    job_t *j = arg;
    if (cut) {
        j->outcome = OUT_TOO_LARGE;
        return 1;
    }
    ht_proto_answer_t a;
    if (ht_proto_parse(line, len, ht_job_id(j->ctx), &a) < 0) {
        j->outcome = OUT_NOMEM;
        return 1;
    }
    switch (a.kind) {
    case HT_PROTO_BLANK:
        return 0;
    case HT_PROTO_PROGRESS:
        free(j->progress_msg);
        j->progress_msg = a.message;
        a.message = NULL;
        j->progress_pct = a.percent;
        j->progress_new = 1;
        ht_proto_answer_clear(&a);
        return 0;
    case HT_PROTO_RESULT:
    case HT_PROTO_ERROR:
        j->answer = a;
        j->outcome = OUT_FINAL;
        return 1;
    case HT_PROTO_INVALID:
        break;
    }
    char *shown = ht_utf8_sanitize(line, len < SHOW_MAX ? len : SHOW_MAX);
    snprintf(j->why, sizeof(j->why), "%s: %s%s", a.why, shown ? shown : "",
             len > SHOW_MAX ? "..." : "");
    free(shown);
    ht_proto_answer_clear(&a);
    j->outcome = OUT_INVALID;
    return 1;
}

/* The process can take no other job: it is stopped and replaced. */
static void stop_process(job_t *j)
{
    ht_pool_kill(j->p);
    j->p = NULL;
}

/* The process closed its stdout (see ht_pool_lost). */
static void process_gone(job_t *j, const char *during, char *story, size_t len)
{
    ht_pool_lost(j->p, during, story, len);
    j->p = NULL;
}

/* "between jobs" or "before its first job", for a process gone idle. */
static const char *idle_phrase(const job_t *j)
{
    return ht_proc_jobs(j->p) ? " between jobs" : " before its first job";
}

/* Writes what the pipe takes of the job line.  Returns 0, or -1 when the
 * process is gone (EPIPE). */
static int feed(job_t *j)
{
    while (j->written < j->len) {
        ssize_t n = write(j->io->in_fd, j->line + j->written, j->len - j->written);
        if (n > 0) {
            j->written += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
    return 0;
}

typedef enum { READ_MORE, READ_DONE, READ_EOF } read_t;

/* Reads what stdout has into the line reader.  *extra is set when bytes
 * follow the final answer. */
static read_t drain(job_t *j, int *extra)
{
    char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = read(j->io->out_fd, buf, sizeof(buf));
        if (n > 0) {
            long used = ht_lines_feed(&j->out, buf, (size_t)n, on_out_line, j);
            if (used < 0) {
                j->outcome = OUT_NOMEM;
                return READ_DONE;
            }
            if (j->outcome != OUT_NONE) {
                *extra = (size_t)used < (size_t)n || j->out.len > 0;
                return READ_DONE;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return READ_MORE;
        return READ_EOF;
    }
}

static void relay_progress(job_t *j)
{
    if (!j->progress_new)
        return;
    j->progress_new = 0;
    ht_job_progress(j->ctx, j->progress_pct, j->progress_msg);
}

/* Bytes of the job line still in the pipe: the process has not read them. */
static long unread(const job_t *j)
{
    int queued = 0;
    if (j->io->in_fd < 0 || ioctl(j->io->in_fd, FIONREAD, &queued) < 0)
        return -1;
    return (long)(j->len - j->written) + queued;
}

enum { SERVE_AGAIN = -1 };

/* Serves the job over j->p.  Returns the handler's return, or SERVE_AGAIN
 * when the process was gone before it could take the job. */
static int serve(job_t *j)
{
    const char *type = j->h->type;
    pid_t pid = j->io->pid;
    int extra = 0;
    char msg[HT_TAIL_MAX + 512];
    ht_lines_init(&j->out, j->h->max_line);
    j->written = 0;
    j->outcome = OUT_NONE;
    /* Output written between jobs, or a process gone while idle: not this
     * job's business, and not a process to use. */
    char peek[256];
    ssize_t n = read(j->io->out_fd, peek, sizeof(peek));
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        if (n > 0) {
            char *shown = ht_utf8_sanitize(peek, (size_t)n);
            ht_pool_log(HT_LOG_WARN, "handler wrote to stdout between jobs: process replaced",
                        j->pool, pid, "output", shown ? shown : "", NULL, NULL);
            free(shown);
            stop_process(j);
        } else {
            process_gone(j, idle_phrase(j), msg, sizeof(msg));
        }
        return SERVE_AGAIN;
    }
    for (;;) {
        if (j->io->in_fd >= 0 && feed(j) < 0) {
            if (j->written == 0) { /* it never saw the job */
                process_gone(j, idle_phrase(j), msg, sizeof(msg));
                return SERVE_AGAIN;
            }
            /* Gone with the line half read: hear what it said before. */
            ht_child_close(&j->io->in_fd);
        }
        relay_progress(j);
        int64_t now = ht_mono_ms();
        if (now >= j->deadline) {
            long left = unread(j);
            if (left > 0)
                snprintf(msg, sizeof(msg),
                         "the %s handler process (pid %ld) did not read its job (%ld of %zu "
                         "bytes left unread) within %s",
                         type, (long)pid, left, j->len,
                         j->capped ? "the handler's timeout_s" : "the attempt's timeout_s");
            else
                snprintf(msg, sizeof(msg),
                         "the %s handler process (pid %ld) did not answer within %s", type,
                         (long)pid,
                         j->capped ? "the handler's timeout_s" : "the attempt's timeout_s");
            ht_pool_log(HT_LOG_WARN, "handler timed out: process stopped", j->pool, pid, "id",
                        ht_job_id(j->ctx), "error", msg);
            stop_process(j);
            ht_job_fail(j->ctx, "timeout", msg, 1);
            return HT_HANDLER_FAIL;
        }
        if (ht_job_should_stop(j->ctx)) {
            stop_process(j);
            return HT_HANDLER_STOPPED;
        }
        struct pollfd fds[2] = {{j->io->out_fd, POLLIN, 0}, {j->io->in_fd, POLLOUT, 0}};
        int64_t wait = j->deadline - now < HT_POOL_TICK_MS ? j->deadline - now : HT_POOL_TICK_MS;
        if (poll(fds, j->written < j->len && j->io->in_fd >= 0 ? 2 : 1, (int)wait) <= 0 ||
            !fds[0].revents)
            continue;
        read_t r = drain(j, &extra);
        if (r == READ_DONE)
            break;
        if (r == READ_EOF) {
            relay_progress(j);
            char story[HT_TAIL_MAX + 256];
            process_gone(j, " while running the job", story, sizeof(story));
            snprintf(msg, sizeof(msg), "the %s handler process (pid %ld) %s", type, (long)pid,
                     story);
            ht_job_fail(j->ctx, "handler_exited", msg, 1);
            return HT_HANDLER_FAIL;
        }
    }
    relay_progress(j);
    switch (j->outcome) {
    case OUT_FINAL:
        ht_pool_release(j->p, extra, ht_job_id(j->ctx));
        j->p = NULL;
        if (j->answer.kind == HT_PROTO_RESULT) {
            if (j->answer.output_type && ht_job_output_type(j->ctx, j->answer.output_type) < 0)
                return HT_HANDLER_FAIL;
            ht_job_ctx_set_result_text(j->ctx, j->answer.result);
            j->answer.result = NULL;
            return HT_HANDLER_OK;
        }
        ht_job_fail(j->ctx, j->answer.code, j->answer.error, j->answer.retry);
        return HT_HANDLER_FAIL;
    case OUT_TOO_LARGE:
        snprintf(msg, sizeof(msg), "a line of the %s handler's stdout exceeded %zu bytes", type,
                 j->h->max_line);
        ht_pool_log(HT_LOG_WARN, "handler line too long: process stopped", j->pool, pid, "id",
                    ht_job_id(j->ctx), NULL, NULL);
        stop_process(j);
        ht_job_fail(j->ctx, "output_too_large", msg, 0);
        return HT_HANDLER_FAIL;
    case OUT_INVALID:
        snprintf(msg, sizeof(msg), "the %s handler wrote a line that is not an answer (%s)", type,
                 j->why);
        ht_pool_log(HT_LOG_WARN, "handler protocol error: process stopped", j->pool, pid, "id",
                    ht_job_id(j->ctx), "error", j->why);
        stop_process(j);
        ht_job_fail(j->ctx, "protocol_error", msg, 1);
        return HT_HANDLER_FAIL;
    case OUT_NOMEM:
    case OUT_NONE:
        break;
    }
    stop_process(j);
    ht_job_fail(j->ctx, "internal", "out of memory reading the handler's answer", 1);
    return HT_HANDLER_FAIL;
}

int ht_persistent_run(ht_job_ctx_t *ctx, const json_t *payload, json_t **result)
{
    (void)payload; /* registered for the stored bytes: NULL */
    (void)result;  /* a result comes as text: ht_job_ctx_set_result_text() */
    ht_pool_t *pool = (ht_pool_t *)ht_job_handler_data(ctx);
    job_t j = {.pool = pool, .h = ht_pool_handler(pool), .ctx = ctx};
    int64_t now = ht_mono_ms();
    j.deadline = ctx->deadline_ms;
    if (j.h->timeout_s > 0 && now + j.h->timeout_s * 1000 < j.deadline) {
        j.deadline = now + j.h->timeout_s * 1000;
        j.capped = 1;
    }
    ht_proto_job_t pj = {.id = ht_job_id(ctx),
                         .type = ht_job_type(ctx),
                         .attempt = ht_job_attempt(ctx),
                         .deadline_ms = ht_now_ms() + (j.deadline - now)};
    pj.payload = ht_job_payload_text(ctx, &pj.payload_len);
    if (ht_job_ctx_input_path(ctx, &pj.input_path) < 0 ||
        ht_job_ctx_output_path(ctx, &pj.output_path) < 0)
        return HT_HANDLER_FAIL;
    char *line = ht_proto_job_line(&pj, &j.len);
    if (!line) {
        ht_job_fail(ctx, "internal", "out of memory writing the job line", 1);
        return HT_HANDLER_FAIL;
    }
    j.line = line;
    int rc;
    do {
        rc = ht_pool_acquire(pool, ctx, j.deadline, &j.p);
        if (rc == 0) {
            j.io = ht_proc_io(j.p);
            rc = serve(&j);
        }
        ht_lines_free(&j.out);
        ht_proto_answer_clear(&j.answer);
    } while (rc == SERVE_AGAIN);
    free(j.progress_msg);
    free(line);
    return rc;
}
