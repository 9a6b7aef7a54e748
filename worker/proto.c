/* The persistent handlers' line protocol (rules in proto.h).  Answers are
 * validated with jansson; a result is then cut out of the line as the
 * handler wrote it, so its bytes are stored as they came (no encoding
 * round trip that could reformat numbers). */
#include "worker/proto.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

/* ---- worker -> handler ------------------------------------------------- */

/* Room for s as a JSON string (quotes included): at most 6 bytes a byte. */
static size_t quoted_max(const char *s)
{
    return s ? strlen(s) * 6 + 2 : 0;
}

static char *put_quoted(char *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    *o++ = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[*p >> 4];
            o[5] = hex[*p & 15];
            o += 6;
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    return o;
}

static char *put_str(char *o, const char *s)
{
    size_t n = strlen(s);
    memcpy(o, s, n);
    return o + n;
}

char *ht_proto_job_line(const ht_proto_job_t *job, size_t *len)
{
    size_t cap = 128 + quoted_max(job->id) + quoted_max(job->type) + quoted_max(job->input_path) +
                 quoted_max(job->output_path) + job->payload_len;
    char *buf = malloc(cap), *o = buf;
    if (!buf)
        return NULL;
    char num[64];
    o = put_str(o, "{\"id\":");
    o = put_quoted(o, job->id);
    o = put_str(o, ",\"type\":");
    o = put_quoted(o, job->type);
    snprintf(num, sizeof(num), ",\"attempt\":%d,\"deadline_ms\":%lld", job->attempt,
             (long long)job->deadline_ms);
    o = put_str(o, num);
    if (job->input_path) {
        o = put_str(o, ",\"input_path\":");
        o = put_quoted(o, job->input_path);
    }
    if (job->output_path) {
        o = put_str(o, ",\"output_path\":");
        o = put_quoted(o, job->output_path);
    }
    o = put_str(o, ",\"payload\":");
    char *start = o, *p;
    memcpy(o, job->payload, job->payload_len);
    o += job->payload_len;
    /* Almost never there: two memchr passes beat a byte loop. */
    for (p = start; (p = memchr(p, '\n', (size_t)(o - p)));)
        *p++ = ' ';
    for (p = start; (p = memchr(p, '\r', (size_t)(o - p)));)
        *p++ = ' ';
    *o++ = '}';
    *o++ = '\n';
    *o = '\0';
    *len = (size_t)(o - buf);
    return buf;
}

/* ---- handler -> worker ------------------------------------------------- */

/* In a line jansson has accepted: the end of the string that starts at s
 * (just past its closing quote). */
static const char *skip_string(const char *s)
{
    for (s++; *s != '"'; s++)
        if (*s == '\\')
            s++;
    return s + 1;
}

static const char *skip_ws(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
        s++;
    return s;
}

/* The end of the value that starts at s, in a line jansson has accepted. */
static const char *skip_value(const char *s, const char *end)
{
    if (*s == '"')
        return skip_string(s);
    if (*s == '{' || *s == '[') {
        int depth = 0;
        while (s < end) {
            if (*s == '"') {
                s = skip_string(s);
                continue;
            }
            if (*s == '{' || *s == '[')
                depth++;
            else if (*s == '}' || *s == ']')
                depth--;
            s++;
            if (depth == 0)
                return s;
        }
        return end;
    }
    while (s < end && !strchr(",}] \t\r\n", *s))
        s++;
    return s;
}

/* The text of the top-level member spelled "result" in the object at
 * line[0..len), or NULL (a name written with escapes is not found: the
 * caller encodes the parsed value instead). */
static char *result_text(const char *line, size_t len)
{
    const char *s = line, *end = line + len;
    s = skip_ws(s, end);
    if (s >= end || *s++ != '{')
        return NULL;
    for (;;) {
        s = skip_ws(s, end);
        if (s >= end || *s != '"')
            return NULL;
        const char *key = s + 1, *key_end = skip_string(s) - 1;
        s = skip_ws(key_end + 1, end);
        if (s >= end || *s++ != ':')
            return NULL;
        s = skip_ws(s, end);
        const char *v = s;
        s = skip_value(s, end);
        if (key_end - key == 6 && memcmp(key, "result", 6) == 0) {
            char *text = malloc((size_t)(s - v) + 1);
            if (text) {
                memcpy(text, v, (size_t)(s - v));
                text[s - v] = '\0';
            }
            return text;
        }
        s = skip_ws(s, end);
        if (s >= end || *s++ != ',')
            return NULL;
    }
}

static int code_ok(const char *c)
{
    size_t n = strlen(c);
    if (n < 1 || n > HT_PROTO_CODE_MAX)
        return 0;
    for (; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr("_.-", *c)))
            return 0;
    return 1;
}

static int invalid(ht_proto_answer_t *a, const char *why)
{
    a->kind = HT_PROTO_INVALID;
    snprintf(a->why, sizeof(a->why), "%s", why);
    return 0;
}

static int take_progress(ht_proto_answer_t *a, const json_t *v, const json_t *pct)
{
    const json_t *m = json_object_get(v, "message");
    if (!json_is_number(pct) && !json_is_null(pct))
        return invalid(a, "\"progress\" is not a number or null");
    if (m && !json_is_string(m) && !json_is_null(m))
        return invalid(a, "\"message\" is not a string");
    a->kind = HT_PROTO_PROGRESS;
    a->percent = -1;
    if (json_is_number(pct)) {
        double d = json_number_value(pct);
        d = d >= 0 ? (d > 100 ? 100 : d) : 0; /* NaN cannot come from JSON */
        a->percent = (int)(d + 0.5);
    }
    if (json_is_string(m) && !(a->message = strdup(json_string_value(m))))
        return HT_ENOMEM;
    return 0;
}

static int take_error(ht_proto_answer_t *a, const json_t *v, const json_t *err)
{
    const json_t *retry = json_object_get(v, "retry"), *code = json_object_get(v, "code");
    if (!json_is_string(err))
        return invalid(a, "\"error\" is not a string");
    if (retry && !json_is_boolean(retry))
        return invalid(a, "\"retry\" is not true or false");
    if (code && !(json_is_string(code) && code_ok(json_string_value(code))))
        return invalid(a, "\"code\" is not a string of 1 to 64 of [a-z0-9_.-]");
    a->kind = HT_PROTO_ERROR;
    a->retry = !json_is_false(retry);
    snprintf(a->code, sizeof(a->code), "%s", code ? json_string_value(code) : "handler_error");
    if (!(a->error = strdup(json_string_value(err))))
        return HT_ENOMEM;
    return 0;
}

int ht_proto_parse(const char *line, size_t len, const char *id, ht_proto_answer_t *a)
{
    memset(a, 0, sizeof(*a));
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return 0; /* HT_PROTO_BLANK */
    json_error_t jerr;
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    int rc = 0;
    if (!v) {
        char why[sizeof(a->why)];
        snprintf(why, sizeof(why), "not JSON (%s)", jerr.text);
        return invalid(a, why);
    }
    const json_t *jid = json_object_get(v, "id");
    const json_t *res = json_object_get(v, "result"), *err = json_object_get(v, "error");
    const json_t *pct = json_object_get(v, "progress");
    if (!json_is_object(v)) {
        rc = invalid(a, "not a JSON object");
    } else if (!json_is_string(jid)) {
        rc = invalid(a, "no \"id\" string");
    } else if (strcmp(json_string_value(jid), id) != 0) {
        snprintf(a->why, sizeof(a->why), "an answer for job %.64s while job %.64s runs",
                 json_string_value(jid), id);
        a->kind = HT_PROTO_INVALID;
    } else if (res && err) {
        rc = invalid(a, "both \"result\" and \"error\"");
    } else if (res && json_object_get(v, "output_content_type") &&
               !json_is_string(json_object_get(v, "output_content_type"))) {
        rc = invalid(a, "\"output_content_type\" is not a string");
    } else if (res) {
        const json_t *ctype = json_object_get(v, "output_content_type");
        a->kind = HT_PROTO_RESULT;
        if (ctype && !(a->output_type = strdup(json_string_value(ctype)))) {
            json_decref(v);
            return HT_ENOMEM;
        }
        a->result = result_text(line, len);
        if (!a->result)
            a->result = json_dumps(res, JSON_COMPACT | JSON_ENCODE_ANY);
        rc = a->result ? 0 : HT_ENOMEM;
    } else if (err) {
        rc = take_error(a, v, err);
    } else if (pct) {
        rc = take_progress(a, v, pct);
    } else {
        rc = invalid(a, "none of \"result\", \"error\" and \"progress\"");
    }
    json_decref(v);
    return rc;
}

void ht_proto_answer_clear(ht_proto_answer_t *a)
{
    free(a->message);
    free(a->result);
    free(a->error);
    free(a->output_type);
    memset(a, 0, sizeof(*a));
}
