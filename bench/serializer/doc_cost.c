/* Instructions per job document written where the api and worker write
 * them: one SSE event (the frame queued for the client), one listing page
 * of 20 jobs (the body in the request's pool) and one webhook body.  Run
 * under callgrind by bench/serializer/run, which counts the instructions of
 * each bench_* function (--toggle-collect) and divides by ITERATIONS. */
#include <h2o.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/id.h"
#include "shared/job.h"

#include "api/event_format.h"

#define ITERATIONS 1000
#define PAGE 20

static ht_job_t jobs[PAGE];

static void make_jobs(void)
{
    for (int i = 0; i < PAGE; i++) {
        ht_job_t *j = &jobs[i];
        memset(j, 0, sizeof(*j));
        ht_id_new(j->id);
        j->type = strdup("video.transcode");
        j->status = i == 0 ? HT_JOB_RUNNING : HT_JOB_SUCCEEDED;
        j->priority = HT_PRIO_DEFAULT;
        j->attempt = 1;
        j->max_attempts = 3;
        j->timeout_s = 300;
        j->ttl_s = 86400;
        j->created_at = 1795669349839LL + i;
        j->started_at = j->created_at + 12;
        j->finished_at = i == 0 ? 0 : j->created_at + 1400;
        j->progress_pct = i == 0 ? 40 : 100;
        j->progress_msg = strdup(i == 0 ? "step 2 of 5" : "step 5 of 5");
        j->progress_at = j->created_at + 900;
        j->metadata = strdup("{\"customer\":\"acme\",\"run\":\"42\"}");
        j->result = i == 0 ? NULL : strdup("{\"bytes\":1048576,\"ok\":true,\"path\":\"/out/a.mp4\"}");
        j->callback_url = strdup("https://example.com/hooks/hangtight");
        j->cb_state = i == 0 ? NULL : strdup("delivered");
        j->cb_attempts = i == 0 ? 0 : 1;
        j->cb_last_status = i == 0 ? NULL : strdup("200");
        j->cb_last_at = i == 0 ? 0 : j->finished_at + 30;
        j->version = 7;
    }
}

/* ---- main at c9fc285: the paths as api/events.c, api/jobs_list.c and
 * worker/webhook.c write them ------------------------------------------ */

typedef struct {
    char *base;
    size_t len, cap;
} buf_t;

static int buf_append(buf_t *b, const char *p, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        char *nb = realloc(b->base, cap);
        if (!nb)
            return -1;
        b->base = nb;
        b->cap = cap;
    }
    memcpy(b->base + b->len, p, len);
    b->len += len;
    return 0;
}

/* send_new() -> send_event(): one progress event into the stream's
 * pending buffer (freed once sent, as on_proceed() does). */
__attribute__((noinline, noclone)) size_t bench_sse_event(const ht_job_t *job,
                                                        const ht_log_entry_t *e)
{
    buf_t pending = {0};
    json_t *doc = ht_event_doc(job, e);
    char *data = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    size_t len = 0;
    char *frame = data ? ht_sse_format(e->id, "progress", data, &len) : NULL;
    if (frame)
        buf_append(&pending, frame, len);
    free(frame);
    free(data);
    json_decref(doc);
    size_t n = pending.len;
    free(pending.base);
    return n;
}

/* on_page() -> send_page() -> ht_http_send_json(): the page's body in the
 * request's pool. */
__attribute__((noinline, noclone)) size_t bench_list_page(h2o_mem_pool_t *pool)
{
    json_t *list = json_array();
    for (size_t i = 0; i < PAGE; i++)
        json_array_append_new(list, ht_job_to_json(&jobs[i]));
    const char *next = "1795669349839:01JD8X3QK7M2N4P6R8T0V2X4Z6";
    char *self = h2o_mem_alloc_pool(pool, 512), *next_url = h2o_mem_alloc_pool(pool, 512);
    snprintf(self, 512, "/v1/jobs?limit=%d", PAGE);
    json_t *links = json_pack("{s:s}", "self", self);
    snprintf(next_url, 512, "/v1/jobs?limit=%d&cursor=%s", PAGE, next);
    json_object_set_new(links, "next", json_string(next_url));
    json_t *doc = json_pack("{s:o, s:o, s:o}", "jobs", list, "next_cursor", json_string(next),
                            "links", links);
    char *text = json_dumps(doc, JSON_COMPACT);
    size_t n = strlen(text);
    h2o_strdup(pool, text, n);
    free(text);
    json_decref(doc);
    return n;
}

/* render_body() of worker/webhook.c. */
__attribute__((noinline, noclone)) size_t bench_webhook_body(const ht_job_t *job, int64_t now_ms)
{
    char when[HT_TIME_BUFSZ], type[48];
    snprintf(type, sizeof type, "job.%s", ht_job_status_name(job->status));
    json_t *doc = ht_job_to_json(job);
    json_t *body = json_pack("{s:s, s:s, s:o}", "type", type, "timestamp",
                             ht_format_time(now_ms, when), "data", doc);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    size_t n = strlen(text);
    free(text);
    return n;
}

int main(void)
{
    make_jobs();
    ht_log_entry_t e = {.id = "5-0", .progress = 1, .version = 5, .status = HT_JOB_RUNNING,
                        .attempt = 1, .progress_pct = 40, .progress_msg = "step 2 of 5",
                        .at = 1795669350739LL};
    size_t sse = 0, page = 0, hook = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        h2o_mem_pool_t pool;
        h2o_mem_init_pool(&pool);
        sse += bench_sse_event(&jobs[0], &e);
        page += bench_list_page(&pool);
        hook += bench_webhook_body(&jobs[1], 1795669351000LL);
        h2o_mem_clear_pool(&pool);
    }
    printf("bytes: sse event %zu, listing page %zu, webhook body %zu\n", sse / ITERATIONS,
           page / ITERATIONS, hook / ITERATIONS);
    for (int i = 0; i < PAGE; i++)
        ht_job_clear(&jobs[i]);
    return 0;
}
