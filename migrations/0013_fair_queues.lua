-- runs: after-library
--[[
Data step 0013: queued jobs move from the priority lists to the wait
structure of schema 13 (shared/library.lua, "the wait structure").  Up to
schema 12 every queued id of a partition sat in one list per priority,
ht:{Q}:wait:high|default|low, newest on the left; the library of schema
13 keeps one list per priority, type and tenant, ht:{Q}:q:<prio>:<type>:
<tenant>, the rotation of tenants ht:{Q}:rr:<prio>:<type>, the order of
types ht:{Q}:rt:<prio> and the count ht:{Q}:depth, and never reads the
old lists.  It runs after the library is loaded, so nothing adds to the
old lists any more: each id is moved to the claiming end of its tenant's
list, oldest nearest to it (so the jobs that waited before the upgrade run
before those submitted since, in their old order), and the old list goes.
An id whose job is no longer queued (canceled, gone) is dropped.  Running
it again changes nothing.

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done).  A batch
moves at most MOVE_MAX ids; when a list has more, the reply is "again:"
and the cursor, to look at the same keys once more.
]]
local MOVE_MAX = 5000
local PRIO = {high = true, default = true, low = true}

-- The library's enqueue(..., head) and join(), for a job of schema 12.
local function enqueue(base, prio, jtype, tenant, id)
  local q = base .. 'q:' .. prio .. ':' .. jtype .. ':' .. tenant
  redis.call('HINCRBY', base .. 'depth', prio, 1)
  if redis.call('RPUSH', q, id) > 1 then return end
  if redis.call('SISMEMBER', base .. 'parked:' .. tenant, prio .. ':' .. jtype) == 1 then return end
  if redis.call('RPUSH', base .. 'rr:' .. prio .. ':' .. jtype, tenant) == 1 then
    redis.call('LPUSH', base .. 'rt:' .. prio, jtype)
  end
end

local cursor = ARGV[1]
local again = string.match(cursor, '^again:(%d+)$')
if again then cursor = again end
local scan = redis.call('SCAN', cursor, 'MATCH', 'ht:{*}:wait:*', 'COUNT', 100)
local moved = 0
for _, key in ipairs(scan[2]) do
  local base, prio = string.match(key, '^(ht:{[^}]*}:)wait:(%a+)$')
  if base and PRIO[prio] and redis.call('TYPE', key)['ok'] == 'list' then
    -- Newest first from the left: each one RPUSHed lands nearer the
    -- claiming end than the one before, so the oldest ends nearest.
    while moved < MOVE_MAX do
      local id = redis.call('LPOP', key)
      if not id then break end
      moved = moved + 1
      local f = redis.call('HMGET', base .. 'job:' .. id, 'status', 'type', 'tenant', 'priority')
      if f[1] == 'queued' then
        local p = PRIO[f[4]] and f[4] or 'default'
        enqueue(base, p, f[2] or '', f[3] or 'default', id)
      end
    end
  end
end
if moved >= MOVE_MAX then return 'again:' .. cursor end
return scan[1]
