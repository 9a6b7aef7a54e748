/* held_client: the load generator of bench/held (W5 of issue 6).
 *
 * It opens N connections to hangtight-api from one epoll thread and, in
 * one of two modes, measures the api process from outside (/proc):
 *
 *   --mode idle   the memory "ceiling": N keep-alive connections that sent
 *                 nothing, then the same N after one GET /healthz each,
 *                 then with a POST in flight whose body lacks a byte.
 *   --mode held   N sync submits (Prefer: wait=W, heartbeat=S), every one
 *                 held at once: arrival time of every "HTTP/1.1 102" and of
 *                 the final answer, which must be 200 with status succeeded.
 *
 * The held run has three phases.  Ramp: connect and POST, until every
 * request has had its first 102, plus --settle-s for the api to catch up
 * with the burst.  Window: all N held and nothing finishes (the caller
 * starts no worker until then); RSS and CPU are sampled and heartbeat
 * lateness counted here.  Drain: the --ready-file is created, the caller
 * starts workers, the queue drains and every request gets its answer
 * while the others keep receiving heartbeats.
 *
 * Output: "key value" lines on stdout for bench/held/run to tabulate;
 * progress on stderr.  C and epoll rather than python asyncio: on a 2-core
 * machine shared with the api and Redis, the client must take a 102 off
 * 10,000 sockets a second in microseconds, or its own delay becomes the
 * lateness it reports.  No dependencies beyond libc. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { PH_RAMP, PH_WINDOW, PH_DRAIN, PH_COUNT };
static const char *const phase_name[PH_COUNT] = {"ramp", "window", "drain"};

enum conn_state { C_FREE, C_CONNECTING, C_SENDING, C_WAITING, C_IDLE, C_DONE };
enum conn_result { RES_NONE, RES_OK, RES_BAD, RES_ERR };

typedef struct {
    int fd;
    enum conn_state state;
    enum conn_result result;
    size_t wpos;      /* bytes of the request written so far */
    double t_sent;    /* request fully written (ms, monotonic) */
    double t_last102; /* last interim response, 0 before the first */
    double t_final;
    int n102;
    /* response parser */
    char *buf;
    size_t len, cap;
    int head_done; /* the final response's head has been parsed */
    int status;
    long content_length; /* -1: unknown */
    int chunked;
} conn_t;

typedef struct {
    float late_ms;
    unsigned char phase;
} sample_t;

static struct {
    /* options */
    const char *mode, *host, *ready_file;
    int port, n, burst;
    int api_pid, redis_pid;
    double window_s, settle_s, heartbeat_ms, drain_timeout_s, ramp_timeout_s;
    int wait_s, job_ms, job_steps;
    /* state */
    int ep;
    conn_t *conns;
    char request[512];
    size_t request_len;
    int next_connect, connecting, connected, conn_errors, closed_early;
    int held_now, held_max, finished, ok, bad;
    int phase;
    double t_start, t_phase[PH_COUNT + 1];
    char pref_applied[128];
    sample_t *samples;
    size_t nsamples, samples_cap;
    float *first; /* first 102 delay minus the heartbeat, per request */
    size_t nfirst;
    long rss_samples[4096];
    size_t nrss;
    long hb_total;
} g = {
    .mode = "held",
    .host = "127.0.0.1",
    .n = 10000,
    .burst = 256,
    .window_s = 20,
    .settle_s = 2,
    .heartbeat_ms = 1000,
    .drain_timeout_s = 180,
    .ramp_timeout_s = 60,
    .wait_s = 120,
    .job_ms = 50,
    .job_steps = 1,
};

/* ---- small helpers ------------------------------------------------------ */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "held_client: [%6.1fs] ", (now_ms() - g.t_start) / 1e3);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("held_client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void out(const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", key);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    fflush(stdout);
}

static void sleep_ms(double ms)
{
    struct timespec ts = {(time_t)(ms / 1e3), (long)((ms - (double)(long)(ms / 1e3) * 1e3) * 1e6)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- the api process, seen from /proc ----------------------------------- */

/* VmRSS of `pid` in KB, or -1. */
static long proc_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* utime + stime of `pid` in seconds, or -1. */
static double proc_cpu_s(int pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command name may hold spaces: fields are counted after its ')'.
     * Field 3 (state) is the first there; utime and stime are 14 and 15. */
    char *p = strrchr(text, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds the whole machine has spent busy (not idle, not iowait),
 * summed over all cores: to tell whether anything else was running. */
static double machine_busy_s(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 5)
        return -1;
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* all but idle, iowait */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Open descriptors of `pid`: tells when the api has accepted our sockets
 * (a completed connect only means the kernel queued it). */
static int proc_fd_count(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Median of three reads 100 ms apart: one read can catch a transient. */
static long rss_settled(int pid)
{
    long v[3];
    for (int i = 0; i < 3; i++) {
        if (i)
            sleep_ms(100);
        v[i] = proc_rss_kb(pid);
    }
    long lo = v[0] < v[1] ? v[0] : v[1], hi = v[0] < v[1] ? v[1] : v[0];
    return v[2] < lo ? lo : v[2] > hi ? hi : v[2];
}

/* ---- statistics --------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Sorts `v` and prints "<key> count p50 p99 max min" (nearest rank). */
static void print_dist(const char *key, float *v, size_t n)
{
    if (n == 0) {
        out(key, "0 - - - -");
        return;
    }
    qsort(v, n, sizeof(*v), cmp_float);
    size_t i50 = (n * 50 + 99) / 100, i99 = (n * 99 + 99) / 100;
    out(key, "%zu %.2f %.2f %.2f %.2f", n, v[i50 ? i50 - 1 : 0], v[i99 ? i99 - 1 : 0], v[n - 1],
        v[0]);
}

static void push_sample(float late, int phase)
{
    if (g.nsamples == g.samples_cap) {
        g.samples_cap = g.samples_cap ? g.samples_cap * 2 : 65536;
        g.samples = realloc(g.samples, g.samples_cap * sizeof(*g.samples));
        if (!g.samples)
            die("out of memory");
    }
    g.samples[g.nsamples++] = (sample_t){late, (unsigned char)phase};
}

/* ---- connections -------------------------------------------------------- */

static void conn_watch(conn_t *c, int op, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(g.ep, op, c->fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void conn_close(conn_t *c, enum conn_result r)
{
    if (c->fd >= 0) {
        if (r != RES_OK) {
            /* An RST instead of a FIN: no TIME_WAIT piles up on the
             * client's ports when thousands close at once. */
            struct linger lg = {1, 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(c->fd); /* also removes it from the epoll set */
    }
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    c->state = C_DONE;
    c->result = r;
}

/* Held mode: the request is over (answered or failed); each ends once. */
static void request_ended(conn_t *c)
{
    if (c->n102 > 0)
        g.held_now--;
    g.finished++;
}

/* A socket error or an early close: counted, and the request ended. */
static void conn_fail(conn_t *c)
{
    g.conn_errors++;
    if (strcmp(g.mode, "held") == 0)
        request_ended(c);
    conn_close(c, RES_ERR);
}

static void conn_start(conn_t *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
    inet_pton(AF_INET, g.host, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s (raise ulimit -n)", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        conn_fail(c);
        return;
    }
    c->state = C_CONNECTING;
    g.connecting++;
    conn_watch(c, EPOLL_CTL_ADD, EPOLLOUT);
}

/* Keeps at most --burst connects in flight, so the api's accept backlog
 * never overflows (a dropped SYN costs a 1 s retransmit). */
static void ramp(void)
{
    while (g.connecting < g.burst && g.next_connect < g.n)
        conn_start(&g.conns[g.next_connect++]);
}

static void conn_send(conn_t *c, double t)
{
    while (c->wpos < g.request_len) {
        ssize_t w = write(c->fd, g.request + c->wpos, g.request_len - c->wpos);
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0) {
            conn_fail(c);
            return;
        }
        c->wpos += (size_t)w;
    }
    c->t_sent = t;
    c->state = C_WAITING;
    conn_watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP);
}

static void on_connected(conn_t *c, double t)
{
    int err = 0;
    socklen_t len = sizeof(err);
    g.connecting--;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        conn_fail(c);
        return;
    }
    g.connected++;
    if (strcmp(g.mode, "idle") == 0) {
        c->state = C_IDLE;
        conn_watch(c, EPOLL_CTL_MOD, EPOLLIN | EPOLLRDHUP);
        return;
    }
    c->state = C_SENDING;
    conn_send(c, t);
}

/* ---- response parsing ---------------------------------------------------- */

static void consume(conn_t *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Value of header `name` in the head [h, h+n), copied to out; 0 if found. */
static int header(const char *h, size_t n, const char *name, char *dst, size_t size)
{
    size_t nl = strlen(name);
    for (const char *p = h; p < h + n;) {
        const char *eol = memmem(p, (size_t)(h + n - p), "\r\n", 2);
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            size_t vl = (size_t)(eol - v) < size - 1 ? (size_t)(eol - v) : size - 1;
            memcpy(dst, v, vl);
            dst[vl] = '\0';
            return 0;
        }
        p = eol + 2;
    }
    return -1;
}

/* Length of a complete chunked body at the start of `b`, or 0 while it is
 * incomplete. */
static size_t chunked_len(const char *b, size_t n)
{
    size_t p = 0;
    for (;;) {
        const char *eol = memmem(b + p, n - p, "\r\n", 2);
        if (!eol)
            return 0;
        unsigned long size = strtoul(b + p, NULL, 16);
        p = (size_t)(eol - b) + 2;
        if (size == 0) /* no trailers are expected: just the final CRLF */
            return n - p >= 2 ? p + 2 : 0;
        if (n - p < size + 2)
            return 0;
        p += size + 2;
    }
}

/* Whether the job document's (first) "status" is "succeeded".  The api
 * writes compact JSON in which the job's own status comes before any
 * nested one; a chunked body is searched as sent (h2o writes an inline
 * body as one chunk). */
static int body_succeeded(const char *b, size_t n)
{
    static const char key[] = "\"status\":";
    const char *p = memmem(b, n, key, sizeof(key) - 1);
    if (!p)
        return 0;
    p += sizeof(key) - 1;
    while (p < b + n && *p == ' ')
        p++;
    return (size_t)(b + n - p) >= 11 && memcmp(p, "\"succeeded\"", 11) == 0;
}

static void on_interim(conn_t *c, double t)
{
    g.hb_total++;
    if (c->n102 == 0) {
        g.held_now++;
        if (g.held_now > g.held_max)
            g.held_max = g.held_now;
        g.first[g.nfirst++] = (float)(t - c->t_sent - g.heartbeat_ms);
    } else {
        push_sample((float)(t - c->t_last102 - g.heartbeat_ms), g.phase);
    }
    c->n102++;
    c->t_last102 = t;
}

static void on_final(conn_t *c, const char *body, size_t n, double t)
{
    if (strcmp(g.mode, "idle") == 0) {
        /* the GET /healthz of an idle connection: keep it open */
        if (c->status != 200)
            g.bad++;
        else
            g.ok++;
        c->state = C_IDLE;
        return;
    }
    c->t_final = t;
    request_ended(c);
    if (c->status == 200 && body_succeeded(body, n)) {
        g.ok++;
        conn_close(c, RES_OK);
    } else {
        g.bad++;
        if (g.bad <= 5)
            note("request %ld: final %d after %.0f ms: %.*s", (long)(c - g.conns), c->status,
                 t - c->t_sent, (int)(n < 300 ? n : 300), body);
        conn_close(c, RES_BAD);
    }
}

/* Parses what has arrived: any number of interim responses, then one final
 * response.  Returns 0 to go on, -1 when the connection was closed here. */
static int parse(conn_t *c, double t)
{
    for (;;) {
        if (!c->head_done) {
            char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (!end)
                return 0;
            size_t head = (size_t)(end - c->buf) + 4;
            int status = 0;
            if (c->len < 12 || sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1)
                status = -1;
            if (status >= 100 && status < 200) {
                on_interim(c, t);
                consume(c, head);
                continue;
            }
            char v[128];
            c->status = status;
            c->content_length = header(c->buf, head, "content-length", v, sizeof(v)) == 0
                                    ? strtol(v, NULL, 10)
                                    : -1;
            c->chunked = header(c->buf, head, "transfer-encoding", v, sizeof(v)) == 0 &&
                         strcasestr(v, "chunked") != NULL;
            if (!g.pref_applied[0] && header(c->buf, head, "preference-applied", v, sizeof(v)) == 0)
                snprintf(g.pref_applied, sizeof(g.pref_applied), "%s", v);
            consume(c, head);
            c->head_done = 1;
        }
        size_t blen;
        if (c->chunked)
            blen = chunked_len(c->buf, c->len);
        else if (c->content_length >= 0)
            blen = c->len >= (size_t)c->content_length ? (size_t)c->content_length : 0;
        else
            return 0; /* until EOF */
        if (blen == 0 && !(c->content_length == 0 && !c->chunked))
            return 0;
        c->head_done = 0;
        on_final(c, c->buf, blen, t);
        if (c->state == C_DONE)
            return -1;
        consume(c, blen);
    }
}

static void on_readable(conn_t *c, double t)
{
    for (;;) {
        if (c->cap - c->len < 2048) {
            c->cap = c->cap ? c->cap * 2 : 4096;
            c->buf = realloc(c->buf, c->cap);
            if (!c->buf)
                die("out of memory");
        }
        ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
        if (r < 0 && errno == EAGAIN)
            return;
        if (r <= 0) {
            /* EOF: the end of a body without a length, else a failure */
            if (c->head_done && c->content_length < 0 && !c->chunked) {
                on_final(c, c->buf, c->len, t);
                if (c->state == C_DONE)
                    return;
            }
            if (c->state == C_IDLE) {
                g.closed_early++;
                conn_close(c, RES_ERR);
                return;
            }
            if (g.conn_errors < 5)
                note("request %ld: connection closed (%s) after %d heartbeats", (long)(c - g.conns),
                     r < 0 ? strerror(errno) : "EOF", c->n102);
            conn_fail(c);
            return;
        }
        c->len += (size_t)r;
        if (parse(c, t) < 0)
            return;
    }
}

/* One pass of the event loop: waits at most `timeout_ms`. */
static void poll_once(int timeout_ms)
{
    struct epoll_event evs[1024];
    int n = epoll_wait(g.ep, evs, 1024, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    /* One timestamp per wakeup: the events came out of the kernel together. */
    double t = now_ms();
    for (int i = 0; i < n; i++) {
        conn_t *c = evs[i].data.ptr;
        if (c->state == C_CONNECTING)
            on_connected(c, t);
        else if (c->state == C_SENDING)
            conn_send(c, t);
        else if (c->state == C_WAITING || c->state == C_IDLE)
            on_readable(c, t);
    }
    ramp();
}

/* Waits until the api holds at least `want` descriptors (or `limit_ms`). */
static int wait_api_fds(int want, double limit_ms)
{
    double until = now_ms() + limit_ms;
    int have;
    while ((have = proc_fd_count(g.api_pid)) >= 0 && have < want && now_ms() < until)
        poll_once(50);
    return have;
}

/* A few plain requests before the baseline, so that what the first request
 * of a thread allocates once (pools, Redis buffers) is not billed to the
 * held requests. */
static void warm_up(void)
{
    static const char req[] = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    for (int i = 0; i < 32; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
        inet_pton(AF_INET, g.host, &sa.sin_addr);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char buf[4096];
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
            die("warm-up request to %s:%d failed: %s", g.host, g.port, strerror(errno));
        while (read(fd, buf, sizeof(buf)) > 0) {
        }
        close(fd);
    }
}

/* ---- the two modes -------------------------------------------------------- */

static int run_idle(void)
{
    warm_up();
    sleep_ms(500);
    int fd0 = proc_fd_count(g.api_pid);
    long rss0 = rss_settled(g.api_pid);
    out("idle_rss_before_kb", "%ld", rss0);
    g.t_phase[PH_RAMP] = now_ms();
    while (g.connected + g.conn_errors < g.n && now_ms() - g.t_phase[PH_RAMP] < 30e3)
        poll_once(50);
    int fds = wait_api_fds(fd0 + g.connected, 5e3);
    out("idle_connected", "%d", g.connected);
    out("idle_accepted", "%d", fds - fd0);
    out("idle_connect_s", "%.2f", (now_ms() - g.t_phase[PH_RAMP]) / 1e3);
    sleep_ms(300);
    long rss1 = rss_settled(g.api_pid);
    out("idle_rss_kb", "%ld", rss1);

    /* The same connections after one small request each: what a
     * keep-alive connection that has been used keeps. */
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for (int i = 0; i < g.n; i++) {
        conn_t *c = &g.conns[i];
        if (c->state != C_IDLE)
            continue;
        if (write(c->fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
            g.conn_errors++;
    }
    double t0 = now_ms();
    while (g.ok + g.bad + g.closed_early < g.connected && now_ms() - t0 < 10e3)
        poll_once(50);
    sleep_ms(300);
    long rss2 = rss_settled(g.api_pid);
    out("idle_used_ok", "%d", g.ok);
    out("idle_used_rss_kb", "%ld", rss2);

    /* And with a request in flight that h2o has not handed to a handler
     * yet (the body lacks its last byte): what libh2o itself keeps for any
     * request in progress (its input buffer and request pool), the floor
     * under a held request. */
    static const char body[] = "{\"type\":\"sleep\",\"payload\":{\"ms\":50,\"steps\":1}}";
    char partial[256];
    int plen =
        snprintf(partial, sizeof(partial),
                 "POST /v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%.*s",
                 sizeof(body) - 1, (int)sizeof(body) - 2, body);
    int sent = 0;
    for (int i = 0; i < g.n; i++) {
        conn_t *c = &g.conns[i];
        if (c->state == C_IDLE && write(c->fd, partial, (size_t)plen) == plen)
            sent++;
    }
    poll_once(200);
    sleep_ms(500);
    out("idle_partial_sent", "%d", sent);
    out("idle_partial_rss_kb", "%ld", rss_settled(g.api_pid));
    out("idle_closed_early", "%d", g.closed_early);
    out("idle_conn_errors", "%d", g.conn_errors);
    for (int i = 0; i < g.n; i++)
        if (g.conns[i].fd >= 0)
            conn_close(&g.conns[i], RES_ERR);
    return g.connected == g.n && g.closed_early == 0 ? 0 : 1;
}

static void enter_phase(int phase)
{
    g.phase = phase;
    g.t_phase[phase] = now_ms();
    note("phase %s: %d held, %d finished", phase_name[phase], g.held_now, g.finished);
}

static void window_tick(double *next_sample, double *cpu_w0, double *rcpu_w0, double *ccpu_w0)
{
    static double busy0;
    static double t_all_held;
    double t = now_ms();
    if (g.phase == PH_RAMP && !t_all_held &&
        (g.held_now + g.finished >= g.n || t - g.t_phase[PH_RAMP] > g.ramp_timeout_s * 1e3)) {
        t_all_held = t;
        out("ramp_s", "%.2f", (t - g.t_phase[PH_RAMP]) / 1e3);
        out("api_cpu_ramp_s", "%.2f", proc_cpu_s(g.api_pid) - *cpu_w0);
    }
    /* The window opens a little after the last first 102, once the api has
     * caught up with the burst of submits (heartbeats before it count as
     * "ramp"). */
    if (g.phase == PH_RAMP && t_all_held && t - t_all_held >= g.settle_s * 1e3) {
        enter_phase(PH_WINDOW);
        out("held_at_window_start", "%d", g.held_now);
        *cpu_w0 = proc_cpu_s(g.api_pid);
        *rcpu_w0 = g.redis_pid ? proc_cpu_s(g.redis_pid) : 0;
        *ccpu_w0 = self_cpu_s();
        busy0 = machine_busy_s();
        *next_sample = t + 500;
    }
    if (g.phase == PH_WINDOW && t >= *next_sample &&
        g.nrss < sizeof(g.rss_samples) / sizeof(g.rss_samples[0])) {
        g.rss_samples[g.nrss++] = proc_rss_kb(g.api_pid);
        *next_sample += 1000;
    }
    if (g.phase == PH_WINDOW && t - g.t_phase[PH_WINDOW] >= g.window_s * 1e3) {
        double secs = (t - g.t_phase[PH_WINDOW]) / 1e3;
        double cpu = proc_cpu_s(g.api_pid) - *cpu_w0;
        out("window_s", "%.2f", secs);
        out("held_at_window_end", "%d", g.held_now);
        out("finished_in_window", "%d", g.finished);
        out("api_cpu_window_s", "%.2f", cpu);
        out("api_cpu_window_pct", "%.1f", 100 * cpu / secs);
        if (g.redis_pid) {
            out("redis_cpu_window_pct", "%.1f", 100 * (proc_cpu_s(g.redis_pid) - *rcpu_w0) / secs);
            out("redis_rss_held_kb", "%ld", proc_rss_kb(g.redis_pid));
        }
        double ccpu = self_cpu_s() - *ccpu_w0;
        double rcpu = g.redis_pid ? proc_cpu_s(g.redis_pid) - *rcpu_w0 : 0;
        double busy = machine_busy_s() - busy0;
        out("client_cpu_window_pct", "%.1f", 100 * ccpu / secs);
        out("machine_busy_window_pct", "%.1f", 100 * busy / secs);
        /* What the api, Redis and this client did not use: other processes. */
        out("others_cpu_window_pct", "%.1f", 100 * (busy - cpu - rcpu - ccpu) / secs);
        qsort(g.rss_samples, g.nrss, sizeof(g.rss_samples[0]), cmp_long);
        out("rss_held_kb", "%ld", g.nrss ? g.rss_samples[g.nrss / 2] : -1L);
        out("rss_held_peak_kb", "%ld", g.nrss ? g.rss_samples[g.nrss - 1] : -1L);
        out("rss_samples", "%zu", g.nrss);
        enter_phase(PH_DRAIN);
        *cpu_w0 = proc_cpu_s(g.api_pid);
        if (g.ready_file) {
            FILE *f = fopen(g.ready_file, "w");
            if (f)
                fclose(f);
        }
    }
}

static int run_held(void)
{
    int body_len;
    char body[160];
    body_len =
        snprintf(body, sizeof(body), "{\"type\":\"sleep\",\"payload\":{\"ms\":%d,\"steps\":%d}}",
                 g.job_ms, g.job_steps);
    g.request_len = (size_t)snprintf(
        g.request, sizeof(g.request),
        "POST /v1/jobs HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        "Prefer: wait=%d, heartbeat=%g\r\nContent-Length: %d\r\n\r\n%s",
        g.host, g.port, g.wait_s, g.heartbeat_ms / 1e3, body_len, body);
    g.first = calloc((size_t)g.n, sizeof(*g.first));
    if (!g.first)
        die("out of memory");

    warm_up();
    sleep_ms(500);
    long rss0 = rss_settled(g.api_pid);
    out("rss_before_kb", "%ld", rss0);
    if (g.redis_pid)
        out("redis_rss_before_kb", "%ld", proc_rss_kb(g.redis_pid));

    double next_sample = 0, cpu0 = proc_cpu_s(g.api_pid), rcpu0 = 0, ccpu0 = 0;
    enter_phase(PH_RAMP);
    while (g.finished < g.n) {
        if (g.phase == PH_DRAIN && now_ms() - g.t_phase[PH_DRAIN] > g.drain_timeout_s * 1e3) {
            note("drain timeout: %d of %d requests unanswered", g.n - g.finished, g.n);
            break;
        }
        poll_once(20);
        window_tick(&next_sample, &cpu0, &rcpu0, &ccpu0);
    }
    double t_end = now_ms();
    g.t_phase[PH_COUNT] = t_end;
    if (g.phase == PH_DRAIN) {
        double secs = (t_end - g.t_phase[PH_DRAIN]) / 1e3;
        double cpu = proc_cpu_s(g.api_pid) - cpu0;
        out("drain_s", "%.2f", secs);
        out("api_cpu_drain_s", "%.2f", cpu);
        out("api_cpu_drain_pct", "%.1f", 100 * cpu / secs);
    } else {
        note("never got to the drain phase (phase %s)", phase_name[g.phase]);
    }
    /* Requests still open at the end (a drain timeout) count as missing. */
    int missing = 0;
    for (int i = 0; i < g.n; i++)
        if (g.conns[i].state != C_DONE) {
            missing++;
            conn_close(&g.conns[i], RES_ERR);
        }
    sleep_ms(1000);
    out("rss_after_kb", "%ld", rss_settled(g.api_pid));

    out("requests", "%d", g.n);
    out("held_max", "%d", g.held_max);
    out("final_ok", "%d", g.ok);
    out("final_bad", "%d", g.bad);
    out("conn_errors", "%d", g.conn_errors);
    out("missing", "%d", missing);
    out("heartbeats", "%ld", g.hb_total);
    out("preference_applied", "%s", g.pref_applied[0] ? g.pref_applied : "-");

    /* Lateness per phase, then the first heartbeat of each request. */
    float *v = malloc((g.nsamples ? g.nsamples : 1) * sizeof(*v));
    if (!v)
        die("out of memory");
    for (int ph = PH_RAMP; ph < PH_COUNT; ph++) {
        size_t n = 0;
        for (size_t i = 0; i < g.nsamples; i++)
            if (g.samples[i].phase == ph)
                v[n++] = g.samples[i].late_ms;
        char key[64];
        snprintf(key, sizeof(key), "lateness_%s_ms", phase_name[ph]);
        print_dist(key, v, n);
    }
    for (size_t i = 0; i < g.nsamples; i++)
        v[i] = g.samples[i].late_ms;
    print_dist("lateness_all_ms", v, g.nsamples);
    print_dist("first_heartbeat_late_ms", g.first, g.nfirst);
    free(v);
    return g.ok == g.n ? 0 : 1;
}

/* ---- main ----------------------------------------------------------------- */

static void usage(void)
{
    fputs("usage: held_client --mode idle|held --port P --api-pid PID [--redis-pid PID]\n"
          "       [-n N] [--window-s S] [--heartbeat-ms MS] [--wait-s W] [--job-ms MS]\n"
          "       [--job-steps K] [--burst B] [--ready-file F] [--drain-timeout-s S]\n"
          "       [--settle-s S]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", 1, 0, 'm'},
        {"port", 1, 0, 'p'},
        {"api-pid", 1, 0, 'a'},
        {"redis-pid", 1, 0, 'r'},
        {"n", 1, 0, 'n'},
        {"window-s", 1, 0, 'w'},
        {"heartbeat-ms", 1, 0, 'h'},
        {"wait-s", 1, 0, 'W'},
        {"job-ms", 1, 0, 'j'},
        {"job-steps", 1, 0, 's'},
        {"burst", 1, 0, 'b'},
        {"ready-file", 1, 0, 'f'},
        {"drain-timeout-s", 1, 0, 'd'},
        {"settle-s", 1, 0, 'S'},
        {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
        switch (o) {
        case 'm':
            g.mode = optarg;
            break;
        case 'p':
            g.port = atoi(optarg);
            break;
        case 'a':
            g.api_pid = atoi(optarg);
            break;
        case 'r':
            g.redis_pid = atoi(optarg);
            break;
        case 'n':
            g.n = atoi(optarg);
            break;
        case 'w':
            g.window_s = atof(optarg);
            break;
        case 'h':
            g.heartbeat_ms = atof(optarg);
            break;
        case 'W':
            g.wait_s = atoi(optarg);
            break;
        case 'j':
            g.job_ms = atoi(optarg);
            break;
        case 's':
            g.job_steps = atoi(optarg);
            break;
        case 'b':
            g.burst = atoi(optarg);
            break;
        case 'f':
            g.ready_file = optarg;
            break;
        case 'd':
            g.drain_timeout_s = atof(optarg);
            break;
        case 'S':
            g.settle_s = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (!g.port || !g.api_pid || g.n <= 0 || g.burst <= 0 ||
        (strcmp(g.mode, "idle") != 0 && strcmp(g.mode, "held") != 0))
        usage();

    /* Every connection is a descriptor: use the whole allowance. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)g.n + 64)
        die("ulimit -n is %llu: too low for %d connections", (unsigned long long)rl.rlim_cur, g.n);

    g.t_start = now_ms();
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    g.conns = calloc((size_t)g.n, sizeof(*g.conns));
    if (g.ep < 0 || !g.conns)
        die("setup failed: %s", strerror(errno));
    for (int i = 0; i < g.n; i++)
        g.conns[i].fd = -1;
    out("mode", "%s", g.mode);
    int rc = strcmp(g.mode, "idle") == 0 ? run_idle() : run_held();
    for (int i = 0; i < g.n; i++)
        free(g.conns[i].buf);
    free(g.conns);
    free(g.samples);
    free(g.first);
    close(g.ep);
    return rc;
}
