#!/bin/bash
# Exec handler of the fault tests: appends "<job id> <attempt> <pid>" to the
# exec log LOG (one line per execution, O_APPEND: lines never interleave),
# then works for a random 0..MS milliseconds and succeeds.
#   record.sh LOG [MS]
log=$1 ms=${2:-100}
cat >/dev/null
echo "$HANGTIGHT_JOB_ID $HANGTIGHT_ATTEMPT $$" >>"$log"
sleep "$(printf '0.%03d' $((RANDOM % ms)))"
echo '{"progress": 50, "message": "half way"}'
echo '{"ok": true}'
