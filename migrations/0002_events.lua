#!lua name=hangtight
--[[
Migration 0002: job change events.  Replaces the function library of 0001
(same name, functions, KEYS and ARGV, so no caller changes); what is new is
changed(), which every state or progress change goes through: it bumps the
version, appends an entry to the job's event log and publishes the change on
the job's own channel, so the api subscribes only to the jobs it serves.

Keyspace (one queue; every key carries the queue's hash tag, so each call
touches one Redis Cluster slot — the job hash and its log are reached from
the tag prefix, which lands in the same slot, exactly as BullMQ does):

  ht:{Q}:job:<id>        hash   the job (fields below)
  ht:{Q}:job:<id>:log    stream the job's event log (entries below), capped
                                at about LOG_CAP entries (MAXLEN ~), given
                                the job's remaining TTL so it expires with it
  ht:{Q}:wait:high       list   queued ids; LPUSH on submit, RPOP on claim (FIFO)
  ht:{Q}:wait:default    list
  ht:{Q}:wait:low        list
  ht:{Q}:active          zset   running ids scored by lease deadline (ms)
  ht:{Q}:fence           string monotonic counter: the fencing token source
  ht:{Q}:signal          list   wake-up tokens for idle workers (BLPOP), capped
  channel ht:{Q}:events:<id>
                         pub/sub "<version> <status> <log id> <kind>" on every
                                change of job <id> (kind: status|progress)
  ht:schema              hash   keyspace version (written by `hangtight migrate`)
  ht:types               hash   job types served by some worker (worker writes)

(0001 published "<id> <version> <status>" on ht:{Q}:events; nothing does now.)

Job hash fields: id type queue tenant status priority payload metadata
attempt max_attempts timeout_s ttl_s created_at started_at finished_at
progress_pct progress_msg progress_at result error token worker version
callback_url.  Times are integer milliseconds since the epoch, always taken
from Redis' clock (TIME) so that api and worker machines may disagree.

Event log entry fields (one entry per change, the stream id orders them):
  kind     status | progress
  v        the job's version after the change (its ETag)
  status   the job's status after the change
  attempt  the attempt number after the change
  pct      progress percent, '' when none
  msg      progress message, '' when none
  at       when (ms, Redis clock)

Changing the persisted format means a new numbered migration, never an edit
of a file that has shipped.
]]

local SIGNAL_CAP = 64
local LOG_CAP = 100

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(n)
  return string.format('%d', n)
end

-- Every change of a job ends here: version, log entry, notification.
-- kind is 'progress' for progress reports, 'status' (default) otherwise.
-- Callers that set a TTL on the job (finish) do so before calling this, so
-- the log gets the same one; a job without a TTL keeps its log without one.
local function changed(job, id, status, channel, kind)
  kind = kind or 'status'
  local v = redis.call('HINCRBY', job, 'version', 1)
  local f = redis.call('HMGET', job, 'attempt', 'progress_pct', 'progress_msg')
  local log = job .. ':log'
  local log_id = redis.call('XADD', log, 'MAXLEN', '~', LOG_CAP, '*',
                            'kind', kind, 'v', v, 'status', status,
                            'attempt', f[1] or '0', 'pct', f[2] or '',
                            'msg', f[3] or '', 'at', int(now_ms()))
  local ttl = redis.call('PTTL', job)
  if ttl > 0 then
    redis.call('PEXPIRE', log, ttl)
  else
    redis.call('PERSIST', log)
  end
  redis.call('PUBLISH', channel .. ':' .. id,
             v .. ' ' .. status .. ' ' .. log_id .. ' ' .. kind)
  return v
end

local function wake(signal)
  redis.call('LPUSH', signal, '1')
  redis.call('LTRIM', signal, 0, SIGNAL_CAP - 1)
end

local function finish(job, ttl_s, now)
  redis.call('HSET', job, 'finished_at', int(now))
  redis.call('EXPIRE', job, tonumber(ttl_s) or 86400)
end

-- ht_submit KEYS: job, wait (of the job's priority), signal
--           ARGV: id, channel, field, value, ...
-- Returns {version, created_at}, or an error if the id is taken.
local function submit(keys, args)
  local job, wait, signal = keys[1], keys[2], keys[3]
  local id, channel = args[1], args[2]
  if redis.call('EXISTS', job) == 1 then
    return redis.error_reply('EXISTS job id already taken')
  end
  local fields = {}
  for i = 3, #args do fields[#fields + 1] = args[i] end
  local created_at = int(now_ms())
  redis.call('HSET', job, 'id', id, 'status', 'queued', 'attempt', '0',
             'token', '0', 'version', '0', 'created_at', created_at,
             unpack(fields))
  redis.call('LPUSH', wait, id)
  wake(signal)
  return {changed(job, id, 'queued', channel), created_at}
end

-- ht_claim KEYS: wait:high, wait:default, wait:low, active, fence
--          ARGV: job key prefix ("ht:{Q}:job:"), worker id, channel
-- Returns the claimed job as a flat HGETALL array (with its new token), or nil.
local function claim(keys, args)
  local active, fence = keys[4], keys[5]
  local prefix, worker, channel = args[1], args[2], args[3]
  for i = 1, 3 do
    while true do
      local id = redis.call('RPOP', keys[i])
      if not id then break end
      local job = prefix .. id
      if redis.call('HGET', job, 'status') == 'queued' then
        local now = now_ms()
        local token = redis.call('INCR', fence)
        local timeout_s = tonumber(redis.call('HGET', job, 'timeout_s')) or 300
        redis.call('HINCRBY', job, 'attempt', 1)
        redis.call('HDEL', job, 'progress_pct', 'progress_msg', 'progress_at')
        redis.call('HSET', job, 'status', 'running', 'token', token,
                   'worker', worker, 'started_at', int(now))
        redis.call('ZADD', active, now + timeout_s * 1000, id)
        changed(job, id, 'running', channel)
        return redis.call('HGETALL', job)
      end
      -- A canceled or expired job left its id behind: drop it and go on.
    end
  end
  return nil
end

local function holds(job, token)
  local f = redis.call('HMGET', job, 'status', 'token')
  return f[1] == 'running' and f[2] == token
end

-- ht_renew KEYS: job, active   ARGV: id, token
-- Returns 1 while the caller holds the job, 0 when its lease is lost.
local function renew(keys, args)
  local job, active, id, token = keys[1], keys[2], args[1], args[2]
  if not holds(job, token) then return 0 end
  local timeout_s = tonumber(redis.call('HGET', job, 'timeout_s')) or 300
  redis.call('ZADD', active, 'XX', now_ms() + timeout_s * 1000, id)
  return 1
end

-- ht_progress KEYS: job   ARGV: id, token, percent ('' = none), message, channel
-- Returns 1, or 0 when the caller no longer holds the job.
local function progress(keys, args)
  local job, id, token = keys[1], args[1], args[2]
  if not holds(job, token) then return 0 end
  redis.call('HSET', job, 'progress_pct', args[3], 'progress_msg', args[4],
             'progress_at', int(now_ms()))
  changed(job, id, 'running', args[5], 'progress')
  return 1
end

-- ht_complete KEYS: job, active, wait (of the job's priority), signal
--             ARGV: id, token, outcome ('succeeded'|'failed'), result or
--                   error JSON, retryable ('1'|'0'), channel
-- A failure with attempts left goes back to its queue with the error kept.
-- Returns the job's new status, or nil when the caller no longer holds it
-- (a later attempt owns the job: the stale outcome is dropped).
local function complete(keys, args)
  local job, active, wait, signal = keys[1], keys[2], keys[3], keys[4]
  local id, token, outcome, body = args[1], args[2], args[3], args[4]
  local retryable, channel = args[5] == '1', args[6]
  if not holds(job, token) then return nil end
  redis.call('ZREM', active, id)
  local status
  if outcome == 'succeeded' then
    status = 'succeeded'
    redis.call('HSET', job, 'status', status, 'result', body)
    redis.call('HDEL', job, 'error')
  else
    local f = redis.call('HMGET', job, 'attempt', 'max_attempts')
    redis.call('HSET', job, 'error', body)
    if retryable and tonumber(f[1]) < tonumber(f[2]) then
      status = 'queued'
      redis.call('HSET', job, 'status', status)
      redis.call('LPUSH', wait, id)
      wake(signal)
    else
      status = 'failed'
      redis.call('HSET', job, 'status', status)
    end
  end
  if status ~= 'queued' then
    finish(job, redis.call('HGET', job, 'ttl_s'), now_ms())
  end
  changed(job, id, status, channel)
  return status
end

-- ht_release KEYS: job, active, wait, signal   ARGV: id, token, channel
-- A draining worker hands a job back: it is queued at the head of its queue
-- and the attempt is not counted.  Returns 1, or 0 if not held.
local function release(keys, args)
  local job, active, wait, signal = keys[1], keys[2], keys[3], keys[4]
  local id, token = args[1], args[2]
  if not holds(job, token) then return 0 end
  redis.call('ZREM', active, id)
  redis.call('HINCRBY', job, 'attempt', -1)
  redis.call('HSET', job, 'status', 'queued')
  redis.call('RPUSH', wait, id)
  wake(signal)
  changed(job, id, 'queued', args[3])
  return 1
end

-- ht_reap KEYS: active, wait:high, wait:default, wait:low, signal
--         ARGV: job key prefix, channel, limit
-- Jobs whose lease ran out (their worker died or hung) go back to the head of
-- their queue with the attempt counted, or fail when none is left.
-- Returns the number of jobs reaped.
local function reap(keys, args)
  local active, signal = keys[1], keys[5]
  local prefix, channel, limit = args[1], args[2], tonumber(args[3]) or 100
  local waits = {high = keys[2], default = keys[3], low = keys[4]}
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', active, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', active, id)
    local job = prefix .. id
    local f = redis.call('HMGET', job, 'status', 'attempt', 'max_attempts',
                         'priority', 'ttl_s')
    if f[1] == 'running' then
      local err = cjson.encode({code = 'lease_expired', message =
        'the worker holding attempt ' .. f[2] .. ' stopped renewing its lease'})
      redis.call('HSET', job, 'error', err)
      local status
      if tonumber(f[2]) < tonumber(f[3]) then
        status = 'queued'
        redis.call('HSET', job, 'status', status)
        redis.call('RPUSH', waits[f[4]] or waits.default, id)
        wake(signal)
      else
        status = 'failed'
        redis.call('HSET', job, 'status', status)
        finish(job, f[5], now)
      end
      changed(job, id, status, channel)
    end
  end
  return #ids
end

redis.register_function('ht_submit', submit)
redis.register_function('ht_claim', claim)
redis.register_function('ht_renew', renew)
redis.register_function('ht_progress', progress)
redis.register_function('ht_complete', complete)
redis.register_function('ht_release', release)
redis.register_function('ht_reap', reap)
