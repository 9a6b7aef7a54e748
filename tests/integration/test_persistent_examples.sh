#!/usr/bin/env bash
# The persistent handler runners of examples/handlers/ (Python, Node, Go:
# the Go one built with `go build`) against the real worker: each one's
# result, progress, and errors with retry false (one attempt) and true
# (every attempt used), many jobs on the same few processes; and the clean
# environment of handler children in both modes (persistent and exec per
# job): the base set, "env" and "env_pass", never the worker's own
# settings or secrets.
source "$(dirname "$0")/lib.sh"

EX=$HT_SOURCE_DIR/examples/handlers
FAULTS=$HT_SOURCE_DIR/tests/faults
export HANGTIGHT_RETRY_BASE_MS=100

# A missing runtime skips its example, except in CI (scripts/deps.sh
# --test installs Node and Go): there a skip is a failure.
skip() {
    [[ "${CI:-}" != true ]] || fail "$1 skipped in CI: $2"
    log "SKIP $1: $2"
}
langs=(py)
if command -v node >/dev/null; then langs+=(js); else skip node "node is not installed"; fi
if command -v go >/dev/null; then
    export GOCACHE=$HT_BUILD_DIR/go/cache GOPATH=$HT_BUILD_DIR/go/path GOTOOLCHAIN=local
    go build -o "$HT_TMP/go-handler" "$EX/go/main.go" >"$HT_TMP/go-build.log" 2>&1 ||
        fail "go build of the Go runner: $(cat "$HT_TMP/go-build.log")"
    langs+=(go)
else
    skip go "go is not installed (apt-get install golang-go; scripts/deps.sh --test does)"
fi

# An exec handler (a process per job) that answers its environment.
cat >"$HT_TMP/env_probe.py" <<'PY'
import json, os, sys
sys.stdin.read()
print(json.dumps({"env": dict(os.environ)}))
PY
cat >"$HT_TMP/handlers.json" <<JSON
{"handlers": {
  "py.echo":  {"command": ["python3", "$EX/python/handler.py"], "mode": "persistent", "processes": 2},
  "js.echo":  {"command": ["node", "$EX/node/handler.mjs"], "mode": "persistent", "processes": 2},
  "go.echo":  {"command": ["$HT_TMP/go-handler"], "mode": "persistent", "processes": 2},
  "env.persistent": {"command": ["python3", "$FAULTS/persistent.py"], "mode": "persistent",
                     "processes": 1, "env": {"MODEL_DIR": "/models", "TZ": "UTC"},
                     "env_pass": ["AWS_PROFILE", "NOT_SET_HERE"]},
  "env.exec": {"command": ["python3", "$HT_TMP/env_probe.py"],
               "env": {"MODEL_DIR": "/models", "TZ": "UTC"}, "env_pass": ["AWS_PROFILE"]}
}}
JSON
[[ -x "$HT_TMP/go-handler" ]] || printf '#!/bin/sh\nexit 1\n' >"$HT_TMP/go-handler" && chmod +x "$HT_TMP/go-handler"
export HANGTIGHT_HANDLERS=$HT_TMP/handlers.json
# What the worker has and its children must not: its settings (the Redis
# URL with its password, the webhook secret), and any other variable.
export HANGTIGHT_WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
export SECRET_TOKEN=do-not-leak AWS_PROFILE=prod-profile TZ=Europe/Paris

ht_start_redis
ht_migrate
ht_start_api
ht_start_worker w1 --concurrency 4

done_job() {
    ht_submit "$1"
    wait_until 30 "job $HT_JOB ($1) is $2" ht_job_is "$HT_JOB" "$2"
}

for lang in "${langs[@]}"; do
    t=$lang.echo
    log "$t"
    # Result and progress.
    done_job "{\"type\": \"$t\", \"payload\": {\"steps\": 4, \"s\": \"ß<&>\", \"n\": 2.5}}" succeeded
    assert_jq '.result.echo == {"steps": 4, "s": "ß<&>", "n": 2.5}' "$t: the payload came back"
    assert_json .result.attempt 1 "$t: attempt"
    assert_json .progress.percent 100 "$t: the last progress"
    assert_json .progress.message "step 4" "$t: the last progress message"
    first_pid=$(ht_json .result.pid)
    # An error with retry false: one attempt.
    done_job "{\"type\": \"$t\", \"payload\": {\"fail\": \"bad input\", \"retry\": false}, \"max_attempts\": 3}" failed
    assert_json .attempt 1 "$t: retry false spends no more attempts"
    assert_json .error.code handler_error "$t: error code"
    assert_json .error.message "bad input" "$t: error message"
    # An error with retry true: every attempt.
    done_job "{\"type\": \"$t\", \"payload\": {\"fail\": \"try later\"}, \"max_attempts\": 2}" failed
    assert_json .attempt 2 "$t: retried"
    assert_json .error.message "try later" "$t: error message"
    # Many jobs, the same processes: no process per job.
    ids=()
    for i in $(seq 1 20); do
        ht_submit "{\"type\": \"$t\", \"payload\": {\"i\": $i}}"
        ids+=("$HT_JOB")
    done
    pids=()
    for id in "${ids[@]}"; do
        wait_until 30 "$t job $id succeeds" ht_job_is "$id" succeeded
        pids+=("$(ht_json .result.pid)")
    done
    distinct=$(printf '%s\n' "${pids[@]}" "$first_pid" | sort -u | wc -l)
    ((distinct <= 2)) || fail "$t: 21 jobs ran on $distinct processes (2 configured): ${pids[*]}"
done

# ---- the clean environment, in both modes ---------------------------------
check_env() {
    local what=$1 expr=$2
    local keys
    keys=$(jq -r "$expr | keys[]" <<<"$HTTP_BODY" | sort | tr '\n' ' ')
    log "$what sees: $keys"
    jq -e "$expr | .MODEL_DIR == \"/models\" and .TZ == \"UTC\" and .AWS_PROFILE == \"prod-profile\"
        and (.PATH | length > 0)" <<<"$HTTP_BODY" >/dev/null ||
        fail "$what: env, env_pass or the base set missing: $keys"
    local k
    for k in $keys; do
        case "$k" in
        PATH | HOME | LANG | LC_* | TZ | TMPDIR | MODEL_DIR | AWS_PROFILE) ;;
        HANGTIGHT_JOB_ID | HANGTIGHT_ATTEMPT | HANGTIGHT_JOB_TYPE)
            [[ "$what" == exec ]] || fail "$what: $k is for exec children only" ;;
        *) fail "$what: the child sees $k, which is not in the documented set" ;;
        esac
    done
}
done_job '{"type": "env.persistent", "payload": {"do": "env"}}' succeeded
check_env persistent .result
done_job '{"type": "env.exec"}' succeeded
check_env exec .result.env
assert_json .result.env.HANGTIGHT_JOB_ID "$HT_JOB" "exec: the job's id"
assert_json .result.env.HANGTIGHT_ATTEMPT 1 "exec: the attempt"
assert_json .result.env.HANGTIGHT_JOB_TYPE env.exec "exec: the type"
grep -F '"env_pass names a variable the worker does not have"' "${HT_LOGS[w1]}" |
    grep -cF NOT_SET_HERE >/dev/null || fail "no warning for an env_pass name the worker lacks"
