-- runs: after-library
--[[
Data step 0019: expiry buckets.  Below schema 19 each tenant's finished
jobs were in one sorted set, ht:{Q}:t:<tenant>:expiry, scored by when
they expire (ms); from 19 on a finished job is an entry of the list of its
expiry time's bucket in its partition, ht:{Q}:exp:<n> (the jobs that
expire in ((n - 1) * 10 s, n * 10 s], the library's EXPIRY_BUCKET_MS),
the entry its id, or "<id> <tenant>" for a tenant other than default; and
each bucket is a member n of ht:{Q}:exps scored by its end, written when
the bucket's list is made.  This step moves each old set's entries into
their buckets and drops the set.  After the library: the library of 19
never writes the old sets, and its ht_trim drains what is left of one, so
that a job whose entry this step has not moved yet is still trimmed.
Running it again changes nothing (a set moved is gone).

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done).  One call
moves at most SLICE entries: a set it could not empty is taken up again by
the next call, which scans the same batch (the cursor answered is this
call's with a "+" after it).
]]
local BUCKET_MS = 10000
local SLICE = 5000
local cursor = string.match(ARGV[1], '^(%d+)') or '0'
local scan = redis.call('SCAN', cursor, 'MATCH', 'ht:{*}:t:*:expiry', 'COUNT', 500)
local left = SLICE
for _, key in ipairs(scan[2]) do
  local base, tenant = string.match(key, '^(ht:{[^}]*}:)t:([^:]*):expiry$')
  if base and left > 0 and redis.call('TYPE', key).ok == 'zset' then
    local got = redis.call('ZRANGE', key, 0, left - 1, 'WITHSCORES')
    for i = 1, #got, 2 do
      local n = math.ceil(tonumber(got[i + 1]) / BUCKET_MS)
      local b = string.format('%d', n)
      local entry = got[i]
      if tenant ~= 'default' then entry = entry .. ' ' .. tenant end
      if redis.call('RPUSH', base .. 'exp:' .. b, entry) == 1 then
        redis.call('ZADD', base .. 'exps', string.format('%d', n * BUCKET_MS), b)
      end
    end
    if #got > 0 then redis.call('ZREMRANGEBYRANK', key, 0, #got / 2 - 1) end
    left = left - #got / 2
  end
end
if left <= 0 then return cursor .. '+' end
return scan[1]
