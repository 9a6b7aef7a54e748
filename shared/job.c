/* The job model: state and priority names, the stored form (a Redis hash,
 * fields listed in migrations/0001_core.lua and 0003_lifecycle.lua) and the
 * public job document.
 * The submit request's validation lives in job_request.c. */
#include "shared/job.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/error.h"

static const char *const status_names[] = {
    [HT_JOB_SCHEDULED] = "scheduled", [HT_JOB_QUEUED] = "queued",
    [HT_JOB_RUNNING] = "running",     [HT_JOB_SUCCEEDED] = "succeeded",
    [HT_JOB_FAILED] = "failed",       [HT_JOB_CANCELED] = "canceled",
};
#define N_STATUS (sizeof status_names / sizeof status_names[0])

static const char *const priority_names[] = {
    [HT_PRIO_HIGH] = "high", [HT_PRIO_DEFAULT] = "default", [HT_PRIO_LOW] = "low"};
#define N_PRIORITY (sizeof priority_names / sizeof priority_names[0])

const char *ht_job_status_name(ht_job_status_t s)
{
    return (unsigned)s < N_STATUS ? status_names[s] : "unknown";
}

int ht_job_status_parse(const char *s, ht_job_status_t *out)
{
    for (size_t i = 0; s && i < N_STATUS; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (ht_job_status_t)i;
            return 0;
        }
    }
    return HT_EINVAL;
}

int ht_job_status_terminal(ht_job_status_t s)
{
    return s == HT_JOB_SUCCEEDED || s == HT_JOB_FAILED || s == HT_JOB_CANCELED;
}

const char *ht_priority_name(ht_priority_t p)
{
    return (unsigned)p < N_PRIORITY ? priority_names[p] : "default";
}

int ht_priority_parse(const char *s, ht_priority_t *out)
{
    for (size_t i = 0; s && i < N_PRIORITY; i++) {
        if (strcmp(s, priority_names[i]) == 0) {
            *out = (ht_priority_t)i;
            return 0;
        }
    }
    return HT_EINVAL;
}

int ht_job_type_valid(const char *type)
{
    size_t len = type ? strlen(type) : 0;
    if (len < 1 || len > HT_TYPE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = type[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* ---- the stored form ------------------------------------------------- */

/* Whole-string decimal within [min, max]; "" (never written) counts as 0. */
static int parse_ll(const char *s, long long min, long long max, long long *out)
{
    if (*s == '\0') {
        *out = 0;
        return 0;
    }
    if (!(*s == '-' || (*s >= '0' && *s <= '9')))
        return HT_EINVAL; /* strtoll would skip spaces and accept '+' */
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return HT_EINVAL;
    *out = v;
    return 0;
}

/* Replaces *dst with a copy of the value; empty values mean "none". */
static int set_str(char **dst, const char *s)
{
    free(*dst);
    *dst = NULL;
    if (*s == '\0')
        return 0;
    *dst = strdup(s);
    return *dst ? 0 : HT_ENOMEM;
}

/* One hash field into the job.  Unknown fields are skipped. */
static int set_field(ht_job_t *job, const char *f, const char *v, int *seen)
{
    long long n;
    int rc = 0;
#define NUM(min, max, dst)                                   \
    do {                                                     \
        if ((rc = parse_ll(v, (min), (max), &n)) == 0)       \
            (dst) = n;                                       \
    } while (0)
    if (strcmp(f, "id") == 0) {
        if (!ht_id_valid(v, strlen(v)))
            return HT_EINVAL;
        memcpy(job->id, v, HT_ID_LEN + 1);
        seen[0] = 1;
    } else if (strcmp(f, "type") == 0) {
        if (!ht_job_type_valid(v))
            return HT_EINVAL;
        rc = set_str(&job->type, v);
        seen[1] = 1;
    } else if (strcmp(f, "status") == 0) {
        if (ht_job_status_parse(v, &job->status) < 0)
            return HT_EINVAL;
        seen[2] = 1;
    } else if (strcmp(f, "priority") == 0) {
        /* An unknown priority still names a job we can show: use default. */
        if (ht_priority_parse(v, &job->priority) < 0)
            job->priority = HT_PRIO_DEFAULT;
    } else if (strcmp(f, "queue") == 0) {
        rc = set_str(&job->queue, v);
    } else if (strcmp(f, "tenant") == 0) {
        rc = set_str(&job->tenant, v);
    } else if (strcmp(f, "payload") == 0) {
        rc = set_str(&job->payload, v);
    } else if (strcmp(f, "metadata") == 0) {
        rc = set_str(&job->metadata, v);
    } else if (strcmp(f, "result") == 0) {
        rc = set_str(&job->result, v);
    } else if (strcmp(f, "error") == 0) {
        rc = set_str(&job->error, v);
    } else if (strcmp(f, "callback_url") == 0) {
        rc = set_str(&job->callback_url, v);
    } else if (strcmp(f, "progress_msg") == 0) {
        rc = set_str(&job->progress_msg, v);
    } else if (strcmp(f, "worker") == 0) {
        rc = set_str(&job->worker, v);
    } else if (strcmp(f, "attempt") == 0) {
        NUM(0, 1000000, job->attempt);
    } else if (strcmp(f, "max_attempts") == 0) {
        NUM(0, 1000000, job->max_attempts);
    } else if (strcmp(f, "timeout_s") == 0) {
        NUM(0, 100L * 365 * 86400, job->timeout_s);
    } else if (strcmp(f, "ttl_s") == 0) {
        NUM(0, 100L * 365 * 86400, job->ttl_s);
    } else if (strcmp(f, "created_at") == 0) {
        NUM(0, INT64_MAX, job->created_at);
    } else if (strcmp(f, "started_at") == 0) {
        NUM(0, INT64_MAX, job->started_at);
    } else if (strcmp(f, "finished_at") == 0) {
        NUM(0, INT64_MAX, job->finished_at);
    } else if (strcmp(f, "progress_at") == 0) {
        NUM(0, INT64_MAX, job->progress_at);
    } else if (strcmp(f, "progress_pct") == 0) {
        if (*v == '\0')
            job->progress_pct = -1; /* ht_progress stores '' for "no percent" */
        else
            NUM(0, 100, job->progress_pct);
    } else if (strcmp(f, "token") == 0) {
        NUM(0, INT64_MAX, job->token);
    } else if (strcmp(f, "version") == 0) {
        NUM(0, INT64_MAX, job->version);
    } else if (strcmp(f, "run_at") == 0) {
        NUM(0, INT64_MAX, job->run_at);
    } else if (strcmp(f, "cb_state") == 0) {
        rc = set_str(&job->cb_state, v);
    } else if (strcmp(f, "cb_attempts") == 0) {
        NUM(0, 1000000, job->cb_attempts);
    } else if (strcmp(f, "cb_last_status") == 0) {
        rc = set_str(&job->cb_last_status, v);
    } else if (strcmp(f, "cb_last_at") == 0) {
        NUM(0, INT64_MAX, job->cb_last_at);
    } else if (strcmp(f, "cancel_requested") == 0) {
        job->cancel_requested = strcmp(v, "1") == 0;
    }
#undef NUM
    return rc;
}

int ht_job_from_hash(ht_job_t *job, size_t n, const char *const *strs, const size_t *lens)
{
    int seen[3] = {0, 0, 0}; /* id, type, status */
    int rc = 0;
    memset(job, 0, sizeof *job);
    job->priority = HT_PRIO_DEFAULT;
    job->progress_pct = -1;
    /* Migration 0008 leaves fields with these values out of the hash. */
    job->max_attempts = HT_MAX_ATTEMPTS_DEFAULT;
    job->timeout_s = HT_TIMEOUT_S_DEFAULT;
    job->ttl_s = HT_TTL_S_DEFAULT;
    for (size_t i = 0; i + 1 < n && rc == 0; i += 2) {
        /* Copy to NUL-terminated strings: Redis replies carry lengths, and a
         * value with an embedded NUL is not one of ours. */
        char *f = strndup(strs[i], lens[i]);
        char *v = strndup(strs[i + 1], lens[i + 1]);
        if (!f || !v)
            rc = HT_ENOMEM;
        else if (strlen(v) != lens[i + 1])
            rc = HT_EINVAL;
        else
            rc = set_field(job, f, v, seen);
        free(f);
        free(v);
    }
    if (rc == 0 && !(seen[0] && seen[1] && seen[2]))
        rc = HT_EINVAL;
    return rc;
}

void ht_job_clear(ht_job_t *job)
{
    free(job->type);
    free(job->queue);
    free(job->tenant);
    free(job->payload);
    free(job->metadata);
    free(job->result);
    free(job->error);
    free(job->callback_url);
    free(job->progress_msg);
    free(job->worker);
    free(job->cb_state);
    free(job->cb_last_status);
    memset(job, 0, sizeof *job);
    job->progress_pct = -1;
}

/* ---- the public document --------------------------------------------- */

/* A JSON string of s even when s is not valid UTF-8 (bad bytes become '?'):
 * a stored value must never make a job unreadable. */
static json_t *safe_string(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *copy = strdup(s);
    if (!copy)
        return json_null();
    for (char *p = copy; *p; p++) {
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    }
    j = json_string(copy);
    free(copy);
    return j ? j : json_null();
}

static json_t *opt_string(const char *s)
{
    return s ? safe_string(s) : json_null();
}

/* Stored JSON text as JSON; text that does not parse is shown as a string
 * rather than failing the whole document. */
static json_t *stored_json(const char *text)
{
    if (!text)
        return json_null();
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    return j ? j : safe_string(text);
}

static json_t *opt_time(int64_t ms)
{
    char buf[HT_TIME_BUFSZ];
    return ms > 0 ? json_string(ht_format_time(ms, buf)) : json_null();
}

/* An HTTP status as a number ("503" -> 503), an error word ("timeout") as
 * a string, null when nothing was tried yet. */
static json_t *last_status(const char *s)
{
    long long n;
    if (!s)
        return json_null();
    if (parse_ll(s, 100, 999, &n) == 0)
        return json_integer(n);
    return safe_string(s);
}

/* The webhook delivery: null without a callback_url.  The state is null
 * while the job is unfinished (nothing to deliver yet); finishing sets it to
 * pending, and the deliverer to delivered or failed (the cb_* hash fields of
 * migrations/0004_webhooks.lua).  A job that finished before that migration
 * has no state and shows null rather than a pending that never ends. */
static json_t *callback_json(const ht_job_t *job)
{
    if (!job->callback_url)
        return json_null();
    json_t *state = json_null();
    if (ht_job_status_terminal(job->status) && job->cb_state)
        state = safe_string(job->cb_state);
    return json_pack("{s:o, s:o, s:i, s:o, s:o}", "url", safe_string(job->callback_url),
                     "state", state ? state : json_null(), "attempts", job->cb_attempts,
                     "last_status", last_status(job->cb_last_status), "last_attempt_at",
                     opt_time(job->cb_last_at));
}

json_t *ht_job_to_json(const ht_job_t *job)
{
    json_t *doc = json_object();
    json_t *progress = json_object();
    json_t *links = json_object();
    if (!doc || !progress || !links) {
        json_decref(doc);
        json_decref(progress);
        json_decref(links);
        return NULL;
    }
    char self[64], events[80], retry[80];
    snprintf(self, sizeof self, "/v1/jobs/%s", job->id);
    snprintf(events, sizeof events, "/v1/jobs/%s/events", job->id);
    snprintf(retry, sizeof retry, "/v1/jobs/%s/retry", job->id);

    json_object_set_new(doc, "id", json_string(job->id));
    json_object_set_new(doc, "type", opt_string(job->type));
    json_object_set_new(doc, "status", json_string(ht_job_status_name(job->status)));
    json_object_set_new(doc, "priority", json_string(ht_priority_name(job->priority)));

    json_object_set_new(progress, "percent",
                        job->progress_pct >= 0 ? json_integer(job->progress_pct) : json_null());
    json_object_set_new(progress, "message", opt_string(job->progress_msg));
    json_object_set_new(progress, "updated_at", opt_time(job->progress_at));
    json_object_set_new(doc, "progress", progress);

    json_object_set_new(doc, "attempt", json_integer(job->attempt));
    json_object_set_new(doc, "max_attempts", json_integer(job->max_attempts));
    json_object_set_new(doc, "timeout_s", json_integer(job->timeout_s));
    json_object_set_new(doc, "ttl_s", json_integer(job->ttl_s));
    json_object_set_new(doc, "created_at", opt_time(job->created_at));
    /* When a scheduled job is due (kept afterwards: when it was due). */
    json_object_set_new(doc, "run_at", opt_time(job->run_at));
    json_object_set_new(doc, "started_at", opt_time(job->started_at));
    json_object_set_new(doc, "finished_at", opt_time(job->finished_at));
    json_object_set_new(doc, "result", stored_json(job->result));
    json_object_set_new(doc, "error", stored_json(job->error));
    json_object_set_new(doc, "metadata", job->metadata ? stored_json(job->metadata)
                                                       : json_object());
    json_object_set_new(doc, "callback", callback_json(job));
    /* Asked for and not yet honoured: the worker stops the handler soon. */
    if (job->cancel_requested && !ht_job_status_terminal(job->status))
        json_object_set_new(doc, "cancel_requested", json_true());
    json_object_set_new(links, "self", json_string(self));
    json_object_set_new(links, "events", json_string(events));
    /* What can be done next: DELETE self while unfinished, POST retry once
     * failed or canceled (a dead letter). */
    if (!ht_job_status_terminal(job->status))
        json_object_set_new(links, "cancel", json_string(self));
    if (job->status == HT_JOB_FAILED || job->status == HT_JOB_CANCELED)
        json_object_set_new(links, "retry", json_string(retry));
    json_object_set_new(doc, "links", links);
    return doc;
}

int ht_job_owned_by(const ht_job_t *job, const char *tenant)
{
    return strcmp(job->tenant ? job->tenant : "default", tenant) == 0;
}
