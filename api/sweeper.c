/* The blob sweeper thread (see sweeper.h). */
#include "api/sweeper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/bgthread.h"
#include "shared/blob.h"
#include "shared/clock.h"
#include "shared/error.h"
#include "shared/id.h"
#include "shared/job.h"
#include "shared/log.h"
#include "shared/store.h"

#include "api/files.h"

#define DRAIN_EVERY_MS   1000
#define DRAIN_BATCH      100 /* keys per LPOP */
#define SWEEP_BATCH      256 /* candidates checked against Redis at once */
#define REDIS_TIMEOUT_MS 2000

static struct {
    ht_bgthread_t thread;
    const ht_redis_url_t *url;
    const ht_parts_t *parts;
} sw = {.thread = HT_BGTHREAD_INIT};

static int stopping(void)
{
    return ht_bgthread_stopping(&sw.thread);
}

/* ---- the gone lists -------------------------------------------------------- */

/* Deletes the blobs of expired jobs that ht_trim listed.  Returns the
 * number of keys taken, or a negative code (Redis). */
static int drain(ht_store_t *st, ht_blob_t *b)
{
    int total = 0;
    for (size_t i = 0; i < sw.parts->count && !stopping(); i++) {
        char **keys;
        size_t n;
        int rc = ht_store_blobs_gone(st, &sw.parts->parts[i].keys, DRAIN_BATCH, &keys, &n);
        if (rc < 0)
            return rc;
        for (size_t j = 0; j < n; j++) {
            /* A key that fails stays an orphan for the sweep to find. */
            if (ht_blob_key_valid(keys[j]) && ht_blob_delete(b, keys[j]) < 0)
                ht_log(HT_LOG_WARN, "cannot delete an expired job's file (the sweep will)", "key",
                       keys[j], "detail", ht_blob_error(b), NULL);
        }
        total += (int)n;
        ht_store_strings_free(keys);
    }
    return total;
}

/* ---- the sweep ------------------------------------------------------------- */

typedef struct {
    ht_store_t *st;
    ht_blob_t *lister; /* the listing's handle: a delete must not reuse it mid-listing */
    ht_blob_t *b;
    int64_t now_s;
    long grace_s;
    char keys[SWEEP_BATCH][HT_BLOB_KEY_MAX];
    size_t n;
    long looked, deleted;
    int err; /* Redis failed: stop the sweep */
} sweep_t;

/* "<tenant>/<id>/<name>" -> the key of the job's hash; 0 or HT_EINVAL
 * (not a job's blob: left alone). */
static int job_key_of(const char *blob, char out[HT_KEY_MAX])
{
    const char *a = strchr(blob, '/'), *z = a ? strchr(a + 1, '/') : NULL;
    if (!a || !z || (size_t)(z - a - 1) != HT_ID_LEN)
        return HT_EINVAL;
    char id[HT_ID_LEN + 1];
    memcpy(id, a + 1, HT_ID_LEN);
    id[HT_ID_LEN] = '\0';
    return ht_parts_job_key(sw.parts, id, out);
}

/* Deletes each collected blob whose job is gone. */
static void check_batch(sweep_t *w)
{
    for (size_t i = 0; i < w->n && !w->err; i++) {
        char jobkey[HT_KEY_MAX];
        if (job_key_of(w->keys[i], jobkey) < 0)
            continue;
        int rc = ht_store_exists(w->st, jobkey);
        if (rc < 0) {
            w->err = rc;
            break;
        }
        if (rc == 1)
            continue;
        if (ht_blob_delete(w->b, w->keys[i]) < 0) {
            ht_log(HT_LOG_WARN, "cannot delete a file no job names", "key", w->keys[i], "detail",
                   ht_blob_error(w->b), NULL);
            continue;
        }
        w->deleted++;
        ht_log(HT_LOG_INFO, "deleted a file no job names", "key", w->keys[i], NULL);
    }
    w->n = 0;
}

static int on_entry(void *ud, const ht_blob_entry_t *e)
{
    sweep_t *w = ud;
    if (stopping() || w->err)
        return 1;
    w->looked++;
    int64_t age = w->now_s - e->mtime;
    if (e->partial) {
        /* A write under way moves its mtime; a handler may compute for the
         * longest attempt before it writes a byte. */
        if (age > w->grace_s + HT_TIMEOUT_S_MAX) {
            if (ht_blob_delete(w->b, e->key) == 0) {
                w->deleted++;
                ht_log(HT_LOG_INFO, "deleted an interrupted write", "key", e->key, NULL);
            }
        }
        return 0;
    }
    if (age <= w->grace_s)
        return 0;
    snprintf(w->keys[w->n++], HT_BLOB_KEY_MAX, "%s", e->key);
    if (w->n == SWEEP_BATCH)
        check_batch(w);
    return 0;
}

static void sweep(ht_store_t *st, ht_blob_t *lister, ht_blob_t *b)
{
    const ht_files_config_t *cfg = ht_files_config();
    char owner[64];
    snprintf(owner, sizeof(owner), "pid %ld", (long)getpid());
    int rc = ht_store_take_lease(st, HT_KEY_BLOB_SWEEP, owner, cfg->sweep_s);
    if (rc <= 0)
        return; /* another api sweeps (or Redis is away: next time) */
    sweep_t *w = calloc(1, sizeof(*w));
    if (!w)
        return;
    *w =
        (sweep_t){.st = st, .lister = lister, .b = b, .now_s = time(NULL), .grace_s = cfg->grace_s};
    rc = ht_blob_list(lister, NULL, on_entry, w);
    if (w->n && !w->err && !stopping())
        check_batch(w);
    if (rc < 0 && rc != HT_ECANCELED)
        ht_log(HT_LOG_WARN, "cannot list the blob store", "detail", ht_blob_error(lister), NULL);
    if (w->err)
        ht_log(HT_LOG_WARN, "blob sweep cut short", "detail", ht_store_errstr(st), NULL);
    char looked[24], deleted[24];
    snprintf(looked, sizeof(looked), "%ld", w->looked);
    snprintf(deleted, sizeof(deleted), "%ld", w->deleted);
    ht_log(HT_LOG_DEBUG, "blob sweep", "blobs", looked, "deleted", deleted, NULL);
    free(w);
}

/* ---- the thread ------------------------------------------------------------ */

static void *sweeper_main(void *arg)
{
    (void)arg;
    const ht_files_config_t *cfg = ht_files_config();
    ht_store_t *st = NULL;
    ht_blob_t *b = NULL, *lister = NULL;
    char err[256];
    if (ht_blob_open(&b, &cfg->blob, err, sizeof(err)) < 0 ||
        ht_blob_open(&lister, &cfg->blob, err, sizeof(err)) < 0) {
        ht_log(HT_LOG_ERROR, "blob sweeper: cannot open the blob store", "detail", err, NULL);
        ht_blob_close(b);
        ht_blob_close(lister);
        return NULL;
    }
    int64_t next_sweep = ht_now_ms() + cfg->sweep_s * 1000L;
    while (!ht_bgthread_nap(&sw.thread, DRAIN_EVERY_MS)) {
        int rc = st ? 0 : ht_store_open(&st, sw.url, REDIS_TIMEOUT_MS);
        if (rc == 0 && (rc = drain(st, b)) >= 0 && ht_now_ms() >= next_sweep) {
            sweep(st, lister, b);
            next_sweep = ht_now_ms() + cfg->sweep_s * 1000L;
        }
        if (rc < 0) { /* a new connection next time */
            ht_log(HT_LOG_DEBUG, "blob sweeper: redis unavailable", "detail",
                   st ? ht_store_errstr(st) : ht_strerror(rc), NULL);
            ht_store_close(st);
            st = NULL;
        }
    }
    ht_store_close(st);
    ht_blob_close(b);
    ht_blob_close(lister);
    return NULL;
}

void ht_sweeper_start(const ht_redis_url_t *url, const ht_parts_t *parts)
{
    if (!ht_files_enabled())
        return;
    sw.url = url;
    sw.parts = parts;
    if (ht_bgthread_start(&sw.thread, sweeper_main, NULL) < 0)
        ht_log(HT_LOG_WARN, "no blob sweeper (no thread): expired jobs' files stay", NULL);
}

void ht_sweeper_stop(void)
{
    ht_bgthread_stop(&sw.thread);
}
