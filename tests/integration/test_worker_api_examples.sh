#!/usr/bin/env bash
# The HTTP worker clients of examples/http_worker/ (docs/workers.md, "HTTP
# workers") against the real api and Redis, run the way a user runs them,
# with a worker key and no hangtight-worker at all:
#  - the Python client (2 threads) and the Node one (concurrency 2) each
#    complete jobs of their own type: results, progress steps, a fail with
#    retry false (failed, one attempt), a fail with retry true (retried until
#    its attempts are spent), a job canceled while it runs (the client hears
#    409 job-canceled from its progress call and stops: canceled), a job
#    longer than the lease (kept by the heartbeat: one attempt);
#  - kill -9 of the client that holds a job: another client of the same type
#    runs it again once the lease ran out (attempt 2, within the lease and a
#    few seconds);
#  - SIGTERM: the client ends its held claim, finishes the job in hand, and
#    exits 0.
# A client whose runtime is missing is skipped (ht_skip_part): the test then
# counts as skipped, not passed.
source "$(dirname "$0")/lib.sh"

EX=$HT_SOURCE_DIR/examples/http_worker
export PYTHONDONTWRITEBYTECODE=1
LEASE_MS=3000
export HANGTIGHT_LEASE_MS=$LEASE_MS HANGTIGHT_RETRY_BASE_MS=100
export HANGTIGHT_WORKER_KEY=etl-$(openssl rand -hex 12)
printf 'etl:%s\n' "$HANGTIGHT_WORKER_KEY" >"$HT_TMP/worker-keys"
# With any keys file every role needs its own key: the test's own curl
# calls (submits, reads, cancels) send a tenant's API key (.curlrc).
API_KEY=acme-$(openssl rand -hex 12)
printf 'acme:%s\n' "$API_KEY" >"$HT_TMP/api-keys"
printf 'header = "Authorization: Bearer %s"\n' "$API_KEY" >"$HT_TMP/.curlrc"
export CURL_HOME=$HT_TMP
ht_start_stack --workers 0 --api-args --worker-keys-file "$HT_TMP/worker-keys" \
    --api-keys-file "$HT_TMP/api-keys"
export HANGTIGHT_URL=$HT_URL

ht_node20 || true
runtimes=()
command -v python3 >/dev/null && runtimes+=(python) || ht_skip_part python "python3 is not installed"
command -v node >/dev/null && runtimes+=(node) || ht_skip_part node "node is not installed"

# start_client RUNTIME NAME TYPE: one client process, named NAME (its
# worker name and its log's), serving TYPE with 2 jobs at once.
start_client() {
    case "$1" in
    python) ht_spawn "$2" python3 "$EX/python/worker.py" --types "$3" --threads 2 --name "$2" ;;
    node) ht_spawn "$2" node "$EX/node/worker.mjs" --types "$3" --concurrency 2 --name "$2" ;;
    esac
}
# 0 once worker NAME has claimed (its record exists).
client_seen() { [[ -n "$(ht_redis --raw HGET ht:workers "http:$1")" ]]; }
# 0 once job $1 is finished with status $2.
job_ended() { ht_job_is "$1" "$2"; }
# 0 once job $1's JQ expression $2 is at least $3.
job_at_least() { (($(ht_job_field "$1" "$2") >= $3)); }

for rt in "${runtimes[@]}"; do
    type=ex.$rt
    start_client "$rt" "$rt-1" "$type"
    wait_until 30 "$rt-1 claims" client_seen "$rt-1"

    # Results, with progress steps.
    ids=()
    for i in 1 2 3 4; do
        ht_submit "{\"type\": \"$type\", \"payload\": {\"i\": $i, \"steps\": 2, \"step_s\": 0.05}}"
        ids+=("$HT_JOB")
    done
    for i in 1 2 3 4; do
        id=${ids[$((i - 1))]}
        wait_until 30 "$rt job $i succeeds" job_ended "$id" succeeded
        ht_http GET "/v1/jobs/$id"
        assert_json .result.echo.i "$i" "$rt job $i's result"
        assert_json .attempt 1 "$rt job $i's attempts"
        assert_json .progress.percent 100 "$rt job $i's last progress"
        assert_json .progress.message "step 2" "$rt job $i's progress message"
    done

    # A fail that must not be retried, and one that is.
    ht_submit "{\"type\": \"$type\", \"payload\": {\"fail\": \"bad input\", \"retry\": false}}"
    F1=$HT_JOB
    ht_submit "{\"type\": \"$type\", \"max_attempts\": 2, \"payload\": {\"fail\": \"flaky\"}}"
    F2=$HT_JOB
    wait_until 30 "$rt: the retry-false job fails" job_ended "$F1" failed
    ht_http GET "/v1/jobs/$F1"
    assert_json .attempt 1 "$rt: retry false spends no more attempts"
    assert_json .error.message "bad input"
    wait_until 30 "$rt: the retried job fails at last" job_ended "$F2" failed
    ht_http GET "/v1/jobs/$F2"
    assert_json .attempt 2 "$rt: retry true runs it again"
    assert_json .error.message flaky

    # Longer than the lease: the heartbeat keeps it (one attempt).
    ht_submit "{\"type\": \"$type\", \"payload\": {\"steps\": 1, \"step_s\": $((3 * LEASE_MS / 1000))}}"
    L=$HT_JOB
    wait_until 60 "$rt: the long job succeeds" job_ended "$L" succeeded
    assert_eq "$(ht_job_field "$L" .attempt)" 1 "$rt: the heartbeat kept the lease"

    # Canceled while it runs: the next progress call hears it.
    ht_submit "{\"type\": \"$type\", \"payload\": {\"steps\": 200, \"step_s\": 0.1}}"
    C=$HT_JOB
    wait_until 30 "$rt: the cancel's job reports progress" job_at_least "$C" '.progress.percent // 0' 1
    ht_http DELETE "/v1/jobs/$C"
    assert_status 202 "$rt: cancel of a running job"
    wait_until 30 "$rt: the running job ends canceled" job_ended "$C" canceled
    log "$rt: results, progress, fails, the heartbeat and a cancel checked"
done

# ---- kill -9 of the client holding a job ---------------------------------------------
# Two clients of one type (the first runtime there is); the holder is killed.
rt=${runtimes[0]-}
if [[ -n "$rt" ]]; then
    type=ex.kill
    start_client "$rt" k-1 "$type"
    start_client "$rt" k-2 "$type"
    wait_until 30 "k-1 claims" client_seen k-1
    wait_until 30 "k-2 claims" client_seen k-2
    ht_submit "{\"type\": \"$type\", \"payload\": {\"steps\": 4, \"step_s\": 1}}"
    K=$HT_JOB
    wait_until 30 "the kill's job runs" ht_job_is "$K" running
    holder=$(ht_job_hget "$K" worker)
    holder=${holder#http:}
    [[ "$holder" == k-1 || "$holder" == k-2 ]] || fail "the job is held by '$holder'"
    other=k-1
    [[ "$holder" == k-1 ]] && other=k-2
    killed_at=$(ht_ms)
    ht_stop "$holder" KILL
    wait_until 60 "the killed client's job runs again" job_at_least "$K" .attempt 2
    took=$(($(ht_ms) - killed_at))
    assert_eq "$(ht_job_hget "$K" worker)" "http:$other" "the other client took the job"
    log "kill -9 of $holder: attempt 2 on $other $took ms later (lease $LEASE_MS ms)"
    # The lease, the api's reaper round (1 s) and a busy machine's slack.
    ((took < LEASE_MS + 6000)) || fail "the job ran again $took ms after the kill"
    wait_until 60 "the killed client's job succeeds" job_ended "$K" succeeded
    assert_eq "$(ht_job_field "$K" .attempt)" 2 "the job's attempts"

    # ---- SIGTERM: the job in hand finishes, then the client exits 0 -------------------
    ht_submit "{\"type\": \"$type\", \"payload\": {\"steps\": 2, \"step_s\": 1}}"
    T=$HT_JOB
    wait_until 30 "the SIGTERM's job runs" ht_job_is "$T" running
    assert_eq "$(ht_job_hget "$T" worker)" "http:$other" "the survivor holds the job"
    ht_stop "$other" TERM 30
    assert_eq "$HT_EXIT" 0 "the client's exit status after SIGTERM"
    assert_eq "$(ht_job_field "$T" .status)" succeeded "the job in hand finished before the exit"
    assert_eq "$(ht_job_field "$T" .attempt)" 1 "and was not run again"
    log "SIGTERM: the job in hand finished, the client exited 0"
fi

((${#runtimes[@]})) || ht_skip "neither python3 nor node is installed"
log "HTTP worker clients: ${runtimes[*]} checked"
