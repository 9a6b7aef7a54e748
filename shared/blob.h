/* The blob store: the files that jobs take as input and leave as output,
 * kept outside Redis and never whole in memory (DESIGN.md, "Files").
 *
 * Two backends behind one interface, chosen by HANGTIGHT_BLOB_STORE:
 *   dir:/path              local disk (or a shared filesystem mounted at the
 *                          same path on every machine): shared/blob_dir.c
 *   s3://bucket[/prefix]   any S3-compatible service, through libcurl with
 *                          SigV4 signing: shared/blob_s3.c
 * docs/blobs.md tells the layout, durability rules and limits.
 *
 * Keys.  A blob is named "<tenant>/<job id>/<name>" (ht_blob_key builds
 * and checks it): tenant and job id are 1 to 64 of [A-Za-z0-9_.-] but never
 * "." or "..", name is 1 to 32 of [A-Za-z0-9_-] ("input", "output",
 * "output-3").  Every call that takes a key refuses any other shape, so no
 * caller-supplied part can climb out of the store or into another tenant.
 *
 * Return convention: 0 or a negative code (shared/error.h):
 *   HT_ENOTFOUND  no such blob
 *   HT_ENOSPACE   the disk or quota is full (ENOSPC, EDQUOT, EFBIG; an S3 507)
 *   HT_EUNAVAIL   the S3 service is unreachable, timed out or answered 5xx
 *   HT_ETOOBIG    more bytes than the writer's max_bytes
 *   HT_EDIGEST    the bytes do not have the SHA-256 they were said to have
 *   HT_EINVAL     a malformed key, content type, digest or setting
 *   HT_EPROTO     the S3 service answered something unexpected (any other 4xx)
 *   -errno        any other system error (-EACCES: S3 refused the credentials)
 * with words for the log in ht_blob_error() (store calls) or
 * ht_blob_writer_error() (writer calls).
 *
 * Threads.  An ht_blob_t is used by one thread at a time (it holds an S3
 * connection and the last error): open one per thread, it is cheap.  A
 * writer may move between threads (one at a time); it uses its store only
 * for the settings, so the store must outlive it but may serve other calls
 * meanwhile.
 *
 * Blocking.  Every call blocks the calling thread.  On an event loop:
 *   - dir: ht_blob_write() is one write(2) to a regular file plus SHA-256
 *     work, fine on the loop for chunks of up to a few hundred KiB;
 *     ht_blob_commit() fsyncs (seconds for a large file on a busy disk) and
 *     everything else does file system calls: run them off the loop
 *     (uv_queue_work);
 *   - s3: every call does network round trips (ht_blob_write() uploads a
 *     part each time s3_part_mb fill up): run all of them off the loop.
 * ht_blob_write_blocks() says which case a store is. */
#ifndef HT_BLOB_H
#define HT_BLOB_H

#include <stddef.h>
#include <stdint.h>

#define HT_BLOB_KEY_MAX       192 /* a key and its NUL */
#define HT_BLOB_CTYPE_MAX     256 /* a content type and its NUL */
#define HT_BLOB_ETAG_MAX      136 /* an ETag, quotes included, and its NUL */
#define HT_BLOB_SHA256_LEN    64  /* lowercase hex */
#define HT_BLOB_MAX_DEFAULT   (5ULL << 30)
#define HT_BLOB_CTYPE_DEFAULT "application/octet-stream"

/* Settings, each an option row of the binaries that use the store (see
 * HT_BLOB_OPTIONS).  Credentials are not settings: ht_blob_open reads
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from the
 * environment. */
typedef struct {
    const char *store;       /* "dir:/path" or "s3://bucket[/prefix]"; NULL: no store */
    const char *s3_endpoint; /* "http://127.0.0.1:9000"; NULL: https://s3.<region>.amazonaws.com */
    const char *s3_region;   /* NULL: us-east-1 */
    const char *tmp_dir; /* s3: where fetched copies and handler outputs go; NULL: $TMPDIR, /tmp */
    long s3_part_mb;     /* multipart part size in MiB (5..512): the writer's buffer */
    long s3_connect_timeout_ms; /* per connection attempt */
    long s3_stall_timeout_s;    /* a request that moves no byte for this long fails */
} ht_blob_settings_t;

/* Option rows (shared/config.h) filling an ht_blob_settings_t S, for a
 * binary's option table: {..., HT_BLOB_OPTIONS(settings), ...}.  One
 * definition, so every binary spells and documents them alike. */
// clang-format off
#define HT_BLOB_OPTIONS(s)                                                                      \
    {"blob-store", "HANGTIGHT_BLOB_STORE", HT_OPT_STRING, NULL,                                 \
     "where job files live: STORE is dir:/path or s3://bucket[/prefix] (unset: no file jobs)",  \
     0, 0, &(s).store},                                                                         \
    {"s3-endpoint", "HANGTIGHT_S3_ENDPOINT", HT_OPT_STRING, NULL,                               \
     "URL of the S3-compatible service (path-style requests; unset: AWS in the region)",        \
     0, 0, &(s).s3_endpoint},                                                                   \
    {"s3-region", "HANGTIGHT_S3_REGION", HT_OPT_STRING, "us-east-1",                            \
     "REGION the S3 requests are signed for", 0, 0, &(s).s3_region},                            \
    {"blob-tmpdir", "HANGTIGHT_BLOB_TMPDIR", HT_OPT_STRING, NULL,                               \
     "DIR for local copies of s3 blobs given to handlers (unset: $TMPDIR or /tmp)",             \
     0, 0, &(s).tmp_dir},                                                                       \
    {"s3-part-mb", "HANGTIGHT_S3_PART_MB", HT_OPT_INT, "8",                                     \
     "multipart part size in MIB (each upload in progress holds one part in memory)",           \
     5, 512, &(s).s3_part_mb},                                                                  \
    {"s3-connect-timeout-ms", "HANGTIGHT_S3_CONNECT_TIMEOUT_MS", HT_OPT_INT, "5000",            \
     "MS to connect to the S3 service (slower: the store is unavailable)",                      \
     100, 600000, &(s).s3_connect_timeout_ms},                                                  \
    {"s3-stall-timeout-s", "HANGTIGHT_S3_STALL_TIMEOUT_S", HT_OPT_INT, "30",                    \
     "SECONDS an S3 request may move no byte before it fails (the store is unavailable)",       \
     1, 3600, &(s).s3_stall_timeout_s}
// clang-format on

/* What the store knows of one blob. */
typedef struct {
    uint64_t bytes;
    char sha256[HT_BLOB_SHA256_LEN + 1]; /* lowercase hex; "" for an S3 object not written here */
    char content_type[HT_BLOB_CTYPE_MAX];
    char etag[HT_BLOB_ETAG_MAX]; /* strong validator: "<sha256>" (quotes included), or an S3
                                  * object's own ETag when it has no sha256 */
    int64_t mtime;               /* seconds since the epoch */
} ht_blob_info_t;

typedef struct ht_blob ht_blob_t;
typedef struct ht_blob_writer ht_blob_writer_t;

/* Opens a store handle.  Returns 0, HT_EINVAL (bad settings, words in
 * err), or a negative errno (dir: the directory cannot be made).  dir:
 * creates the directory and its blobs/ and tmp/ folders; s3: checks the
 * settings only (no request is made). */
int ht_blob_open(ht_blob_t **out, const ht_blob_settings_t *s, char *err, size_t errlen);
void ht_blob_close(ht_blob_t *b);

/* Words on the last failed call on b; valid until the next call on b. */
const char *ht_blob_error(const ht_blob_t *b);

/* 1 for an s3 store (every call, ht_blob_write included, does network
 * I/O), 0 for dir (ht_blob_write is a local write(2)). */
int ht_blob_write_blocks(const ht_blob_t *b);

/* Writes "<tenant>/<job_id>/<name>" into out[HT_BLOB_KEY_MAX].  Returns 0
 * or HT_EINVAL when a part breaks the rules above. */
int ht_blob_key(char out[HT_BLOB_KEY_MAX], const char *tenant, const char *job_id,
                const char *name);

/* 1 when key has the shape ht_blob_key makes, else 0. */
int ht_blob_key_valid(const char *key);

/* ---- writing ----------------------------------------------------------- */

typedef struct {
    const char *content_type;  /* NULL: HT_BLOB_CTYPE_DEFAULT; printable ASCII, < 256 bytes */
    uint64_t max_bytes;        /* 0: HT_BLOB_MAX_DEFAULT */
    int64_t expect_bytes;      /* -1: unknown; else refused at once when over max_bytes,
                                * and the commit fails unless exactly this many came */
    const char *expect_sha256; /* NULL, or the hex digest the bytes must have (HT_EDIGEST) */
} ht_blob_put_opts_t;

#define HT_BLOB_PUT_OPTS_INIT                                                                      \
    {                                                                                              \
        NULL, 0, -1, NULL                                                                          \
    }

/* Starts a new blob under key.  It becomes visible, whole, at
 * ht_blob_commit(), never before; ht_blob_writer_close() without a commit
 * leaves nothing.  A commit replaces a blob of the same key.  Returns 0,
 * HT_EINVAL, HT_ETOOBIG (expect_bytes over max_bytes) or a store error,
 * with words in ht_blob_error(b). */
int ht_blob_writer_open(ht_blob_t *b, ht_blob_writer_t **out, const char *key,
                        const ht_blob_put_opts_t *opts);

/* Appends len bytes.  Returns 0, HT_ETOOBIG past max_bytes, or a store
 * error; after an error every later call fails the same way and the writer
 * can only be closed. */
int ht_blob_write(ht_blob_writer_t *w, const void *buf, size_t len);

/* Bytes written so far. */
uint64_t ht_blob_writer_bytes(const ht_blob_writer_t *w);

/* Makes the blob visible under its key, durably (dir: file and directory
 * fsynced; s3: the service's answer).  Fills *info when not NULL.  Returns
 * 0, HT_EDIGEST, HT_EINVAL (not expect_bytes bytes), HT_ETOOBIG or a store
 * error; on failure nothing of it is visible. */
int ht_blob_commit(ht_blob_writer_t *w, ht_blob_info_t *info);

/* Words on the writer's failure; valid until it is closed. */
const char *ht_blob_writer_error(const ht_blob_writer_t *w);

/* Frees the writer; an uncommitted one is aborted first: its temporary file
 * or multipart upload is removed.  NULL is a no-op. */
void ht_blob_writer_close(ht_blob_writer_t *w);

/* Flags of ht_blob_put_file. */
#define HT_BLOB_MOVE                                                                               \
    1u /* the source file may be taken: renamed into the store when on the                         \
        * same file system (dir), else copied and left to the caller */

/* Stores the local file at path under key, as a writer would (same rules,
 * same errors; opts may be NULL).  dir: renamed into place with
 * HT_BLOB_MOVE when on the same file system, else copied; s3: read twice,
 * once for its SHA-256 and once for the upload (multipart straight from the
 * file, no part held in memory). */
int ht_blob_put_file(ht_blob_t *b, const char *key, const char *path,
                     const ht_blob_put_opts_t *opts, unsigned flags, ht_blob_info_t *info);

/* Writes into out[outlen] a new path (nothing there yet) for a file to
 * be handed to ht_blob_put_file with HT_BLOB_MOVE later: in the store's
 * tmp/ folder for dir (so the move is a rename), in tmp_dir for s3.  A file
 * left there is removed by the sweeper (ht_blob_list shows it as partial). */
int ht_blob_tmp_path(ht_blob_t *b, char *out, size_t outlen);

/* ---- reading ----------------------------------------------------------- */

int ht_blob_stat(ht_blob_t *b, const char *key, ht_blob_info_t *info);

/* Receives the bytes of a read, in order, in pieces.  Returns 0 to go on;
 * anything else stops the read, which then returns HT_ECANCELED. */
typedef int (*ht_blob_sink_fn)(void *ud, const void *buf, size_t len);

/* Streams bytes [off, off + len) of the blob to sink (fewer when the blob
 * ends first; none when off is at or past its end).  len UINT64_MAX: to the
 * end. */
int ht_blob_read(ht_blob_t *b, const char *key, uint64_t off, uint64_t len, ht_blob_sink_fn sink,
                 void *ud);

/* Reads up to len bytes at off into buf; *got says how many (0 at or past
 * the end). */
int ht_blob_pread(ht_blob_t *b, const char *key, uint64_t off, void *buf, size_t len, size_t *got);

/* dir only: the path of the blob's file (absolute), for a file sender or a
 * handler's HT_INPUT_PATH; it must not be written to.  Returns 0,
 * HT_ENOTFOUND, or HT_EINVAL for an s3 store (use ht_blob_fetch). */
int ht_blob_path(ht_blob_t *b, const char *key, char *out, size_t outlen);

/* Copies the blob into a new file named like ht_blob_tmp_path and writes
 * that name into out (the caller removes it), checking size and SHA-256
 * on the way (HT_EDIGEST).  Fills *info when not NULL. */
int ht_blob_fetch(ht_blob_t *b, const char *key, char *out, size_t outlen, ht_blob_info_t *info);

/* ---- removing ---------------------------------------------------------- */

/* Removes a blob (or a partial entry that ht_blob_list showed).  Returns 0
 * also when there was nothing. */
int ht_blob_delete(ht_blob_t *b, const char *key);

typedef struct {
    const char *key; /* valid during the callback; ht_blob_delete takes it */
    uint64_t bytes;
    int64_t mtime; /* seconds since the epoch: with time(NULL), the entry's age */
    int partial;   /* 1: not a blob but what an interrupted write left behind */
} ht_blob_entry_t;

/* Returns 0 to go on, anything else stops the listing (which returns
 * HT_ECANCELED). */
typedef int (*ht_blob_list_fn)(void *ud, const ht_blob_entry_t *e);

/* Calls fn for every blob of tenant (NULL: of every tenant, and then every
 * partial entry too), in no set order.  A blob committed or deleted during
 * the listing may or may not be seen.  The sweeper's tool: which blobs no
 * job references is the caller's to decide. */
int ht_blob_list(ht_blob_t *b, const char *tenant, ht_blob_list_fn fn, void *ud);

#endif
