--[[
Migration 0006: a data step (run once with EVAL, after 0005 loaded the
library).  Before 0005 every job belonged to tenant "default" and the
listing indexes were queue-wide; 0005 keeps them per tenant.  This moves
the old indexes of queue "default" to tenant "default":

  ht:{default}:jobs        -> ht:{default}:t:default:jobs
  ht:{default}:status:<s>  -> ht:{default}:t:default:status:<s>
  ht:{default}:expiry      -> ht:{default}:t:default:expiry
  ht:{default}:stats       -> ht:{default}:t:default:stats (what no other
                              tenant accounts for)

and records "default" in ht:{default}:tenants.  Processes of the old
version still running while this runs write the new layout already (their
calls reach the 0005 functions), so a destination that exists is merged
into, never overwritten.  Running it twice changes nothing.
Returns the number of index entries moved.
]]
local base = 'ht:{default}:'
local tb = base .. 't:default:'
local moved = 0
local names = {'jobs', 'expiry', 'status:scheduled', 'status:queued', 'status:running',
               'status:succeeded', 'status:failed', 'status:canceled'}
for _, name in ipairs(names) do
  local src, dst = base .. name, tb .. name
  if redis.call('EXISTS', src) == 1 then
    moved = moved + redis.call('ZCARD', src)
    if redis.call('EXISTS', dst) == 1 then
      redis.call('ZUNIONSTORE', dst, 2, dst, src, 'AGGREGATE', 'MAX')
      redis.call('DEL', src)
    else
      redis.call('RENAME', src, dst)
    end
  end
end
-- The queue-wide stats hash stays (the total of every tenant).  Tenant
-- "default" gets what no other tenant accounts for: set, not added, so that
-- calls counted in both hashes by 0005 before this step ran are not counted
-- twice, and running the step again changes nothing.
local others = {}
for _, t in ipairs(redis.call('SMEMBERS', base .. 'tenants')) do
  if t ~= 'default' then others[#others + 1] = base .. 't:' .. t .. ':stats' end
end
local totals = redis.call('HGETALL', base .. 'stats')
for i = 1, #totals, 2 do
  local n = tonumber(totals[i + 1]) or 0
  for _, key in ipairs(others) do
    n = n - (tonumber(redis.call('HGET', key, totals[i])) or 0)
  end
  redis.call('HSET', tb .. 'stats', totals[i], math.max(n, 0))
end
redis.call('SADD', base .. 'tenants', 'default')
return moved
