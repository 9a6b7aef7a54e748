/* GET /v1/queues: the depth of each queue, from one read-only Redis
 * function call (ht_queue_stats).  "queued" is the queue's depth,
 * shared by every tenant (the load ahead of a new job, no job ids); every
 * other figure counts the caller's tenant's jobs only:
 *
 *   {"queues": [{"name": "default",
 *                "paused": false, "paused_types": ["video.transcode"],
 *                "queued": {"high": n, "default": n, "low": n},
 *                "scheduled": n, "running": n,
 *                "failed": n, "canceled": n, "succeeded": n,
 *                "stored_bytes": n,
 *                "totals": {"submitted": n, "succeeded": n, "failed": n,
 *                           "canceled": n, "retried": n}}]}
 *
 * With an operator's key the counts are every tenant's (api/operator.c).
 * failed, canceled and succeeded count the jobs still kept (not expired);
 * stored_bytes is the bytes of the tenant's job files in the blob store;
 * totals count since the keyspace was made.  paused: an operator paused
 * the queue (POST /v1/queues/{name}/pause, api/operator.c; nothing new
 * starts); paused_types: the types paused alone.  One queue for now; the
 * array is there for named queues. */
#include <stdio.h>
#include <string.h>

#include "api/http.h"
#include "api/parts.h"
#include "api/router.h"

#define TOTAL_SUFFIX "_total"

static void on_stats(void *data, int err, size_t n, const char *const *names,
                     const long long *values)
{
    h2o_req_t *req = data;
    if (err) {
        ht_http_store_problem(req, err);
        return;
    }
    ht_api_thread_t *t = ht_api_thread_of(req);
    json_t *queued = json_pack("{s:I, s:I, s:I}", "high", (json_int_t)0, "default", (json_int_t)0,
                               "low", (json_int_t)0);
    json_t *paused_types = json_array();
    int paused = 0;
    /* Every total is present, 0 until counted. */
    json_t *totals = json_pack("{s:I, s:I, s:I, s:I, s:I}", "submitted", (json_int_t)0, "succeeded",
                               (json_int_t)0, "failed", (json_int_t)0, "canceled", (json_int_t)0,
                               "retried", (json_int_t)0);
    json_t *q = json_pack("{s:s, s:o}", "name", t->keys.queue, "queued", queued);
    static const char *const counts[] = {"scheduled", "running",   "failed",
                                         "canceled",  "succeeded", "stored_bytes"};
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        json_object_set_new(q, counts[i], json_integer(0));
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]), slen = strlen(TOTAL_SUFFIX);
        json_t *v = json_integer(values[i]);
        if (len > slen && strcmp(names[i] + len - slen, TOTAL_SUFFIX) == 0) {
            char name[64];
            snprintf(name, sizeof(name), "%.*s", (int)(len - slen), names[i]);
            json_object_set_new(totals, name, v);
        } else if (strncmp(names[i], "queued:", 7) == 0 && json_object_get(queued, names[i] + 7)) {
            json_object_set_new(queued, names[i] + 7, v);
        } else if (strcmp(names[i], "paused") == 0) {
            paused = values[i] > 0; /* summed over the partitions */
            json_decref(v);
        } else if (strncmp(names[i], "paused:", 7) == 0) {
            json_array_append_new(paused_types, json_string(names[i] + 7));
            json_decref(v);
        } else {
            json_object_set_new(q, names[i], v);
        }
    }
    json_object_set_new(q, "paused", json_boolean(paused));
    json_object_set_new(q, "paused_types", paused_types);
    json_object_set_new(q, "totals", totals);
    json_t *doc = json_pack("{s:[o]}", "queues", q);
    ht_http_add_header(req, "cache-control", "no-cache");
    ht_http_send_json(req, 200, doc);
    json_decref(doc);
}

int ht_queues_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    /* An operator's key (tenant NULL): every tenant's counts. */
    ht_api_queue_stats_all(t, req, args->tenant, on_stats, req); /* every partition */
    return 0;
}
