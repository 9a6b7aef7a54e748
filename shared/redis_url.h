/* HANGTIGHT_REDIS_URL: redis://[[user]:password@]host[:port][/db],
 * unix:///path/to.sock[?db=N], redis+cluster://host:port,host:port. */
#ifndef HT_REDIS_URL_H
#define HT_REDIS_URL_H

#include <stddef.h>

#include "shared/argv.h"

#define HT_REDIS_SEEDS_MAX 16

typedef enum { HT_REDIS_TCP, HT_REDIS_UNIX, HT_REDIS_CLUSTER } ht_redis_kind_t;

typedef struct {
    ht_redis_kind_t kind;
    char host[256]; /* TCP: host; CLUSTER: the first seed's host */
    int port;       /* default 6379 */
    char path[108]; /* UNIX: socket path */
    char user[128];
    char password[256];
    int db;         /* default 0 */
    /* CLUSTER: every seed of the URL, in order (seeds[0] is host:port). */
    struct {
        char host[256];
        int port;
    } seeds[HT_REDIS_SEEDS_MAX];
    int n_seeds;
} ht_redis_url_t;

/* Returns 0, or HT_EINVAL with a message in err. */
int ht_redis_url_parse(const char *url, ht_redis_url_t *out, char *err, size_t errlen);

/* The commands to send right after connecting to the Redis of `u`: AUTH
 * when it has a password, then SELECT when `select_db` and its db is not 0.
 * Fills cmds[0..n) (each to be ht_argv_clear()ed) and returns n (0..2). */
size_t ht_redis_login_cmds(const ht_redis_url_t *u, int select_db, ht_argv_t cmds[2]);

#endif
