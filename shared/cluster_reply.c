/* CLUSTER SLOTS reply -> slot map (see cluster_reply.h). */
#include "shared/cluster_reply.h"

#include <stdlib.h>
#include <string.h>

#include "shared/error.h"

int ht_cluster_map_from_reply(ht_cluster_map_t *map, const redisReply *r,
                              const char *fallback_host)
{
    memset(map, 0, sizeof(*map));
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return HT_EPROTO;
    ht_cluster_range_t *ranges = calloc(r->elements ? r->elements : 1, sizeof(*ranges));
    if (!ranges)
        return HT_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < r->elements && rc == 0; i++) {
        const redisReply *e = r->element[i];
        /* [first, last, master, replica...]; master = [host, port, id, ...] */
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2 ||
            e->element[2]->element[0]->type != REDIS_REPLY_STRING ||
            e->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
            rc = HT_EPROTO;
            break;
        }
        long long first = e->element[0]->integer, last = e->element[1]->integer;
        long long port = e->element[2]->element[1]->integer;
        if (first < 0 || last < first || last >= HT_CLUSTER_SLOTS || port <= 0 || port > 65535) {
            rc = HT_EINVAL;
            break;
        }
        const char *host = e->element[2]->element[0]->str;
        ranges[i].first = (unsigned)first;
        ranges[i].last = (unsigned)last;
        ranges[i].host = strcmp(host, "?") == 0 ? "" : host;
        ranges[i].port = (int)port;
    }
    if (rc == 0)
        rc = ht_cluster_map_build(map, ranges, r->elements, fallback_host);
    free(ranges);
    return rc;
}
