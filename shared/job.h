/* The job: its state machine, its stored form (a Redis hash, see
 * docs/keyspace.md), its public JSON document, and the validated
 * submit request.  No I/O here: everything is unit-testable.
 *
 * State machine (the Redis functions are the only code that moves a job):
 *
 *                 submit                claim (attempt+1, new token)
 *   [scheduled] ---------> [queued] -------------------------> [running]
 *        due        ^         |  ^                                 |
 *                   |  cancel |  |  failed, attempts left;         |
 *                   |         |  |  lease expired, attempts left;  |
 *                   |         v  |  drain hand-back (not counted)  |
 *                   |    [canceled] <-----------------------------|
 *                   |                                   cancel     |
 *                   |   retry (dead letter)  [failed] <------------+ out of attempts
 *                   +------------------------[succeeded] <---------+ handler ok
 *
 * Terminal: succeeded, failed, canceled; a terminal job expires ttl_s after
 * it finished (a failed one failed_ttl_s after, which the api sets to at
 * least HANGTIGHT_FAILED_TTL_S).  A job submitted with delay_s or run_at in
 * the future starts scheduled; a cancel of a running job only asks (the
 * worker stops the handler and ends the job canceled).
 *
 * Changing the persisted format (hash fields or their encoding) bumps SCHEMA
 * in shared/library.lua (the version the binaries require) and, when stored
 * jobs must change with it, adds a data step under migrations/. */
#ifndef HT_JOB_H
#define HT_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/buf.h"
#include "shared/id.h"
#include "shared/problem.h"

typedef enum {
    HT_JOB_SCHEDULED,
    HT_JOB_QUEUED,
    HT_JOB_RUNNING,
    HT_JOB_SUCCEEDED,
    HT_JOB_FAILED,
    HT_JOB_CANCELED,
} ht_job_status_t;

typedef enum { HT_PRIO_HIGH, HT_PRIO_DEFAULT, HT_PRIO_LOW } ht_priority_t;

const char *ht_job_status_name(ht_job_status_t s);
int ht_job_status_parse(const char *s, ht_job_status_t *out); /* 0 or HT_EINVAL */
int ht_job_status_terminal(ht_job_status_t s);

const char *ht_priority_name(ht_priority_t p);
int ht_priority_parse(const char *s, ht_priority_t *out); /* 0 or HT_EINVAL */

/* Limits and defaults of a submit request. */
#define HT_TYPE_MAX             64
#define HT_MAX_ATTEMPTS_DEFAULT 3
#define HT_MAX_ATTEMPTS_MAX     25
#define HT_TIMEOUT_S_DEFAULT    300
#define HT_TIMEOUT_S_MAX        86400
#define HT_TTL_S_DEFAULT        86400
#define HT_FAILED_TTL_S_DEFAULT 604800 /* HANGTIGHT_FAILED_TTL_S's default */
#define HT_TTL_S_MAX            (30L * 86400)
#define HT_METADATA_MAX_KEYS    64
#define HT_METADATA_VALUE_MAX   1024
#define HT_CALLBACK_URL_MAX     2048
#define HT_DELAY_S_MAX          (30L * 86400) /* delay_s, and how far ahead run_at may be */

/* A file of a job (DESIGN.md "Files"): its input, or the output a handler
 * left.  The bytes live in the blob store under "<tenant>/<job id>/<name>"
 * (shared/blob.h); the job's hash keeps this reference as one field,
 * "<bytes> <sha256> <name> <content type>" (the content type runs to the
 * end: it may hold spaces).  No file: name[0] is '\0'. */
#define HT_FILE_NAME_MAX 32 /* a blob name: [A-Za-z0-9_-]{1,32} */
typedef struct {
    uint64_t bytes;
    char sha256[65];                 /* lowercase hex */
    char name[HT_FILE_NAME_MAX + 1]; /* "input", "output-2": the key's last part */
    char *content_type;              /* owned; printable ASCII */
} ht_file_ref_t;

/* Reads a stored reference s[0..len) into ref (content_type malloc'd).
 * Returns 0, HT_EINVAL (malformed) or HT_ENOMEM. */
int ht_file_ref_parse(ht_file_ref_t *ref, const char *s, size_t len);

/* Writes the stored form of a reference into out[outlen].  Returns its
 * length, or HT_EINVAL when it does not fit or a part breaks the rules. */
int ht_file_ref_format(char *out, size_t outlen, uint64_t bytes, const char *sha256,
                       const char *name, const char *content_type);

/* Frees what ref owns and marks it absent. */
void ht_file_ref_clear(ht_file_ref_t *ref);

/* A job as read from Redis.  Strings are owned (malloc) and freed by
 * ht_job_clear(); JSON-valued fields are kept as the text stored. */
typedef struct {
    char id[HT_ID_LEN + 1];
    char *type;
    char *queue;
    char *tenant;
    ht_job_status_t status;
    ht_priority_t priority;
    char *payload;      /* JSON text */
    char *metadata;     /* JSON text (an object), NULL when none */
    char *result;       /* JSON text, NULL until succeeded */
    char *error;        /* JSON text {"code", "message"}, NULL when none */
    char *callback_url; /* NULL when none */
    int attempt;
    int max_attempts;
    long timeout_s;
    long ttl_s;
    int64_t created_at, started_at, finished_at; /* ms; 0 = not yet */
    int progress_pct;                            /* 0..100, or -1 when none reported */
    char *progress_msg;                          /* NULL when none */
    int64_t progress_at;
    uint64_t token;   /* fencing token of the current attempt */
    uint64_t version; /* bumped on every change: the ETag */
    char *worker;
    int64_t run_at;       /* ms when it is (or was) due to run; 0 = not scheduled */
    char *schedule_id;    /* the recurring schedule that made it; NULL when none */
    int cancel_requested; /* 1 once a cancel of the running job was asked for */
    /* Webhook delivery (the cb_* hash fields), when callback_url is set: */
    char *cb_state;       /* pending | delivered | failed; NULL until terminal */
    int cb_attempts;      /* deliveries tried so far */
    char *cb_last_status; /* "200", "503" or an error word; NULL when none */
    int64_t cb_last_at;   /* ms of the last attempt; 0 = none */
    /* Files (the "input" and "output" fields): name[0] '\0' when none. */
    ht_file_ref_t input;  /* the file submitted with the job */
    ht_file_ref_t output; /* the file its successful attempt left */
} ht_job_t;

/* Fills `job` from an HGETALL answer: n strings, field and value
 * alternating.  Unknown fields are ignored (a newer writer may add some).
 * `id` is the id of the job whose key was read: a job hash holds no id
 * field (since schema 17), so a raw read gives it here; NULL when the
 * answer carries one (the library's functions add it to what they
 * answer).  Returns 0, or HT_EINVAL when the id (field or argument), type
 * or status is missing or bad (the job must then still be
 * ht_job_clear()ed). */
int ht_job_from_hash(ht_job_t *job, const char *id, size_t n, const char *const *strs,
                     const size_t *lens);

/* The hash fields a job document is made of: every field ht_job_from_hash
 * reads except the payload, which no document shows and which may be the
 * largest field by far.  Readers of documents (polls, long polls, event
 * streams, listings) ask Redis for these only (HMGET).  Fills `names`
 * (static strings) with up to `max` of them; returns how many there are
 * (HT_JOB_DOC_FIELDS_MAX at most). */
#define HT_JOB_DOC_FIELDS_MAX 40
size_t ht_job_doc_fields(const char **names, size_t max);

/* 1 when `job` belongs to `tenant` (a job stored without a tenant field
 * belongs to "default"). */
int ht_job_owned_by(const ht_job_t *job, const char *tenant);

void ht_job_clear(ht_job_t *job);

/* Appends the public job document of `job` (see the README) to `b`:
 * compact JSON text on one line (control characters escaped), the one
 * writer of it (job_doc.c).  Returns 0, or HT_ENOMEM with `b` failed
 * (ht_buf_failed). */
int ht_job_doc_append(ht_buf_t *b, const ht_job_t *job);

/* Appends `s` as a JSON string, escaped as in the job document (its bytes
 * that are not UTF-8 as '?').  Returns 0 or HT_ENOMEM. */
int ht_json_string_append(ht_buf_t *b, const char *s);

/* 1 when text[0..len) is one JSON value exactly as json_dumps(JSON_COMPACT
 * | JSON_ENCODE_ANY) prints what json_loads(JSON_DECODE_ANY) reads from it,
 * so it can be copied into a document as it is.  0 says only "let jansson
 * decide" (reals, for one, always get 0). */
int ht_json_text_canonical(const char *text, size_t len);

/* json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), the same bytes, written
 * without jansson's dump machinery when v holds no real (jansson prints
 * those).  Returns text to free(), NULL when out of memory or v is NULL. */
char *ht_json_dumps_compact(json_t *v);

/* A validated POST /v1/jobs body. */
typedef struct {
    char type[HT_TYPE_MAX + 1];
    json_t *payload;    /* owned reference, {} by default */
    json_t *metadata;   /* owned reference or NULL */
    char *callback_url; /* owned, NULL when not given; checked by ht_callback_url_check() */
    ht_priority_t priority;
    int max_attempts;
    long timeout_s;
    long ttl_s;
    long delay_s;      /* 0..HT_DELAY_S_MAX, 0 when not given */
    int64_t run_at_ms; /* absolute ms from run_at, 0 when not given */
} ht_job_request_t;

typedef struct {
    size_t max_payload_depth; /* nesting depth of payload JSON, e.g. 32 */
    /* Nonzero: callback_url may name a private/loopback literal address
     * (HANGTIGHT_WEBHOOK_ALLOW_PRIVATE, for development and tests).  Zero,
     * the default, refuses them (see shared/netguard.h). */
    int allow_private_callbacks;
} ht_job_limits_t;

/* Parses and validates a request body.  run_at is checked against
 * ht_now_ms() (at most HT_DELAY_S_MAX ahead; a past time means now); giving
 * both delay_s and run_at is an error.  Returns 0, or -1 with `problem`
 * set: HT_P_MALFORMED_JSON (400) or HT_P_INVALID_FIELDS (422) listing every
 * bad field.  Whether a handler serves `type` is checked by the caller.
 * The request must be ht_job_request_clear()ed either way. */
int ht_job_request_parse(ht_job_request_t *req, const char *body, size_t len,
                         const ht_job_limits_t *limits, ht_problem_t *problem);

/* One query parameter, decoded (names and values NUL-terminated). */
typedef struct {
    const char *name;
    const char *value;
} ht_job_param_t;

/* The same request from the query parameters of a file submit (POST
 * /v1/jobs?type=T&... with the file as the body, DESIGN.md "Files"): each
 * field of the JSON body is a parameter of the same name, the integers in
 * decimal, payload and metadata as JSON text.  Validated by the same schema
 * with the same problems (pointers name the parameter; a payload that is
 * not JSON is an invalid_format).  A name given twice: the first counts.
 * Names in `ignore` (NULL-terminated, may be NULL) are not fields but are
 * allowed (the wait preference's "wait" and "heartbeat").  Returns 0 or -1
 * as ht_job_request_parse(). */
int ht_job_request_from_params(ht_job_request_t *req, const ht_job_param_t *params, size_t n,
                               const char *const *ignore, const ht_job_limits_t *limits,
                               ht_problem_t *problem);

void ht_job_request_clear(ht_job_request_t *req);

/* Starts `job` (zeroed first) as the document of a job just made from
 * `req`: type, priority, callback, attempts, timeout and ttl borrowed from
 * `req` (never ht_job_clear() this job), no progress yet.  The caller sets
 * the rest (id, queue, tenant, status, times, version, payload). */
void ht_job_request_start_job(const ht_job_request_t *req, ht_job_t *job);

/* 1 when `type` matches [a-z0-9_.-]{1,64}. */
int ht_job_type_valid(const char *type);

#endif
