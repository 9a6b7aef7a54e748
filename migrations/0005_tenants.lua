#!lua name=hangtight
--[[
Migration 0005: tenants.  Replaces the function library of 0004 (same
name).  Every job belongs to the tenant that submitted it (its `tenant`
field, "default" for jobs made before API keys), and the listing indexes are
kept per tenant, so a tenant's list and counts never scan another tenant's
jobs: ht:{Q}:jobs, ht:{Q}:status:<s> and ht:{Q}:expiry of 0004 became
ht:{Q}:t:<tenant>:jobs, ...:status:<s> and ...:expiry (data step 0006
renames the old ones to tenant "default"), and ht:{Q}:tenants lists the
tenants that have jobs.  ht_cancel and ht_retry take the caller's tenant and
answer nil (no such job) for another tenant's job, inside the same atomic
call.  ht_trim sweeps every tenant's expiry index.  ht_queue_stats counts
the caller's tenant only.  New: ht_rate, a GCRA rate limiter (one key per
tenant) the api calls before each request when a rate limit is set.

Keyspace of one queue Q; every key starts with the queue's base "ht:{Q}:",
whose hash tag puts them all in one Redis Cluster slot (the job hashes and
index entries are reached from the base, as BullMQ does):

  ht:{Q}:job:<id>        hash   the job (fields below)
  ht:{Q}:job:<id>:log    stream the job's event log (entries below), capped at
                                about LOG_CAP entries, expiring with the job;
                                from its first change after submit on
  ht:{Q}:wait:high       list   queued ids; LPUSH on submit, RPOP on claim (FIFO)
  ht:{Q}:wait:default    list
  ht:{Q}:wait:low        list
  ht:{Q}:scheduled       zset   ids waiting for a time (delay, retry backoff)
                                scored by when they are due (ms)
  ht:{Q}:active          zset   running ids scored by lease deadline (ms)
  ht:{Q}:fence           string monotonic counter: the fencing token source
  ht:{Q}:signal          list   wake-up tokens for idle workers (BLPOP), capped
  ht:{Q}:tenants         set    tenant names that have (had) jobs here
  ht:{Q}:t:<tenant>:jobs zset   every job of the tenant, scored by
                                created_at: listing
  ht:{Q}:t:<tenant>:status:<s>
                         zset   the tenant's jobs in status s, by created_at
  ht:{Q}:t:<tenant>:expiry
                         zset   the tenant's finished jobs scored by when
                                they expire; ht_trim drops expired ids from
                                the tenant's indexes
  ht:{Q}:t:<tenant>:stats
                         hash   the tenant's totals (same fields as stats)
  ht:{Q}:deliveries      zset   job ids with a pending webhook delivery,
                                scored by when it is due (ms); a claim
                                pushes the score to now + lease, so the
                                claim of a crashed deliverer comes back
  ht:{Q}:idem:<tenant>:<sha256 of the key>
                         string "<job id> <sha256 of the body>"; no TTL while
                                the job is unfinished, then the job's TTL
  ht:{Q}:stats           hash   totals of every tenant: submitted,
                                succeeded, failed, canceled, retried
  ht:{Q}:metrics         hash   counters for GET /metrics (ht_metrics):
                                jobs:<event>:<type> (event: submitted, started,
                                succeeded, failed, canceled, retried) and
                                webhook:<delivered|retried|failed>; bounded:
                                types are the few that workers register
  ht:{Q}:hist:wait       hash   histogram of due-to-first-start ms, and
  ht:{Q}:hist:run        hash   of attempt run time ms: a field per bucket
                                bound ("250", "+Inf"), count, sum_ms
  channel ht:{Q}:events:<id>
                         pub/sub "<version> <status> <log id> <kind>" on every
                                change of job <id> (kind: status|progress)
  channel ht:{Q}:cancel  pub/sub "<id> <token>": stop that running attempt
  ht:schema              hash   keyspace version (written by `hangtight migrate`)
  ht:types               hash   job types served by some worker (worker writes)
  ht:rate:{<tenant>}     string GCRA theoretical arrival time (µs) of the
                                tenant's requests; expires when idle

Job hash fields: id type queue tenant status priority payload metadata
attempt max_attempts timeout_s ttl_s failed_ttl_s created_at run_at
started_at finished_at progress_pct progress_msg progress_at result error
token worker version callback_url cancel_requested idem_key, and for
webhooks: cb_seq (terminal events so far), cb_id (webhook-id of the
current event, "msg_<id>_<cb_seq>"), cb_state (pending|delivered|failed),
cb_attempts, cb_last_status (HTTP status or an error word), cb_last_at
(ms); for metrics: m_started (1 once its first start was observed),
m_due_at (when ht_retry queued it again).  Times are
integer milliseconds since the epoch, from Redis' clock (TIME).

Event log entry fields: kind (status|progress), v, status, attempt, pct,
msg, at — see 0002.

Jobs finished under 0003 with a callback_url simply never get a delivery.

Changing the persisted format means a new numbered migration, never an edit
of a file that has shipped.
]]

local SIGNAL_CAP = 64
local LOG_CAP = 100
local STATUSES = {'scheduled', 'queued', 'running', 'succeeded', 'failed', 'canceled'}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function int(n)
  return string.format('%d', n)
end

-- "ht:{Q}:job:<id>" -> "ht:{Q}:"
local function base_of(job)
  return string.match(job, '^(.*)job:[^:]*$')
end

-- "ht:{Q}:t:<tenant>:" of a job (its tenant's index prefix)
local function tenant_base(job)
  return base_of(job) .. 't:' .. (redis.call('HGET', job, 'tenant') or 'default') .. ':'
end

-- Every change of a job ends here: version, log entry, notification.
-- kind is 'progress' for progress reports, 'status' (default) otherwise.
-- Callers that set a TTL on the job (finish) do so before calling this, so
-- the log gets the same one.
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

-- Moves a job to `status`, keeping the status indexes in step.
local function set_status(job, id, status)
  local base = tenant_base(job)
  local f = redis.call('HMGET', job, 'status', 'created_at')
  if f[1] and f[1] ~= status then
    redis.call('ZREM', base .. 'status:' .. f[1], id)
  end
  redis.call('HSET', job, 'status', status)
  redis.call('ZADD', base .. 'status:' .. status, tonumber(f[2]) or now_ms(), id)
end

local function wake(signal)
  redis.call('LPUSH', signal, '1')
  redis.call('LTRIM', signal, 0, SIGNAL_CAP - 1)
end

-- ---- metrics (served by ht_metrics; the api renders them) -----------------
-- Counted here, inside the same atomic calls that change the jobs, so every
-- worker's work is counted exactly, cluster-wide, with nothing exposed by
-- the workers.  Histogram buckets are upper bounds in ms (fixed: changing
-- them is a new migration); each bucket field counts its own observations,
-- ht_metrics makes them cumulative.
local HIST_BUCKETS = {
  wait = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
          300000, 1800000},
  run = {10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
         900000, 3600000},
}

-- "ht:{Q}:metrics" field "jobs:<event>:<type>" += 1 (types are few: the
-- ones workers registered, so the hash stays small).
local function count_type(job, what)
  local t = redis.call('HGET', job, 'type') or 'unknown'
  redis.call('HINCRBY', base_of(job) .. 'metrics', 'jobs:' .. what .. ':' .. t, 1)
end

local function observe(job, name, ms)
  if ms < 0 then ms = 0 end
  local le = '+Inf'
  for _, b in ipairs(HIST_BUCKETS[name]) do
    if ms <= b then le = int(b); break end
  end
  local h = base_of(job) .. 'hist:' .. name
  redis.call('HINCRBY', h, le, 1)
  redis.call('HINCRBY', h, 'count', 1)
  redis.call('HINCRBY', h, 'sum_ms', ms)
end

-- At claim: one more attempt started; the first start of the job's life
-- (submit, or a hand retry) observes how long it waited since it was due:
-- created_at, or run_at (delayed), or m_due_at (ht_retry).
local function observe_start(job, now)
  count_type(job, 'started')
  if redis.call('HSETNX', job, 'm_started', '1') == 1 then
    local f = redis.call('HMGET', job, 'created_at', 'run_at', 'm_due_at')
    local due = math.max(tonumber(f[1]) or now, tonumber(f[2]) or 0, tonumber(f[3]) or 0)
    observe(job, 'wait', now - due)
  end
end

-- At complete (any outcome, retries included): the attempt's run time.
local function observe_run(job)
  local started = tonumber(redis.call('HGET', job, 'started_at'))
  if started then observe(job, 'run', now_ms() - started) end
end

-- ht_retry starts a new life: its first start is observed again, from now.
local function mark_due(job)
  redis.call('HDEL', job, 'm_started')
  redis.call('HSET', job, 'm_due_at', int(now_ms()))
end

local DELIVERY_OUTCOMES = {delivered = 'delivered', retry = 'retried', failed = 'failed'}
local function count_delivery(job, outcome)
  redis.call('HINCRBY', base_of(job) .. 'metrics',
             'webhook:' .. (DELIVERY_OUTCOMES[outcome] or 'failed'), 1)
end

local function count(job, what)
  redis.call('HINCRBY', base_of(job) .. 'stats', what, 1)
  redis.call('HINCRBY', tenant_base(job) .. 'stats', what, 1)
  count_type(job, what)
end

-- A job reached a terminal status: it (and its idempotency key) expire
-- ttl_s later, failed jobs after failed_ttl_s, and the expiry index tells
-- ht_trim when to drop it from the listing indexes.
-- The TTL of a finished job: the job, its log, its idempotency key and the
-- expiry index.
local function expire_finished(job, id, status, now)
  local f = redis.call('HMGET', job, 'ttl_s', 'failed_ttl_s', 'idem_key')
  local ttl = tonumber(f[1]) or 86400
  if status == 'failed' then ttl = math.max(ttl, tonumber(f[2]) or 0) end
  redis.call('EXPIRE', job, ttl)
  if redis.call('EXISTS', job .. ':log') == 1 then
    redis.call('EXPIRE', job .. ':log', ttl)
  end
  if f[3] and f[3] ~= '' then redis.call('EXPIRE', f[3], ttl) end
  redis.call('ZADD', tenant_base(job) .. 'expiry', now + ttl * 1000, id)
end

-- A job with a callback_url gets a pending delivery of this terminal event
-- (a new webhook-id) and expires only when the delivery ends
-- (ht_delivery_done); any other job starts expiring now.
local function finish(job, id, status, now)
  redis.call('HSET', job, 'finished_at', int(now))
  local url = redis.call('HGET', job, 'callback_url')
  if url and url ~= '' then
    local seq = redis.call('HINCRBY', job, 'cb_seq', 1)
    redis.call('HSET', job, 'cb_id', 'msg_' .. id .. '_' .. seq, 'cb_state', 'pending',
               'cb_attempts', '0')
    redis.call('HDEL', job, 'cb_last_status', 'cb_last_at')
    redis.call('ZADD', base_of(job) .. 'deliveries', now, id)
  else
    expire_finished(job, id, status, now)
  end
  count(job, status)
end

local function wait_key(job, priority)
  return base_of(job) .. 'wait:' .. (priority or 'default')
end

-- ht_submit KEYS: job, wait (of the job's priority), signal
--           ARGV: id, channel, run_at ms ('' or '0' = now), idempotency key
--                 name ('' = none), body hash, field, value, ...
-- Returns {version, created_at, status, id, 0} for a new job,
-- {0, '', '', first job's id, 1} when the idempotency key was used with the
-- same body hash (nothing written), or an IDEMMISMATCH error when it was used
-- with another body.  An id already taken is an EXISTS error.
local function submit(keys, args)
  local job, wait, signal = keys[1], keys[2], keys[3]
  local id, channel, run_at, idem, hash = args[1], args[2], tonumber(args[3]) or 0, args[4], args[5]
  if idem ~= '' then
    local seen = redis.call('GET', idem)
    if seen then
      local first, first_hash = string.match(seen, '^(%S+) (%S+)$')
      if first_hash ~= hash then
        return redis.error_reply('IDEMMISMATCH the Idempotency-Key was used with another body')
      end
      return {0, '', '', first, 1}
    end
  end
  if redis.call('EXISTS', job) == 1 then
    return redis.error_reply('EXISTS job id already taken')
  end
  local fields = {}
  for i = 6, #args do fields[#fields + 1] = args[i] end
  local now = now_ms()
  local created_at = int(now)
  redis.call('HSET', job, 'id', id, 'attempt', '0', 'token', '0', 'version', '0',
             'created_at', created_at, unpack(fields))
  local base = base_of(job)
  local tenant = redis.call('HGET', job, 'tenant') or 'default'
  redis.call('ZADD', base .. 't:' .. tenant .. ':jobs', now, id)
  redis.call('SADD', base .. 'tenants', tenant)
  if idem ~= '' then
    redis.call('SET', idem, id .. ' ' .. hash)
    redis.call('HSET', job, 'idem_key', idem)
  end
  count(job, 'submitted')
  local status = 'queued'
  if run_at > now then
    status = 'scheduled'
    redis.call('HSET', job, 'run_at', int(run_at))
    redis.call('ZADD', base .. 'scheduled', run_at, id)
  else
    redis.call('LPUSH', wait, id)
    wake(signal)
  end
  set_status(job, id, status)
  -- No event log entry and no notification for the first state: nobody can
  -- be watching a job that did not exist, the hash holds that state, and a
  -- backlog of waiting jobs must not pay a stream each (a Redis stream
  -- allocates a whole node, about 4 KB, for its first entry).
  return {redis.call('HINCRBY', job, 'version', 1), created_at, status, id, 0}
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
        redis.call('HSET', job, 'token', token, 'worker', worker, 'started_at', int(now))
        observe_start(job, now)
        set_status(job, id, 'running')
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
-- Returns 1 while the caller holds the job, 2 when it holds it but a cancel
-- was requested (stop the handler), 0 when its lease is lost.
local function renew(keys, args)
  local job, active, id, token = keys[1], keys[2], args[1], args[2]
  if not holds(job, token) then return 0 end
  local f = redis.call('HMGET', job, 'timeout_s', 'cancel_requested')
  redis.call('ZADD', active, 'XX', now_ms() + (tonumber(f[1]) or 300) * 1000, id)
  if f[2] == '1' then return 2 end
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

-- Puts a job back to wait: queued at once, or scheduled `delay_ms` from now.
local function requeue(job, id, wait, signal, delay_ms, head)
  redis.call('HDEL', job, 'cancel_requested')
  if delay_ms > 0 then
    local due = now_ms() + delay_ms
    redis.call('HSET', job, 'run_at', int(due))
    redis.call('ZADD', base_of(job) .. 'scheduled', due, id)
    set_status(job, id, 'scheduled')
    return 'scheduled'
  end
  if head then redis.call('RPUSH', wait, id) else redis.call('LPUSH', wait, id) end
  wake(signal)
  set_status(job, id, 'queued')
  return 'queued'
end

-- ht_complete KEYS: job, active, wait (of the job's priority), signal
--             ARGV: id, token, outcome ('succeeded'|'failed'|'canceled'),
--                   result JSON, error JSON or '' (canceled), retryable
--                   ('1'|'0'), channel, retry delay ms ('' or '0' = now)
-- A retryable failure with attempts left waits retry_delay_ms (scheduled)
-- or goes back to its queue at once, with the error kept.  Returns the job's
-- new status, or nil when the caller no longer holds it (a later attempt
-- owns the job: the stale outcome is dropped).
local function complete(keys, args)
  local job, active, wait, signal = keys[1], keys[2], keys[3], keys[4]
  local id, token, outcome, body = args[1], args[2], args[3], args[4]
  local retryable, channel = args[5] == '1', args[6]
  local delay_ms = tonumber(args[7]) or 0
  if not holds(job, token) then return nil end
  redis.call('ZREM', active, id)
  observe_run(job)
  local status
  if outcome == 'succeeded' then
    status = 'succeeded'
    redis.call('HSET', job, 'result', body)
    redis.call('HDEL', job, 'error')
  elseif outcome == 'canceled' then
    status = 'canceled'
  else
    local f = redis.call('HMGET', job, 'attempt', 'max_attempts', 'cancel_requested')
    redis.call('HSET', job, 'error', body)
    if retryable and f[3] ~= '1' and tonumber(f[1]) < tonumber(f[2]) then
      status = requeue(job, id, wait, signal, delay_ms, false)
      count(job, 'retried')
    else
      status = 'failed'
    end
  end
  if status ~= 'queued' and status ~= 'scheduled' then
    redis.call('HDEL', job, 'cancel_requested')
    set_status(job, id, status)
    finish(job, id, status, now_ms())
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
  if redis.call('HGET', job, 'cancel_requested') == '1' then
    -- Asked to cancel while it was being handed back: cancel it now.
    redis.call('HDEL', job, 'cancel_requested')
    set_status(job, id, 'canceled')
    finish(job, id, 'canceled', now_ms())
    changed(job, id, 'canceled', args[3])
    return 1
  end
  requeue(job, id, wait, signal, 0, true)
  changed(job, id, 'queued', args[3])
  return 1
end

-- ht_reap KEYS: active, wait:high, wait:default, wait:low, signal
--         ARGV: job key prefix, channel, limit
-- Jobs whose lease ran out (their worker died or hung) go back to the head of
-- their queue with the attempt counted, or fail when none is left (or end
-- canceled when a cancel was requested).  Returns the number of jobs reaped.
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
                         'priority', 'cancel_requested')
    if f[1] == 'running' then
      local err = cjson.encode({code = 'lease_expired', message =
        'the worker holding attempt ' .. f[2] .. ' stopped renewing its lease'})
      redis.call('HSET', job, 'error', err)
      local status
      if f[5] == '1' then
        status = 'canceled'
      elseif tonumber(f[2]) < tonumber(f[3]) then
        status = requeue(job, id, waits[f[4]] or waits.default, signal, 0, true)
      else
        status = 'failed'
      end
      if status ~= 'queued' then
        redis.call('HDEL', job, 'cancel_requested')
        set_status(job, id, status)
        finish(job, id, status, now)
      end
      changed(job, id, status, channel)
    end
  end
  return #ids
end

-- ht_cancel KEYS: job   ARGV: id, channel, cancel channel, tenant
-- Returns 'canceled' (it was queued or scheduled and never runs now),
-- 'requested' (it is running: its worker is told on the cancel channel and
-- by its next lease renewal), 'finished' (too late), or nil (no such job,
-- or a job of another tenant).
local function cancel(keys, args)
  local job, id, channel, cancel_channel = keys[1], args[1], args[2], args[3]
  local f = redis.call('HMGET', job, 'status', 'priority', 'token', 'tenant')
  local status = f[1]
  if not status or (f[4] or 'default') ~= args[4] then return nil end
  if status == 'queued' or status == 'scheduled' then
    redis.call('LREM', wait_key(job, f[2]), 0, id)
    redis.call('ZREM', base_of(job) .. 'scheduled', id)
    set_status(job, id, 'canceled')
    finish(job, id, 'canceled', now_ms())
    changed(job, id, 'canceled', channel)
    return 'canceled'
  end
  if status == 'running' then
    redis.call('HSET', job, 'cancel_requested', '1')
    redis.call('PUBLISH', cancel_channel, id .. ' ' .. f[3])
    return 'requested'
  end
  return 'finished'
end

-- ht_retry KEYS: job, signal   ARGV: id, channel, tenant
-- A failed or canceled job (a dead letter) is queued again with fresh
-- attempts, at the end of its priority's wait list; its last error is kept
-- until the next outcome.  Returns 'queued', 'conflict' (any other status),
-- or nil (no such job, or a job of another tenant).
local function retry(keys, args)
  local job, signal, id, channel = keys[1], keys[2], args[1], args[2]
  local f = redis.call('HMGET', job, 'status', 'idem_key', 'priority', 'tenant')
  local wait = wait_key(job, f[3])
  if not f[1] or (f[4] or 'default') ~= args[3] then return nil end
  if f[1] ~= 'failed' and f[1] ~= 'canceled' then return 'conflict' end
  redis.call('PERSIST', job)
  if f[2] and f[2] ~= '' then redis.call('PERSIST', f[2]) end
  redis.call('ZREM', tenant_base(job) .. 'expiry', id)
  redis.call('ZREM', base_of(job) .. 'deliveries', id)
  redis.call('HDEL', job, 'cb_state', 'cb_id', 'cb_attempts', 'cb_last_status', 'cb_last_at')
  redis.call('HSET', job, 'attempt', '0')
  redis.call('HDEL', job, 'result', 'finished_at', 'started_at', 'run_at',
             'progress_pct', 'progress_msg', 'progress_at')
  count(job, 'retried')
  mark_due(job)
  local status = requeue(job, id, wait, signal, 0, false)
  changed(job, id, status, channel)
  return status
end

-- ht_promote KEYS: scheduled, wait:high, wait:default, wait:low, signal
--            ARGV: base ("ht:{Q}:"), channel, limit
-- Due scheduled jobs join the end of their queue.  Every worker calls this
-- about every 100 ms, so there is no single scheduler to lose.  Returns
-- {number promoted, when the next one is due (ms) or -1}.
local function promote(keys, args)
  local scheduled, signal = keys[1], keys[5]
  local base, channel, limit = args[1], args[2], tonumber(args[3]) or 100
  local waits = {high = keys[2], default = keys[3], low = keys[4]}
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, limit)
  local n = 0
  for _, id in ipairs(ids) do
    redis.call('ZREM', scheduled, id)
    local job = base .. 'job:' .. id
    local f = redis.call('HMGET', job, 'status', 'priority')
    if f[1] == 'scheduled' then
      redis.call('LPUSH', waits[f[2]] or waits.default, id)
      set_status(job, id, 'queued')
      changed(job, id, 'queued', channel)
      n = n + 1
    end
  end
  if n > 0 then wake(signal) end
  local next_due = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  return {n, next_due[2] and tonumber(next_due[2]) or -1}
end

-- ht_trim KEYS: tenants   ARGV: base, limit
-- Drops finished jobs that have expired from their tenant's listing indexes
-- (Redis expires the hashes, logs and idempotency keys themselves), at most
-- `limit` per tenant.  Returns the number dropped.
local function trim(keys, args)
  local base, limit = args[1], tonumber(args[2]) or 1000
  local now = now_ms()
  local n = 0
  for _, tenant in ipairs(redis.call('SMEMBERS', keys[1])) do
    local tb = base .. 't:' .. tenant .. ':'
    local expiry = tb .. 'expiry'
    local ids = redis.call('ZRANGEBYSCORE', expiry, '-inf', now - 1, 'LIMIT', 0, limit)
    for _, id in ipairs(ids) do
      local ttl = redis.call('PTTL', base .. 'job:' .. id)
      if ttl == -2 then
        redis.call('ZREM', tb .. 'jobs', id)
        for _, s in ipairs(STATUSES) do
          redis.call('ZREM', tb .. 'status:' .. s, id)
        end
        redis.call('ZREM', expiry, id)
        n = n + 1
      elseif ttl > 0 then
        -- Not gone yet (inside a script Redis judges expiry by the script's
        -- start, and clocks may disagree by a millisecond): look again later.
        redis.call('ZADD', expiry, now + ttl, id)
      else
        redis.call('ZREM', expiry, id) -- no TTL any more: retried, not ours
      end
    end
  end
  return n
end

-- ht_list (read-only) KEYS: index (ht:{Q}:t:<tenant>:jobs or ...:status:<s>)
--         ARGV: base, limit (1..100), cursor ('' = from the newest), type ('' = any)
-- Returns {next cursor or '', job, job, ...}, newest first, each job a flat
-- HGETALL array.  The cursor is "<score>:<id>" of the last entry looked at;
-- entries with the same score are ordered by id, so paging never skips or
-- repeats one.  With a type filter at most SCAN_MAX entries are looked at per
-- call: the reply may then hold fewer jobs and a cursor to go on.
local SCAN_MAX = 1000
local function list(keys, args)
  local index, base = keys[1], args[1]
  local limit = math.max(1, math.min(100, tonumber(args[2]) or 20))
  local cursor, want_type = args[3], args[4]
  local max = '+inf'
  local after_score, after_id
  if cursor ~= '' then
    after_score, after_id = string.match(cursor, '^(%d+):(.+)$')
    if not after_score then return redis.error_reply('BADCURSOR malformed cursor') end
    max = after_score
  end
  local out = {''}
  local looked = 0
  local offset = 0
  local last = nil
  while #out - 1 < limit and looked < SCAN_MAX do
    local batch = redis.call('ZREVRANGEBYSCORE', index, max, '-inf', 'WITHSCORES',
                             'LIMIT', offset, 100)
    if #batch == 0 then last = nil; break end
    for i = 1, #batch, 2 do
      local id, score = batch[i], batch[i + 1]
      local skip = after_score and score == after_score and id >= after_id
      if not skip then
        looked = looked + 1
        last = score .. ':' .. id
        local h = redis.call('HGETALL', base .. 'job:' .. id)
        if #h > 0 then
          local t = nil
          if want_type ~= '' then t = redis.call('HGET', base .. 'job:' .. id, 'type') end
          if want_type == '' or t == want_type then
            out[#out + 1] = h
            if #out - 1 >= limit or looked >= SCAN_MAX then break end
          end
        end
      end
    end
    offset = offset + #batch / 2
    if #batch < 200 then
      -- The index ran out: no cursor unless we stopped early above.
      if #out - 1 < limit and looked < SCAN_MAX then last = nil end
      break
    end
  end
  out[1] = last or ''
  return out
end

-- ht_queue_stats (read-only) KEYS: wait:high, wait:default, wait:low
--   ARGV: the tenant's index prefix "ht:{Q}:t:<tenant>:"
-- Returns a flat name, value array: the queue's wait list lengths by
-- priority (shared by every tenant: the load ahead of a new job), then the
-- tenant's own jobs by status and its totals.
local function queue_stats(keys, args)
  local tb = args[1]
  local out = {
    'high', redis.call('LLEN', keys[1]),
    'default', redis.call('LLEN', keys[2]),
    'low', redis.call('LLEN', keys[3]),
  }
  for _, s in ipairs(STATUSES) do
    if s ~= 'queued' then -- the wait lists above tell that
      out[#out + 1] = s
      out[#out + 1] = redis.call('ZCARD', tb .. 'status:' .. s)
    end
  end
  local totals = redis.call('HGETALL', tb .. 'stats')
  for i = 1, #totals, 2 do
    out[#out + 1] = totals[i] .. '_total'
    out[#out + 1] = tonumber(totals[i + 1])
  end
  return out
end

-- ht_metrics (read-only) KEYS: wait:high, wait:default, wait:low, scheduled,
--   active, tenants, metrics, hist:wait, hist:run   ARGV: base ("ht:{Q}:")
-- Everything GET /metrics needs from Redis in one round trip, as a flat
-- name, integer array: 'queued:<priority>', 'scheduled', 'running', 'dead'
-- (failed jobs kept, every tenant), the metrics hash as stored
-- ('jobs:<event>:<type>', 'webhook:<outcome>'), then per histogram
-- 'hist:<name>:le:<ms>' (cumulative, ending with le:+Inf), 'hist:<name>:sum_ms'
-- and 'hist:<name>:count'.
local function metrics(keys, args)
  local base = args[1]
  local out = {
    'queued:high', redis.call('LLEN', keys[1]),
    'queued:default', redis.call('LLEN', keys[2]),
    'queued:low', redis.call('LLEN', keys[3]),
    'scheduled', redis.call('ZCARD', keys[4]),
    'running', redis.call('ZCARD', keys[5]),
  }
  local dead = 0
  for _, tenant in ipairs(redis.call('SMEMBERS', keys[6])) do
    dead = dead + redis.call('ZCARD', base .. 't:' .. tenant .. ':status:failed')
  end
  out[#out + 1] = 'dead'
  out[#out + 1] = dead
  local m = redis.call('HGETALL', keys[7])
  for i = 1, #m, 2 do
    out[#out + 1] = m[i]
    out[#out + 1] = tonumber(m[i + 1])
  end
  for i, name in ipairs({'wait', 'run'}) do
    local h = redis.call('HGETALL', keys[7 + i])
    local v = {}
    for j = 1, #h, 2 do v[h[j]] = tonumber(h[j + 1]) end
    local cum = 0
    for _, b in ipairs(HIST_BUCKETS[name]) do
      cum = cum + (v[int(b)] or 0)
      out[#out + 1] = 'hist:' .. name .. ':le:' .. int(b)
      out[#out + 1] = cum
    end
    out[#out + 1] = 'hist:' .. name .. ':le:+Inf'
    out[#out + 1] = cum + (v['+Inf'] or 0)
    out[#out + 1] = 'hist:' .. name .. ':sum_ms'
    out[#out + 1] = v['sum_ms'] or 0
    out[#out + 1] = 'hist:' .. name .. ':count'
    out[#out + 1] = v['count'] or 0
  end
  return out
end

-- ht_delivery_claim KEYS: deliveries   ARGV: base, lease_ms, limit
-- Returns the deliveries that are due, at most `limit`, as a flat list of
-- {job id, cb_id, cb_attempts} triples; each is pushed to now + lease_ms so
-- that another deliverer only gets it again when this one did not settle it
-- in time.  Ids of jobs that are gone or no longer pending are dropped.
local function delivery_claim(keys, args)
  local deliveries, base = keys[1], args[1]
  local lease, limit = tonumber(args[2]) or 60000, tonumber(args[3]) or 16
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', deliveries, '-inf', now, 'LIMIT', 0, limit)
  local out = {}
  for _, id in ipairs(ids) do
    if redis.call('HGET', base .. 'job:' .. id, 'cb_state') == 'pending' then
      local f = redis.call('HMGET', base .. 'job:' .. id, 'cb_id', 'cb_attempts')
      redis.call('ZADD', deliveries, now + lease, id)
      out[#out + 1] = id
      out[#out + 1] = f[1] or ''
      out[#out + 1] = f[2] or '0'
    else
      redis.call('ZREM', deliveries, id)
    end
  end
  return out
end

-- ht_delivery_done KEYS: job, deliveries
--   ARGV: id, cb_id, outcome (delivered|retry|failed), last_status,
--         next_due_ms (retry only)
-- Records one delivery attempt.  delivered and failed end the delivery: the
-- job starts expiring as finish() would have made it.  Returns 1, or 0 when
-- cb_id is no longer the job's current event (superseded or gone: drop it).
local function delivery_done(keys, args)
  local job, deliveries = keys[1], keys[2]
  local id, cb_id, outcome, last_status = args[1], args[2], args[3], args[4]
  local f = redis.call('HMGET', job, 'cb_id', 'cb_state', 'status')
  if f[1] ~= cb_id or f[2] ~= 'pending' then return 0 end
  local now = now_ms()
  redis.call('HINCRBY', job, 'cb_attempts', 1)
  count_delivery(job, outcome)
  redis.call('HSET', job, 'cb_last_status', last_status, 'cb_last_at', int(now))
  if outcome == 'retry' then
    redis.call('ZADD', deliveries, tonumber(args[5]) or now, id)
  else
    redis.call('HSET', job, 'cb_state', outcome == 'delivered' and 'delivered' or 'failed')
    redis.call('ZREM', deliveries, id)
    expire_finished(job, id, f[3], now)
  end
  redis.call('HINCRBY', job, 'version', 1)
  return 1
end

-- ht_rate KEYS: ht:rate:{<tenant>}   ARGV: rate (requests/s), burst
-- GCRA (the generic cell rate algorithm): one request is allowed when it
-- arrives no earlier than burst intervals before the key's theoretical
-- arrival time; the key is that time in µs and expires when the bucket is
-- full again.  Returns 0 (allowed, counted) or the ms to wait (refused, not
-- counted).
local function rate(keys, args)
  local key, per_s, burst = keys[1], tonumber(args[1]), tonumber(args[2])
  if not per_s or per_s <= 0 or not burst or burst < 1 then
    return redis.error_reply('BADRATE rate and burst must be positive')
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local interval = 1000000 / per_s
  local tat = math.max(tonumber(redis.call('GET', key)) or now, now)
  local allow_at = tat + interval - burst * interval
  if allow_at > now then
    return math.max(1, math.ceil((allow_at - now) / 1000))
  end
  local new_tat = tat + interval
  redis.call('SET', key, string.format('%d', new_tat), 'PX',
             math.max(1, math.ceil((new_tat - now) / 1000)))
  return 0
end

redis.register_function('ht_submit', submit)
redis.register_function('ht_claim', claim)
redis.register_function('ht_renew', renew)
redis.register_function('ht_progress', progress)
redis.register_function('ht_complete', complete)
redis.register_function('ht_release', release)
redis.register_function('ht_reap', reap)
redis.register_function('ht_cancel', cancel)
redis.register_function('ht_retry', retry)
redis.register_function('ht_promote', promote)
redis.register_function('ht_trim', trim)
redis.register_function('ht_delivery_claim', delivery_claim)
redis.register_function('ht_delivery_done', delivery_done)
redis.register_function{function_name = 'ht_metrics', callback = metrics,
                        flags = {'no-writes'}}
redis.register_function('ht_rate', rate)
redis.register_function{function_name = 'ht_list', callback = list, flags = {'no-writes'}}
redis.register_function{function_name = 'ht_queue_stats', callback = queue_stats,
                        flags = {'no-writes'}}
