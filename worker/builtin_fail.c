/* The built-in "fail" handler: always fails, with code "handler_failed" and
 * payload.message (default "failed on purpose"); retryable unless
 * payload.retry is false.  For tests of retries and of the error document. */
#include "worker/builtins.h"

int ht_builtin_fail(ht_job_ctx_t *ctx, const json_t *payload, json_t **result)
{
    (void)result;
    const char *message = "failed on purpose";
    int retryable = 1;
    if (json_is_object(payload)) {
        const json_t *m = json_object_get(payload, "message");
        if (json_is_string(m))
            message = json_string_value(m);
        if (json_is_false(json_object_get(payload, "retry")))
            retryable = 0;
    }
    ht_job_fail(ctx, "handler_failed", message, retryable);
    return HT_HANDLER_FAIL;
}
