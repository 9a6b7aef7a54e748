/* Job ids: UUIDv4 (unpartitioned) or UUIDv8 carrying the partition, from
 * getrandom(2) (see id.h for the layout and why random). */
#include "shared/id.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "shared/error.h"

/* Random bytes are drawn a pool at a time, one getrandom(2) per
 * RANDOM_POOL / 16 ids, and each byte is handed out once.  A child made by
 * fork() starts with an empty pool: it would otherwise hand out its
 * parent's next ids. */
#define RANDOM_POOL 512

static _Thread_local unsigned char pool[RANDOM_POOL];
static _Thread_local size_t pool_left;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void empty_pool(void)
{
    pool_left = 0;
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, empty_pool);
}

static int fill_random(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = getrandom(buf + got, len - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)r;
    }
    return 0;
}

/* len <= RANDOM_POOL. */
static int take_random(unsigned char *buf, size_t len)
{
    if (pool_left < len) {
        pthread_once(&atfork_once, register_atfork);
        int rc = fill_random(pool, sizeof(pool));
        if (rc < 0)
            return rc;
        pool_left = sizeof(pool);
    }
    unsigned char *from = pool + sizeof(pool) - pool_left;
    memcpy(buf, from, len);
    memset(from, 0, len);
    pool_left -= len;
    return 0;
}

int ht_id_new_in(char out[HT_ID_LEN + 1], unsigned index, unsigned n)
{
    static const char hex[] = "0123456789abcdef";
    if (n < 1 || n > HT_ID_PARTITIONS_MAX || index >= n)
        return HT_EINVAL;
    unsigned char b[16];
    int rc = take_random(b, sizeof b);
    if (rc < 0)
        return rc;
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx (RFC 9562) */
    if (n == 1) {
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    } else {
        uint32_t part = ((uint32_t)(n - 1) << 10) | index; /* 20 bits */
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x80);       /* version 8 */
        b[13] = (unsigned char)((b[13] & 0xf0) | (part >> 16));
        b[14] = (unsigned char)(part >> 8);
        b[15] = (unsigned char)part;
    }
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 0x0f];
    }
    out[o] = '\0';
    return 0;
}

int ht_id_new(char out[HT_ID_LEN + 1])
{
    return ht_id_new_in(out, 0, 1);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int ht_id_partition(const char *s, size_t len, unsigned *index, unsigned *n)
{
    if (!s || len != HT_ID_LEN)
        return HT_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return HT_EINVAL;
        } else if (hex_value(s[i]) < 0) {
            return HT_EINVAL;
        }
    }
    if (!(s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b'))
        return HT_EINVAL;
    if (s[14] == '4') {
        *index = 0;
        *n = 1;
        return 0;
    }
    if (s[14] != '8')
        return HT_EINVAL;
    uint32_t part = 0;
    for (size_t i = 31; i < 36; i++)
        part = part << 4 | (uint32_t)hex_value(s[i]);
    unsigned parts = (unsigned)(part >> 10) + 1, idx = part & 0x3ff;
    /* Only what ht_id_new_in() makes: N = 1 is always v4. */
    if (parts < 2 || idx >= parts)
        return HT_EINVAL;
    *index = idx;
    *n = parts;
    return 0;
}

int ht_id_valid(const char *s, size_t len)
{
    unsigned i, n;
    return ht_id_partition(s, len, &i, &n) == 0;
}
