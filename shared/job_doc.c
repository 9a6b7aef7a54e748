/* The public job document, the one writer of it: compact JSON text
 * appended to a buffer, for every answer and message that carries a job
 * (polls, held and sync answers, SSE events, listing pages, webhook
 * bodies).  The text is what jansson's json_dumps(JSON_COMPACT) prints for
 * the document's tree (keys in the order below, jansson's escapes, "?" for
 * bytes of a stored string that are not UTF-8); tests/unit/test_job_doc.c
 * compares the two over many generated jobs.
 *
 * The stored JSON fields (result, error, metadata) are JSON text already.
 * When a text is in the exact form jansson prints (what hangtight's own
 * writers store: json_dumps with JSON_COMPACT), it is copied as it is;
 * anything else (whitespace, reals, other escapes, a duplicate key, text
 * that does not parse...) goes through jansson, so the output never depends
 * on which path was taken. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"
#include "shared/id.h"
#include "shared/job.h"

/* ---- strings as jansson prints them --------------------------------------- */

/* Length of the valid UTF-8 sequence at s (jansson's rules: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t n;
    uint32_t v;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (n == 3 && v < 0x800) ||
        (n == 4 && v < 0x10000))
        return 0;
    return n;
}

static int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_seq(p, (size_t)(end - p));
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

static const char hex_upper[] = "0123456789ABCDEF";

/* The bytes s[0..len) escaped as jansson does: \" \\ \b \f \n \r \t, other
 * control characters as \u00XX, everything else (UTF-8 included) as is.
 * `ascii_only`: bytes >= 0x80 become '?' (safe_string's rule for text that
 * is not UTF-8). */
static char *put_escaped(char *o, const char *s, size_t len, int ascii_only)
{
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (ascii_only && c >= 0x80) ? '?' : (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex_upper[c >> 4];
            *o++ = hex_upper[c & 15];
        }
    }
    *o++ = '"';
    return o;
}

/* A stored string: its bytes that are not UTF-8 as '?' (a stored value
 * must never make a job unreadable). */
static char *put_str(char *o, const char *s)
{
    size_t len = strlen(s);
    return put_escaped(o, s, len, !utf8_valid(s, len));
}

/* The most put_str() can write for s. */
static size_t str_bound(const char *s)
{
    return s ? 6 * strlen(s) + 2 : 4;
}

int ht_json_string_append(ht_buf_t *b, const char *s)
{
    if (ht_buf_reserve(b, str_bound(s)) < 0)
        return HT_ENOMEM;
    char *o = put_str(b->data + b->len, s);
    ht_buf_set_len(b, (size_t)(o - b->data));
    return 0;
}

/* ---- stored JSON text: copy when it is already jansson's form -------------- */

/* Deeper texts, or objects with more keys, take jansson's path: the limits
 * bound this scanner's stack, not what a document may hold. */
#define CANON_MAX_DEPTH 32
#define CANON_MAX_KEYS  64

static const char *canon_value(const char *p, const char *end, int depth);

static int is_upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* A string as jansson prints it: escapes only where it escapes, in its
 * spelling (\u00XX upper case, only for the control characters without a
 * short form; \u0000 does not load at all).  Returns the end or NULL. */
static const char *canon_string(const char *p, const char *end)
{
    p++; /* the opening quote */
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            if (end - p < 2)
                return NULL;
            char e = p[1];
            if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                p += 2;
                continue;
            }
            if (e != 'u' || end - p < 6 || p[2] != '0' || p[3] != '0' ||
                (p[4] != '0' && p[4] != '1') || !is_upper_hex(p[5]))
                return NULL;
            unsigned v = (unsigned)(p[4] - '0') * 16 +
                         (unsigned)(p[5] <= '9' ? p[5] - '0' : p[5] - 'A' + 10);
            if (v == 0 || v == '\b' || v == '\f' || v == '\n' || v == '\r' || v == '\t')
                return NULL;
            p += 6;
            continue;
        }
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n = utf8_seq((const unsigned char *)p, (size_t)(end - p));
        if (!n)
            return NULL;
        p += n;
    }
    return NULL;
}

/* An integer as jansson prints it (no "-0", no leading zero), short enough
 * to fit a json_int_t.  Reals are left to jansson (its %.17g form). */
static const char *canon_number(const char *p, const char *end)
{
    const char *start = p;
    if (*p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9')
        return NULL;
    if (*p == '0') {
        p++;
        if (*start == '-')
            return NULL;
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
        return NULL;
    return p - start > 18 ? NULL : p;
}

static const char *canon_literal(const char *p, const char *end, const char *word, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

static const char *canon_array(const char *p, const char *end, int depth)
{
    p++;
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        if (!(p = canon_value(p, end, depth + 1)))
            return NULL;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        return p < end && *p == ']' ? p + 1 : NULL;
    }
}

/* Keys must be unique: jansson keeps one of two equal keys, so a text with
 * duplicates prints differently.  Escaping is canonical, so equal bytes
 * mean equal keys. */
static const char *canon_object(const char *p, const char *end, int depth)
{
    const char *key[CANON_MAX_KEYS];
    size_t key_len[CANON_MAX_KEYS], n = 0;
    p++;
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        if (p >= end || *p != '"' || n == CANON_MAX_KEYS)
            return NULL;
        const char *k = p;
        if (!(p = canon_string(p, end)))
            return NULL;
        size_t klen = (size_t)(p - k);
        for (size_t i = 0; i < n; i++) {
            if (key_len[i] == klen && memcmp(key[i], k, klen) == 0)
                return NULL;
        }
        key[n] = k;
        key_len[n++] = klen;
        if (p >= end || *p != ':')
            return NULL;
        if (!(p = canon_value(p + 1, end, depth + 1)))
            return NULL;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        return p < end && *p == '}' ? p + 1 : NULL;
    }
}

static const char *canon_value(const char *p, const char *end, int depth)
{
    if (p >= end || depth > CANON_MAX_DEPTH)
        return NULL;
    switch (*p) {
    case '"':
        return canon_string(p, end);
    case '{':
        return canon_object(p, end, depth);
    case '[':
        return canon_array(p, end, depth);
    case 't':
        return canon_literal(p, end, "true", 4);
    case 'f':
        return canon_literal(p, end, "false", 5);
    case 'n':
        return canon_literal(p, end, "null", 4);
    default:
        return canon_number(p, end);
    }
}

int ht_json_text_canonical(const char *text, size_t len)
{
    const char *end = text + len;
    return canon_value(text, end, 0) == end;
}

/* One stored JSON field, ready to be copied: the stored text itself when
 * canonical, else jansson's print of it (malloc'd, freed by the caller). */
typedef struct {
    const char *text;
    size_t len;
    char *owned;
} stored_t;

static int stored_prepare(stored_t *s, const char *text, const char *if_null)
{
    memset(s, 0, sizeof(*s));
    if (!text) {
        s->text = if_null;
        s->len = strlen(if_null);
        return 0;
    }
    size_t len = strlen(text);
    if (ht_json_text_canonical(text, len)) {
        s->text = text;
        s->len = len;
        return 0;
    }
    /* Not in jansson's form: parsed and printed by jansson, or shown as a
     * string when it does not parse. */
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    if (j) {
        s->owned = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        if (!s->owned)
            return HT_ENOMEM;
        s->len = strlen(s->owned);
    } else {
        if (!(s->owned = malloc(str_bound(text))))
            return HT_ENOMEM;
        s->len = (size_t)(put_str(s->owned, text) - s->owned);
    }
    s->text = s->owned;
    return 0;
}

/* ---- numbers and times --------------------------------------------------- */

static char *put_int(char *o, long long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *o++ = '-';
    while (n)
        *o++ = tmp[--n];
    return o;
}

static char *put2(char *o, unsigned v)
{
    *o++ = (char)('0' + v / 10);
    *o++ = (char)('0' + v % 10);
    return o;
}

/* ht_format_time()'s text (RFC 3339, UTC, milliseconds) in quotes, or null
 * for 0 ("not yet"), without gmtime_r and snprintf.  Days to a civil date
 * by the usual era arithmetic (valid for the positive times used here). */
#define TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z, ht_format_time's clamp */
static char *put_time(char *o, int64_t ms)
{
    if (ms <= 0) {
        memcpy(o, "null", 4);
        return o + 4;
    }
    if (ms > TIME_MAX_MS)
        ms = TIME_MAX_MS;
    int64_t secs = ms / 1000, days = secs / 86400;
    unsigned frac = (unsigned)(ms % 1000), sod = (unsigned)(secs % 86400);
    int64_t z = days + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    unsigned y = (unsigned)(yoe + era * 400) + (m <= 2);
    *o++ = '"';
    o = put2(o, y / 100);
    o = put2(o, y % 100);
    *o++ = '-';
    o = put2(o, m);
    *o++ = '-';
    o = put2(o, d);
    *o++ = 'T';
    o = put2(o, sod / 3600);
    *o++ = ':';
    o = put2(o, sod / 60 % 60);
    *o++ = ':';
    o = put2(o, sod % 60);
    *o++ = '.';
    *o++ = (char)('0' + frac / 100);
    o = put2(o, frac % 100);
    *o++ = 'Z';
    *o++ = '"';
    return o;
}

/* ---- the document -------------------------------------------------------- */

#define PUT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)

static char *put_opt_str(char *o, const char *s)
{
    return s ? put_str(o, s) : PUT(o, "null");
}

/* The last delivery's outcome: an HTTP status as a number ("503" as 503:
 * an optional '-', then the whole string a decimal in 100..999; "" as 0),
 * an error word ("timeout") as a string. */
static char *put_last_status(char *o, const char *s)
{
    if (!s)
        return PUT(o, "null");
    if (*s == '\0')
        return PUT(o, "0");
    if (*s == '-' || (*s >= '0' && *s <= '9')) {
        char *end;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (!errno && *end == '\0' && n >= 100 && n <= 999)
            return put_int(o, n);
    }
    return put_str(o, s);
}

/* "/v1/jobs/<id><tail>" in quotes; `id` is the id as escaped JSON string
 * content. */
static char *put_link(char *o, const char *id, size_t id_len, const char *tail, size_t tail_len)
{
    o = PUT(o, "\"/v1/jobs/");
    memcpy(o, id, id_len);
    o += id_len;
    memcpy(o, tail, tail_len);
    o += tail_len;
    *o++ = '"';
    return o;
}

/* A file reference as the document shows it:
 * ,"<which>":{"bytes":n,"sha256":"…","content_type":"…","href":"/v1/jobs/<id>/<which>"}
 * where which is "input" or "output" (the sha256 is hex: ht_file_ref_parse
 * checks it). */
static char *put_file(char *o, const char *id, size_t id_len, const char *which,
                      const ht_file_ref_t *ref)
{
    char tail[8];
    size_t wn = strlen(which);
    tail[0] = '/';
    memcpy(tail + 1, which, wn);
    *o++ = ',';
    *o++ = '"';
    memcpy(o, which, wn);
    o += wn;
    o = PUT(o, "\":{\"bytes\":");
    o = put_int(o, (long long)ref->bytes);
    o = PUT(o, ",\"sha256\":\"");
    memcpy(o, ref->sha256, 64);
    o += 64;
    o = PUT(o, "\",\"content_type\":");
    o = put_opt_str(o, ref->content_type);
    o = PUT(o, ",\"href\":");
    o = put_link(o, id, id_len, tail, wn + 1);
    *o++ = '}';
    return o;
}

/* Every fixed part of the document: keys, punctuation, numbers, times
 * (about 700 bytes), with room to spare; the id comes five times. */
#define DOC_FIXED_BOUND 1024
/* A file reference without its content type (put_file). */
#define FILE_FIXED_BOUND 160

int ht_job_doc_append(ht_buf_t *b, const ht_job_t *job)
{
    int terminal = ht_job_status_terminal(job->status);
    /* The id as string content: one of ours (ht_job_from_hash checks) is
     * copied as it is, anything else escaped once. */
    char id_buf[6 * HT_ID_LEN + 3];
    const char *id = job->id;
    size_t id_len = strnlen(job->id, HT_ID_LEN);
    if (!ht_id_valid(id, id_len)) {
        id_len = (size_t)(put_escaped(id_buf, id, id_len, !utf8_valid(id, id_len)) - id_buf) - 2;
        id = id_buf + 1;
    }
    stored_t result, error, metadata;
    int rc = stored_prepare(&result, job->result, "null");
    if (rc == 0)
        rc = stored_prepare(&error, job->error, "null");
    else
        memset(&error, 0, sizeof(error));
    if (rc == 0)
        rc = stored_prepare(&metadata, job->metadata, "{}");
    else
        memset(&metadata, 0, sizeof(metadata));
    if (rc < 0)
        goto done;
    size_t bound = DOC_FIXED_BOUND + 5 * id_len + str_bound(job->type) +
                   str_bound(job->progress_msg) + str_bound(job->callback_url) +
                   str_bound(job->cb_state) + str_bound(job->cb_last_status) +
                   str_bound(job->schedule_id) + result.len + error.len + metadata.len;
    if (job->input.name[0])
        bound += FILE_FIXED_BOUND + id_len + str_bound(job->input.content_type);
    if (job->output.name[0])
        bound += FILE_FIXED_BOUND + id_len + str_bound(job->output.content_type);
    if ((rc = ht_buf_reserve(b, bound)) < 0)
        goto done;
    char *start = b->data + b->len, *o = start;
    o = PUT(o, "{\"id\":\"");
    memcpy(o, id, id_len);
    o += id_len;
    o = PUT(o, "\",\"type\":");
    o = put_opt_str(o, job->type);
    o = PUT(o, ",\"status\":\"");
    const char *name = ht_job_status_name(job->status);
    size_t n = strlen(name);
    memcpy(o, name, n);
    o += n;
    o = PUT(o, "\",\"priority\":\"");
    name = ht_priority_name(job->priority);
    n = strlen(name);
    memcpy(o, name, n);
    o += n;
    o = PUT(o, "\",\"progress\":{\"percent\":");
    o = job->progress_pct >= 0 ? put_int(o, job->progress_pct) : PUT(o, "null");
    o = PUT(o, ",\"message\":");
    o = put_opt_str(o, job->progress_msg);
    o = PUT(o, ",\"updated_at\":");
    o = put_time(o, job->progress_at);
    o = PUT(o, "},\"attempt\":");
    o = put_int(o, job->attempt);
    o = PUT(o, ",\"max_attempts\":");
    o = put_int(o, job->max_attempts);
    o = PUT(o, ",\"timeout_s\":");
    o = put_int(o, job->timeout_s);
    o = PUT(o, ",\"ttl_s\":");
    o = put_int(o, job->ttl_s);
    o = PUT(o, ",\"created_at\":");
    o = put_time(o, job->created_at);
    /* When a scheduled job is due (kept afterwards: when it was due). */
    o = PUT(o, ",\"run_at\":");
    o = put_time(o, job->run_at);
    o = PUT(o, ",\"started_at\":");
    o = put_time(o, job->started_at);
    o = PUT(o, ",\"finished_at\":");
    o = put_time(o, job->finished_at);
    o = PUT(o, ",\"result\":");
    memcpy(o, result.text, result.len);
    o += result.len;
    o = PUT(o, ",\"error\":");
    memcpy(o, error.text, error.len);
    o += error.len;
    if (job->input.name[0])
        o = put_file(o, id, id_len, "input", &job->input);
    if (job->output.name[0])
        o = put_file(o, id, id_len, "output", &job->output);
    o = PUT(o, ",\"metadata\":");
    memcpy(o, metadata.text, metadata.len);
    o += metadata.len;
    /* The recurring schedule that made it (its run is run_at). */
    o = PUT(o, ",\"schedule_id\":");
    o = put_opt_str(o, job->schedule_id);
    /* The webhook delivery: null without a callback_url.  Its state is null
     * while the job is unfinished (nothing to deliver yet); finishing sets
     * it to pending, the deliverer to delivered or failed. */
    o = PUT(o, ",\"callback\":");
    if (!job->callback_url) {
        o = PUT(o, "null");
    } else {
        o = PUT(o, "{\"url\":");
        o = put_str(o, job->callback_url);
        o = PUT(o, ",\"state\":");
        o = put_opt_str(o, terminal ? job->cb_state : NULL);
        o = PUT(o, ",\"attempts\":");
        o = put_int(o, job->cb_attempts);
        o = PUT(o, ",\"last_status\":");
        o = put_last_status(o, job->cb_last_status);
        o = PUT(o, ",\"last_attempt_at\":");
        o = put_time(o, job->cb_last_at);
        *o++ = '}';
    }
    /* Asked for and not yet honoured: the worker stops the handler soon. */
    if (job->cancel_requested && !terminal)
        o = PUT(o, ",\"cancel_requested\":true");
    /* What can be done next: DELETE self while unfinished, POST retry once
     * failed or canceled (a dead letter). */
    o = PUT(o, ",\"links\":{\"self\":");
    o = put_link(o, id, id_len, "", 0);
    o = PUT(o, ",\"events\":");
    o = put_link(o, id, id_len, "/events", 7);
    if (!terminal) {
        o = PUT(o, ",\"cancel\":");
        o = put_link(o, id, id_len, "", 0);
    }
    if (job->status == HT_JOB_FAILED || job->status == HT_JOB_CANCELED) {
        o = PUT(o, ",\"retry\":");
        o = put_link(o, id, id_len, "/retry", 6);
    }
    o = PUT(o, "}}");
    if ((size_t)(o - start) >= bound)
        abort(); /* the bound above is wrong: never write past a buffer */
    ht_buf_set_len(b, b->len + (size_t)(o - start));
done:
    free(result.owned);
    free(error.owned);
    free(metadata.owned);
    if (rc < 0)
        ht_buf_fail(b);
    return rc;
}

/* ---- a jansson value as json_dumps prints it -------------------------------- */

/* Appends v as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) does.  Returns 0,
 * HT_ENOMEM, or HT_EINVAL for what it leaves to jansson: a real (jansson's
 * own "%.17g" rules), nesting deeper than CANON_MAX_DEPTH. */
static int dump_value(ht_buf_t *b, json_t *v, int depth)
{
    if (depth > CANON_MAX_DEPTH)
        return HT_EINVAL;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (ht_buf_putc(b, '{') < 0)
            return HT_ENOMEM;
        int first = 1;
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
            const char *k = json_object_iter_key(it);
            size_t klen = json_object_iter_key_len(it);
            if (ht_buf_reserve(b, 6 * klen + 4) < 0)
                return HT_ENOMEM;
            char *o = b->data + b->len;
            if (!first)
                *o++ = ',';
            first = 0;
            o = put_escaped(o, k, klen, 0);
            *o++ = ':';
            ht_buf_set_len(b, (size_t)(o - b->data));
            int rc = dump_value(b, json_object_iter_value(it), depth + 1);
            if (rc)
                return rc;
        }
        return ht_buf_putc(b, '}') < 0 ? HT_ENOMEM : 0;
    }
    case JSON_ARRAY: {
        if (ht_buf_putc(b, '[') < 0)
            return HT_ENOMEM;
        for (size_t i = 0, n = json_array_size(v); i < n; i++) {
            if (i && ht_buf_putc(b, ',') < 0)
                return HT_ENOMEM;
            int rc = dump_value(b, json_array_get(v, i), depth + 1);
            if (rc)
                return rc;
        }
        return ht_buf_putc(b, ']') < 0 ? HT_ENOMEM : 0;
    }
    case JSON_STRING: {
        /* jansson's strings are UTF-8 (it checks them on the way in). */
        size_t len = json_string_length(v);
        if (ht_buf_reserve(b, 6 * len + 2) < 0)
            return HT_ENOMEM;
        char *o = put_escaped(b->data + b->len, json_string_value(v), len, 0);
        ht_buf_set_len(b, (size_t)(o - b->data));
        return 0;
    }
    case JSON_INTEGER: {
        if (ht_buf_reserve(b, 24) < 0)
            return HT_ENOMEM;
        char *o = put_int(b->data + b->len, (long long)json_integer_value(v));
        ht_buf_set_len(b, (size_t)(o - b->data));
        return 0;
    }
    case JSON_TRUE:
        return ht_buf_append(b, "true", 4) < 0 ? HT_ENOMEM : 0;
    case JSON_FALSE:
        return ht_buf_append(b, "false", 5) < 0 ? HT_ENOMEM : 0;
    case JSON_NULL:
        return ht_buf_append(b, "null", 4) < 0 ? HT_ENOMEM : 0;
    default:
        return HT_EINVAL;
    }
}

char *ht_json_dumps_compact(json_t *v)
{
    ht_buf_t b = HT_BUF_INIT;
    int rc = v ? dump_value(&b, v, 0) : HT_EINVAL;
    if (rc == 0)
        return ht_buf_steal(&b, NULL);
    ht_buf_free(&b);
    return rc == HT_EINVAL && v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}
