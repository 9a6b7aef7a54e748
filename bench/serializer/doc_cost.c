/* Instructions per job document written where the api and worker write
 * them: one SSE event (the frame queued for the client), one listing page
 * of 20 jobs (the body in the request's pool) and one webhook body.  Run
 * under callgrind by bench/serializer/run, which counts the instructions of
 * each bench_* function (--toggle-collect) and divides by ITERATIONS. */
#include <h2o.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/buf.h"
#include "shared/clock.h"
#include "shared/id.h"
#include "shared/job.h"

#include "api/event_format.h"
#include "worker/webhook.h"

#define ITERATIONS 1000
#define PAGE       20

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
        j->result =
            i == 0 ? NULL : strdup("{\"bytes\":1048576,\"ok\":true,\"path\":\"/out/a.mp4\"}");
        j->callback_url = strdup("https://example.com/hooks/hangtight");
        j->cb_state = i == 0 ? NULL : strdup("delivered");
        j->cb_attempts = i == 0 ? 0 : 1;
        j->cb_last_status = i == 0 ? NULL : strdup("200");
        j->cb_last_at = i == 0 ? 0 : j->finished_at + 30;
        j->version = 7;
    }
}

/* ---- the paths as api/events.c, api/jobs_list.c and worker/webhook.c
 * write them ------------------------------------------------------------ */

/* send_event(): one progress event into the stream's pending buffer
 * (freed once sent, as on_proceed() does). */
__attribute__((noinline, noclone)) size_t bench_sse_event(const ht_job_t *job,
                                                          const ht_event_entry_t *e)
{
    ht_buf_t pending = HT_BUF_INIT;
    ht_sse_job_event_append(&pending, e->id, "progress", job, e);
    size_t n = pending.len;
    ht_buf_free(&pending);
    return n;
}

static void *pool_alloc(void *pool, size_t size)
{
    return h2o_mem_alloc_pool(pool, size);
}

/* send_page(): the page's body written into the request's pool. */
__attribute__((noinline, noclone)) size_t bench_list_page(h2o_mem_pool_t *pool)
{
    const char *next = "1795669349839:01JD8X3QK7M2N4P6R8T0V2X4Z6";
    ht_buf_t b;
    ht_buf_init_arena(&b, pool_alloc, pool);
    ht_buf_puts(&b, "{\"jobs\":[");
    for (size_t i = 0; i < PAGE; i++) {
        if (i > 0)
            ht_buf_putc(&b, ',');
        ht_job_doc_append(&b, &jobs[i]);
    }
    ht_buf_puts(&b, "],\"next_cursor\":");
    ht_json_string_append(&b, next);
    ht_buf_printf(&b, ",\"links\":{\"self\":\"/v1/jobs?limit=%d\"", PAGE);
    ht_buf_printf(&b, ",\"next\":\"/v1/jobs?limit=%d&cursor=%s\"}}", PAGE, next);
    return b.len;
}

/* deliver(): the body of one webhook delivery. */
__attribute__((noinline, noclone)) size_t bench_webhook_body(const ht_job_t *job, int64_t now_ms)
{
    ht_buf_t b = HT_BUF_INIT;
    ht_webhook_body_append(&b, job, now_ms);
    size_t n;
    char *text = ht_buf_steal(&b, &n);
    free(text);
    return n;
}

int main(void)
{
    make_jobs();
    ht_event_entry_t e = {.id = "5-0",
                          .progress = 1,
                          .version = 5,
                          .status = HT_JOB_RUNNING,
                          .attempt = 1,
                          .progress_pct = 40,
                          .progress_msg = "step 2 of 5",
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
