/* The blocking Redis connection of the worker and the CLI (shared/store.c is
 * its one user): one node or a whole Redis Cluster behind one API.
 *
 *   redis://, unix://   one hiredis context, exactly as before clusters.
 *   redis+cluster://    the slot map (CLUSTER SLOTS, from the seeds in
 *                       order until one answers) and one hiredis context
 *                       per master, opened on first use.
 *
 * A command goes to the master of its routing key's slot
 * (shared/cluster.h: ht_cluster_key_index); MOVED refreshes the map and
 * retries (bounded), ASK sends ASKING then the command to the named node.
 * A lost connection, or a node answering READONLY / MASTERDOWN (a failover
 * under way), drops that node's context; those and CLUSTERDOWN / TRYAGAIN
 * refresh the map before the next command (ht_cluster_error_action); the
 * call itself fails (callers retry later, as they always did after a lost
 * connection).  Not thread-safe: one per thread. */
#ifndef HT_RCONN_H
#define HT_RCONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "shared/argv.h"
#include "shared/redis_url.h"

typedef struct ht_rconn ht_rconn_t;

/* Connects to `url` (a cluster: loads the slot map).  `timeout_ms` bounds
 * each connect and each reply.  Returns 0 or a negative code (HT_EREDIS:
 * unreachable; HT_EINVAL: a node that is not a cluster); *out is set either
 * way (ht_rconn_errstr() explains) and must be ht_rconn_close()d.  A failed
 * rconn still works: the next call connects again. */
int ht_rconn_open(ht_rconn_t **out, const ht_redis_url_t *url, int timeout_ms);
void ht_rconn_close(ht_rconn_t *c);

/* The detail of the last failure, naming the node. */
const char *ht_rconn_errstr(const ht_rconn_t *c);

/* Sends `a` to the node of its routing key and returns the reply (the
 * caller frees it with freeReplyObject): possibly an error reply, never a
 * redirect.  `reply_ms` > 0 overrides the reply timeout for this call (a
 * blocking BLPOP must outwait its server-side block).  NULL with *rc =
 * HT_EREDIS (unreachable, connection lost, too many redirects), HT_EINVAL
 * (a vector that overflowed) or HT_ENOMEM. */
redisReply *ht_rconn_call(ht_rconn_t *c, const ht_argv_t *a, int reply_ms, int *rc);

/* The masters, for commands every master must run (FUNCTION LOAD, the
 * eviction check): returns their number (1 for a single node; a cluster's
 * map is loaded first if it is stale) or a negative code. */
int ht_rconn_masters(ht_rconn_t *c);

/* Like ht_rconn_call(), on master `i` (0 <= i < ht_rconn_masters(); any
 * other i, e.g. after the map shrank: HT_EINVAL); no redirect is followed
 * (the commands meant here have no key). */
redisReply *ht_rconn_call_master(ht_rconn_t *c, int i, const ht_argv_t *a, int *rc);

/* Writes "host:port" (or the socket path) of master `i` into out. */
void ht_rconn_master_name(const ht_rconn_t *c, int i, char *out, size_t len);

/* Subscribes to n >= 1 channels (a partitioned queue's cancel channels,
 * shared/partition.h) with one SUBSCRIBE, on any node that answers (a
 * cluster broadcasts PUBLISH to every node, so any will do): a context
 * already connected becomes the subscriber, else a new one is opened.
 * Returns 0 or a negative code. */
int ht_rconn_subscribe_many(ht_rconn_t *c, const char *const *channels, size_t n);

/* Waits up to timeout_ms for the next message of the subscription.
 * Returns 1 with *out (the caller frees it), 0 on timeout, or HT_EREDIS
 * when the connection is gone (subscribe again, from a new rconn: it picks
 * a node that answers). */
int ht_rconn_next_message(ht_rconn_t *c, int timeout_ms, redisReply **out);

#endif
