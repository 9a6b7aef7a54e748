/* The formats of job change events, with no I/O (unit-tested in
 * tests/unit/test_event_format.c): ids of the job's event log, its entries,
 * the pub/sub notification, the job document as of one entry, and
 * Server-Sent Events framing.  The stored formats are those of
 * shared/library.lua (docs/keyspace.md):
 *
 *   event log "ht:{Q}:job:<id>:ev", a list of strings, oldest first:
 *       "<v> <kind> <status> <attempt> <pct> <at> <msg>"
 *       (kind status|progress, pct '-' = none, at in ms, msg to the end,
 *       possibly empty); an entry's event id is "<v>-0"
 *   notification on "ht:{Q}:events:<id>":
 *       "<version> <status> <event id> <kind>" */
#ifndef HT_API_EVENT_FORMAT_H
#define HT_API_EVENT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "shared/buf.h"
#include "shared/job.h"

/* An event id "<digits>-<digits>" fits with its NUL (two 20-digit
 * numbers). */
#define HT_EVENT_ID_MAX 48

/* One entry of a job's event log.  `progress_msg` is borrowed from the
 * string it was parsed from. */
typedef struct {
    char id[HT_EVENT_ID_MAX];
    int progress; /* 1: kind progress; 0: kind status */
    uint64_t version;
    ht_job_status_t status;
    int attempt;
    int progress_pct;         /* 0..100, or -1 when none */
    const char *progress_msg; /* NULL when none */
    int64_t at;               /* ms */
} ht_event_entry_t;

/* 1 when s[0..len) is an event id "<digits>-<digits>" that fits. */
int ht_event_id_valid(const char *s, size_t len);

/* <0, 0, >0 as event id a is older than, equal to, newer than b (both
 * valid). */
int ht_event_id_cmp(const char *a, const char *b);

/* Fills `e` from one entry of the event log: `s` is NUL-terminated (`e`
 * borrows its message).  Returns 0, or HT_EINVAL when malformed. */
int ht_event_entry_parse(ht_event_entry_t *e, const char *s);

/* A parsed notification. */
typedef struct {
    uint64_t version;
    ht_job_status_t status;
    char event_id[HT_EVENT_ID_MAX];
    int progress; /* 1: kind progress */
} ht_event_note_t;

/* Parses "<version> <status> <event id> <kind>" (len bytes, not
 * necessarily NUL-terminated).  Returns 0 or HT_EINVAL. */
int ht_event_note_parse(ht_event_note_t *n, const char *s, size_t len);

/* Appends the job document as of entry `e`: the current job (borrowed)
 * with the entry's status, attempt, progress and version laid over it, and
 * what cannot be true yet at that point (finished_at and result before the
 * end, started_at before the first attempt) cleared.  Returns 0 or
 * HT_ENOMEM. */
int ht_event_doc_append(ht_buf_t *b, const ht_job_t *job, const ht_event_entry_t *e);

/* Appends one Server-Sent Event carrying a job document:
 * "id: <id>\nevent: <event>\ndata: <document>\n\n", the document as of
 * entry `e` (ht_event_doc_append), or the current one when `e` is NULL.
 * `id` may be NULL or "" for none.  The document is one line (control
 * characters are escaped in JSON text), so it is one data field.  Returns 0
 * or HT_ENOMEM (`b` is then failed, with part of the frame). */
int ht_sse_job_event_append(ht_buf_t *b, const char *id, const char *event, const ht_job_t *job,
                            const ht_event_entry_t *e);

#endif
