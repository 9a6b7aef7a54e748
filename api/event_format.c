/* Formats of job change events (see event_format.h): parsing what
 * shared/library.lua writes, and writing what SSE clients read. */
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

int ht_event_id_valid(const char *s, size_t len)
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

int ht_event_id_cmp(const char *a, const char *b)
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

int ht_event_entry_parse(ht_event_entry_t *e, const char *s)
{
    /* Six words, each ended by one space, then the message. */
    char words[6][24];
    memset(e, 0, sizeof(*e));
    for (size_t i = 0; i < 6; i++) {
        const char *sp = strchr(s, ' ');
        size_t len = sp ? (size_t)(sp - s) : 0;
        if (!sp || len == 0 || len >= sizeof(words[i]))
            return HT_EINVAL;
        memcpy(words[i], s, len);
        words[i][len] = '\0';
        s = sp + 1;
    }
    uint64_t n;
    if (strlen(words[0]) > 20 || parse_u64(words[0], INT64_MAX, &e->version) < 0 ||
        parse_kind(words[1], strlen(words[1]), &e->progress) < 0 ||
        ht_job_status_parse(words[2], &e->status) < 0 || parse_u64(words[3], 1000000, &n) < 0)
        return HT_EINVAL;
    e->attempt = (int)n;
    if (strcmp(words[4], "-") == 0)
        e->progress_pct = -1;
    else if (parse_u64(words[4], 100, &n) == 0)
        e->progress_pct = (int)n;
    else
        return HT_EINVAL;
    if (parse_u64(words[5], INT64_MAX, &n) < 0)
        return HT_EINVAL;
    e->at = (int64_t)n;
    snprintf(e->id, sizeof(e->id), "%s-0", words[0]);
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
        !ht_event_id_valid(words[2], strlen(words[2])) ||
        parse_kind(words[3], strlen(words[3]), &note->progress) < 0)
        return HT_EINVAL;
    memcpy(note->event_id, words[2], strlen(words[2]) + 1);
    return 0;
}

int ht_event_doc_append(ht_buf_t *b, const ht_job_t *job, const ht_event_entry_t *e)
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
    return ht_job_doc_append(b, &at);
}

int ht_sse_job_event_append(ht_buf_t *b, const char *id, const char *event, const ht_job_t *job,
                            const ht_event_entry_t *e)
{
    if (id && id[0]) {
        ht_buf_puts(b, "id: ");
        ht_buf_puts(b, id);
        ht_buf_putc(b, '\n');
    }
    ht_buf_puts(b, "event: ");
    ht_buf_puts(b, event);
    ht_buf_puts(b, "\ndata: ");
    if (e)
        ht_event_doc_append(b, job, e);
    else
        ht_job_doc_append(b, job);
    return ht_buf_puts(b, "\n\n"); /* failure is sticky: this says for all */
}
