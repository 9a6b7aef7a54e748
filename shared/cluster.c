/* Redis Cluster arithmetic (see cluster.h): key slots, the slot map,
 * redirects, partition hash tags. */
#include "shared/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared/error.h"
#include "shared/id.h"

uint16_t ht_crc16(const char *buf, size_t len)
{
    /* Bitwise CRC16-XMODEM: 8 shifts a byte.  Fast enough for key names of
     * a few dozen bytes; a table would save nothing that shows. */
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)buf[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

unsigned ht_cluster_keyslot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        if (close && close > key + from) /* "{}" is no tag: hash the whole key */
            return ht_crc16(key + from, (size_t)(close - key) - from) % HT_CLUSTER_SLOTS;
    }
    return ht_crc16(key, len) % HT_CLUSTER_SLOTS;
}

/* ---- the slot map ----------------------------------------------------- */

static int node_index(ht_cluster_map_t *map, const char *host, int port, size_t *cap)
{
    for (size_t i = 0; i < map->n_nodes; i++)
        if (map->nodes[i].port == port && strcmp(map->nodes[i].host, host) == 0)
            return (int)i;
    if (map->n_nodes == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        ht_cluster_node_t *n = realloc(map->nodes, ncap * sizeof(*n));
        if (!n)
            return HT_ENOMEM;
        map->nodes = n;
        *cap = ncap;
    }
    ht_cluster_node_t *n = &map->nodes[map->n_nodes];
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    return (int)map->n_nodes++;
}

int ht_cluster_map_build(ht_cluster_map_t *map, const ht_cluster_range_t *ranges, size_t n,
                         const char *fallback_host)
{
    memset(map, 0, sizeof(*map));
    for (size_t s = 0; s < HT_CLUSTER_SLOTS; s++)
        map->owner[s] = -1;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        const ht_cluster_range_t *r = &ranges[i];
        const char *host = r->host && r->host[0] ? r->host : fallback_host;
        if (r->first > r->last || r->last >= HT_CLUSTER_SLOTS || r->port < 1 || r->port > 65535 ||
            !host || !host[0] || strlen(host) >= HT_CLUSTER_HOST_MAX) {
            ht_cluster_map_clear(map);
            return HT_EINVAL;
        }
        int idx = node_index(map, host, r->port, &cap);
        if (idx < 0) {
            ht_cluster_map_clear(map);
            return idx;
        }
        for (unsigned s = r->first; s <= r->last; s++)
            map->owner[s] = (int16_t)idx;
    }
    return 0;
}

void ht_cluster_map_clear(ht_cluster_map_t *map)
{
    free(map->nodes);
    map->nodes = NULL;
    map->n_nodes = 0;
}

size_t ht_cluster_map_uncovered(const ht_cluster_map_t *map)
{
    size_t n = 0;
    for (size_t s = 0; s < HT_CLUSTER_SLOTS; s++)
        n += map->owner[s] < 0;
    return n;
}

/* ---- redirects ---------------------------------------------------------- */

/* "<host>:<port>", "[v6]:<port>", "v6:<port>" or ":<port>" (host empty). */
static int parse_addr(const char *p, size_t len, ht_redirect_t *out)
{
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (p[i - 1] == ':') {
            colon = p + i - 1;
            break;
        }
    if (!colon || colon + 1 == p + len)
        return -1;
    long port = 0;
    for (const char *q = colon + 1; q < p + len; q++) {
        if (*q < '0' || *q > '9' || (port = port * 10 + (*q - '0')) > 65535)
            return -1;
    }
    if (port < 1)
        return -1;
    const char *host = p;
    size_t hlen = (size_t)(colon - p);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host++;
        hlen -= 2;
    }
    if (hlen >= HT_CLUSTER_HOST_MAX)
        return -1;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = (int)port;
    return 0;
}

ht_redirect_kind_t ht_cluster_parse_redirect(const char *err, size_t len, ht_redirect_t *out)
{
    memset(out, 0, sizeof(*out));
    ht_redirect_kind_t kind;
    size_t skip;
    if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
        kind = HT_REDIRECT_MOVED;
        skip = 6;
    } else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
        kind = HT_REDIRECT_ASK;
        skip = 4;
    } else {
        return HT_REDIRECT_NONE;
    }
    const char *p = err + skip, *end = err + len;
    unsigned slot = 0;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9' && slot < HT_CLUSTER_SLOTS)
        slot = slot * 10 + (unsigned)(*p++ - '0');
    if (p == digits || p >= end || *p != ' ' || slot >= HT_CLUSTER_SLOTS)
        return HT_REDIRECT_NONE;
    p++;
    if (parse_addr(p, (size_t)(end - p), out) < 0) {
        memset(out, 0, sizeof(*out));
        return HT_REDIRECT_NONE;
    }
    out->kind = kind;
    out->slot = slot;
    return kind;
}

/* ---- partition tags ----------------------------------------------------- */

int ht_cluster_partition_tag(const char *queue, unsigned index, unsigned n, char *out,
                             size_t outlen)
{
    if (n < 1 || n > HT_ID_PARTITIONS_MAX || index >= n || outlen < HT_CLUSTER_TAG_MAX ||
        strlen(queue) + 16 >= HT_CLUSTER_TAG_MAX)
        return HT_EINVAL;
    if (n == 1) {
        snprintf(out, outlen, "%s", queue);
        return 0;
    }
    unsigned lo = index * HT_CLUSTER_SLOTS / n, hi = (index + 1) * HT_CLUSTER_SLOTS / n;
    /* Each try lands in the share with probability 1/n: a few thousand
     * tries at most for n = HT_ID_PARTITIONS_MAX; the bound only guards the loop. */
    for (long k = -1; k < 10000000L; k++) {
        int len = k < 0 ? snprintf(out, outlen, "%s.p%u", queue, index)
                        : snprintf(out, outlen, "%s.p%u-%ld", queue, index, k);
        unsigned slot = ht_cluster_keyslot(out, (size_t)len);
        if (slot >= lo && slot < hi)
            return 0;
    }
    return HT_EINVAL;
}

/* ---- routing ---------------------------------------------------------- */

static int word_is(const char *w, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(w, name, len) == 0;
}

int ht_cluster_key_index(size_t argc, const char *const *argv, const size_t *lens)
{
    /* Commands with no key (or whose argv[1] is no key: a channel, a
     * subcommand).  Any master answers them. */
    static const char *const keyless[] = {
        "PING",      "ECHO",    "INFO",      "CONFIG",     "FUNCTION",    "CLUSTER", "AUTH",
        "SELECT",    "HELLO",   "TIME",      "DBSIZE",     "SCRIPT",      "CLIENT",  "COMMAND",
        "WAIT",      "ROLE",    "MULTI",     "EXEC",       "DISCARD",     "ASKING",  "READONLY",
        "READWRITE", "PUBLISH", "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "MEMORY",  "LASTSAVE",
        "SLOWLOG",   "LATENCY", "FLUSHALL",  "FLUSHDB"};
    /* "NAME script numkeys key...": the first key is argv[3]. */
    static const char *const scripts[] = {"FCALL",   "FCALL_RO", "EVAL",
                                          "EVAL_RO", "EVALSHA",  "EVALSHA_RO"};
    if (argc == 0)
        return -1;
    for (size_t i = 0; i < sizeof keyless / sizeof keyless[0]; i++)
        if (word_is(argv[0], lens[0], keyless[i]))
            return -1;
    for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++)
        if (word_is(argv[0], lens[0], scripts[i]))
            return argc > 3 && !(lens[2] == 1 && argv[2][0] == '0') ? 3 : -1;
    return argc > 1 ? 1 : -1;
}

ht_cluster_err_action_t ht_cluster_error_action(const char *err)
{
    static const struct {
        const char *code;
        ht_cluster_err_action_t action;
    } table[] = {
        {"READONLY", HT_CLUSTER_ERR_DROP},      {"MASTERDOWN", HT_CLUSTER_ERR_DROP},
        {"UNBLOCKED", HT_CLUSTER_ERR_DROP},     {"CLUSTERDOWN", HT_CLUSTER_ERR_STALE_MAP},
        {"TRYAGAIN", HT_CLUSTER_ERR_STALE_MAP},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t n = strlen(table[i].code);
        if (strncmp(err, table[i].code, n) == 0 && (err[n] == ' ' || err[n] == '\0'))
            return table[i].action;
    }
    return HT_CLUSTER_ERR_NONE;
}
