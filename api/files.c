/* The api's blob store settings, h2o's spool files and the thread pool of
 * blob store calls (see files.h). */
#include "api/files.h"

#include <errno.h>
#include <h2o.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared/error.h"
#include "shared/log.h"

static ht_files_config_t config;
static int enabled;
static char spool_dir[PATH_MAX];
static atomic_int stopping;

/* ---- per pool thread store handles ------------------------------------- */

/* Every handle a pool thread opened, so that ht_files_shutdown() can close
 * them (libuv's pool threads outlive the server).  A thread finds its own
 * through thread-local storage, checked against the generation so that a
 * handle closed by a shutdown is never used again. */
typedef struct handle {
    ht_blob_t *b;
    struct handle *next;
} handle_t;

static pthread_mutex_t handles_mu = PTHREAD_MUTEX_INITIALIZER;
static handle_t *handles;
static unsigned generation = 1;
static __thread ht_blob_t *my_blob;
static __thread unsigned my_generation;

static ht_blob_t *thread_blob(void)
{
    pthread_mutex_lock(&handles_mu);
    unsigned gen = generation;
    pthread_mutex_unlock(&handles_mu);
    if (my_blob && my_generation == gen)
        return my_blob;
    my_blob = NULL;
    char err[256];
    ht_blob_t *b = NULL;
    handle_t *h = malloc(sizeof(*h));
    if (!h || ht_blob_open(&b, &config.blob, err, sizeof(err)) < 0) {
        free(h);
        ht_log(HT_LOG_ERROR, "cannot open the blob store", "detail", h ? err : "out of memory",
               NULL);
        return NULL;
    }
    pthread_mutex_lock(&handles_mu);
    h->b = b;
    h->next = handles;
    handles = h;
    my_generation = generation;
    pthread_mutex_unlock(&handles_mu);
    my_blob = b;
    return b;
}

/* ---- settings ------------------------------------------------------------ */

/* The spool directory: given, else the dir: store's own tmp/ (the same
 * file system as the blobs), else a disk-backed temporary directory. */
static int choose_spool(const ht_files_config_t *cfg, char *err, size_t errlen)
{
    const char *dir = cfg->spool_dir;
    char buf[PATH_MAX];
    if (!dir || !dir[0]) {
        const char *store = cfg->blob.store;
        if (strncmp(store, "dir:", 4) == 0) {
            snprintf(buf, sizeof(buf), "%s/tmp", store + 4);
            dir = buf;
        } else if (cfg->blob.tmp_dir && cfg->blob.tmp_dir[0]) {
            dir = cfg->blob.tmp_dir;
        } else if (getenv("TMPDIR") && getenv("TMPDIR")[0]) {
            dir = getenv("TMPDIR");
        } else {
            dir = "/var/tmp"; /* a disk on most systems, where /tmp may be tmpfs */
        }
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return ht_errorf(err, errlen, -errno, "upload spool directory %s: %s", dir,
                         strerror(errno));
    if (!realpath(dir, spool_dir))
        return ht_errorf(err, errlen, -errno, "upload spool directory %s: %s", dir,
                         strerror(errno));
    if (access(spool_dir, W_OK) < 0)
        return ht_errorf(err, errlen, -errno, "upload spool directory %s: %s", spool_dir,
                         strerror(errno));
    char *tmpl = h2o_socket_buffer_mmap_settings.fn_template;
    size_t room = sizeof(h2o_socket_buffer_mmap_settings.fn_template);
    if ((size_t)snprintf(tmpl, room, "%s/h2o.b.XXXXXX", spool_dir) >= room)
        return ht_errorf(err, errlen, HT_EINVAL, "upload spool directory %s: path too long",
                         spool_dir);
    return 0;
}

int ht_files_init(const ht_files_config_t *cfg, char *err, size_t errlen)
{
    config = *cfg;
    enabled = cfg->blob.store && cfg->blob.store[0];
    spool_dir[0] = '\0';
    if (!enabled)
        return 0;
    /* Open once here: bad settings stop the start, and dir: makes its
     * folders before the spool goes into one of them. */
    ht_blob_t *b;
    int rc = ht_blob_open(&b, &cfg->blob, err, errlen);
    if (rc < 0)
        return rc;
    ht_blob_close(b);
    if ((rc = choose_spool(cfg, err, errlen)) < 0)
        return rc;
    h2o_socket_buffer_mmap_settings.threshold = HT_FILES_SPOOL_THRESHOLD;
    /* libuv sizes its pool once, at the first uv_queue_work: no thread
     * has started yet, so the environment is still ours to set. */
    char n[16];
    snprintf(n, sizeof(n), "%ld", cfg->threads);
    setenv("UV_THREADPOOL_SIZE", n, 1);
    return 0;
}

void ht_files_shutdown(void)
{
    pthread_mutex_lock(&handles_mu);
    handle_t *h = handles;
    handles = NULL;
    generation++;
    pthread_mutex_unlock(&handles_mu);
    while (h) {
        handle_t *next = h->next;
        ht_blob_close(h->b);
        free(h);
        h = next;
    }
}

int ht_files_enabled(void)
{
    return enabled;
}

const ht_files_config_t *ht_files_config(void)
{
    return &config;
}

const char *ht_files_spool_dir(void)
{
    return spool_dir;
}

/* ---- off the loop -------------------------------------------------------- */

typedef struct {
    uv_work_t req;
    ht_files_work_fn work;
    ht_files_done_fn done;
    void *data;
} job_t;

/* Work queued by this loop thread and not done yet. */
static __thread size_t pending;

static void on_work(uv_work_t *req)
{
    job_t *j = req->data;
    j->work(thread_blob(), j->data);
}

static void on_done(uv_work_t *req, int status)
{
    job_t *j = req->data;
    (void)status; /* never canceled: uv_cancel is not used */
    pending--;
    j->done(j->data);
    free(j);
}

int ht_files_run(uv_loop_t *loop, ht_files_work_fn work, ht_files_done_fn done, void *data)
{
    job_t *j = malloc(sizeof(*j));
    if (!j)
        return HT_ENOMEM;
    j->req.data = j;
    j->work = work;
    j->done = done;
    j->data = data;
    int rc = uv_queue_work(loop, &j->req, on_work, on_done);
    if (rc < 0) {
        free(j);
        return rc;
    }
    pending++;
    return 0;
}

size_t ht_files_pending(void)
{
    return pending;
}

int ht_files_stopping(void)
{
    return atomic_load(&stopping);
}

void ht_files_stop(void)
{
    atomic_store(&stopping, 1);
}
