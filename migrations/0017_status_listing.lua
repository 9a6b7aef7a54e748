-- runs: after-library
--[[
Data step 0017: no index of every job.  Below schema 17 each job was in
its tenant's ht:{Q}:t:<tenant>:jobs as well as in ...:status:<its status>,
both scored by created_at; from 17 on, listing every job merges the status
indexes (ht_list), and the all-jobs index goes.  After the library: the
library of 17 never writes it, and reads the status indexes even when a
caller names it.  Running it again changes nothing.

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done).
]]
local scan = redis.call('SCAN', ARGV[1], 'MATCH', 'ht:{*}:t:*:jobs', 'COUNT', 500)
for _, key in ipairs(scan[2]) do
  if string.match(key, '^ht:{[^}]*}:t:[^:]*:jobs$') then redis.call('UNLINK', key) end
end
return scan[1]
