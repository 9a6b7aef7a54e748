/* The built-in "echo" handler: the result is the payload, unchanged. */
#include "worker/builtins.h"

int ht_builtin_echo(ht_job_ctx_t *ctx, const json_t *payload, json_t **result)
{
    (void)ctx;
    *result = json_deep_copy(payload);
    return HT_HANDLER_OK;
}
