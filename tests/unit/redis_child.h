/* For unit tests of the api's Redis clients: a throwaway redis-server on a
 * free loopback port (the test is skipped when there is none), a plain
 * blocking client to it, and running a libuv loop until a counter moves.
 * Header-only: each unit test is one source file. */
#ifndef HT_TEST_REDIS_CHILD_H
#define HT_TEST_REDIS_CHILD_H

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

typedef struct {
    pid_t pid;
    int port;
    redisContext *rc; /* a plain client of it */
} redis_child_t;

/* A loopback TCP port nobody listens on (bound, then closed). */
static inline int redis_child_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts redis-server with the extra arguments (NULL-terminated, may be
 * NULL) and waits until the plain client is connected (and logged in with
 * `password` when not NULL). */
static inline void redis_child_start(redis_child_t *r, const char *const *extra,
                                     const char *password)
{
    if (access("/usr/bin/redis-server", X_OK) != 0)
        cr_skip_test("no redis-server");
    r->port = redis_child_free_port();
    r->rc = NULL;
    char port[16];
    snprintf(port, sizeof(port), "%d", r->port);
    const char *argv[32] = {"redis-server", "--port", port,           "--bind", "127.0.0.1",
                            "--save",       "",       "--appendonly", "no"};
    size_t n = 9;
    for (size_t i = 0; extra && extra[i] && n + 1 < sizeof(argv) / sizeof(argv[0]); i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    r->pid = fork();
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* gone with the test, however it ends */
        freopen("/dev/null", "w", stdout);
        execv("/usr/bin/redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 100 && !r->rc; i++) {
        redisContext *c = redisConnect("127.0.0.1", r->port);
        if (c && !c->err)
            r->rc = c;
        else {
            redisFree(c);
            usleep(50 * 1000);
        }
    }
    cr_assert_not_null(r->rc, "redis-server did not start");
    if (password) {
        redisReply *rep = redisCommand(r->rc, "AUTH %s", password);
        cr_assert(rep && rep->type == REDIS_REPLY_STATUS, "AUTH of the plain client");
        freeReplyObject(rep);
    }
}

static inline void redis_child_stop(redis_child_t *r)
{
    if (r->rc)
        redisFree(r->rc);
    r->rc = NULL;
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    }
    r->pid = -1;
}

static inline void redis_child_on_deadline(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs `loop` until *counter >= want or ms pass.  Returns *counter. */
static inline int run_until(uv_loop_t *loop, const int *counter, int want, int ms)
{
    int expired = 0;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, redis_child_on_deadline, (uint64_t)ms, 0);
    while (*counter < want && !expired)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *counter;
}

static inline void run_for(uv_loop_t *loop, int ms)
{
    int never = 0;
    run_until(loop, &never, 1, ms);
}

#endif
