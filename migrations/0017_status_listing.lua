-- runs: after-library
--[[
Data step 0017: the listing indexes of schema 17.  Below it each job was
in its tenant's ht:{Q}:t:<tenant>:jobs as well as in ...:status:<its
status>, both scored by created_at; from 17 on, listing every job merges
the status indexes and the tenant's wait lists (ht_list), and the all-jobs
index goes.  A job that a submit queued is in its wait list only, and one
queued again is in status:queued with a `qz` mark, so that its claim
removes it from there and the claim of a submitted job does no ZREM: the
jobs queued before the upgrade, all in status:queued, get the mark (a
member whose job is no longer queued, claimed by the new library before
this step marked it, or gone, leaves the index).  After the library: the
library of 17 never writes the all-jobs index, and reads the status
indexes even when a caller names it.  Running it again changes nothing.

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done).
]]
local scan = redis.call('SCAN', ARGV[1], 'MATCH', 'ht:{*}:t:*', 'COUNT', 500)
for _, key in ipairs(scan[2]) do
  if string.match(key, '^ht:{[^}]*}:t:[^:]*:jobs$') then
    redis.call('UNLINK', key)
  else
    local base = string.match(key, '^(ht:{[^}]*}:)t:[^:]*:status:queued$')
    if base and redis.call('TYPE', key).ok == 'zset' then
      for _, id in ipairs(redis.call('ZRANGE', key, 0, -1)) do
        local job = base .. 'job:' .. id
        if redis.call('HGET', job, 'status') == 'queued' then
          redis.call('HSET', job, 'qz', '1')
        else
          redis.call('ZREM', key, id)
        end
      end
    end
  end
end
return scan[1]
