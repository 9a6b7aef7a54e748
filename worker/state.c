/* The slot table and partition lookups shared by the worker's threads
 * (see state.h). */
#include "worker/state.h"

#include <string.h>

#include "shared/log.h"

const ht_keys_t *ht_wstate_keys_of(const ht_wstate_t *st, const char *id, ht_keys_t *scratch)
{
    const ht_keys_t *k = ht_parts_keys_of(&st->parts, id, scratch);
    if (!k)
        ht_log(HT_LOG_ERROR, "a job id that names no partition: left alone", "id", id, NULL);
    return k;
}

int ht_wstate_stop_attempt(ht_wstate_t *st, const char *id, uint64_t token, ht_stop_reason_t why)
{
    int found = 0;
    for (long i = 0; i < st->concurrency && !found; i++) {
        ht_slot_t *slot = &st->slots[i];
        pthread_mutex_lock(&slot->mu);
        if (slot->busy && slot->held.token == token && strcmp(slot->held.id, id) == 0) {
            ht_stop_request(&slot->stop, why);
            found = 1;
        }
        pthread_mutex_unlock(&slot->mu);
    }
    return found;
}

void ht_wstate_stop_busy(ht_wstate_t *st, ht_stop_reason_t why)
{
    for (long i = 0; i < st->concurrency; i++) {
        ht_slot_t *slot = &st->slots[i];
        pthread_mutex_lock(&slot->mu);
        if (slot->busy)
            ht_stop_request(&slot->stop, why);
        pthread_mutex_unlock(&slot->mu);
    }
}

int ht_wstate_all_exited(const ht_wstate_t *st)
{
    for (long i = 0; i < st->concurrency; i++)
        if (st->slots[i].thread.started && !atomic_load(&st->slots[i].exited))
            return 0;
    return 1;
}
