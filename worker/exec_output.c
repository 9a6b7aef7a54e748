/* The exec handler's stdout protocol (rules in exec_output.h).  Bytes are
 * split into lines by the bounded line reader (lines.h); each complete
 * line is decoded with jansson and classified. */
#include "worker/exec_output.h"

#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

#include "worker/lines.h"

struct ht_exec_output {
    ht_lines_t lines;
    ht_exec_output_state_t state;

    int progress_new;
    int progress_pct;
    char *progress_msg;

    json_t *result;
    char *error_msg;
    int error_retry;

    char *content_type;
};

ht_exec_output_t *ht_exec_output_new(size_t max_line)
{
    ht_exec_output_t *p = calloc(1, sizeof(*p));
    if (p)
        ht_lines_init(&p->lines, max_line ? max_line : HT_EXEC_LINE_MAX);
    return p;
}

void ht_exec_output_free(ht_exec_output_t *p)
{
    if (!p)
        return;
    ht_lines_free(&p->lines);
    free(p->progress_msg);
    free(p->error_msg);
    free(p->content_type);
    json_decref(p->result);
    free(p);
}

static void take_progress_line(ht_exec_output_t *p, const json_t *obj, const json_t *pct)
{
    double v = json_number_value(pct);
    if (!(v >= 0)) /* also catches NaN */
        v = 0;
    if (v > 100)
        v = 100;
    const json_t *m = json_object_get(obj, "message");
    free(p->progress_msg);
    p->progress_msg = json_is_string(m) ? strdup(json_string_value(m)) : NULL;
    p->progress_pct = (int)(v + 0.5); /* v >= 0: rounds half up */
    p->progress_new = 1;
}

static void take_error_line(ht_exec_output_t *p, const json_t *obj, const json_t *err)
{
    char *msg = strdup(json_string_value(err));
    if (!msg)
        return;
    free(p->error_msg);
    p->error_msg = msg;
    p->error_retry = !json_is_false(json_object_get(obj, "retry"));
}

/* Classifies one complete line (without its line ending). */
static void parse_line(ht_exec_output_t *p, const char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r')
        n--;
    json_error_t jerr;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY, &jerr);
    if (!v)
        return;                                         /* not JSON: a log line */
    const json_t *pct = json_object_get(v, "progress"); /* NULL unless an object */
    const json_t *err = json_object_get(v, "error");
    const json_t *ctype = json_object_get(v, "output_content_type");
    char *t;
    if (json_is_number(pct)) {
        take_progress_line(p, v, pct);
    } else if (json_is_string(err)) {
        take_error_line(p, v, err);
    } else if (json_is_string(ctype)) {
        if ((t = strdup(json_string_value(ctype)))) {
            free(p->content_type);
            p->content_type = t;
        }
    } else {
        json_decref(p->result);
        p->result = v;
        return;
    }
    json_decref(v);
}

static int on_line(void *arg, const char *line, size_t len, int cut)
{
    ht_exec_output_t *p = arg;
    if (cut) {
        p->state = HT_EXEC_OUTPUT_TOO_LARGE;
        ht_lines_free(&p->lines);
        return 1;
    }
    parse_line(p, line, len);
    return 0;
}

int ht_exec_output_feed(ht_exec_output_t *p, const char *data, size_t len)
{
    if (p->state != HT_EXEC_OUTPUT_OK)
        return 0;
    long rc = ht_lines_feed(&p->lines, data, len, on_line, p);
    return rc < 0 ? (int)rc : 0;
}

int ht_exec_output_finish(ht_exec_output_t *p)
{
    if (p->state == HT_EXEC_OUTPUT_OK)
        ht_lines_finish(&p->lines, on_line, p);
    return 0;
}

ht_exec_output_state_t ht_exec_output_state(const ht_exec_output_t *p)
{
    return p->state;
}

int ht_exec_output_take_progress(ht_exec_output_t *p, int *percent, const char **message)
{
    if (!p->progress_new)
        return 0;
    p->progress_new = 0;
    *percent = p->progress_pct;
    *message = p->progress_msg;
    return 1;
}

json_t *ht_exec_output_result(const ht_exec_output_t *p)
{
    return p->result;
}

const char *ht_exec_output_content_type(const ht_exec_output_t *p)
{
    return p->content_type;
}

const char *ht_exec_output_error(const ht_exec_output_t *p, int *retryable)
{
    if (retryable)
        *retryable = p->error_retry;
    return p->error_msg;
}
