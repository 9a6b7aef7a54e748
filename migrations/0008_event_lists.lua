-- runs: after-library
--[[
Data step 0008: event logs as lists, no queue-wide totals.  Below schema 8
a job's event log was a stream ht:{Q}:job:<id>:log with entry fields kind,
v, status, attempt, pct ('' = none), msg, at; the library keeps a list
ht:{Q}:job:<id>:ev of entries "<v> <kind> <status> <attempt> <pct or -> <at>
<msg>" and reads nothing else.  Each stream becomes that list (the entries
older than the list's first, when the library already started one), capped
at LOG_CAP entries and expiring with the job, and goes; a stream whose job
is gone just goes.  The queue-wide totals ht:{Q}:stats (schemas 5 to 7 kept
them beside each tenant's) and the histograms' "count" field (the +Inf
bucket's cumulative count is the same number) are no longer kept: they go.
Running it again changes nothing.

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done).
]]
local LOG_CAP = 100

local function int(n)
  return string.format('%d', n)
end

local function to_list(stream, job)
  if redis.call('EXISTS', job) == 0 then
    redis.call('DEL', stream)
    return
  end
  local ev = job .. ':ev'
  local head = redis.call('LINDEX', ev, 0)
  local first_v = head and tonumber(string.match(head, '^(%d+) '))
  local lines = {}
  for _, entry in ipairs(redis.call('XRANGE', stream, '-', '+')) do
    local f = {}
    for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
    local v, at = tonumber(f.v), tonumber(f.at)
    if v and at and f.status and (not first_v or v < first_v) then
      local pct = f.pct
      if not pct or pct == '' then pct = '-' end
      lines[#lines + 1] = int(v) .. ' ' .. (f.kind or 'status') .. ' ' .. f.status .. ' ' ..
                          (f.attempt or '0') .. ' ' .. pct .. ' ' .. int(at) .. ' ' .. (f.msg or '')
    end
  end
  local start = math.max(1, #lines - LOG_CAP + 1)
  if start <= #lines then
    local newest_first = {}
    for i = #lines, start, -1 do newest_first[#newest_first + 1] = lines[i] end
    redis.call('LPUSH', ev, unpack(newest_first))
    redis.call('LTRIM', ev, -LOG_CAP, -1)
    local ttl = redis.call('PTTL', job)
    if not head and ttl > 0 then redis.call('PEXPIRE', ev, ttl) end
  end
  redis.call('DEL', stream)
end

local scan = redis.call('SCAN', ARGV[1], 'MATCH', 'ht:{*', 'COUNT', 500)
for _, key in ipairs(scan[2]) do
  local job = string.match(key, '^(ht:{[^}]*}:job:[^:]+):log$')
  if job then
    if redis.call('TYPE', key)['ok'] == 'stream' then to_list(key, job) end
  elseif string.match(key, '^ht:{[^}]*}:stats$') then
    redis.call('DEL', key)
  elseif string.match(key, '^ht:{[^}]*}:hist:%l+$') then
    redis.call('HDEL', key, 'count')
  end
end
return scan[1]
