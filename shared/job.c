/* The job model: state and priority names and the stored form (a Redis
 * hash, fields listed in docs/keyspace.md).  The public job document is
 * written by job_doc.c, the submit request is validated by job_request.c. */
#include "shared/job.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/clock.h"
#include "shared/decimal.h"
#include "shared/error.h"

static const char *const status_names[] = {
    [HT_JOB_SCHEDULED] = "scheduled", [HT_JOB_QUEUED] = "queued", [HT_JOB_RUNNING] = "running",
    [HT_JOB_SUCCEEDED] = "succeeded", [HT_JOB_FAILED] = "failed", [HT_JOB_CANCELED] = "canceled",
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
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- file references ------------------------------------------------- */

static int is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Printable ASCII, 1 to 255 bytes: what the blob store takes as a content
 * type (shared/blob.h). */
static int ctype_ok(const char *s, size_t len)
{
    if (len < 1 || len > 255)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return 0;
    return 1;
}

int ht_file_ref_parse(ht_file_ref_t *ref, const char *s, size_t len)
{
    memset(ref, 0, sizeof(*ref));
    const char *p = s, *end = s + len;
    uint64_t bytes = 0;
    if (p == end || *p < '0' || *p > '9')
        return HT_EINVAL;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (bytes > (INT64_MAX - 9) / 10) /* a JSON integer everywhere: < 2^63 */
            return HT_EINVAL;
        bytes = bytes * 10 + (uint64_t)(*p - '0');
    }
    if (end - p < 66 || *p++ != ' ')
        return HT_EINVAL;
    for (int i = 0; i < 64; i++)
        if (!is_hex_lower(p[i]))
            return HT_EINVAL;
    memcpy(ref->sha256, p, 64);
    p += 64;
    if (*p++ != ' ')
        return HT_EINVAL;
    size_t n = 0;
    while (p + n < end && name_char(p[n]))
        n++;
    if (n < 1 || n > HT_FILE_NAME_MAX || p + n == end || p[n] != ' ')
        return HT_EINVAL;
    memcpy(ref->name, p, n);
    p += n + 1;
    if (!ctype_ok(p, (size_t)(end - p))) {
        memset(ref, 0, sizeof(*ref));
        return HT_EINVAL;
    }
    if (!(ref->content_type = strndup(p, (size_t)(end - p)))) {
        memset(ref, 0, sizeof(*ref));
        return HT_ENOMEM;
    }
    ref->bytes = bytes;
    return 0;
}

int ht_file_ref_format(char *out, size_t outlen, uint64_t bytes, const char *sha256,
                       const char *name, const char *content_type)
{
    size_t nlen = strlen(name);
    if (strlen(sha256) != 64 || nlen < 1 || nlen > HT_FILE_NAME_MAX ||
        !ctype_ok(content_type, strlen(content_type)))
        return HT_EINVAL;
    for (int i = 0; i < 64; i++)
        if (!is_hex_lower(sha256[i]))
            return HT_EINVAL;
    for (size_t i = 0; i < nlen; i++)
        if (!name_char(name[i]))
            return HT_EINVAL;
    int n = snprintf(out, outlen, "%llu %s %s %s", (unsigned long long)bytes, sha256, name,
                     content_type);
    return n < 0 || (size_t)n >= outlen ? HT_EINVAL : n;
}

void ht_file_ref_clear(ht_file_ref_t *ref)
{
    free(ref->content_type);
    memset(ref, 0, sizeof(*ref));
}

/* ---- the stored form ------------------------------------------------- */

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

/* The hash fields we read, one row each (a poll reads all ~30 of them: a
 * table with lengths, not a chain of strcmp). */
typedef enum {
    K_ID,       /* must be one of our ids */
    K_TYPE,     /* must be a valid type */
    K_STATUS,   /* must be a status name */
    K_PRIORITY, /* an unknown priority still names a job we can show: default */
    K_STR,      /* char *, "" = none */
    K_INT,      /* int, decimal within [min, max] */
    K_LONG,     /* long */
    K_I64,      /* int64_t */
    K_U64,      /* uint64_t */
    K_PCT,      /* int 0..100, "" = none (-1): ht_progress stores '' for "no percent" */
    K_FLAG,     /* int: "1" or not */
    K_FILE,     /* ht_file_ref_t: ht_file_ref_parse() */
} kind_t;

typedef struct {
    const char *name;
    unsigned char len;
    unsigned char kind;
    unsigned short off;
    long long max; /* min is 0 for every number */
} field_t;

#define F(n, k, member, mx)                                                                        \
    {                                                                                              \
        n, sizeof(n) - 1, k, offsetof(ht_job_t, member), mx                                        \
    }
#define YEARS_100 (100LL * 365 * 86400)
static const field_t fields[] = {
    F("id", K_ID, id, 0),
    F("type", K_TYPE, type, 0),
    F("status", K_STATUS, status, 0),
    F("priority", K_PRIORITY, priority, 0),
    F("queue", K_STR, queue, 0),
    F("tenant", K_STR, tenant, 0),
    F("payload", K_STR, payload, 0),
    F("metadata", K_STR, metadata, 0),
    F("result", K_STR, result, 0),
    F("error", K_STR, error, 0),
    F("callback_url", K_STR, callback_url, 0),
    F("progress_msg", K_STR, progress_msg, 0),
    F("worker", K_STR, worker, 0),
    F("schedule_id", K_STR, schedule_id, 0),
    F("attempt", K_INT, attempt, 1000000),
    F("max_attempts", K_INT, max_attempts, 1000000),
    F("timeout_s", K_LONG, timeout_s, YEARS_100),
    F("ttl_s", K_LONG, ttl_s, YEARS_100),
    F("created_at", K_I64, created_at, INT64_MAX),
    F("started_at", K_I64, started_at, INT64_MAX),
    F("finished_at", K_I64, finished_at, INT64_MAX),
    F("progress_at", K_I64, progress_at, INT64_MAX),
    F("progress_pct", K_PCT, progress_pct, 100),
    F("token", K_U64, token, INT64_MAX),
    F("version", K_U64, version, INT64_MAX),
    F("run_at", K_I64, run_at, INT64_MAX),
    F("cb_state", K_STR, cb_state, 0),
    F("cb_attempts", K_INT, cb_attempts, 1000000),
    F("cb_last_status", K_STR, cb_last_status, 0),
    F("cb_last_at", K_I64, cb_last_at, INT64_MAX),
    F("cancel_requested", K_FLAG, cancel_requested, 0),
    F("input", K_FILE, input, 0),
    F("output", K_FILE, output, 0),
};
#undef F

_Static_assert(sizeof(fields) / sizeof(fields[0]) <= HT_JOB_DOC_FIELDS_MAX + 1,
               "HT_JOB_DOC_FIELDS_MAX holds every field but the payload");

size_t ht_job_doc_fields(const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].off == offsetof(ht_job_t, payload))
            continue;
        if (n < max)
            names[n] = fields[i].name;
        n++;
    }
    return n;
}

/* One hash field into the job (v NUL-terminated).  Unknown fields are
 * skipped. */
static int set_field(ht_job_t *job, const char *f, size_t flen, const char *v, int *seen)
{
    const field_t *fd = NULL;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].len == flen && memcmp(fields[i].name, f, flen) == 0) {
            fd = &fields[i];
            break;
        }
    }
    if (!fd)
        return 0;
    char *dst = (char *)job + fd->off;
    int64_t n;
    int rc;
    switch ((kind_t)fd->kind) {
    case K_ID:
        if (!ht_id_valid(v, strlen(v)))
            return HT_EINVAL;
        memcpy(job->id, v, HT_ID_LEN + 1);
        seen[0] = 1;
        return 0;
    case K_TYPE:
        if (!ht_job_type_valid(v))
            return HT_EINVAL;
        seen[1] = 1;
        return set_str(&job->type, v);
    case K_STATUS:
        if (ht_job_status_parse(v, &job->status) < 0)
            return HT_EINVAL;
        seen[2] = 1;
        return 0;
    case K_PRIORITY:
        if (ht_priority_parse(v, &job->priority) < 0)
            job->priority = HT_PRIO_DEFAULT;
        return 0;
    case K_STR:
        return set_str((char **)dst, v);
    case K_FLAG:
        job->cancel_requested = strcmp(v, "1") == 0;
        return 0;
    case K_FILE:
        ht_file_ref_clear((ht_file_ref_t *)dst);
        return ht_file_ref_parse((ht_file_ref_t *)dst, v, strlen(v));
    case K_PCT:
        if (*v == '\0') {
            job->progress_pct = -1;
            return 0;
        }
        break;
    default:
        break;
    }
    if (*v == '\0') /* never written */
        n = 0;
    else if ((rc = ht_decimal_i64(v, 0, fd->max, &n)) < 0)
        return rc;
    switch ((kind_t)fd->kind) {
    case K_LONG:
        *(long *)dst = (long)n;
        break;
    case K_I64:
        *(int64_t *)dst = n;
        break;
    case K_U64:
        *(uint64_t *)dst = (uint64_t)n;
        break;
    default: /* K_INT, K_PCT */
        *(int *)dst = (int)n;
        break;
    }
    return 0;
}

int ht_job_from_hash(ht_job_t *job, const char *id, size_t n, const char *const *strs,
                     const size_t *lens)
{
    int seen[3] = {0, 0, 0}; /* id, type, status */
    int rc = 0;
    memset(job, 0, sizeof *job);
    job->priority = HT_PRIO_DEFAULT;
    job->progress_pct = -1;
    /* A submit leaves fields with these values out of the hash
     * (shared/library.lua, OMIT_DEFAULT). */
    job->max_attempts = HT_MAX_ATTEMPTS_DEFAULT;
    job->timeout_s = HT_TIMEOUT_S_DEFAULT;
    job->ttl_s = HT_TTL_S_DEFAULT;
    for (size_t i = 0; i + 1 < n && rc == 0; i += 2) {
        /* Redis replies carry lengths: a name is what precedes a NUL, and a
         * value with an embedded NUL is not one of ours.  Values get their
         * NUL on the stack (a heap copy only when long). */
        const char *v = strs[i + 1];
        size_t vlen = lens[i + 1];
        if (memchr(v, '\0', vlen)) {
            rc = HT_EINVAL;
            break;
        }
        char small[64], *copy = small;
        if (vlen >= sizeof(small) && !(copy = malloc(vlen + 1))) {
            rc = HT_ENOMEM;
            break;
        }
        memcpy(copy, v, vlen);
        copy[vlen] = '\0';
        rc = set_field(job, strs[i], strnlen(strs[i], lens[i]), copy, seen);
        if (copy != small)
            free(copy);
    }
    if (rc == 0 && !seen[0] && id) {
        if (ht_id_valid(id, strlen(id))) {
            memcpy(job->id, id, HT_ID_LEN + 1);
            seen[0] = 1;
        }
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
    free(job->schedule_id);
    free(job->cb_state);
    free(job->cb_last_status);
    ht_file_ref_clear(&job->input);
    ht_file_ref_clear(&job->output);
    memset(job, 0, sizeof *job);
    job->progress_pct = -1;
}

int ht_job_owned_by(const ht_job_t *job, const char *tenant)
{
    return strcmp(job->tenant ? job->tenant : "default", tenant) == 0;
}
