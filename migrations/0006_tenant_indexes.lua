-- runs: after-library
--[[
Data step 0006: every job in its tenant's listing indexes.  Below schema 5
the listing indexes and totals were queue-wide (ht:{Q}:jobs,
ht:{Q}:status:<s>, ht:{Q}:expiry, ht:{Q}:stats; schemas 3 and 4), or there
were none (schemas 1 and 2), and every job belonged to tenant "default".
For each job hash ht:{Q}:job:<id> this adds the id to its tenant's
ht:{Q}:t:<tenant>:jobs and ...:status:<its status> (scored by created_at,
as a submit does) and, when it is finished and has a TTL, to ...:expiry
(scored by when it expires), and records the tenant in ht:{Q}:tenants.
The queue-wide indexes are then redundant and go.  The queue-wide totals
become tenant "default"'s: what no other tenant's totals account for (a
schema 5 keyspace counted every event in both), set rather than added, and
the queue-wide hash goes in the same call, so that the step is done once.
Ids already indexed stay as they are (ZADD NX): running it again changes
nothing.

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done).
]]
local STATUSES = {scheduled = true, queued = true, running = true, succeeded = true,
                  failed = true, canceled = true}
local FINISHED = {succeeded = true, failed = true, canceled = true}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function index_job(base, id, key)
  local f = redis.call('HMGET', key, 'tenant', 'status', 'created_at')
  local tenant, status, created = f[1] or 'default', f[2], tonumber(f[3])
  if not (status and STATUSES[status] and created) then return end
  local tb = base .. 't:' .. tenant .. ':'
  redis.call('ZADD', tb .. 'jobs', 'NX', created, id)
  redis.call('ZADD', tb .. 'status:' .. status, 'NX', created, id)
  redis.call('SADD', base .. 'tenants', tenant)
  if FINISHED[status] then
    local ttl = redis.call('PTTL', key)
    if ttl > 0 then redis.call('ZADD', tb .. 'expiry', 'NX', now + ttl, id) end
  end
end

local function fold_totals(base, key)
  local others = {}
  for _, tenant in ipairs(redis.call('SMEMBERS', base .. 'tenants')) do
    if tenant ~= 'default' then others[#others + 1] = base .. 't:' .. tenant .. ':stats' end
  end
  local totals = redis.call('HGETALL', key)
  for i = 1, #totals, 2 do
    local n = tonumber(totals[i + 1]) or 0
    for _, other in ipairs(others) do
      n = n - (tonumber(redis.call('HGET', other, totals[i])) or 0)
    end
    redis.call('HSET', base .. 't:default:stats', totals[i], string.format('%d', math.max(n, 0)))
  end
  redis.call('SADD', base .. 'tenants', 'default')
  redis.call('DEL', key)
end

local scan = redis.call('SCAN', ARGV[1], 'MATCH', 'ht:{*', 'COUNT', 500)
for _, key in ipairs(scan[2]) do
  local base, id = string.match(key, '^(ht:{[^}]*}:)job:([^:]+)$')
  if base then
    index_job(base, id, key)
  else
    base = string.match(key, '^(ht:{[^}]*}:)stats$')
    if base then
      fold_totals(base, key)
    elseif string.match(key, '^ht:{[^}]*}:jobs$') or string.match(key, '^ht:{[^}]*}:expiry$') or
           string.match(key, '^ht:{[^}]*}:status:%l+$') then
      redis.call('DEL', key)
    end
  end
end
return scan[1]
