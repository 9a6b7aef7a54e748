/* Structured logging: one compact JSON object per line on stderr, written
 * with a single write(2) so lines from different threads never interleave. */
#include "shared/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

void ht_log(ht_log_level_t level, const char *msg, ...)
{
    if (level < log_min || level > HT_LOG_ERROR)
        return;
    char ts[HT_TIME_BUFSZ];
    json_t *line = json_object();
    if (!line)
        return;
    json_object_set_new(line, "ts", json_string(ht_format_time(ht_now_ms(), ts)));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "proc", json_string(log_proc));
    /* json_string() refuses invalid UTF-8; fall back so nothing is lost. */
    json_t *m = json_string(msg ? msg : "");
    json_object_set_new(line, "msg", m ? m : json_string("(invalid utf-8)"));

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key)
            break;
        const char *val = va_arg(ap, const char *);
        json_t *v = val ? json_string(val) : json_null();
        json_object_set_new(line, key, v ? v : json_string("(invalid utf-8)"));
    }
    va_end(ap);

    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    char *out = realloc(text, len + 2);
    if (!out) {
        free(text);
        return;
    }
    out[len] = '\n';
    out[len + 1] = '\0';
    write_all(out, len + 1);
    free(out);
}
