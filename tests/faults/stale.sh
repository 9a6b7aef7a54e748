#!/bin/bash
# Exec handler of the fencing test: reports progress, works (attempt 1 for
# SECONDS, so that its worker can be frozen meanwhile; later attempts for
# 0.3 s; the first reports progress every 0.25 s), reports progress again and prints a result naming its attempt.
# The first attempt's worker is stopped (SIGSTOP) while it runs, so its
# later lines reach a worker that has lost the lease.
#   stale.sh LOG SECONDS
cat >/dev/null
echo "$HANGTIGHT_JOB_ID $HANGTIGHT_ATTEMPT $$" >>"$1"
echo '{"progress": 10, "message": "started"}'
if [[ "$HANGTIGHT_ATTEMPT" == 1 ]]; then
    # Progress all along: some of it waits in the pipe for the thaw.
    for ((i = 1; i <= $2 * 4; i++)); do
        sleep 0.25
        echo "{\"progress\": $((10 + i)), \"message\": \"attempt 1 working\"}"
    done
else
    sleep 0.3
fi
echo "{\"progress\": 90, \"message\": \"attempt $HANGTIGHT_ATTEMPT almost done\"}"
echo "{\"attempt\": $HANGTIGHT_ATTEMPT}"
