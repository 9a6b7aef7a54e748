-- runs: before-library
--[[
Data step 0008: jobs that started before the keyspace kept metrics get
their mark.  The library observes a job's wait (from due to first start) on
the claim that finds no m_started field in its hash, and sets the field
then; schemas below 5 never set it, and a keyspace upgraded from one may
still hold such a job (running, or queued again for another attempt), whose
next attempt would be observed as a wait since created_at.  Every job hash
with a started_at and no m_started gets m_started 1.  Run before the
library is loaded, so that its first claim finds the marks.

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done).
]]
local scan = redis.call('SCAN', ARGV[1], 'MATCH', 'ht:{*}:job:*', 'COUNT', 500, 'TYPE', 'hash')
for _, key in ipairs(scan[2]) do
  if string.match(key, '^ht:{[^}]*}:job:[^:]+$') then
    local f = redis.call('HMGET', key, 'started_at', 'm_started')
    if f[1] and not f[2] then redis.call('HSET', key, 'm_started', '1') end
  end
end
return scan[1]
