#!/bin/bash
# Exec handler of the fault tests: a poison job.  Records the execution
# like record.sh, then kills the worker that runs it (its parent) with
# SIGKILL, on every attempt.
#   poison.sh LOG
cat >/dev/null
echo "$HANGTIGHT_JOB_ID $HANGTIGHT_ATTEMPT $$" >>"$1"
kill -9 "$PPID"
sleep 5 # the worker is gone; nobody reads what comes after
