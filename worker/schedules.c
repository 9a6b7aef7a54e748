/* Firing recurring schedules: read the runs that have come (ht_sched_due),
 * decide in C what each one does (shared/schedule.c: cron, time zone,
 * catch-up), fire it (ht_sched_fire, a compare-and-set on the run read).
 * Called from the lease thread; times are Redis' clock throughout. */
#include "worker/schedules.h"

#include <stdio.h>

#include "shared/error.h"
#include "shared/id.h"
#include "shared/log.h"
#include "shared/schedule.h"

#define DUE_LIMIT 50
/* How often to look when nothing is due sooner, and never more often. */
#define EVERY_MS 250
#define MIN_MS   20
/* Passes over one partition per call: a backlog (a run found late whose
 * next run is due too) is worked off over a few calls. */
#define ROUNDS 20

/* Fires one due run.  Returns the run stored next (0: none), or -1 when
 * this worker did not fire it. */
static int64_t fire_one(ht_store_t *store, const ht_part_t *part, const ht_sched_due_t *d,
                        int64_t now)
{
    char why[256] = "";
    ht_schedule_when_t w;
    ht_schedule_plan_t plan = {0, 0};
    const char *problem = NULL;
    if (ht_schedule_when_parse(&w, d->cron, d->every_s, d->anchor, d->tz, d->seconds, d->catch_up,
                               why, sizeof(why)) < 0 ||
        ht_schedule_plan(&w, d->due_ms, now, &plan, why, sizeof(why)) < 0) {
        /* Cannot happen to a schedule the api accepted, unless the tz
         * database lost a zone: it stops, saying why. */
        problem = why;
        plan.tick_ms = plan.next_ms = 0;
    }
    char job_id[HT_ID_LEN + 1];
    int rc = ht_id_new_in(job_id, part->index, part->n);
    if (rc < 0) {
        ht_log(HT_LOG_ERROR, "cannot make a job id", "error", ht_strerror(rc), NULL);
        return -1;
    }
    int made = 0;
    char refusal[256];
    rc = ht_store_sched_fire(store, &part->keys, d->id, d->due_ms, plan.tick_ms, plan.next_ms,
                             job_id, problem, &made, refusal);
    if (rc < 0) {
        ht_log(HT_LOG_WARN, "schedule not fired", "schedule", d->id, "error",
               ht_store_errstr(store), NULL);
        return -1;
    }
    if (rc == 0)
        return -1; /* another worker fired it first, or it was paused or deleted */
    if (problem)
        ht_log(HT_LOG_ERROR, "schedule stopped: it cannot be computed", "schedule", d->id, "detail",
               problem, NULL);
    else if (plan.tick_ms > 0 && !made)
        ht_log(HT_LOG_WARN, "schedule run made no job: the submit was refused", "schedule", d->id,
               "detail", refusal, NULL);
    else if (made)
        ht_log(HT_LOG_DEBUG, "schedule fired", "schedule", d->id, "job", job_id, NULL);
    else
        ht_log(HT_LOG_INFO, "schedule runs missed (catch_up none): no job", "schedule", d->id,
               NULL);
    return plan.next_ms;
}

/* Works off one partition.  *next_due: the earliest run still to come
 * (Redis ms, -1 when none), *now its clock. */
static void fire_partition(ht_store_t *store, const ht_part_t *part, long long *next_due,
                           long long *now)
{
    ht_sched_due_t due[DUE_LIMIT];
    for (int round = 0; round < ROUNDS; round++) {
        long long later = -1;
        int n = ht_store_sched_due(store, &part->keys, DUE_LIMIT, due, now, &later);
        if (n < 0) {
            /* Redis trouble is reported by the renewals and the slots. */
            ht_log(HT_LOG_DEBUG, "reading due schedules failed", "error", ht_store_errstr(store),
                   NULL);
            return;
        }
        int again = n == DUE_LIMIT;
        for (int i = 0; i < n; i++) {
            int64_t next = fire_one(store, part, &due[i], *now);
            if (next > 0 && next <= *now)
                again = 1; /* its next run has come too */
            if (next > *now && (later < 0 || next < later))
                later = next;
        }
        if (later >= 0 && (*next_due < 0 || later < *next_due))
            *next_due = later;
        if (!again)
            return;
    }
}

int64_t ht_schedules_fire(ht_store_t *store, const ht_parts_t *parts)
{
    long long next_due = -1, now = 0;
    for (size_t i = 0; i < parts->count; i++)
        fire_partition(store, &parts->parts[i], &next_due, &now);
    if (next_due < 0 || now <= 0)
        return EVERY_MS;
    long long wait = next_due - now;
    return wait < MIN_MS ? MIN_MS : wait > EVERY_MS ? EVERY_MS : wait;
}
