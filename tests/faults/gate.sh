#!/bin/bash
# Exec handler of the tests: runs until the test opens the gate (creates the
# file GATE), then reports progress and succeeds.  A job of this type is
# running for as long as the test needs, so the test can wait for "running"
# and act meanwhile without racing the job's end.
#   gate.sh GATE
cat >/dev/null
until [[ -e "$1" ]]; do sleep 0.05; done
echo '{"progress": 100, "message": "gate opened"}'
echo '{"gate": "opened"}'
