/* The built-in handlers, one file each: sleep (progress demo and tests),
 * echo (result = payload), fail (retry tests), and the file jobs checksum
 * (result = the input's SHA-256) and gzip (output = the input gzipped). */
#ifndef HT_WORKER_BUILTINS_H
#define HT_WORKER_BUILTINS_H

#include "worker/handler.h"

int ht_builtin_sleep(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);
int ht_builtin_echo(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);
int ht_builtin_fail(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);
int ht_builtin_checksum(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);
int ht_builtin_gzip(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);

/* The exec handler (exec.c); its ht_exec_handler_t comes through the ctx. */
int ht_exec_run(ht_job_ctx_t *ctx, const json_t *payload, json_t **result);

#endif
