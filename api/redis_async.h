/* Opening a hiredis async connection on a libuv loop, the same way for the
 * api's two Redis clients (store.c for commands, pubsub.c for
 * subscriptions): connect by TCP or unix socket, attach to the loop, and
 * queue the login commands the URL asks for. */
#ifndef HT_API_REDIS_ASYNC_H
#define HT_API_REDIS_ASYNC_H

#include <hiredis/async.h>
#include <uv.h>

#include "shared/redis_url.h"

/* Starts connecting to `url` on `loop` with ac->data = `data`.  Queues AUTH
 * (when the URL has a password) and, when `select_db` and the URL names a
 * database other than 0, SELECT; their replies go to `on_login_reply`
 * (privdata NULL), which should drop the connection on an error.  Returns
 * the context, or NULL with *err set (a static or hiredis string, valid
 * until the next call). */
redisAsyncContext *ht_redis_async_connect(const ht_redis_url_t *url, uv_loop_t *loop, void *data,
                                          int select_db, redisCallbackFn *on_login_reply,
                                          const char **err);

#endif
