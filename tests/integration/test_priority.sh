#!/usr/bin/env bash
# Priority: a free worker always takes the highest-priority queued job
# (high, then default, then low), first in first out within one priority.
# There is no starvation protection: low jobs wait while any higher one is
# queued.  With no worker running, 3 jobs of each priority are submitted
# interleaved (low, default, high, low, ...); then ONE worker with
# --concurrency 1 runs them one at a time, so the order of their started_at
# is the order in which they were taken.
source "$(dirname "$0")/lib.sh"

ht_start_stack --workers 0

declare -A PRIO=() # id -> priority
submitted=()       # ids in submit order
for round in 1 2 3; do
    for p in low default high; do
        # A short sleep rather than echo: started_at has millisecond
        # resolution, and each job must start visibly after the last ended.
        ht_submit "{\"type\": \"sleep\", \"priority\": \"$p\", \"payload\": {\"ms\": 20, \"steps\": 1},
                    \"metadata\": {\"n\": \"$p-$round\"}}"
        assert_json .priority "$p" "priority of the submitted job"
        assert_json .status queued "status before any worker runs"
        PRIO[$HT_JOB]=$p
        submitted+=("$HT_JOB")
    done
done

# The expected order: the submit order, stably sorted by priority.
expected=()
for p in high default low; do
    for id in "${submitted[@]}"; do
        [[ "${PRIO[$id]}" == "$p" ]] && expected+=("$id")
    done
done

ht_start_worker w1 --concurrency 1

all_done() {
    local id
    for id in "${submitted[@]}"; do
        ht_job_is "$id" succeeded || return 1
    done
}
wait_until 60 "all 9 jobs succeeded" all_done

# The order in which they started, from their documents.
rows=""
for id in "${submitted[@]}"; do
    started=$(ht_job_field "$id" .started_at)
    assert_ne "$started" null "started_at of $id"
    rows+="$started $id"$'\n'
done
mapfile -t started_order < <(sort <<<"${rows%$'\n'}" | awk '{ print $2 }')
assert_eq "${#started_order[@]}" 9 "number of jobs started"

describe() {
    local id out=""
    for id in "$@"; do out+="${PRIO[$id]}:$(ht_job_field "$id" .metadata.n) "; done
    printf '%s\n' "$out"
}
[[ "${started_order[*]}" == "${expected[*]}" ]] ||
    fail "jobs started out of priority order:
  expected: $(describe "${expected[@]}")
  got:      $(describe "${started_order[@]}")"

# Strictly increasing start times: one job at a time, as the check above
# assumes (equal times would make the sort meaningless).
prev=""
for id in "${started_order[@]}"; do
    started=$(ht_job_field "$id" .started_at)
    [[ -z "$prev" || "$started" > "$prev" ]] || fail "two jobs started at $started"
    prev=$started
done
log "started in order: $(describe "${started_order[@]}")"
