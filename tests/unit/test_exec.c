/* worker/exec.c: the exec handler, running real child processes.  The
 * ctx's store points at a closed port, so progress writes fail quietly (they
 * stay pending) and no Redis is needed: what is tested is the process
 * handling — stdin, environment, stdout protocol, stderr tail, exit status,
 * timeouts and the process group kill, and that no child is left behind. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/error.h"
#include "shared/redis_url.h"
#include "shared/store.h"

#include "worker/builtins.h"
#include "worker/exec_output.h"
#include "worker/handlers_config.h"
#include "worker/job_ctx.h"

static ht_store_t *store;
static ht_keys_t keys;
static ht_job_t job;
static atomic_int stop;
static ht_job_ctx_t ctx;
static ht_exec_handler_t h;
static json_t *result;
static char *argv_buf[8];

static void setup(void)
{
    ht_redis_url_t url;
    char err[128];
    signal(SIGPIPE, SIG_IGN); /* as the worker does */
    cr_assert_eq(ht_redis_url_parse("redis://127.0.0.1:1", &url, err, sizeof(err)), 0);
    ht_store_open(&store, &url, 200); /* fails: nothing listens on port 1 */
    cr_assert_not_null(store);
    cr_assert_eq(ht_keys_init(&keys, "default"), 0);
    memset(&job, 0, sizeof(job));
    strcpy(job.id, "0b7e4a3c-8d2f-4c1a-9e5b-6f7a8b9c0d1e");
    job.type = "t.test";
    job.attempt = 2;
    job.timeout_s = 300;
    atomic_store(&stop, HT_STOP_NONE);
    memset(&h, 0, sizeof(h));
    strcpy(h.type, "t.test");
    h.argv = argv_buf;
    h.max_line = HT_EXEC_LINE_MAX;
    result = NULL;
}

static void teardown(void)
{
    ht_job_ctx_clear(&ctx);
    json_decref(result);
    ht_store_close(store);
}

TestSuite(exec, .init = setup, .fini = teardown, .timeout = 30);

/* Runs `script` with /bin/sh -c and the payload `payload_json`; the job's
 * own deadline is `deadline_ms` from now. */
static int run_sh(const char *script, const char *payload_json, long deadline_ms)
{
    argv_buf[0] = "/bin/sh";
    argv_buf[1] = "-c";
    argv_buf[2] = (char *)script;
    argv_buf[3] = NULL;
    h.argc = 3;
    ht_job_ctx_init(&ctx, &job, &h, store, &keys, &stop, ht_mono_ms() + deadline_ms);
    /* The stored bytes go to the child as they are (the slot parses
     * nothing for an exec handler). */
    job.payload = (char *)payload_json;
    return ht_exec_run(&ctx, NULL, &result);
}

static void assert_no_children(void)
{
    errno = 0;
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child was left behind");
    cr_assert_eq(errno, ECHILD);
}

static void assert_result(const char *want)
{
    char *got = result ? json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS)
                       : strdup("(none)");
    cr_assert_str_eq(got, want);
    free(got);
}

static void assert_failed(const char *code, const char *message, int retryable)
{
    cr_assert(ctx.failed);
    cr_assert_str_eq(ctx.fail_code, code);
    cr_assert_str_eq(ctx.fail_msg, message);
    cr_assert_eq(ctx.fail_retryable, retryable);
}

/* 1 while `pid` exists and is not a zombie. */
static int alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    return close_paren && close_paren[2] != 'Z';
}

Test(exec, payload_on_stdin_env_and_last_result)
{
    int rc = run_sh("read -r p; echo 'not json'; echo '{\"first\": 1}';"
                    "printf '{\"p\":%s,\"id\":\"%s\",\"a\":%s,\"t\":\"%s\"}\\n' \"$p\""
                    " \"$HANGTIGHT_JOB_ID\" \"$HANGTIGHT_ATTEMPT\" \"$HANGTIGHT_JOB_TYPE\"",
                    "{\"k\": [1, \"x\"]}", 10000);
    cr_assert_eq(rc, HT_HANDLER_OK);
    assert_result("{\"a\":2,\"id\":\"0b7e4a3c-8d2f-4c1a-9e5b-6f7a8b9c0d1e\","
                  "\"p\":{\"k\":[1,\"x\"]},\"t\":\"t.test\"}");
    assert_no_children();
}

Test(exec, stdin_is_closed_after_the_payload)
{
    cr_assert_eq(run_sh("cat >/dev/null; echo '\"eof seen\"'", "{}", 10000), HT_HANDLER_OK);
    assert_result("\"eof seen\"");
}

Test(exec, exit_zero_without_output_is_a_null_result)
{
    cr_assert_eq(run_sh("exit 0", "{}", 10000), HT_HANDLER_OK);
    cr_assert_null(result);
}

Test(exec, progress_is_parsed_and_kept_pending)
{
    cr_assert_eq(run_sh("echo '{\"progress\": 40, \"message\": \"m\"}'; echo 7", "{}", 10000),
                 HT_HANDLER_OK);
    assert_result("7");
    /* Redis is unreachable here, so the last report is still pending. */
    cr_assert(ctx.progress_pending);
    cr_assert_eq(ctx.progress_pct, 40);
    cr_assert_str_eq(ctx.progress_msg, "m");
}

Test(exec, nonzero_exit_carries_the_stderr_tail)
{
    cr_assert_eq(run_sh("echo '{\"r\": 1}'; echo 'first' >&2; echo '  disk full  ' >&2; exit 3",
                        "{}", 10000),
                 HT_HANDLER_FAIL);
    assert_failed("exit_status", "first\n  disk full", 1);
    assert_no_children();
}

Test(exec, nonzero_exit_without_stderr)
{
    cr_assert_eq(run_sh("exit 4", "{}", 10000), HT_HANDLER_FAIL);
    assert_failed("exit_status", "exited with status 4", 1);
}

Test(exec, death_by_signal)
{
    cr_assert_eq(run_sh("kill -KILL $$", "{}", 10000), HT_HANDLER_FAIL);
    assert_failed("exit_status", "killed by signal 9 (Killed)", 1);
}

Test(exec, stderr_tail_is_bounded)
{
    cr_assert_eq(
        run_sh("head -c 100000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 1", "{}", 10000),
        HT_HANDLER_FAIL);
    cr_assert_eq(strlen(ctx.fail_msg), 4096 - 1, "the tail minus the trailing newline");
    cr_assert_str_eq(ctx.fail_msg + strlen(ctx.fail_msg) - 4, "xEND");
}

Test(exec, permanent_error_convention)
{
    cr_assert_eq(
        run_sh("echo '{\"error\": \"not a video\", \"retry\": false}'; exit 0", "{}", 10000),
        HT_HANDLER_FAIL);
    assert_failed("handler_error", "not a video", 0);
}

Test(exec, child_that_ignores_a_large_stdin)
{
    char *payload = malloc(300000);
    memset(payload, 'a', 300000 - 1);
    payload[0] = '"';
    payload[300000 - 2] = '"';
    payload[300000 - 1] = '\0';
    cr_assert_eq(run_sh("echo '\"did not read\"'", payload, 10000), HT_HANDLER_OK);
    assert_result("\"did not read\"");
    free(payload);
    assert_no_children();
}

Test(exec, large_stdin_is_delivered_whole)
{
    char *payload = malloc(300000);
    memset(payload, 'a', 300000 - 1);
    payload[0] = '"';
    payload[300000 - 2] = '"';
    payload[300000 - 1] = '\0';
    cr_assert_eq(run_sh("wc -c", payload, 10000), HT_HANDLER_OK);
    assert_result("300000"); /* 299999 bytes of JSON and the newline */
    free(payload);
}

Test(exec, handler_timeout_kills_the_whole_group)
{
    h.timeout_s = 1;
    char script[256];
    char pidfile[] = "/tmp/ht-exec-pid-XXXXXX";
    int fd = mkstemp(pidfile);
    close(fd);
    snprintf(script, sizeof(script), "sleep 30 & echo $! > %s; wait", pidfile);
    int64_t t0 = ht_mono_ms();
    cr_assert_eq(run_sh(script, "{}", 10000), HT_HANDLER_FAIL);
    int64_t took = ht_mono_ms() - t0;
    assert_failed("timeout", "the t.test handler ran past its timeout_s of 1 s", 1);
    cr_assert(took >= 1000 && took < 3000, "took %lld ms", (long long)took);
    FILE *f = fopen(pidfile, "r");
    int grandchild = 0;
    cr_assert_eq(fscanf(f, "%d", &grandchild), 1);
    fclose(f);
    unlink(pidfile);
    usleep(100 * 1000);
    cr_assert_not(alive(grandchild), "the grandchild survived");
    assert_no_children();
}

Test(exec, sigterm_ignored_then_sigkill_after_grace, .timeout = 30)
{
    h.timeout_s = 1;
    int64_t t0 = ht_mono_ms();
    cr_assert_eq(run_sh("trap '' TERM; while :; do sleep 0.1; done", "{}", 20000), HT_HANDLER_FAIL);
    int64_t took = ht_mono_ms() - t0;
    cr_assert_str_eq(ctx.fail_code, "timeout");
    cr_assert(took >= 5900 && took < 8000, "took %lld ms", (long long)took);
    assert_no_children();
}

Test(exec, job_deadline_stops_the_child)
{
    int64_t t0 = ht_mono_ms();
    cr_assert_eq(run_sh("sleep 30", "{}", 500), HT_HANDLER_STOPPED);
    cr_assert_eq(atomic_load(&stop), HT_STOP_TIMEOUT);
    cr_assert_lt(ht_mono_ms() - t0, 2000);
    assert_no_children();
}

Test(exec, stop_request_stops_the_child)
{
    atomic_store(&stop, HT_STOP_DRAIN);
    cr_assert_eq(run_sh("sleep 30", "{}", 10000), HT_HANDLER_STOPPED);
    cr_assert_eq(atomic_load(&stop), HT_STOP_DRAIN);
    assert_no_children();
}

Test(exec, output_too_large)
{
    cr_assert_eq(run_sh("head -c 1100000 /dev/zero | tr '\\0' a; sleep 30", "{}", 20000),
                 HT_HANDLER_FAIL);
    cr_assert_str_eq(ctx.fail_code, "output_too_large");
    cr_assert_eq(ctx.fail_retryable, 0);
    assert_no_children();
}

Test(exec, missing_program)
{
    argv_buf[0] = "/nonexistent/program";
    argv_buf[1] = NULL;
    h.argc = 1;
    ht_job_ctx_init(&ctx, &job, &h, store, &keys, &stop, ht_mono_ms() + 10000);
    json_t *payload = json_object();
    cr_assert_eq(ht_exec_run(&ctx, payload, &result), HT_HANDLER_FAIL);
    json_decref(payload);
    assert_failed("spawn_failed", "cannot run /nonexistent/program: No such file or directory", 1);
}

Test(exec, child_has_only_the_standard_fds)
{
    cr_assert_eq(run_sh("ls /proc/self/fd | wc -l", "{}", 10000), HT_HANDLER_OK);
    /* 0, 1, 2 and the fd ls opens to list the directory. */
    assert_result("4");
}
