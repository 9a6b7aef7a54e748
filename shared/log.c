/* Structured logging: one compact JSON object per line on stderr, written
 * with a single write(2) so lines from different threads never interleave. */
#include "shared/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/buf.h"
#include "shared/clock.h"
#include "shared/error.h"

static const char *log_proc = "hangtight";
static ht_log_level_t log_min = HT_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ht_log_init(const char *proc, ht_log_level_t min_level)
{
    log_proc = proc ? proc : "hangtight";
    log_min = min_level;
}

int ht_log_enabled(ht_log_level_t level)
{
    return level >= log_min && level <= HT_LOG_ERROR;
}

int ht_log_level_parse(const char *s, ht_log_level_t *out)
{
    for (int i = HT_LOG_DEBUG; i <= HT_LOG_ERROR; i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *out = (ht_log_level_t)i;
            return 0;
        }
    }
    return HT_EINVAL;
}

/* Writes all of buf, retrying short writes (a pipe may take it in pieces). */
static void write_all(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing stderr */
        }
        buf += w;
        len -= (size_t)w;
    }
}

/* The calling thread's current request id ("" = none): a copy, so that a
 * line never reads memory of a request that is gone. */
static __thread char cur_reqid[HT_LOG_REQID_MAX + 1];

void ht_log_set_request_id(const char *id)
{
    /* Set and reset around every Redis reply: a bounded copy, not printf. */
    size_t n = id ? strnlen(id, sizeof(cur_reqid) - 1) : 0;
    memcpy(cur_reqid, id ? id : "", n);
    cur_reqid[n] = '\0';
}

const char *ht_log_request_id(void)
{
    return cur_reqid[0] ? cur_reqid : NULL;
}

/* A string member; json_string() refuses invalid UTF-8: fall back so the
 * line is still written. */
static void set_str(json_t *line, const char *key, const char *val)
{
    json_t *v = val ? json_string(val) : json_null();
    json_object_set_new(line, key, v ? v : json_string("(invalid utf-8)"));
}

/* The common head of a line, or NULL when it is not to be written. */
static json_t *line_start(ht_log_level_t level, const char *msg)
{
    if (level < log_min || level > HT_LOG_ERROR)
        return NULL;
    char ts[HT_TIME_BUFSZ];
    json_t *line = json_object();
    if (!line)
        return NULL;
    json_object_set_new(line, "ts", json_string(ht_format_time(ht_now_ms(), ts)));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "proc", json_string(log_proc));
    set_str(line, "msg", msg ? msg : "");
    if (cur_reqid[0])
        set_str(line, "request_id", cur_reqid);
    return line;
}

/* Callers name a job id "id"; the line says what it is. */
static const char *field_name(const char *key)
{
    return strcmp(key, "id") == 0 ? "job_id" : key;
}

static int append_to_buf(const char *text, size_t n, void *b)
{
    return ht_buf_append(b, text, n) < 0 ? -1 : 0;
}

/* 15 digits: 16.76 stays "16.76", not "16.760000000000002". */
static void line_write(json_t *line)
{
    ht_buf_t b = HT_BUF_INIT;
    int rc = json_dump_callback(line, append_to_buf, &b,
                                JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(line);
    if (rc == 0 && ht_buf_putc(&b, '\n') == 0)
        write_all(b.data, b.len);
    ht_buf_free(&b);
}

void ht_log(ht_log_level_t level, const char *msg, ...)
{
    json_t *line = line_start(level, msg);
    if (!line)
        return;
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        set_str(line, field_name(key), va_arg(ap, const char *));
    }
    va_end(ap);
    line_write(line);
}

void ht_logj(ht_log_level_t level, const char *msg, json_t *fields)
{
    json_t *line = line_start(level, msg);
    if (line && fields) {
        const char *key;
        json_t *v;
        json_object_foreach(fields, key, v) {
            json_object_set(line, field_name(key), v);
        }
    }
    json_decref(fields);
    if (line)
        line_write(line);
}
