/* Recurring schedules: the POST /v1/schedules request (validated), when a
 * schedule runs and what a worker does with a run that has come (the
 * catch-up rule), the stored record (a Redis hash, docs/keyspace.md) and
 * its public document.  No I/O: the Redis side is shared/library.lua's
 * ht_sched_* functions, the firing loop worker/schedules.c, the endpoints
 * api/schedules.c; docs/schedules.md states the rules.
 *
 * A schedule's life:
 *
 *   create --> [active] --pause--> [paused] --resume (next run from now)--+
 *                 ^  |                                                     |
 *                 |  +-- each run: one job, next run stored (CAS) --+      |
 *                 +-------------------------------------------------+------+
 *   delete, from either: gone (the jobs it made stay).
 *
 * Changing the stored form bumps SCHEMA in shared/library.lua. */
#ifndef HT_SCHEDULE_H
#define HT_SCHEDULE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/cron.h"
#include "shared/id.h"
#include "shared/job.h"
#include "shared/problem.h"
#include "shared/tz.h"

#define HT_SCHEDULE_NAME_MAX 128
/* The most schedules one tenant keeps (per partition count: a tenant's
 * schedules live in the partition its name picks). */
#define HT_SCHEDULES_PER_TENANT_MAX 1000
/* A run found due later than this after its time is missed: the catch-up
 * rule decides (one job for the latest missed run, or none).  A run found
 * sooner gets its own job however late (a worker restarting, Redis slow):
 * runs are not lost to a short stall. */
#define HT_SCHEDULE_LATE_MS 10000

typedef enum { HT_CATCH_UP_ONE, HT_CATCH_UP_NONE } ht_catch_up_t;

const char *ht_catch_up_name(ht_catch_up_t c);
int ht_catch_up_parse(const char *s, ht_catch_up_t *out); /* 0 or HT_EINVAL */

/* When a schedule runs: a cron expression read in a zone, or an interval
 * anchored at its first run. */
typedef struct {
    int is_cron;
    ht_cron_t cron;
    char tz[HT_TZ_ID_MAX + 1]; /* cron: the zone id as given ("" = HT_TZ_DEFAULT) */
    int64_t every_s;           /* interval */
    int64_t anchor_ms;         /* interval: its first run */
    ht_catch_up_t catch_up;
} ht_schedule_when_t;

/* The stored strings of a schedule (ht_sched_due's entry, or the hash) into
 * *w: `cron` or `every_s` and `anchor` ("" when absent), `tz`, `seconds`
 * ("1": the cron has a seconds field, HT_CRON_SECONDS), `catch_up` ("" =
 * one).  Returns 0, or HT_EINVAL with a message in err[errlen]. */
int ht_schedule_when_parse(ht_schedule_when_t *w, const char *cron, const char *every_s,
                           const char *anchor, const char *tz, const char *seconds,
                           const char *catch_up, char *err, size_t errlen);

/* The first run strictly after `after_ms`.  Returns 0, HT_ENOTFOUND (a cron
 * that never fires again within HT_CRON_HORIZON_S) or HT_EINVAL (with a
 * message: an unknown zone, an instant out of range). */
int ht_schedule_next(const ht_schedule_when_t *w, int64_t after_ms, int64_t *next_ms, char *err,
                     size_t errlen);

/* The first run of a new schedule created at `now_ms`: for a cron, the
 * first run after now; an interval is anchored at its first run, the first
 * whole second after now plus every_s (w->anchor_ms is set).  Returns 0,
 * or an error of ht_schedule_next(). */
int ht_schedule_first(ht_schedule_when_t *w, int64_t now_ms, int64_t *first_ms, char *err,
                      size_t errlen);

/* What to do with the run due at `due_ms` (the schedule's stored next run)
 * found at `now_ms` (due_ms <= now_ms), on Redis' clock:
 *   - found at most HT_SCHEDULE_LATE_MS late: a job for due_ms, next run
 *     ht_schedule_next(due_ms);
 *   - later (missed: workers down, the schedule's runs in the past):
 *     catch_up one: a job for the latest run at or before now; none: no
 *     job; either way the next run is the first after now.
 * tick_ms is the run the job is for (0: no job), next_ms the run to store
 * (0: none: the cron never fires again).  Returns 0 or an error of
 * ht_schedule_next(). */
typedef struct {
    int64_t tick_ms;
    int64_t next_ms;
} ht_schedule_plan_t;
int ht_schedule_plan(const ht_schedule_when_t *w, int64_t due_ms, int64_t now_ms,
                     ht_schedule_plan_t *out, char *err, size_t errlen);

/* A validated POST /v1/schedules body:
 *   {"cron": "*\/5 * * * *", "timezone": "Europe/Paris", "job": {...}}
 *   or {"every_s": 60, "job": {...}}, with optional "name", "catch_up".
 * The job template is checked by the one submit schema (job_request.c);
 * its problems are named under /job. */
typedef struct {
    char name[HT_SCHEDULE_NAME_MAX + 1]; /* "" = none */
    char cron_text[HT_CRON_MAX_LEN + 1]; /* "" for an interval */
    ht_schedule_when_t when;
    int seconds;          /* the cron was read with HT_CRON_SECONDS */
    char *job_json;       /* owned: the template as given, compact JSON */
    ht_job_request_t job; /* the template, validated */
} ht_schedule_request_t;

typedef struct {
    const ht_job_limits_t *job; /* the template's, as for a submit */
    int cron_seconds;           /* accept a leading seconds field (HT_CRON_SECONDS, tests) */
} ht_schedule_limits_t;

/* Parses and validates a body; every problem goes into `problem`'s errors
 * (HT_P_INVALID_FIELDS, 422: /cron, /timezone, /every_s, /job/type, ...) or
 * it is HT_P_MALFORMED_JSON (400).  Whether a worker serves the template's
 * type is the caller's check.  Returns 0 or -1; ht_schedule_request_clear()
 * either way. */
int ht_schedule_request_parse(ht_schedule_request_t *r, const char *body, size_t len,
                              const ht_schedule_limits_t *limits, ht_problem_t *problem);
void ht_schedule_request_clear(ht_schedule_request_t *r);

/* Moves the field problems of a job request checked on its own under
 * `prefix` (a JSON Pointer such as "/job" or "/jobs/3"): "/type" becomes
 * "/job/type".  For requests that hold job requests. */
void ht_problem_prefix_pointers(ht_problem_t *p, const char *prefix);

/* A schedule as stored.  Strings are owned (ht_schedule_clear). */
typedef struct {
    char id[HT_ID_LEN + 1];
    char *tenant;
    char *name;     /* NULL when none */
    char *cron;     /* NULL for an interval */
    char *timezone; /* NULL when none given (cron in HT_TZ_DEFAULT) */
    int64_t every_s, anchor_ms;
    int seconds; /* the cron has a seconds field (HT_CRON_SECONDS) */
    ht_catch_up_t catch_up;
    char *job; /* the template, JSON text */
    int paused;
    int64_t created_at, next_run_at, last_run_at; /* ms; 0 = none */
    char last_job_id[HT_ID_LEN + 1];              /* "" = none */
    long long runs;                               /* jobs made */
    char *last_error_code, *last_error_msg;       /* the last run made no job: why */
    int64_t last_error_at;                        /* that run */
} ht_schedule_t;

/* Fills `s` from an HGETALL answer (n strings, field and value
 * alternating; unknown fields are skipped).  Returns 0, or HT_EINVAL when
 * the id or the tenant is missing or bad (clear it either way). */
int ht_schedule_from_hash(ht_schedule_t *s, size_t n, const char *const *strs);
void ht_schedule_clear(ht_schedule_t *s);

/* When stored schedule `s` runs.  Returns 0 or HT_EINVAL (with a message). */
int ht_schedule_when_of(const ht_schedule_t *s, ht_schedule_when_t *w, char *err, size_t errlen);

/* The public document of `s` (new reference, NULL when out of memory):
 *   {"id", "name", "cron", "every_s", "timezone", "catch_up", "job",
 *    "paused", "next_run_at", "last_run_at", "last_job_id", "last_error",
 *    "runs", "created_at", "links"} */
json_t *ht_schedule_doc(const ht_schedule_t *s);

#endif
