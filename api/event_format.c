/* Formats of job change events (see event_format.h): parsing what
 * shared/library.lua writes (and the stream entries of schema 7 and older),
 * and writing what SSE clients read. */
#include "api/event_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

/* Digits only, at most 20 of them (a uint64). */
static int digits(const char *s, size_t len)
{
    if (len < 1 || len > 20)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

int ht_log_id_valid(const char *s, size_t len)
{
    const char *dash = memchr(s, '-', len);
    if (!dash)
        return 0;
    size_t left = (size_t)(dash - s);
    return digits(s, left) && digits(dash + 1, len - left - 1);
}

/* Compares two digit strings as numbers (leading zeros allowed). */
static int cmp_num(const char *a, size_t alen, const char *b, size_t blen)
{
    while (alen > 1 && *a == '0') {
        a++;
        alen--;
    }
    while (blen > 1 && *b == '0') {
        b++;
        blen--;
    }
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

int ht_log_id_cmp(const char *a, const char *b)
{
    const char *da = strchr(a, '-'), *db = strchr(b, '-');
    int c = cmp_num(a, (size_t)(da - a), b, (size_t)(db - b));
    if (c != 0)
        return c;
    return cmp_num(da + 1, strlen(da + 1), db + 1, strlen(db + 1));
}

/* A whole decimal number in [0, max]. */
static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!digits(s, strlen(s)))
        return HT_EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno || v > max)
        return HT_EINVAL;
    *out = v;
    return 0;
}

static int parse_kind(const char *s, size_t len, int *progress)
{
    if (len == 8 && memcmp(s, "progress", 8) == 0)
        *progress = 1;
    else if (len == 6 && memcmp(s, "status", 6) == 0)
        *progress = 0;
    else
        return HT_EINVAL;
    return 0;
}

/* One field of a log entry; `seen` counts kind, v and status. */
static int set_entry_field(ht_log_entry_t *e, const char *f, const char *v, int seen[3])
{
    uint64_t n;
    if (strcmp(f, "kind") == 0) {
        seen[0] = 1;
        return parse_kind(v, strlen(v), &e->progress);
    }
    if (strcmp(f, "v") == 0) {
        seen[1] = 1;
        return parse_u64(v, INT64_MAX, &e->version);
    }
    if (strcmp(f, "status") == 0) {
        seen[2] = 1;
        return ht_job_status_parse(v, &e->status);
    }
    if (strcmp(f, "attempt") == 0) {
        if (parse_u64(v, 1000000, &n) < 0)
            return HT_EINVAL;
        e->attempt = (int)n;
    } else if (strcmp(f, "pct") == 0) {
        if (*v && parse_u64(v, 100, &n) < 0)
            return HT_EINVAL;
        e->progress_pct = *v ? (int)n : -1;
    } else if (strcmp(f, "msg") == 0) {
        e->progress_msg = *v ? v : NULL;
    } else if (strcmp(f, "at") == 0) {
        if (parse_u64(v, INT64_MAX, &n) < 0)
            return HT_EINVAL;
        e->at = (int64_t)n;
    }
    return 0;
}

int ht_log_entry_parse(ht_log_entry_t *e, const char *id, size_t n, const char *const *strs)
{
    int seen[3] = {0, 0, 0};
    memset(e, 0, sizeof(*e));
    e->progress_pct = -1;
    if (!id || !ht_log_id_valid(id, strlen(id)))
        return HT_EINVAL;
    memcpy(e->id, id, strlen(id) + 1);
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (set_entry_field(e, strs[i], strs[i + 1], seen) < 0)
            return HT_EINVAL;
    }
    return seen[0] && seen[1] && seen[2] ? 0 : HT_EINVAL;
}

int ht_log_entry_parse_compact(ht_log_entry_t *e, const char *s)
{
    /* Six words, each ended by one space, then the message. */
    static const char *const names[] = {"v", "kind", "status", "attempt", "pct", "at"};
    char words[6][24];
    const char *strs[12];
    memset(e, 0, sizeof(*e));
    e->progress_pct = -1;
    for (size_t i = 0; i < 6; i++) {
        const char *sp = strchr(s, ' ');
        size_t len = sp ? (size_t)(sp - s) : 0;
        if (!sp || len == 0 || len >= sizeof(words[i]))
            return HT_EINVAL;
        memcpy(words[i], s, len);
        words[i][len] = '\0';
        if (i == 4 && strcmp(words[i], "-") == 0)
            words[i][0] = '\0'; /* no percent */
        strs[2 * i] = names[i];
        strs[2 * i + 1] = words[i];
        s = sp + 1;
    }
    char id[HT_LOG_ID_MAX];
    if (strlen(words[0]) > 20)
        return HT_EINVAL;
    snprintf(id, sizeof(id), "%s-0", words[0]);
    if (ht_log_entry_parse(e, id, 12, strs) < 0)
        return HT_EINVAL;
    e->progress_msg = *s ? s : NULL;
    return 0;
}

int ht_event_note_parse(ht_event_note_t *note, const char *s, size_t len)
{
    /* Four space-separated words, copied so each is NUL-terminated. */
    char buf[160], *words[4], *save = NULL;
    size_t n = 0;
    memset(note, 0, sizeof(*note));
    if (len >= sizeof(buf) || memchr(s, '\0', len))
        return HT_EINVAL;
    memcpy(buf, s, len);
    buf[len] = '\0';
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (n == 4)
            return HT_EINVAL;
        words[n++] = w;
    }
    if (n != 4 || parse_u64(words[0], INT64_MAX, &note->version) < 0 ||
        ht_job_status_parse(words[1], &note->status) < 0 ||
        !ht_log_id_valid(words[2], strlen(words[2])) ||
        parse_kind(words[3], strlen(words[3]), &note->progress) < 0)
        return HT_EINVAL;
    memcpy(note->log_id, words[2], strlen(words[2]) + 1);
    return 0;
}

json_t *ht_event_doc(const ht_job_t *job, const ht_log_entry_t *e)
{
    /* A shallow copy whose strings stay borrowed: never ht_job_clear()ed. */
    ht_job_t at = *job;
    int has_progress = e->progress_pct >= 0 || e->progress_msg;
    at.status = e->status;
    at.attempt = e->attempt;
    at.version = e->version;
    at.progress_pct = e->progress_pct;
    at.progress_msg = (char *)e->progress_msg;
    if (!has_progress)
        at.progress_at = 0;
    else if (e->progress || at.progress_at == 0)
        at.progress_at = e->at; /* the report's own time, to the millisecond */
    if (!ht_job_status_terminal(e->status)) {
        at.finished_at = 0;
        at.result = NULL;
    }
    if (e->attempt == 0)
        at.started_at = 0;
    return ht_job_to_json(&at);
}

/* Appends "<field>: <value>\n" for value[0..len). */
static void put_field(char **p, const char *field, const char *value, size_t len)
{
    size_t flen = strlen(field);
    memcpy(*p, field, flen);
    *p += flen;
    memcpy(*p, ": ", 2);
    *p += 2;
    memcpy(*p, value, len);
    *p += len;
    *(*p)++ = '\n';
}

char *ht_sse_format(const char *id, const char *event, const char *data, size_t *len)
{
    size_t dlen = strlen(data), lines = 1;
    for (const char *q = data; (q = strchr(q, '\n')); q++)
        lines++;
    size_t idlen = id ? strlen(id) : 0;
    size_t cap = (idlen ? idlen + 5 : 0) + strlen(event) + 8 + dlen + lines * 7 + 2;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    char *p = out;
    if (idlen)
        put_field(&p, "id", id, idlen);
    put_field(&p, "event", event, strlen(event));
    for (const char *line = data;;) {
        const char *nl = strchr(line, '\n');
        size_t l = nl ? (size_t)(nl - line) : strlen(line);
        if (l > 0 && line[l - 1] == '\r')
            l--; /* a CR would end the line for the client too */
        put_field(&p, "data", line, l);
        if (!nl)
            break;
        line = nl + 1;
    }
    *p++ = '\n';
    *p = '\0';
    *len = (size_t)(p - out);
    return out;
}
