-- runs: after-library
--[[
Data step 0008: a keyspace with jobs of the unpartitioned queue records
that partition count.  Processes serve the partitions of their own
HANGTIGHT_PARTITIONS and of every count recorded in the set
ht:partitions:{default} (each adds its own at start); releases before
partitions recorded nothing, so processes started with another count
after the upgrade would never run or list the jobs under ht:{default}:.
When this master holds a job there, 1 joins the set (which lives in the
same slot, with the queue's hash tag).

Run with EVAL and no keys on every master, once per batch: ARGV[1] is the
SCAN cursor ("0" first), the reply the next one ("0" when done, or as soon
as the record is made).
]]
local scan = redis.call('SCAN', ARGV[1], 'MATCH', 'ht:{default}:job:*', 'COUNT', 500)
if #scan[2] > 0 then
  redis.call('SADD', 'ht:partitions:{default}', '1')
  return '0'
end
return scan[1]
