/* The api's side of job files (DESIGN.md "Files", docs/files.md): the blob
 * store settings of this process, where h2o spools request bodies, and the
 * thread pool that runs every blob store call off the event loops.
 *
 * Request bodies.  libh2o 2.2.5 reads a request's whole body before the
 * handler runs (req->entity), except an HTTP/1 file submit's, which the
 * api reads from the socket itself (api/intake.h).  h2o's buffers grow by
 * doubling and, from HT_FILES_SPOOL_THRESHOLD of capacity on, live in an
 * mmap'd temporary file (h2o_socket_buffer_mmap_settings) instead of the
 * heap: ht_files_init() points that file into the spool directory, so a
 * large body h2o reads (an HTTP/2 upload) costs disk and page cache
 * (RssFile), not anonymous memory.  api/upload.c copies it from there into
 * the blob store.
 *
 * Off the loop.  Blob store calls block (shared/blob.h), so they run on
 * libuv's thread pool (uv_queue_work), which the api uses for nothing
 * else: HANGTIGHT_FILE_THREADS threads per process (UV_THREADPOOL_SIZE),
 * each with its own ht_blob_t, opened on its first job.  Work queued beyond
 * the threads waits its turn in libuv's queue.
 *
 * Without a blob store (HANGTIGHT_BLOB_STORE unset) nothing here is set
 * up: ht_files_enabled() is 0 and file submits are refused (415). */
#ifndef HT_API_FILES_H
#define HT_API_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "shared/blob.h"

/* Bodies whose buffer grows to this capacity or more go to a spool file;
 * below it they stay on the heap (a JSON submit of up to half of it). */
#define HT_FILES_SPOOL_THRESHOLD (1u << 20)

typedef struct {
    ht_blob_settings_t blob;   /* store NULL: no file jobs */
    uint64_t max_upload_bytes; /* HANGTIGHT_MAX_UPLOAD_BYTES */
    const char *spool_dir;     /* NULL: the dir: store's tmp/, else HANGTIGHT_BLOB_TMPDIR,
                                * $TMPDIR, /var/tmp */
    long threads;              /* the thread pool's size */
    long sweep_s;              /* the orphan sweep's interval (api/sweeper.h) */
    long grace_s;              /* a blob no job names is kept this long */
} ht_files_config_t;

/* Checks the settings and opens the store once (dir: makes its folders),
 * points h2o's spool files at the spool directory and sizes the thread
 * pool.  Call once, before any thread starts; `cfg` is copied (its strings
 * are borrowed and must live as long as the process).  Returns 0, or a
 * negative code with words in err. */
int ht_files_init(const ht_files_config_t *cfg, char *err, size_t errlen);

/* Closes the per-thread store handles.  Call after the server stopped. */
void ht_files_shutdown(void);

/* 1 when a blob store is configured. */
int ht_files_enabled(void);

/* The settings given to ht_files_init() (never NULL). */
const ht_files_config_t *ht_files_config(void);

/* The spool directory in use (absolute), "" without a store. */
const char *ht_files_spool_dir(void);

/* ---- off the loop -------------------------------------------------------- */

/* Runs on a pool thread with that thread's store handle. */
typedef void (*ht_files_work_fn)(ht_blob_t *b, void *data);
/* Runs afterwards on the loop that queued the work. */
typedef void (*ht_files_done_fn)(void *data);

/* Queues work(b, data) on the pool, then done(data) on `loop`.  When the
 * store cannot be opened on the pool thread, work gets b NULL.  Returns 0,
 * or a negative code (nothing queued, neither called). */
int ht_files_run(uv_loop_t *loop, ht_files_work_fn work, ht_files_done_fn done, void *data);

/* Work queued by the calling loop thread and not yet done (the shutdown
 * drain waits for 0). */
size_t ht_files_pending(void);

/* 1 once the server stops: long work (an upload's copy) gives up at its
 * next piece. */
int ht_files_stopping(void);

/* Called when the server starts stopping. */
void ht_files_stop(void);

#endif
