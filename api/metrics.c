/* GET /metrics (see metrics.h): the exposition writer, the page's families
 * (tables below), and the handler. */
#include "api/metrics.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"

#include "api/http.h"
#include "api/parts.h"
#include "api/remote_workers.h"
#include "api/server.h"
#include "api/store.h"

/* ---- the writer ------------------------------------------------------------ */

/* HELP text escapes \ and newline; label values also escape ". */
static void put_escaped(ht_buf_t *e, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            ht_buf_append(e, "\\\\", 2);
        else if (*s == '\n')
            ht_buf_append(e, "\\n", 2);
        else if (*s == '"' && quote)
            ht_buf_append(e, "\\\"", 2);
        else
            ht_buf_append(e, s, 1);
    }
}

void ht_expo_family(ht_buf_t *e, const char *name, const char *type, const char *help)
{
    ht_buf_puts(e, "# HELP ");
    ht_buf_puts(e, name);
    ht_buf_puts(e, " ");
    put_escaped(e, help, 0);
    ht_buf_puts(e, "\n# TYPE ");
    ht_buf_puts(e, name);
    ht_buf_puts(e, " ");
    ht_buf_puts(e, type);
    ht_buf_puts(e, "\n");
}

const char *ht_expo_value(double v, char out[32])
{
    if (isnan(v))
        snprintf(out, 32, "NaN");
    else if (isinf(v))
        snprintf(out, 32, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (v > -1e15 && v < 1e15 && v == (double)(long long)v) /* no libm */
        snprintf(out, 32, "%.0f", v);
    else if (snprintf(out, 32, "%.15g", v) > 0 && strtod(out, NULL) != v)
        snprintf(out, 32, "%.17g", v); /* the shortest that reads back the same */
    return out;
}

void ht_expo_sample(ht_buf_t *e, const char *name, const char *const *labels, double value)
{
    char num[32];
    ht_buf_puts(e, name);
    if (labels && labels[0]) {
        ht_buf_puts(e, "{");
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            if (i)
                ht_buf_puts(e, ",");
            ht_buf_puts(e, labels[i]);
            ht_buf_puts(e, "=\"");
            put_escaped(e, labels[i + 1], 1);
            ht_buf_puts(e, "\"");
        }
        ht_buf_puts(e, "}");
    }
    ht_buf_puts(e, " ");
    ht_buf_puts(e, ht_expo_value(value, num));
    ht_buf_puts(e, "\n");
}

/* ---- the families ---------------------------------------------------------- */

/* The value of pair `name`, 0 when Redis did not give it. */
static long long pair(const ht_metrics_input_t *in, const char *name)
{
    for (size_t i = 0; i < in->n; i++) {
        if (strcmp(in->names[i], name) == 0)
            return in->values[i];
    }
    return 0;
}

/* Job counters by type: pairs "jobs:<event>:<type>". */
static const struct {
    const char *event, *help;
} job_counters[] = {
    {"submitted", "Jobs submitted (accepted with 202 or a sync answer), by type."},
    {"started", "Attempts started (a worker claimed the job), by type."},
    {"succeeded", "Jobs that ended succeeded, by type."},
    {"failed", "Jobs that ended failed (attempts used up or not retryable), by type."},
    {"retried", "Retries: failed attempts queued again, and dead jobs retried by hand, by type."},
    {"canceled", "Jobs that ended canceled, by type."},
};

static void render_job_counters(ht_buf_t *e, const ht_metrics_input_t *in)
{
    for (size_t c = 0; c < sizeof(job_counters) / sizeof(job_counters[0]); c++) {
        char family[96], prefix[64];
        snprintf(family, sizeof(family), "hangtight_jobs_%s_total", job_counters[c].event);
        int plen = snprintf(prefix, sizeof(prefix), "jobs:%s:", job_counters[c].event);
        ht_expo_family(e, family, "counter", job_counters[c].help);
        for (size_t i = 0; i < in->n; i++) {
            if (strncmp(in->names[i], prefix, (size_t)plen) != 0)
                continue;
            const char *labels[] = {"type", in->names[i] + plen, NULL};
            ht_expo_sample(e, family, labels, (double)in->values[i]);
        }
    }
}

/* Gauges of the queue right now. */
static const struct {
    const char *family, *help, *label, *label_value, *pair;
} queue_gauges[] = {
    {"hangtight_queue_depth", "Jobs queued and waiting for a worker, by priority.", "priority",
     "high", "queued:high"},
    {NULL, NULL, "priority", "default", "queued:default"},
    {NULL, NULL, "priority", "low", "queued:low"},
    {"hangtight_jobs_scheduled", "Jobs waiting for their run_at or retry backoff.", NULL, NULL,
     "scheduled"},
    {"hangtight_jobs_running", "Jobs held by a worker right now.", NULL, NULL, "running"},
    {"hangtight_jobs_dead", "Failed jobs kept (dead letters), every tenant.", NULL, NULL, "dead"},
};

static void render_queue_gauges(ht_buf_t *e, const ht_metrics_input_t *in)
{
    const char *family = NULL;
    for (size_t g = 0; g < sizeof(queue_gauges) / sizeof(queue_gauges[0]); g++) {
        if (queue_gauges[g].family) {
            family = queue_gauges[g].family;
            ht_expo_family(e, family, "gauge", queue_gauges[g].help);
        }
        const char *labels[] = {queue_gauges[g].label, queue_gauges[g].label_value, NULL};
        ht_expo_sample(e, family, queue_gauges[g].label ? labels : NULL,
                       (double)pair(in, queue_gauges[g].pair));
    }
}

/* Pause flags and running jobs by type (api/operator.c sets the flags):
 * pairs "paused" (partitions paused, summed), "paused:<type>" and
 * "running:<type>". */
static void render_pause_and_types(ht_buf_t *e, const ht_metrics_input_t *in)
{
    ht_expo_family(e, "hangtight_queue_paused", "gauge",
                   "1 while an operator has paused the queue (nothing new starts), else 0.");
    ht_expo_sample(e, "hangtight_queue_paused", NULL, pair(in, "paused") > 0 ? 1.0 : 0.0);
    static const struct {
        const char *prefix, *family, *help;
    } by_type[] = {
        {"paused:", "hangtight_type_paused",
         "1 for each job type an operator has paused on its own."},
        {"running:", "hangtight_jobs_running_by_type",
         "Jobs held by a worker right now, by type (what a type's max_running caps)."},
    };
    for (size_t f = 0; f < sizeof(by_type) / sizeof(by_type[0]); f++) {
        size_t plen = strlen(by_type[f].prefix);
        ht_expo_family(e, by_type[f].family, "gauge", by_type[f].help);
        for (size_t i = 0; i < in->n; i++) {
            if (strncmp(in->names[i], by_type[f].prefix, plen) != 0)
                continue;
            const char *labels[] = {"type", in->names[i] + plen, NULL};
            double v = (double)in->values[i];
            ht_expo_sample(e, by_type[f].family, labels, f == 0 ? (v > 0) : v);
        }
    }
}

/* Histograms: pairs "hist:<name>:le:<ms>" (cumulative, ending with +Inf),
 * "hist:<name>:sum_ms", "hist:<name>:count". */
static const struct {
    const char *name, *family, *help;
} histograms[] = {
    {"wait", "hangtight_job_wait_seconds",
     "Time from when a job was due (submitted, run_at, or retried by hand) to its first start."},
    {"run", "hangtight_job_run_seconds", "Run time of attempts that completed (any outcome)."},
};

static void render_histograms(ht_buf_t *e, const ht_metrics_input_t *in)
{
    for (size_t h = 0; h < sizeof(histograms) / sizeof(histograms[0]); h++) {
        char prefix[32], bucket[96], name[96], le[32];
        int plen = snprintf(prefix, sizeof(prefix), "hist:%s:le:", histograms[h].name);
        ht_expo_family(e, histograms[h].family, "histogram", histograms[h].help);
        snprintf(bucket, sizeof(bucket), "%s_bucket", histograms[h].family);
        int inf_seen = 0;
        for (size_t i = 0; i < in->n; i++) {
            if (strncmp(in->names[i], prefix, (size_t)plen) != 0)
                continue;
            const char *bound = in->names[i] + plen;
            if (strcmp(bound, "+Inf") == 0) {
                inf_seen = 1;
                snprintf(le, sizeof(le), "+Inf");
            } else {
                ht_expo_value(strtod(bound, NULL) / 1000.0, le);
            }
            const char *labels[] = {"le", le, NULL};
            ht_expo_sample(e, bucket, labels, (double)in->values[i]);
        }
        char key[48];
        snprintf(key, sizeof(key), "hist:%s:count", histograms[h].name);
        long long count = pair(in, key);
        if (!inf_seen) { /* never from ht_metrics; keeps the page valid regardless */
            const char *labels[] = {"le", "+Inf", NULL};
            ht_expo_sample(e, bucket, labels, (double)count);
        }
        snprintf(key, sizeof(key), "hist:%s:sum_ms", histograms[h].name);
        snprintf(name, sizeof(name), "%s_sum", histograms[h].family);
        ht_expo_sample(e, name, NULL, (double)pair(in, key) / 1000.0);
        snprintf(name, sizeof(name), "%s_count", histograms[h].family);
        ht_expo_sample(e, name, NULL, (double)count);
    }
}

/* Pairs "stored_bytes:<tenant>": each tenant's bytes in the blob store. */
static void render_stored(ht_buf_t *e, const ht_metrics_input_t *in)
{
    static const char prefix[] = "stored_bytes:";
    const char *family = "hangtight_blob_stored_bytes";
    ht_expo_family(e, family, "gauge",
                   "Bytes of job files (inputs and outputs) in the blob store, by tenant.");
    for (size_t i = 0; i < in->n; i++) {
        if (strncmp(in->names[i], prefix, sizeof(prefix) - 1) != 0)
            continue;
        const char *labels[] = {"tenant", in->names[i] + sizeof(prefix) - 1, NULL};
        ht_expo_sample(e, family, labels, (double)in->values[i]);
    }
}

static void render_webhooks(ht_buf_t *e, const ht_metrics_input_t *in)
{
    static const char *const outcomes[] = {"delivered", "retried", "failed"};
    const char *family = "hangtight_webhook_deliveries_total";
    ht_expo_family(e, family, "counter",
                   "Webhook delivery attempts by outcome (retried: failed, tried again later).");
    for (size_t i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof(key), "webhook:%s", outcomes[i]);
        const char *labels[] = {"outcome", outcomes[i], NULL};
        ht_expo_sample(e, family, labels, (double)pair(in, key));
    }
}

/* The workers' records (HT_KEY_WORKERS) that are fresh: their handler
 * processes by worker and type.  Records that do not parse are skipped. */
static void render_workers(ht_buf_t *e, const ht_metrics_input_t *in)
{
    static const struct {
        const char *family, *type, *help, *field;
    } series[] = {
        {"hangtight_handler_processes", "gauge",
         "Processes of a persistent handler alive now, by worker and type.", "running"},
        {"hangtight_handler_processes_busy", "gauge",
         "Processes of a persistent handler serving a job now, by worker and type.", "busy"},
        {"hangtight_handler_restarts_total", "counter",
         "Processes of a persistent handler started again (after a crash, a stop, max_jobs), "
         "by worker and type, since the worker started.",
         "restarts"},
        {"hangtight_handler_failing", "gauge",
         "1 while a persistent handler's processes keep failing at start (restarts back off).",
         "failing"},
    };
    json_t **recs = calloc(in->n_workers + 1, sizeof(*recs));
    size_t fresh = 0;
    for (size_t i = 0; recs && i < in->n_workers; i++) {
        json_t *r = json_loads(in->workers[i], 0, NULL);
        json_int_t at = json_integer_value(json_object_get(r, "at"));
        if (json_is_string(json_object_get(r, "id")) &&
            json_is_object(json_object_get(r, "handlers")) &&
            in->now_ms - at < HT_METRICS_WORKER_FRESH_MS)
            recs[fresh++] = r;
        else
            json_decref(r);
    }
    ht_expo_family(e, "hangtight_workers", "gauge",
                   "Workers that refreshed their record in the last 30 seconds.");
    ht_expo_sample(e, "hangtight_workers", NULL, (double)fresh);
    for (size_t f = 0; f < sizeof(series) / sizeof(series[0]); f++) {
        ht_expo_family(e, series[f].family, series[f].type, series[f].help);
        for (size_t i = 0; i < fresh; i++) {
            const char *worker = json_string_value(json_object_get(recs[i], "id"));
            const char *type;
            json_t *h;
            json_object_foreach(json_object_get(recs[i], "handlers"), type, h) {
                json_t *v = json_object_get(h, series[f].field);
                double d = json_is_boolean(v) ? json_is_true(v) : json_number_value(v);
                const char *labels[] = {"type", type, "worker", worker, NULL};
                ht_expo_sample(e, series[f].family, labels, d);
            }
        }
    }
    for (size_t i = 0; i < fresh; i++)
        json_decref(recs[i]);
    free(recs);
}

/* How many jobs remote worker `id` holds (the ht_workers_held pairs). */
static long long held_by(const ht_metrics_input_t *in, const char *id)
{
    long long n = 0;
    for (size_t i = 0; i < in->n_held; i++)
        if (strcmp(in->held_ids[i], id) == 0)
            n += in->held_counts[i];
    return n;
}

/* The remote workers of the HTTP worker API (records of kind "http"):
 * those seen lately or holding jobs, with when they last claimed, what
 * they hold and the types they serve. */
static void render_remote(ht_buf_t *e, const ht_metrics_input_t *in)
{
    json_t **recs = calloc(in->n_workers + 1, sizeof(*recs));
    size_t shown = 0;
    for (size_t i = 0; recs && i < in->n_workers; i++) {
        json_t *r = json_loads(in->workers[i], 0, NULL);
        const char *kind = json_string_value(json_object_get(r, "kind"));
        const char *id = json_string_value(json_object_get(r, "id"));
        json_int_t at = json_integer_value(json_object_get(r, "at"));
        if (kind && strcmp(kind, "http") == 0 && id && json_is_string(json_object_get(r, "name")) &&
            (in->now_ms - at < HT_METRICS_REMOTE_FRESH_MS || held_by(in, id) > 0))
            recs[shown++] = r;
        else
            json_decref(r);
    }
    ht_expo_family(e, "hangtight_remote_workers", "gauge",
                   "Remote workers of the HTTP worker API that claimed in the last 60 seconds or "
                   "hold jobs.");
    ht_expo_sample(e, "hangtight_remote_workers", NULL, (double)shown);
    ht_expo_family(e, "hangtight_remote_worker_last_seen_seconds", "gauge",
                   "When a remote worker last claimed (Unix time), by worker name.");
    for (size_t i = 0; i < shown; i++) {
        const char *labels[] = {"worker", json_string_value(json_object_get(recs[i], "name")),
                                NULL};
        ht_expo_sample(e, "hangtight_remote_worker_last_seen_seconds", labels,
                       (double)json_integer_value(json_object_get(recs[i], "at")) / 1000.0);
    }
    ht_expo_family(e, "hangtight_remote_worker_jobs_held", "gauge",
                   "Jobs a remote worker holds now (claimed, lease not run out), by worker name.");
    for (size_t i = 0; i < shown; i++) {
        const char *labels[] = {"worker", json_string_value(json_object_get(recs[i], "name")),
                                NULL};
        ht_expo_sample(e, "hangtight_remote_worker_jobs_held", labels,
                       (double)held_by(in, json_string_value(json_object_get(recs[i], "id"))));
    }
    ht_expo_family(e, "hangtight_remote_worker_types", "gauge",
                   "The job types a remote worker claims (1 per type), by worker name and type.");
    for (size_t i = 0; i < shown; i++) {
        size_t k;
        json_t *type;
        json_array_foreach(json_object_get(recs[i], "types"), k, type) {
            if (!json_is_string(type))
                continue;
            const char *labels[] = {"type", json_string_value(type), "worker",
                                    json_string_value(json_object_get(recs[i], "name")), NULL};
            ht_expo_sample(e, "hangtight_remote_worker_types", labels, 1);
        }
    }
    for (size_t i = 0; i < shown; i++)
        json_decref(recs[i]);
    free(recs);
}

/* This api process's figures, summed over its threads. */
static const struct {
    const char *family, *type, *help, *label, *label_value;
    ht_metric_t m;
} process_series[] = {
    {"hangtight_api_held_requests", "gauge",
     "Requests this api process holds open: sync submits, long polls, remote workers' claims.",
     "kind", "sync", HT_M_HELD_SYNC},
    {NULL, NULL, NULL, "kind", "long_poll", HT_M_HELD_POLL},
    {NULL, NULL, NULL, "kind", "worker_claim", HT_M_HELD_CLAIM},
    {"hangtight_api_sse_streams", "gauge", "Open job event streams (SSE) of this api process.",
     NULL, NULL, HT_M_SSE_STREAMS},
    {"hangtight_api_processing_sent_total", "counter",
     "102 Processing interim responses written to held HTTP/1.1 requests.", NULL, NULL,
     HT_M_PROCESSING_SENT},
    {"hangtight_api_redis_errors_total", "counter",
     "Redis calls of this api process that failed: Redis unavailable (down, connection lost, "
     "reply overdue), or an unexpected error reply.",
     "kind", "unavailable", HT_M_REDIS_UNAVAILABLE},
    {NULL, NULL, NULL, "kind", "error_reply", HT_M_REDIS_ERROR_REPLY},
    {"hangtight_api_redis_calls_dropped_total", "counter",
     "Redis calls of this api process dropped before they were sent, their request gone (an "
     "HTTP/2 stream reset, a closed connection).",
     NULL, NULL, HT_M_REDIS_DROPPED_UNSENT},
    {"hangtight_api_inflight_refused_total", "counter",
     "Requests refused at once (503, or 429 for a tenant) at a bound on Redis calls in flight, "
     "or on a connection being closed for too many resets.",
     NULL, NULL, HT_M_INFLIGHT_REFUSED},
    {"hangtight_api_connections_closed_total", "counter",
     "Connections this api process closed to protect itself: over --max-connections at "
     "accept, or abandoning more than --max-resets requests in 10 s.",
     "reason", "max_connections", HT_M_CONNS_REFUSED},
    {NULL, NULL, NULL, "reason", "resets", HT_M_CONNS_CUT},
    {"hangtight_api_http_responses_total", "counter",
     "Final HTTP responses of this api process by status class.", "class", "1xx", HT_M_HTTP_1XX},
    {NULL, NULL, NULL, "class", "2xx", HT_M_HTTP_2XX},
    {NULL, NULL, NULL, "class", "3xx", HT_M_HTTP_3XX},
    {NULL, NULL, NULL, "class", "4xx", HT_M_HTTP_4XX},
    {NULL, NULL, NULL, "class", "5xx", HT_M_HTTP_5XX},
    {"hangtight_api_uploads_total", "counter",
     "Files this api process stored for file submits, by where the body came from: read from "
     "the socket as it arrived, or read whole by h2o first (HTTP/2, pipelined requests).",
     "body", "socket", HT_M_UPLOAD_SOCKET},
    {NULL, NULL, NULL, "body", "buffered", HT_M_UPLOAD_BUFFERED},
    {"hangtight_api_upload_bytes_total", "counter", "Bytes of files this api process stored.", NULL,
     NULL, HT_M_UPLOAD_BYTES},
};

static void render_process(ht_buf_t *e, const ht_metrics_input_t *in)
{
    const char *family = NULL;
    for (size_t i = 0; i < sizeof(process_series) / sizeof(process_series[0]); i++) {
        if (process_series[i].family) {
            family = process_series[i].family;
            ht_expo_family(e, family, process_series[i].type, process_series[i].help);
        }
        const char *labels[] = {process_series[i].label, process_series[i].label_value, NULL};
        ht_expo_sample(e, family, process_series[i].label ? labels : NULL,
                       (double)in->process[process_series[i].m]);
    }
    ht_expo_family(e, "hangtight_redis_up", "gauge",
                   "1 when Redis answered this scrape; 0: the job figures are missing.");
    ht_expo_sample(e, "hangtight_redis_up", NULL, in->redis_up ? 1 : 0);
}

void ht_metrics_render(ht_buf_t *e, const ht_metrics_input_t *in)
{
    if (in->redis_up) {
        render_job_counters(e, in);
        render_queue_gauges(e, in);
        render_pause_and_types(e, in);
        render_histograms(e, in);
        render_webhooks(e, in);
        render_workers(e, in);
        render_remote(e, in);
        render_stored(e, in);
    }
    render_process(e, in);
}

/* ---- the handler ------------------------------------------------------------ */

/* A scrape in flight: the workers' records and the jobs remote workers
 * hold, copied into the request's pool. */
typedef struct {
    h2o_req_t *req;
    size_t n_workers;
    const char **workers;
    size_t n_held;
    const char **held_ids;
    long long *held_counts;
} scrape_t;

static void on_metrics(void *data, int err, size_t n, const char *const *names,
                       const long long *values)
{
    scrape_t *sc = data;
    h2o_req_t *req = sc->req;
    ht_api_thread_t *t = ht_api_thread_of(req);
    ht_metrics_input_t in = {.redis_up = err == 0,
                             .n = err ? 0 : n,
                             .names = names,
                             .values = values,
                             .now_ms = ht_now_ms(),
                             .n_workers = sc->n_workers,
                             .workers = sc->workers,
                             .n_held = sc->n_held,
                             .held_ids = sc->held_ids,
                             .held_counts = sc->held_counts};
    size_t nthreads = 0;
    ht_api_thread_t *threads = ht_server_threads(t->server, &nthreads);
    if (!threads) { /* a context without a server (fuzz/fuzz_http.c) */
        threads = t;
        nthreads = 1;
    }
    for (size_t i = 0; i < nthreads; i++) {
        for (int m = 0; m < HT_M_COUNT; m++)
            in.process[m] += ht_counters_get(&threads[i].counters, (ht_metric_t)m);
    }
    ht_buf_t e = HT_BUF_INIT;
    ht_metrics_render(&e, &in);
    if (ht_buf_failed(&e)) {
        ht_buf_free(&e);
        ht_http_problem(req, HT_P_INTERNAL, "out of memory rendering the metrics");
        return;
    }
    ht_http_add_header(req, "cache-control", "no-store");
    ht_http_send(req, 200, HT_METRICS_CONTENT_TYPE, e.data ? e.data : "", e.len);
    ht_buf_free(&e);
}

static void on_held(void *data, int err, size_t n, const char *const *ids, const long long *counts)
{
    scrape_t *sc = data;
    h2o_req_t *req = sc->req;
    sc->n_held = err ? 0 : n; /* an older library without ht_workers_held: none shown */
    sc->held_ids = h2o_mem_alloc_pool(&req->pool, (n + 1) * sizeof(*sc->held_ids));
    sc->held_counts = h2o_mem_alloc_pool(&req->pool, (n + 1) * sizeof(*sc->held_counts));
    for (size_t i = 0; i < sc->n_held; i++) {
        sc->held_ids[i] = h2o_strdup(&req->pool, ids[i], SIZE_MAX).base;
        sc->held_counts[i] = counts[i];
    }
    ht_api_metrics_all(ht_api_thread_of(req), req, on_metrics, sc); /* every partition */
}

static void on_workers(void *data, int err, size_t n, const char *const *workers)
{
    h2o_req_t *req = data;
    scrape_t *sc = h2o_mem_alloc_pool(&req->pool, sizeof(*sc));
    memset(sc, 0, sizeof(*sc));
    sc->req = req;
    sc->n_workers = err ? 0 : n; /* Redis down: ht_metrics says so next */
    sc->workers = h2o_mem_alloc_pool(&req->pool, (n + 1) * sizeof(*sc->workers));
    int remote = 0;
    for (size_t i = 0; i < sc->n_workers; i++) {
        sc->workers[i] = h2o_strdup(&req->pool, workers[i], SIZE_MAX).base;
        remote |= strstr(workers[i], "\"kind\":\"http\"") != NULL;
    }
    if (!remote) { /* no remote worker: nobody to count jobs for */
        ht_api_metrics_all(ht_api_thread_of(req), req, on_metrics, sc);
        return;
    }
    ht_api_workers_held_all(ht_api_thread_of(req), req, HT_REMOTE_ID_PREFIX, on_held, sc);
}

int ht_metrics_get(ht_api_thread_t *t, h2o_req_t *req, const ht_route_args_t *args)
{
    (void)args;
    ht_astore_workers(t->store, req, on_workers, req);
    return 0;
}
