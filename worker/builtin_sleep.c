/* The built-in "sleep" handler: {"ms": N, "steps": K} sleeps N ms in K
 * steps, reporting progress after each, and returns {"slept_ms", "steps"}.
 * For demos and tests of progress, timeouts, leases and drain. */
#include <stdio.h>

#include "worker/builtins.h"

#define MS_DEFAULT 1000
#define MS_MAX 86400000LL
#define STEPS_DEFAULT 10
#define STEPS_MAX 1000

static int invalid(ht_job_ctx_t *ctx, const char *message)
{
    ht_job_fail(ctx, "invalid_payload", message, 0);
    return HT_HANDLER_FAIL;
}

int ht_builtin_sleep(ht_job_ctx_t *ctx, const json_t *payload, json_t **result)
{
    json_int_t ms = MS_DEFAULT, steps = STEPS_DEFAULT;
    json_error_t jerr;
    if (!json_is_null(payload) &&
        json_unpack_ex((json_t *)payload, &jerr, JSON_STRICT, "{s?I, s?I}", "ms", &ms, "steps",
                       &steps) < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "sleep wants {\"ms\": int, \"steps\": int}: %s", jerr.text);
        return invalid(ctx, msg);
    }
    if (ms < 0 || ms > MS_MAX)
        return invalid(ctx, "ms must be between 0 and 86400000");
    if (steps < 1 || steps > STEPS_MAX)
        return invalid(ctx, "steps must be between 1 and 1000");

    for (json_int_t i = 1; i <= steps; i++) {
        /* Step i ends at ms*i/steps, so the steps add up to exactly ms. */
        long this_step = (long)(ms * i / steps - ms * (i - 1) / steps);
        if (ht_job_sleep_ms(ctx, this_step))
            return HT_HANDLER_STOPPED;
        char msg[64];
        snprintf(msg, sizeof(msg), "step %lld/%lld", (long long)i, (long long)steps);
        if (ht_job_progress(ctx, (int)((i * 100 + steps / 2) / steps), msg))
            return HT_HANDLER_STOPPED;
    }
    *result = json_pack("{s:I, s:I}", "slept_ms", ms, "steps", steps);
    return HT_HANDLER_OK;
}
