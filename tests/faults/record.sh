#!/bin/bash
# Exec handler of the fault tests: appends "<job id> <attempt> <pid>" to the
# exec log LOG (one line per execution, O_APPEND: lines never interleave),
# then works for MIN_MS plus a random 0..MS milliseconds and succeeds.
#   record.sh LOG [MS [MIN_MS]]
log=$1 ms=${2:-100} min=${3:-0}
cat >/dev/null
echo "$HANGTIGHT_JOB_ID $HANGTIGHT_ATTEMPT $$" >>"$log"
t=$((min + RANDOM % ms))
sleep "$(printf '%d.%03d' $((t / 1000)) $((t % 1000)))"
echo '{"progress": 50, "message": "half way"}'
echo '{"ok": true}'
