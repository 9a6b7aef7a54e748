/* The slot map from a CLUSTER SLOTS reply (a hiredis redisReply), shared by
 * the blocking cluster connection of the worker and CLI and the async one of
 * the api: both get the same reply type from hiredis, so the walk over its
 * shape lives here once and feeds ht_cluster_map_build() (cluster.h). */
#ifndef HT_CLUSTER_REPLY_H
#define HT_CLUSTER_REPLY_H

#include <hiredis/hiredis.h>

#include "shared/cluster.h"

/* Builds `map` from the reply to CLUSTER SLOTS: an array of
 * [first, last, [host, port, id...], replicas...].  Only masters (the first
 * node of each range) are kept.  `fallback_host` replaces an empty or "?"
 * host (the node we asked).  Returns 0, HT_EPROTO for a reply of another
 * shape, HT_EINVAL / HT_ENOMEM as ht_cluster_map_build().  Free with
 * ht_cluster_map_clear(). */
int ht_cluster_map_from_reply(ht_cluster_map_t *map, const redisReply *r,
                              const char *fallback_host);

#endif
