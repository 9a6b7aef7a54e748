#!/bin/bash
# Exec handler of the tests: a job that changes only when the test says.
# The payload names a directory: each file DIR/N the test creates (N = 1,
# 2, ... in order) makes the job report progress N, DIR/done makes it
# succeed.  The test can wait for each step where it looks (the event log,
# a stream) before it asks for the next.
#   stdin: {"dir": DIR}
dir=$(jq -r .dir)
n=1
while :; do
    if [[ -e "$dir/$n" ]]; then
        echo "{\"progress\": $n, \"message\": \"step $n\"}"
        n=$((n + 1))
    elif [[ -e "$dir/done" ]]; then
        echo "{\"steps\": $((n - 1))}"
        exit 0
    else
        sleep 0.05
    fi
done
