/* See redis_async.h. */
#include "api/redis_async.h"

#include <hiredis/adapters/libuv.h>

#include "shared/argv.h"

static char errbuf[256];

redisAsyncContext *ht_redis_async_connect(const ht_redis_url_t *url, uv_loop_t *loop, void *data,
                                          int select_db, redisCallbackFn *on_login_reply,
                                          const char **err)
{
    redisAsyncContext *ac = url->kind == HT_REDIS_UNIX ? redisAsyncConnectUnix(url->path)
                                                       : redisAsyncConnect(url->host, url->port);
    if (!ac) {
        *err = "out of memory";
        return NULL;
    }
    if (ac->err) {
        snprintf(errbuf, sizeof(errbuf), "%s", ac->errstr);
        *err = errbuf;
        redisAsyncFree(ac);
        return NULL;
    }
    if (redisLibuvAttach(ac, loop) != REDIS_OK) {
        *err = "cannot attach to the event loop";
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = data;
    ht_argv_t cmds[2];
    size_t n = ht_redis_login_cmds(url, select_db, cmds);
    for (size_t i = 0; i < n; i++) {
        redisAsyncCommandArgv(ac, on_login_reply, NULL, (int)cmds[i].n, cmds[i].v, cmds[i].len);
        ht_argv_clear(&cmds[i]);
    }
    return ac;
}
