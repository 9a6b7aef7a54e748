-- runs: after-library
--[[
Data step 0014: event logs belong to watched jobs.  Below schema 14 every
change of a job was logged; from 14 on, only the changes made while some
request watches the job (its `watch` field, a time in ms), and a change
made while nobody watches drops the log, if the job has a `watch` field.
A log written before the upgrade has no such field beside it: each such
job gets a lapsed mark ('0'), so that its next unwatched change drops the
log (which would otherwise stay, and never expire if the job is
unfinished).  A log whose job is gone goes.  Jobs whose log the new library
already wrote keep their mark.  Running it again changes nothing.

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done).
]]
local scan = redis.call('SCAN', ARGV[1], 'MATCH', 'ht:{*}:job:*:ev', 'COUNT', 500)
for _, key in ipairs(scan[2]) do
  local job = string.match(key, '^(ht:{[^}]*}:job:[^:]+):ev$')
  if job then
    if redis.call('EXISTS', job) == 0 then
      redis.call('DEL', key)
    else
      redis.call('HSETNX', job, 'watch', '0')
    end
  end
end
return scan[1]
