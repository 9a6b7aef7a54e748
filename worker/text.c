/* Stream tails and UTF-8 repair (see text.h).  Jansson refuses strings that
 * are not valid UTF-8, and a child's stderr or a handler's message can be
 * anything, so everything that becomes JSON text passes through here. */
#include "worker/text.h"

#include <stdlib.h>
#include <string.h>

void ht_tail_append(ht_tail_t *t, const char *data, size_t len)
{
    if (len >= HT_TAIL_MAX) {
        memcpy(t->buf, data + len - HT_TAIL_MAX, HT_TAIL_MAX);
        t->truncated = t->truncated || len > HT_TAIL_MAX || t->len > 0;
        t->len = HT_TAIL_MAX;
        return;
    }
    size_t keep = t->len + len > HT_TAIL_MAX ? HT_TAIL_MAX - len : t->len;
    if (keep < t->len) {
        memmove(t->buf, t->buf + (t->len - keep), keep);
        t->truncated = 1;
    }
    memcpy(t->buf + keep, data, len);
    t->len = keep + len;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t need;
    unsigned cp;
    if (s[0] < 0x80)
        return s[0] ? 1 : 0;
    if ((s[0] & 0xE0) == 0xC0) {
        need = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        need = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const unsigned min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

char *ht_utf8_sanitize(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0) {
            out[i++] = '?';
            continue;
        }
        memcpy(out + i, s + i, n);
        i += n;
    }
    out[len] = '\0';
    return out;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char *ht_tail_text(const ht_tail_t *t)
{
    size_t start = 0, end = t->len;
    /* A tail cut in the middle of a character starts with continuation
     * bytes: drop them rather than show replacement marks. */
    if (t->truncated)
        while (start < end && start < 3 && ((unsigned char)t->buf[start] & 0xC0) == 0x80)
            start++;
    while (start < end && is_space(t->buf[start]))
        start++;
    while (end > start && is_space(t->buf[end - 1]))
        end--;
    return ht_utf8_sanitize(t->buf + start, end - start);
}
