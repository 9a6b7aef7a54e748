/* The formats of job change events, with no I/O (unit-tested in
 * tests/unit/test_event_format.c): ids of the job's event log, its entries,
 * the pub/sub notification, the job document as of one entry, and
 * Server-Sent Events framing.  The stored formats are those of
 * shared/library.lua (docs/keyspace.md):
 *
 *   log "ht:{Q}:job:<id>:ev", a list of strings, oldest first:
 *       "<v> <kind> <status> <attempt> <pct> <at> <msg>"
 *       (kind status|progress, pct '-' = none, at in ms, msg to the end,
 *       possibly empty); an entry's log id is "<v>-0"
 *   (a keyspace of schema 7 or older kept the log in a stream
 *   "ht:{Q}:job:<id>:log" with entry fields kind, v, status, attempt, pct
 *   ('' = none), msg ('' = none), at: ht_log_entry_parse reads such an
 *   entry)
 *   notification on "ht:{Q}:events:<id>":
 *       "<version> <status> <log id> <kind>" */
#ifndef HT_API_EVENT_FORMAT_H
#define HT_API_EVENT_FORMAT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/job.h"

/* A stream id "<ms>-<seq>" fits with its NUL (two 20-digit numbers). */
#define HT_LOG_ID_MAX 48

/* One entry of a job's event log.  `progress_msg` is borrowed from the
 * strings it was parsed from. */
typedef struct {
    char id[HT_LOG_ID_MAX];
    int progress; /* 1: kind progress; 0: kind status */
    uint64_t version;
    ht_job_status_t status;
    int attempt;
    int progress_pct;         /* 0..100, or -1 when none */
    const char *progress_msg; /* NULL when none */
    int64_t at;               /* ms */
} ht_log_entry_t;

/* 1 when s[0..len) is a stream id "<digits>-<digits>" that fits. */
int ht_log_id_valid(const char *s, size_t len);

/* <0, 0, >0 as stream id a is older than, equal to, newer than b (both
 * valid). */
int ht_log_id_cmp(const char *a, const char *b);

/* Fills `e` from a stream entry: its id and n strings, field and value
 * alternating (NUL-terminated; `e` borrows the message).  Unknown fields are
 * skipped.  Returns 0, or HT_EINVAL when the id, kind, v or status is
 * missing or bad. */
int ht_log_entry_parse(ht_log_entry_t *e, const char *id, size_t n, const char *const *strs);

/* Fills `e` from one entry of the list log: `s` is NUL-terminated
 * (`e` borrows its message).  Returns 0, or HT_EINVAL when malformed. */
int ht_log_entry_parse_compact(ht_log_entry_t *e, const char *s);

/* A parsed notification. */
typedef struct {
    uint64_t version;
    ht_job_status_t status;
    char log_id[HT_LOG_ID_MAX];
    int progress; /* 1: kind progress */
} ht_event_note_t;

/* Parses "<version> <status> <log id> <kind>" (len bytes, not necessarily
 * NUL-terminated).  Returns 0 or HT_EINVAL. */
int ht_event_note_parse(ht_event_note_t *n, const char *s, size_t len);

/* The job document as of entry `e`: the current job (borrowed) with the
 * entry's status, attempt, progress and version laid over it, and what
 * cannot be true yet at that point (finished_at and result before the end,
 * started_at before the first attempt) cleared.  A new reference, NULL when
 * out of memory. */
json_t *ht_event_doc(const ht_job_t *job, const ht_log_entry_t *e);

/* One Server-Sent Event, "id: <id>\nevent: <event>\ndata: <line>\n...\n\n"
 * (`id` may be NULL or "" for none; every line of `data` gets its own
 * "data:" field).  Returns a malloc'd string (its length in *len), or NULL
 * when out of memory. */
char *ht_sse_format(const char *id, const char *event, const char *data, size_t *len);

#endif
