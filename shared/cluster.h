/* Redis Cluster arithmetic (issue 10), with no I/O: which slot a key lives
 * in, the slot map a CLUSTER SLOTS reply describes, what a MOVED or ASK
 * redirect says, and the hash tags that spread a queue's partitions over
 * the slot space.  The connections that use it (async in the api, blocking
 * in the worker and CLI) are built on top; this file is the part the
 * cluster specification pins down exactly, so it is unit-tested against the
 * specification's own examples (tests/unit/test_cluster.c).
 *
 * Reference: https://redis.io/docs/reference/cluster-spec/ ("Keys
 * distribution model", "Hash tags", "Redirection and resharding"). */
#ifndef HT_CLUSTER_H
#define HT_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#define HT_CLUSTER_SLOTS 16384
#define HT_CLUSTER_HOST_MAX 256
#define HT_CLUSTER_TAG_MAX 96

/* CRC16 (XMODEM: polynomial 0x1021, init 0) of `len` bytes. */
uint16_t ht_crc16(const char *buf, size_t len);

/* The slot of `key`: CRC16 mod 16384 of the hash tag when the key has one
 * (the bytes between the first '{' and the first '}' after it, when that
 * is not empty), else of the whole key. */
unsigned ht_cluster_keyslot(const char *key, size_t len);

/* A master as CLUSTER SLOTS names it. */
typedef struct {
    char host[HT_CLUSTER_HOST_MAX];
    int port;
} ht_cluster_node_t;

/* Who serves each slot.  owner[slot] is an index into nodes, or -1 while
 * no master serves the slot (the cluster is then not fully covered). */
typedef struct {
    ht_cluster_node_t *nodes;
    size_t n_nodes;
    int16_t owner[HT_CLUSTER_SLOTS];
} ht_cluster_map_t;

/* One range of a CLUSTER SLOTS reply: slots [first, last] served by the
 * master at host:port (replicas are not needed for routing and are not
 * passed in).  The parser of the RESP reply is the connection's; it feeds
 * the ranges here, so this stays free of hiredis. */
typedef struct {
    unsigned first, last;
    const char *host;
    int port;
} ht_cluster_range_t;

/* Builds `map` from `n` ranges.  An empty host (a node that does not know
 * its own address) is replaced with `fallback_host`, as the spec advises:
 * the address we reached it at.  Returns 0, or HT_EINVAL for a range out of
 * the slot space, a bad port or an over-long host; HT_ENOMEM.  Free with
 * ht_cluster_map_clear(). */
int ht_cluster_map_build(ht_cluster_map_t *map, const ht_cluster_range_t *ranges, size_t n,
                         const char *fallback_host);
void ht_cluster_map_clear(ht_cluster_map_t *map);

/* The number of slots no master serves. */
size_t ht_cluster_map_uncovered(const ht_cluster_map_t *map);

/* A redirect: "MOVED <slot> <host>:<port>" (the slot has a new owner for
 * good: refresh the map) or "ASK <slot> <host>:<port>" (this one command,
 * sent after ASKING, goes there: a migration is under way). */
typedef enum { HT_REDIRECT_NONE, HT_REDIRECT_MOVED, HT_REDIRECT_ASK } ht_redirect_kind_t;

typedef struct {
    ht_redirect_kind_t kind;
    unsigned slot;
    char host[HT_CLUSTER_HOST_MAX];
    int port;
} ht_redirect_t;

/* Parses an error reply's text.  Returns HT_REDIRECT_NONE for any other
 * error (and for a malformed redirect).  An IPv6 host comes as
 * "[::1]:7000" or, from Redis 7, "::1:7000" (the port is after the last
 * colon); an empty host (":7000") means the node we asked. */
ht_redirect_kind_t ht_cluster_parse_redirect(const char *err, size_t len, ht_redirect_t *out);

/* Writes the hash tag of partition `index` of `n` into out (at most
 * HT_CLUSTER_TAG_MAX bytes with the NUL).  With n = 1 it is the queue name
 * itself ("default": the keys of an unpartitioned queue, ht:{default}:...,
 * keep their names).  Otherwise "<queue>.p<index>" followed by
 * the shortest suffix "-<k>" (k = 0, 1, ...; none when the bare name fits)
 * whose slot falls in the partition's share of the slot space,
 * [index * 16384 / n, (index + 1) * 16384 / n).  With n partitions on m
 * masters of an evenly split cluster (n >= m), every master then holds
 * some; the tags depend only on (queue, index, n), so every process finds
 * the same ones.  Returns 0, or HT_EINVAL (n out of 1..1024, index >= n, or
 * a queue name too long). */
int ht_cluster_partition_tag(const char *queue, unsigned index, unsigned n, char *out,
                             size_t outlen);

/* Which argument of a command is its routing key (the routing rule of
 * issue 10, for both clients): 3 for FCALL, FCALL_RO, EVAL, EVALSHA (and
 * their _RO forms) with keys, -1 for keyless commands (PING, INFO, CONFIG,
 * FUNCTION, CLUSTER, PUBLISH, those scripts with 0 keys...: any master
 * serves them), else 1.  Case-insensitive. */
int ht_cluster_key_index(size_t argc, const char *const *argv, const size_t *lens);

/* What an error reply (not a redirect) says about the cluster node that
 * sent it, for both clients:
 *   DROP       READONLY, MASTERDOWN, UNBLOCKED: the node is no master now
 *              (UNBLOCKED ends a blocking pop on a master turned replica):
 *              close its connection and reload the map.
 *   STALE_MAP  CLUSTERDOWN, TRYAGAIN: the cluster is reshaping but the node
 *              is healthy: keep the connection, reload the map.
 *   NONE       anything else (OOM, LOADING, BUSY, MISCONF, NOREPLICAS are
 *              unavailable for now, yet the map is right: asking for it
 *              again after every reply of a full Redis helps nobody).
 * The call itself fails as unavailable either way (shared/store.h). */
typedef enum {
    HT_CLUSTER_ERR_NONE,
    HT_CLUSTER_ERR_STALE_MAP,
    HT_CLUSTER_ERR_DROP
} ht_cluster_err_action_t;

ht_cluster_err_action_t ht_cluster_error_action(const char *err);

#endif
