/* The blob sweeper: job files go when their jobs go (DESIGN.md "Files",
 * docs/files.md "Lifetime").  Redis expires a finished job's hash by
 * itself, but it cannot delete files, so every api process runs one
 * sweeper thread, with its own blocking Redis connection and blob store
 * handle, away from the event loops:
 *
 *   - about every second it drains the gone lists: ht_trim (run by the
 *     workers about once a second) puts there the blob keys of each expired
 *     job that had files; LPOP makes each key one sweeper's to delete;
 *   - every HANGTIGHT_BLOB_SWEEP_S the api that takes the sweep lease
 *     (HT_KEY_BLOB_SWEEP, SET NX EX) lists the whole store and deletes what
 *     no job names: a blob older than HANGTIGHT_BLOB_GRACE_S whose job's
 *     hash is gone (a crash between storing a file and creating its job, a
 *     gone list entry lost with a crash), and a partial entry (an
 *     interrupted write, docs/blobs.md) older than the grace plus the
 *     longest attempt a job may run (HT_TIMEOUT_S_MAX).
 *
 * No process is special: any api may drain or sweep, the lease keeps the
 * sweeps from piling up, and a sweeper that dies mid-sweep is replaced at
 * the next interval.  Cost: draining is one LPOP per partition a second
 * plus one delete per file; a sweep lists every blob once and asks Redis
 * one EXISTS per blob older than the grace. */
#ifndef HT_API_SWEEPER_H
#define HT_API_SWEEPER_H

#include "shared/partition.h"
#include "shared/redis_url.h"

/* Starts the thread (nothing without a blob store: ht_files_enabled()).
 * `url` and `parts` are borrowed and must outlive ht_sweeper_stop(). */
void ht_sweeper_start(const ht_redis_url_t *url, const ht_parts_t *parts);

/* Stops and joins the thread (a delete under way finishes first). */
void ht_sweeper_stop(void);

#endif
