/* An incremental parser of Server-Sent Events (the WHATWG "event stream"
 * format): bytes in as they arrive from libcurl, whole events out to a
 * callback.  Only what `hangtight wait` needs: the event type, id and data
 * fields; comments are skipped; "retry" is ignored. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Bounds a misbehaving server cannot push us past. */
#define SSE_MAX_LINE (8u << 20)
#define SSE_MAX_DATA (16u << 20)

void ht_cli_sse_init(ht_cli_sse_t *p, ht_cli_sse_cb cb, void *ctx)
{
    memset(p, 0, sizeof *p);
    p->cb = cb;
    p->ctx = ctx;
}

void ht_cli_sse_clear(ht_cli_sse_t *p)
{
    ht_buf_free(&p->line);
    ht_buf_free(&p->data);
}

void ht_cli_sse_restart(ht_cli_sse_t *p)
{
    ht_buf_reset(&p->line);
    ht_buf_reset(&p->data);
    p->has_data = 0;
    p->after_cr = 0;
    p->event[0] = '\0';
    memcpy(p->pending_id, p->last_id, sizeof p->pending_id);
}

/* Appends `n` bytes to a line or an event's data, up to `max` bytes. */
static int append(ht_buf_t *b, const char *s, size_t n, size_t max)
{
    if (b->len + n + 1 > max)
        return -E2BIG;
    return ht_buf_append(b, s, n) < 0 ? -ENOMEM : 0;
}

/* A blank line: hands the event over (when it has data) and starts the next. */
static int dispatch(ht_cli_sse_t *p)
{
    int rc = 0;
    /* As in a browser: an id counts once its event is complete, so a
     * connection that breaks inside an event resumes before that event. */
    memcpy(p->last_id, p->pending_id, sizeof p->last_id);
    if (p->has_data)
        rc = p->cb(p->ctx, p->event[0] ? p->event : "message", p->last_id,
                   p->data.data ? p->data.data : "");
    p->has_data = 0;
    ht_buf_reset(&p->data);
    p->event[0] = '\0';
    return rc;
}

static void copy_field(char *dst, size_t dstlen, const char *v, size_t n)
{
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* One complete line (without its end). */
static int field(ht_cli_sse_t *p, const char *line, size_t len)
{
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':')
        return 0; /* a comment: the server's heartbeat */
    const char *colon = memchr(line, ':', len);
    size_t nlen = colon ? (size_t)(colon - line) : len;
    const char *v = colon ? colon + 1 : line + len;
    size_t vlen = (size_t)(line + len - v);
    if (vlen > 0 && *v == ' ') {
        v++;
        vlen--;
    }
    if (nlen == 4 && memcmp(line, "data", 4) == 0) {
        int rc = 0;
        if (p->has_data)
            rc = append(&p->data, "\n", 1, SSE_MAX_DATA);
        if (rc == 0)
            rc = append(&p->data, v, vlen, SSE_MAX_DATA);
        p->has_data = 1;
        return rc;
    }
    if (nlen == 5 && memcmp(line, "event", 5) == 0)
        copy_field(p->event, sizeof p->event, v, vlen);
    else if (nlen == 2 && memcmp(line, "id", 2) == 0 && !memchr(v, '\0', vlen))
        copy_field(p->pending_id, sizeof p->pending_id, v, vlen);
    return 0; /* "retry" and unknown fields are ignored */
}

int ht_cli_sse_feed(ht_cli_sse_t *p, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        /* CRLF is one line end: skip the LF after a CR, even across feeds. */
        if (p->after_cr && c == '\n') {
            p->after_cr = 0;
            continue;
        }
        p->after_cr = c == '\r';
        if (c != '\r' && c != '\n') {
            /* Copy the run of ordinary bytes in one go. */
            size_t j = i;
            while (j < len && buf[j] != '\r' && buf[j] != '\n')
                j++;
            int rc = append(&p->line, buf + i, j - i, SSE_MAX_LINE);
            if (rc)
                return rc;
            i = j - 1;
            continue;
        }
        int rc = field(p, p->line.data ? p->line.data : "", p->line.len);
        ht_buf_reset(&p->line);
        if (rc)
            return rc;
    }
    return 0;
}
