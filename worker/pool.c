/* The processes of persistent handlers (see pool.h).
 *
 * A process and who may touch what (everything under `mu` unless said):
 *
 *     spawned --> IDLE <--> BUSY --> RETIRED --reaped--> freed
 *                  |                    ^
 *                  +--------------------+
 *
 *   IDLE     in a seat, waiting for a job.  Its stdin/stdout belong to the
 *            supervisor (which only closes them when it reaps the process).
 *   BUSY     taken by a slot (ht_pool_acquire), which owns stdin/stdout
 *            and does the job's I/O without the lock.
 *   RETIRED  off its seat (a new process may take the seat at once), on
 *            the `retired` list until reaped; stdin/stdout closed by
 *            whoever retired it; SIGTERM and SIGKILL as planned.
 * Stderr and the pidfd are the supervisor's in every state, and only the
 * supervisor reaps and frees a process, so a pointer to one stays valid
 * for whoever holds it in any state but freed.
 *
 * A process "proves" itself by answering a job or by living START_OK_MS.
 * One that exits before that (or cannot be started) is a failed start:
 * its seat waits START_BACKOFF_MS, doubling up to START_BACKOFF_MAX_MS,
 * before the next try; from the second failed start in a row the pool is
 * "failing" (logged once, and once again when a process proves itself). */
#include "worker/pool.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shared/backoff.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/log.h"

#include "worker/child.h"
#include "worker/job_ctx.h"
#include "worker/lines.h"
#include "worker/text.h"
#include "worker/thread.h"

extern char **environ;

#define EOF_GRACE_MS         2000  /* a process retired between jobs may end by itself */
#define KILL_GRACE_MS        5000  /* SIGTERM to SIGKILL */
#define START_OK_MS          10000 /* alive this long (or one answer): it starts fine */
#define START_BACKOFF_MS     250   /* the wait after a failed start, doubling */
#define START_BACKOFF_MAX_MS 30000
#define REAP_WAIT_MS         1000 /* a slot waits this long for a dead process' status */
#define SUPERVISOR_TICK_MS   1000
#define STOP_WAIT_MS         (EOF_GRACE_MS + KILL_GRACE_MS + 2000)
#define STDERR_LINE_MAX      2048 /* longer stderr lines are logged cut */
#define STDERR_RATE          50   /* stderr lines logged per second per process, */
#define STDERR_BURST         100  /* after a burst of this many */
#define READ_CHUNK           65536

typedef enum { PROC_IDLE, PROC_BUSY, PROC_RETIRED } proc_state_t;

typedef struct ht_pool pool_t;
typedef struct ht_proc proc_t;

struct ht_proc {
    pool_t *pool;
    ht_child_t c;
    int pidfd; /* -1: the supervisor polls for the exit instead */
    proc_state_t state;
    long seat; /* index in pool->seat; -1 once retired */
    int64_t started_ms;
    long jobs; /* answered */
    int proven;
    int reaped, status;
    int64_t term_at, kill_at; /* retired: when to send SIGTERM, SIGKILL (0: not planned) */
    int term_sent, kill_sent;
    proc_t *next; /* on the retired list */

    /* The supervisor's alone: */
    ht_lines_t err;
    double tokens; /* stderr lines that may be logged now */
    int64_t tokens_at;
    long dropped;          /* lines not logged since the last report of them */
    int64_t dropped_since; /* when the first of them came */

    ht_tail_t tail; /* the end of stderr, for error messages (under mu) */
};

struct ht_pool {
    ht_pools_t *all;
    const ht_exec_handler_t *h;
    long n;            /* seats */
    proc_t **seat;     /* the process in each seat, or NULL */
    int64_t *start_at; /* an empty seat starts a process from then on */
    char *had;         /* the seat had a process: the next one is a restart */
    int failures;      /* failed starts in a row */
    int failing;       /* the state was logged */
    long restarts;
    char last_exit[HT_TAIL_MAX + 256]; /* how the last failed start ended */
    pthread_cond_t cond;               /* a process became idle, or one was reaped */
};

struct ht_pools {
    pool_t *pool;
    size_t n;
    pthread_mutex_t mu;
    pthread_cond_t gone; /* a process was freed (ht_pools_stop waits for all) */
    ht_wthread_t thread;
    int wake_fd;
    proc_t *retired;
    int stopping;
};

static void wake(ht_pools_t *ps)
{
    uint64_t one = 1;
    ssize_t n = write(ps->wake_fd, &one, sizeof(one));
    (void)n; /* EAGAIN: a wake is pending already */
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void describe_exit(int status, char *out, size_t len)
{
    if (WIFEXITED(status))
        snprintf(out, len, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, len, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(out, len, "ended (status %d)", status);
}

/* How a process ended, for an error: "<how><during>: <stderr tail>" (no
 * tail when stderr said nothing). */
static void exit_story(const proc_t *p, const char *how, const char *during, char *out, size_t len)
{
    char *tail = ht_tail_text(&p->tail);
    if (tail && *tail)
        snprintf(out, len, "%s%s: %s", how, during, tail);
    else
        snprintf(out, len, "%s%s", how, during);
    free(tail);
}

static void put_field(json_t *f, const char *key, const char *value)
{
    json_t *v = json_string(value);
    json_object_set_new(f, key, v ? v : json_string("(invalid utf-8)"));
}

void ht_pool_log(ht_log_level_t level, const char *msg, const pool_t *pool, pid_t pid,
                 const char *k1, const char *v1, const char *k2, const char *v2)
{
    json_t *f = json_object();
    if (!f)
        return;
    put_field(f, "type", pool->h->type);
    if (pid > 0)
        json_object_set_new(f, "pid", json_integer(pid));
    if (k1 && v1)
        put_field(f, k1, v1);
    if (k2 && v2)
        put_field(f, k2, v2);
    ht_logj(level, msg, f);
}

/* ---- seats: under mu -------------------------------------------------- */

static void recovered(pool_t *pool)
{
    pool->failures = 0;
    if (pool->failing) {
        pool->failing = 0;
        ht_pool_log(HT_LOG_INFO, "handler processes start again", pool, 0, NULL, NULL, NULL, NULL);
    }
}

/* Counts a failed start (`story`: how it ended) and plans the seat's next
 * try after the backoff. */
static void failed_start(pool_t *pool, long seat, pid_t pid, const char *story, int64_t now)
{
    pool->failures++;
    long delay = ht_backoff_cap_ms(START_BACKOFF_MS, START_BACKOFF_MAX_MS, pool->failures);
    pool->start_at[seat] = now + delay;
    snprintf(pool->last_exit, sizeof(pool->last_exit), "%s", story);
    char next[24];
    snprintf(next, sizeof(next), "%ld", delay);
    ht_pool_log(HT_LOG_DEBUG, "handler process failed at start", pool, pid, "error", story,
                "next_start_in_ms", next);
    if (pool->failures >= 2 && !pool->failing) {
        pool->failing = 1;
        ht_pool_log(HT_LOG_WARN, "handler processes keep failing at start: restarting with backoff",
                    pool, 0, "error", story, "next_start_in_ms", next);
    }
}

/* Takes p off its seat; the seat starts a new process at once, or after
 * the backoff when p `died` before it proved itself (story: how). */
static void vacate(pool_t *pool, proc_t *p, int died, const char *story, int64_t now)
{
    if (p->seat < 0)
        return;
    pool->seat[p->seat] = NULL;
    pool->start_at[p->seat] = now;
    if (died && !p->proven && !pool->all->stopping)
        failed_start(pool, p->seat, p->c.pid, story, now);
    else if (died)
        ht_pool_log(HT_LOG_WARN, "handler process exited", pool, p->c.pid, "error", story, NULL,
                    NULL);
    p->seat = -1;
}

static void close_io(proc_t *p)
{
    ht_child_close(&p->c.in_fd);
    ht_child_close(&p->c.out_fd);
}

/* Retires p (in a seat): with `kill`, SIGTERM now and SIGKILL after the
 * grace; without, its stdin closes (a handler ends when its input does)
 * and SIGTERM follows after EOF_GRACE_MS. */
static void retire(ht_pools_t *ps, proc_t *p, int kill, int64_t now)
{
    vacate(p->pool, p, 0, NULL, now);
    close_io(p);
    p->state = PROC_RETIRED;
    p->next = ps->retired;
    ps->retired = p;
    if (p->reaped)
        return;
    if (kill) {
        ht_child_signal(&p->c, SIGTERM, 0);
        p->term_sent = 1;
        p->term_at = now;
        p->kill_at = now + KILL_GRACE_MS;
    } else {
        p->term_at = now + EOF_GRACE_MS;
    }
    wake(ps);
}

static void free_proc(proc_t *p)
{
    close_io(p);
    ht_child_close(&p->c.err_fd);
    ht_child_close(&p->pidfd);
    ht_lines_free(&p->err);
    free(p);
}

/* ---- the supervisor ----------------------------------------------------- */

/* Reports the stderr lines the rate bound dropped: when logging resumes,
 * a second after the first drop, or at the end. */
static void report_dropped(proc_t *p)
{
    if (!p->dropped)
        return;
    char n[24];
    snprintf(n, sizeof(n), "%ld", p->dropped);
    ht_pool_log(HT_LOG_WARN, "handler stderr lines dropped (rate limit)", p->pool, p->c.pid,
                "count", n, NULL, NULL);
    p->dropped = 0;
}

static int on_stderr_line(void *arg, const char *line, size_t len, int cut)
{
    proc_t *p = arg;
    int64_t now = ht_mono_ms();
    p->tokens += (double)(now - p->tokens_at) * STDERR_RATE / 1000.0;
    if (p->tokens > STDERR_BURST)
        p->tokens = STDERR_BURST;
    p->tokens_at = now;
    if (p->tokens < 1) {
        if (!p->dropped++)
            p->dropped_since = now;
        return 0;
    }
    p->tokens -= 1;
    report_dropped(p);
    char *text = ht_utf8_sanitize(line, len);
    if (text)
        ht_pool_log(HT_LOG_INFO, "handler stderr", p->pool, p->c.pid, "line", text,
                    cut ? "cut" : NULL, "true");
    free(text);
    return 0;
}

/* Reads what p's stderr has; logs it line by line.  Without mu (the tail
 * takes it). */
static void read_stderr(ht_pools_t *ps, proc_t *p)
{
    char buf[READ_CHUNK];
    while (p->c.err_fd >= 0) {
        ssize_t n = read(p->c.err_fd, buf, sizeof(buf));
        if (n > 0) {
            pthread_mutex_lock(&ps->mu);
            ht_tail_append(&p->tail, buf, (size_t)n);
            pthread_mutex_unlock(&ps->mu);
            ht_lines_feed(&p->err, buf, (size_t)n, on_stderr_line, p);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        ht_lines_finish(&p->err, on_stderr_line, p);
        report_dropped(p);
        ht_child_close(&p->c.err_fd); /* EOF: every writer is gone */
    }
}

/* Reaps p if it has exited (under mu).  Its group's leftovers are killed:
 * the handler's own children die with it. */
static void reap(ht_pools_t *ps, proc_t *p, int64_t now)
{
    if (p->reaped)
        return;
    int status;
    pid_t r;
    do
        r = waitpid(p->c.pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r != p->c.pid)
        return;
    p->reaped = 1;
    p->status = status;
    ht_child_signal(&p->c, SIGKILL, 1);
    ht_child_close(&p->pidfd);
    pthread_cond_broadcast(&p->pool->cond);
    if (p->state == PROC_IDLE) {
        /* Between jobs: nobody else knows. */
        char how[64], story[sizeof(p->pool->last_exit)];
        describe_exit(status, how, sizeof(how));
        exit_story(p, how, p->jobs ? " between jobs" : " before its first job", story,
                   sizeof(story));
        vacate(p->pool, p, 1, story, now);
        p->state = PROC_RETIRED;
        close_io(p);
        p->next = ps->retired;
        ps->retired = p;
    }
}

/* Frees the reaped retired processes whose stderr is read (under mu). */
static void collect(ht_pools_t *ps)
{
    for (proc_t **pp = &ps->retired; *pp;) {
        proc_t *p = *pp;
        if (p->reaped && p->c.err_fd < 0) {
            *pp = p->next;
            free_proc(p);
            pthread_cond_broadcast(&ps->gone);
        } else {
            pp = &p->next;
        }
    }
}

/* Starts a process for `pool` (without mu).  NULL with *story set when it
 * could not start. */
static proc_t *spawn_proc(pool_t *pool, char *story, size_t len)
{
    const ht_exec_handler_t *h = pool->h;
    proc_t *p = calloc(1, sizeof(*p));
    char **env = p ? ht_child_env(h, environ, NULL) : NULL;
    int rc = env ? ht_child_spawn(&p->c, h->argv, env) : -ENOMEM;
    ht_child_env_free(env);
    if (rc < 0) {
        snprintf(story, len, "cannot run %s: %s", h->argv[0], strerror(-rc));
        if (p && p->c.pid > 0) {
            ht_child_signal(&p->c, SIGKILL, 0);
            while (waitpid(p->c.pid, NULL, 0) < 0 && errno == EINTR) {
            }
            close_io(p);
            ht_child_close(&p->c.err_fd);
        }
        free(p);
        return NULL;
    }
    p->pool = pool;
    p->pidfd = pidfd_open(p->c.pid, 0);
    p->seat = -1;
    p->started_ms = ht_mono_ms();
    p->tokens = STDERR_BURST;
    p->tokens_at = p->started_ms;
    ht_lines_init(&p->err, STDERR_LINE_MAX);
    return p;
}

static void at_most(int64_t *next, int64_t when)
{
    if (when < *next)
        *next = when;
}

/* Fills the empty seats that are due (under mu, released while spawning). */
static void start_due(ht_pools_t *ps, int64_t *next)
{
    for (size_t i = 0; i < ps->n; i++) {
        pool_t *pool = &ps->pool[i];
        for (long s = 0; s < pool->n && !ps->stopping; s++) {
            if (pool->seat[s])
                continue;
            int64_t now = ht_mono_ms();
            if (pool->start_at[s] > now) {
                at_most(next, pool->start_at[s]);
                continue;
            }
            char story[256];
            pthread_mutex_unlock(&ps->mu);
            proc_t *p = spawn_proc(pool, story, sizeof(story));
            pthread_mutex_lock(&ps->mu);
            if (!p) {
                failed_start(pool, s, 0, story, ht_mono_ms());
                at_most(next, pool->start_at[s]);
                continue;
            }
            p->seat = s;
            p->state = PROC_IDLE;
            pool->seat[s] = p;
            if (pool->had[s])
                pool->restarts++;
            pool->had[s] = 1;
            if (ps->stopping) { /* the stop came while it started */
                retire(ps, p, 0, ht_mono_ms());
                continue;
            }
            char n[24];
            snprintf(n, sizeof(n), "%ld", s);
            ht_pool_log(HT_LOG_DEBUG, "handler process started", pool, p->c.pid, "seat", n, NULL,
                        NULL);
            pthread_cond_broadcast(&pool->cond);
        }
    }
}

/* SIGTERM and SIGKILL of retired processes, when due (under mu). */
static void escalate(ht_pools_t *ps, int64_t now, int64_t *next)
{
    for (proc_t *p = ps->retired; p; p = p->next) {
        if (p->reaped)
            continue;
        if (!p->term_sent && p->term_at && now >= p->term_at) {
            ht_child_signal(&p->c, SIGTERM, 0);
            p->term_sent = 1;
            p->kill_at = now + KILL_GRACE_MS;
        }
        if (p->term_sent && !p->kill_sent && now >= p->kill_at) {
            ht_child_signal(&p->c, SIGKILL, 0);
            p->kill_sent = 1;
        }
        if (!p->term_sent && p->term_at)
            at_most(next, p->term_at);
        else if (!p->kill_sent && p->kill_at)
            at_most(next, p->kill_at);
    }
}

/* Processes alive START_OK_MS prove themselves (under mu). */
static void prove(ht_pools_t *ps, int64_t now, int64_t *next)
{
    for (size_t i = 0; i < ps->n; i++) {
        pool_t *pool = &ps->pool[i];
        for (long s = 0; s < pool->n; s++) {
            proc_t *p = pool->seat[s];
            if (!p || p->proven || p->reaped)
                continue;
            if (now - p->started_ms >= START_OK_MS) {
                p->proven = 1;
                recovered(pool);
            } else {
                at_most(next, p->started_ms + START_OK_MS);
            }
        }
    }
}

typedef struct {
    struct pollfd *fds;
    proc_t **procs; /* fds[i] of procs[i] (NULL: the wake fd) */
    size_t n, cap;
    int polls; /* a process without a pidfd: look for its exit every tick */
    int drops; /* a process has dropped stderr lines to report */
} pollset_t;

static int add_fd(pollset_t *s, int fd, proc_t *p)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct pollfd *f = realloc(s->fds, cap * sizeof(*f));
        if (f)
            s->fds = f;
        proc_t **pp = f ? realloc(s->procs, cap * sizeof(*pp)) : NULL;
        if (!pp)
            return HT_ENOMEM;
        s->procs = pp;
        s->cap = cap;
    }
    s->fds[s->n] = (struct pollfd){fd, POLLIN, 0};
    s->procs[s->n++] = p;
    return 0;
}

static void add_proc(pollset_t *s, proc_t *p)
{
    if (p->dropped)
        s->drops = 1;
    if (p->reaped && p->c.err_fd < 0)
        return;
    if (p->c.err_fd >= 0)
        add_fd(s, p->c.err_fd, p);
    if (!p->reaped && p->pidfd >= 0)
        add_fd(s, p->pidfd, p);
    else if (!p->reaped)
        s->polls = 1;
}

/* Every process not freed yet (under mu): seats, then the retired. */
static void build(ht_pools_t *ps, pollset_t *s)
{
    s->n = 0;
    s->polls = s->drops = 0;
    add_fd(s, ps->wake_fd, NULL);
    for (size_t i = 0; i < ps->n; i++)
        for (long k = 0; k < ps->pool[i].n; k++)
            if (ps->pool[i].seat[k])
                add_proc(s, ps->pool[i].seat[k]);
    for (proc_t *p = ps->retired; p; p = p->next)
        add_proc(s, p);
}

static void reap_all(ht_pools_t *ps, int64_t now)
{
    for (size_t i = 0; i < ps->n; i++)
        for (long k = 0; k < ps->pool[i].n; k++)
            if (ps->pool[i].seat[k])
                reap(ps, ps->pool[i].seat[k], now);
    for (proc_t *p = ps->retired; p; p = p->next)
        reap(ps, p, now);
}

static void *supervise(void *arg)
{
    ht_pools_t *ps = arg;
    pollset_t set = {0};
    pthread_mutex_lock(&ps->mu);
    while (!ht_wthread_quitting(&ps->thread)) {
        int64_t now = ht_mono_ms(), next = now + SUPERVISOR_TICK_MS;
        start_due(ps, &next);
        now = ht_mono_ms();
        escalate(ps, now, &next);
        prove(ps, now, &next);
        build(ps, &set);
        if (set.polls)
            at_most(&next, now + HT_POOL_TICK_MS);
        pthread_mutex_unlock(&ps->mu);

        if (set.drops)
            at_most(&next, now + SUPERVISOR_TICK_MS / 4);
        int ms = next > now ? (int)(next - now) : 0;
        int ready = poll(set.fds, set.n, ms);
        int exits = set.polls;
        for (size_t i = 0; ready > 0 && i < set.n; i++) {
            if (!set.fds[i].revents)
                continue;
            proc_t *p = set.procs[i];
            if (!p) {
                uint64_t v;
                ssize_t r = read(ps->wake_fd, &v, sizeof(v));
                (void)r;
            } else if (set.fds[i].fd == p->pidfd) {
                read_stderr(ps, p); /* its last words first: the exit's story */
                exits = 1;
            } else {
                read_stderr(ps, p);
            }
        }
        for (size_t i = 1; set.drops && i < set.n; i++) {
            proc_t *p = set.procs[i];
            if (p->dropped && ht_mono_ms() - p->dropped_since >= SUPERVISOR_TICK_MS)
                report_dropped(p);
        }
        pthread_mutex_lock(&ps->mu);
        if (exits)
            reap_all(ps, ht_mono_ms());
        collect(ps);
    }
    pthread_mutex_unlock(&ps->mu);
    free(set.fds);
    free(set.procs);
    return NULL;
}

/* ---- the pools ---------------------------------------------------------- */

int ht_pools_new(ht_pools_t **out, const ht_handlers_config_t *cfg, long concurrency)
{
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n; i++)
        n += cfg->handlers[i].mode == HT_HANDLER_PERSISTENT;
    if (n == 0)
        return 0;
    ht_pools_t *ps = calloc(1, sizeof(*ps));
    if (!ps || !(ps->pool = calloc(n, sizeof(*ps->pool)))) {
        free(ps);
        return HT_ENOMEM;
    }
    ps->wake_fd = -1;
    pthread_mutex_init(&ps->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ps->gone, &ca);
    for (size_t i = 0; i < cfg->n; i++) {
        const ht_exec_handler_t *h = &cfg->handlers[i];
        if (h->mode != HT_HANDLER_PERSISTENT)
            continue;
        pool_t *pool = &ps->pool[ps->n++];
        pool->all = ps;
        pool->h = h;
        /* A slot uses one process at a time: more than the slots would idle. */
        pool->n = h->processes > 0 && h->processes < concurrency ? h->processes : concurrency;
        pthread_cond_init(&pool->cond, &ca);
        pool->seat = calloc((size_t)pool->n, sizeof(*pool->seat));
        pool->start_at = calloc((size_t)pool->n, sizeof(*pool->start_at));
        pool->had = calloc((size_t)pool->n, 1);
        if (!pool->seat || !pool->start_at || !pool->had) {
            pthread_condattr_destroy(&ca);
            ht_pools_free(ps);
            return HT_ENOMEM;
        }
    }
    pthread_condattr_destroy(&ca);
    *out = ps;
    return 0;
}

ht_pool_t *ht_pools_pool_of(const ht_pools_t *ps, const ht_exec_handler_t *h)
{
    for (size_t i = 0; ps && i < ps->n; i++)
        if (ps->pool[i].h == h)
            return &ps->pool[i];
    return NULL;
}

int ht_pools_start(ht_pools_t *ps)
{
    ps->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ps->wake_fd < 0)
        return -errno;
    for (size_t i = 0; i < ps->n; i++) {
        char n[24], cap[24] = "";
        snprintf(n, sizeof(n), "%ld", ps->pool[i].n);
        if (ps->pool[i].h->processes > ps->pool[i].n)
            snprintf(cap, sizeof(cap), "%ld", ps->pool[i].h->processes);
        ht_pool_log(HT_LOG_INFO, "persistent handler", &ps->pool[i], 0, "processes", n,
                    *cap ? "processes_configured" : NULL, cap);
    }
    return ht_wthread_start(&ps->thread, supervise, ps);
}

/* Processes in seats (under mu). */
static long seated(const ht_pools_t *ps)
{
    long n = 0;
    for (size_t i = 0; i < ps->n; i++)
        for (long k = 0; k < ps->pool[i].n; k++)
            n += ps->pool[i].seat[k] != NULL;
    return n;
}

void ht_pools_stop(ht_pools_t *ps)
{
    if (!ps || !ps->thread.started)
        return;
    pthread_mutex_lock(&ps->mu);
    ps->stopping = 1;
    int64_t now = ht_mono_ms();
    for (size_t i = 0; i < ps->n; i++)
        for (long k = 0; k < ps->pool[i].n; k++) {
            proc_t *p = ps->pool[i].seat[k];
            if (p)
                retire(ps, p, p->state == PROC_BUSY, now);
        }
    wake(ps);
    int64_t deadline = now + STOP_WAIT_MS;
    while ((ps->retired || seated(ps)) && ht_mono_ms() < deadline) {
        struct timespec ts;
        deadline_in(&ts, HT_POOL_TICK_MS);
        pthread_cond_timedwait(&ps->gone, &ps->mu, &ts);
    }
    if (ps->retired || seated(ps))
        ht_log(HT_LOG_WARN, "some handler processes did not end", NULL);
    pthread_mutex_unlock(&ps->mu);
    ht_wthread_ask(&ps->thread);
    wake(ps);
    ht_wthread_join(&ps->thread);
}

void ht_pools_free(ht_pools_t *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++) {
        pool_t *pool = &ps->pool[i];
        for (long k = 0; pool->seat && k < pool->n; k++)
            if (pool->seat[k])
                free_proc(pool->seat[k]);
        free(pool->seat);
        free(pool->start_at);
        free(pool->had);
        pthread_cond_destroy(&pool->cond);
    }
    while (ps->retired) {
        proc_t *p = ps->retired;
        ps->retired = p->next;
        free_proc(p);
    }
    if (ps->wake_fd >= 0)
        close(ps->wake_fd);
    pthread_cond_destroy(&ps->gone);
    pthread_mutex_destroy(&ps->mu);
    free(ps->pool);
    free(ps);
}

size_t ht_pools_figures(ht_pools_t *ps, ht_pool_figures_t *out, size_t max)
{
    if (!ps)
        return 0;
    pthread_mutex_lock(&ps->mu);
    for (size_t i = 0; i < ps->n && i < max; i++) {
        const pool_t *pool = &ps->pool[i];
        ht_pool_figures_t *f = &out[i];
        memset(f, 0, sizeof(*f));
        f->type = pool->h->type;
        f->processes = pool->n;
        f->restarts = pool->restarts;
        f->failing = pool->failing;
        for (long k = 0; k < pool->n; k++) {
            const proc_t *p = pool->seat[k];
            if (p && !p->reaped) {
                f->running++;
                f->busy += p->state == PROC_BUSY;
            }
        }
    }
    pthread_mutex_unlock(&ps->mu);
    return ps->n;
}

/* ---- a slot's side ----------------------------------------------------- */

const ht_exec_handler_t *ht_pool_handler(const ht_pool_t *pool)
{
    return pool->h;
}

ht_child_t *ht_proc_io(ht_proc_t *p)
{
    return &p->c;
}

long ht_proc_jobs(const ht_proc_t *p)
{
    return p->jobs;
}

int ht_pool_acquire(ht_pool_t *pool, ht_job_ctx_t *ctx, int64_t deadline, ht_proc_t **out)
{
    ht_pools_t *ps = pool->all;
    pthread_mutex_lock(&ps->mu);
    for (;;) {
        long live = 0;
        for (long k = 0; k < pool->n; k++) {
            proc_t *p = pool->seat[k];
            live += p && !p->reaped;
            if (p && p->state == PROC_IDLE && !p->reaped) {
                p->state = PROC_BUSY;
                pthread_mutex_unlock(&ps->mu);
                *out = p;
                return 0;
            }
        }
        if (pool->failing && live == 0) {
            char msg[sizeof(pool->last_exit) + 128];
            snprintf(msg, sizeof(msg),
                     "the %s handler's processes keep failing at start (the last one: %s)",
                     pool->h->type, pool->last_exit);
            pthread_mutex_unlock(&ps->mu);
            ht_job_fail(ctx, "handler_unavailable", msg, 1);
            return HT_HANDLER_FAIL;
        }
        pthread_mutex_unlock(&ps->mu);
        if (ht_mono_ms() >= deadline) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "no process of the %s handler was free within the attempt's time "
                     "(%ld processes)",
                     pool->h->type, pool->n);
            ht_job_fail(ctx, "timeout", msg, 1);
            return HT_HANDLER_FAIL;
        }
        if (ht_job_should_stop(ctx))
            return HT_HANDLER_STOPPED;
        pthread_mutex_lock(&ps->mu);
        struct timespec ts;
        deadline_in(&ts, HT_POOL_TICK_MS);
        pthread_cond_timedwait(&pool->cond, &ps->mu, &ts);
    }
}

void ht_pool_release(ht_proc_t *p, int extra, const char *job_id)
{
    pool_t *pool = p->pool;
    pthread_mutex_lock(&pool->all->mu);
    p->jobs++;
    if (!p->proven) {
        p->proven = 1;
        recovered(pool);
    }
    if (extra) {
        ht_pool_log(HT_LOG_WARN, "handler wrote more than its answer: process replaced", pool,
                    p->c.pid, "id", job_id, NULL, NULL);
        retire(pool->all, p, 0, ht_mono_ms());
    } else if (pool->h->max_jobs && p->jobs >= pool->h->max_jobs) {
        char n[24];
        snprintf(n, sizeof(n), "%ld", p->jobs);
        ht_pool_log(HT_LOG_INFO, "handler process served max_jobs: replaced", pool, p->c.pid,
                    "jobs", n, NULL, NULL);
        retire(pool->all, p, 0, ht_mono_ms());
    } else {
        p->state = PROC_IDLE;
        pthread_cond_signal(&pool->cond);
    }
    pthread_mutex_unlock(&pool->all->mu);
}

void ht_pool_kill(ht_proc_t *p)
{
    ht_pools_t *ps = p->pool->all;
    pthread_mutex_lock(&ps->mu);
    retire(ps, p, 1, ht_mono_ms());
    pthread_mutex_unlock(&ps->mu);
}

int ht_pool_lost(ht_proc_t *p, const char *during, char *story, size_t len)
{
    pool_t *pool = p->pool;
    ht_pools_t *ps = pool->all;
    int64_t until = ht_mono_ms() + REAP_WAIT_MS;
    pthread_mutex_lock(&ps->mu);
    while (!p->reaped && ht_mono_ms() < until) {
        struct timespec ts;
        deadline_in(&ts, 50);
        pthread_cond_timedwait(&pool->cond, &ps->mu, &ts);
    }
    int ended = p->reaped;
    char how[64];
    if (ended)
        describe_exit(p->status, how, sizeof(how));
    else
        snprintf(how, sizeof(how), "closed its stdout");
    exit_story(p, how, during, story, len);
    if (ended) {
        vacate(pool, p, 1, story, ht_mono_ms());
        p->state = PROC_RETIRED;
        close_io(p);
        p->next = ps->retired;
        ps->retired = p;
        wake(ps);
    } else {
        retire(ps, p, 1, ht_mono_ms());
    }
    pthread_mutex_unlock(&ps->mu);
    return ended;
}
