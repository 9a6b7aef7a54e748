/* The line protocol of persistent handlers (docs/handlers.md), both ways,
 * as pure functions: no I/O (persistent.c does that).  Unit-tested in
 * tests/unit/test_proto.c.
 *
 * Worker -> handler, one line per job:
 *   {"id":"…","type":"…","attempt":1,"deadline_ms":<unix ms>,"payload":<JSON>}
 * The payload is the stored JSON text, copied byte for byte (never parsed
 * and encoded again); it comes last so that the fixed fields are written
 * around it.  "input_path" (the job's input file, when it has one) and
 * "output_path" (where to write an output file, when the worker has a
 * blob store) come before it.
 *
 * Handler -> worker, one JSON object a line (LF or CRLF), each naming the
 * job's "id":
 *   {"id":"…","progress":42,"message":"…"}   any number of times: percent
 *        0..100 (clamped, rounded; null for none), message optional;
 *   {"id":"…","result":<any JSON>}           the final line of a success;
 *        an "output_content_type" string beside "result" is the content
 *        type of the output file written to output_path;
 *   {"id":"…","error":"…","retry":false,"code":"…"}  the final line of a
 *        failure: "retry" (default true) says whether attempts left may be
 *        used, "code" (optional, [a-z0-9_.-]{1,64}, default
 *        "handler_error") is the job error's code.
 * Members not named here are ignored.  An empty line is ignored; anything
 * else (text, other JSON, a line naming another job, a line with both
 * "result" and "error") is a protocol error. */
#ifndef HT_WORKER_PROTO_H
#define HT_WORKER_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* What a job line carries. */
typedef struct {
    const char *id;
    const char *type;
    int attempt;
    int64_t deadline_ms; /* wall clock, ms since the epoch */
    const char *payload; /* stored JSON text, payload_len bytes */
    size_t payload_len;
    const char *input_path;  /* NULL: the job has no input file */
    const char *output_path; /* NULL: no output file expected */
} ht_proto_job_t;

/* The job line, newline included: a new malloc'd buffer of *len bytes and a
 * NUL, or NULL when out of memory.  A CR or LF in the payload
 * (valid JSON has them only as whitespace between tokens) becomes a space,
 * so the line stays one line; no other byte is changed. */
char *ht_proto_job_line(const ht_proto_job_t *job, size_t *len);

typedef enum {
    HT_PROTO_BLANK = 0, /* an empty line: ignored */
    HT_PROTO_PROGRESS,  /* percent (-1: none), message (NULL: none) */
    HT_PROTO_RESULT,    /* result: the value's JSON text, as the handler wrote it */
    HT_PROTO_ERROR,     /* error, retry, code */
    HT_PROTO_INVALID,   /* a protocol error: why */
} ht_proto_kind_t;

#define HT_PROTO_CODE_MAX 64

typedef struct {
    ht_proto_kind_t kind;
    int percent;
    char *message;     /* owned */
    char *result;      /* owned, NUL-terminated */
    char *error;       /* owned */
    char *output_type; /* owned: a result's "output_content_type", or NULL */
    int retry;
    char code[HT_PROTO_CODE_MAX + 1];
    char why[192];
} ht_proto_answer_t;

/* Reads one line of a handler's stdout (without its LF) sent while job
 * `id` runs.  Returns 0 with *a filled (ht_proto_answer_clear() it), or
 * HT_ENOMEM. */
int ht_proto_parse(const char *line, size_t len, const char *id, ht_proto_answer_t *a);
void ht_proto_answer_clear(ht_proto_answer_t *a);

#endif
