#!lua name=hangtight
--[[
The hangtight Redis function library: every function that reads or changes
jobs (ht_submit, ht_claim, ht_complete, ...) or a tenant's webhook signing
secrets (ht_whsec_*), loaded by `hangtight migrate` with FUNCTION LOAD
REPLACE on every master.  Each call touches the keys of one hash tag only
(one queue partition's, or one tenant's rate key or secrets, or the types
hash ht:types), so it lands in one Redis Cluster slot.  The keys and the job hash fields are
described in docs/keyspace.md.

SCHEMA below is the keyspace version this library works on: the binaries
require it (the build reads this line) and `hangtight migrate` records it.
Any change to the keyspace (a key, a field, an encoding, a TTL rule) bumps
SCHEMA, updates docs/keyspace.md and, when data already stored must change
with it, adds a numbered data step under migrations/.  A change that leaves
the keyspace as it is (a fix, a faster call) keeps SCHEMA: migrate loads the
library wherever the loaded text differs.
]]

local SCHEMA = 19

local SIGNAL_CAP = 64
-- Fields a submit leaves out of the job's hash when the caller's value is
-- this default (shared/job.h HT_*_DEFAULT; the readers, shared/job.c and
-- this library, read an absent field as it).  queue is always left out:
-- the key's hash tag names it and nothing reads the field.  Nor is the
-- id stored: it is the key's (the readers of schema 17 and newer take it
-- from there, and ht_list and ht_watch add it to what they answer).
-- Readers of schema 16 and older require the field: `hangtight migrate`
-- refuses to bring them this library while they may run.
local MAX_ATTEMPTS = 3
local FAILED_TTL_S = 604800 -- the api's HANGTIGHT_FAILED_TTL_S default
local OMIT_DEFAULT = {tenant = 'default', priority = 'default', max_attempts = '3',
                      timeout_s = '300', ttl_s = '86400', failed_ttl_s = '604800'}
local LOG_CAP = 100
local LOG_KEEP = '-' .. LOG_CAP -- LTRIM's start: keeps the newest LOG_CAP entries
local STATUSES = {'scheduled', 'queued', 'running', 'succeeded', 'failed', 'canceled'}

local now_n, now_s -- the last time read, and its text once int() made it

local function now_ms()
  local t = redis.call('TIME')
  local n = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if n ~= now_n then now_n, now_s = n, nil end
  return n
end

-- A number as the decimal text of an integer.  Numbers reach commands as
-- this text: a Lua number given to redis.call, or joined to a string, is
-- printed as a double ("%.17g"), which costs several times more.
-- The call's time is made text once (it is written several times a job);
-- of other numbers, the last one made is kept.
-- The integers 0..63 (versions, attempts, short times) are texts made
-- once, as the library loads.
local last_n, last_s
local SMALL = {}
for i = 0, 63 do SMALL[i] = i .. '' end
local function int(n)
  if n == now_n then
    if not now_s then now_s = string.format('%d', n) end
    return now_s
  end
  local s = SMALL[n]
  if s then return s end
  if n ~= last_n then last_n, last_s = n, string.format('%d', n) end
  return last_s
end

-- "ht:{Q}:job:<id>" -> "ht:{Q}:" (every key has its hash tag after "ht:").
local function base_of(job)
  return string.sub(job, 1, string.find(job, '}:', 4, true) + 1)
end

-- Priorities, first served first, and their rank (1 = served first).
local PRIORITIES = {'high', 'default', 'low'}
local PRIO_RANK = {high = 1, default = 2, low = 3}

-- ---- the job as one table ---------------------------------------------------
-- A call reads the job's fields once (one HMGET of the fields it and its
-- helpers read: a field missing from the list reads as absent, so the lists
-- below must name every field read), every helper reads and writes that
-- table, and the writes reach Redis once, in changed() or flush() (one HDEL
-- of the deleted fields that exist or were not read, then one HSET, in the
-- order the helpers made them).  j.now is the call's one TIME.

-- The fields the state machine reads: the writers off the hot paths load
-- them all (one list is less to get wrong than a list per call).
local FIELDS = {'status', 'token', 'tenant', 'type', 'priority', 'created_at', 'run_at',
                'm_due_at', 'm_started', 'attempt', 'max_attempts', 'timeout_s', 'deadline_at',
                'cancel_requested', 'progress_pct', 'progress_msg', 'progress_at',
                'started_at', 'callback_url', 'cb_seq', 'ttl_s', 'failed_ttl_s', 'idem_key',
                'version', 'error', 'cb_last_status', 'cb_last_at', 'watch', 'counted', 'capped',
                'qz'}

-- What a claim answers of the job it took (with `id` first): what a worker
-- runs it with, from the fields ht_claim read (all: load_claim) and wrote
-- (no second read).
local CLAIM_REPLY = {'type', 'status', 'tenant', 'priority', 'payload', 'attempt',
                     'max_attempts', 'timeout_s', 'token', 'worker', 'created_at', 'run_at',
                     'started_at', 'deadline_at', 'version', 'input', 'metadata'}

-- What ht_complete_many answers of a job it claimed (its only caller, a
-- worker of schema 18 and newer, reads no more): what the worker runs the
-- job with, as {id, token, attempt, type, payload, count_wait, then name,
-- value pairs of these fields, which a job has only when not at their
-- default}.  The status is `running`, implied.
local CLAIM_REPLY_MANY = {'tenant', 'priority', 'max_attempts', 'timeout_s', 'input'}

-- Appends the name, value pairs of the fields in `names` that f has to
-- out after its first n entries; returns the new count.
local function put_pairs(out, n, f, names)
  for i = 1, #names do
    local name = names[i]
    local v = f[name]
    if v then
      out[n + 1] = name
      out[n + 2] = v
      n = n + 2
    end
  end
  return n
end

-- The ones ht_complete and the helpers it calls read.
-- (cb_seq is read by finish() when the job has a callback, the progress by
-- changed() when the job is watched: not on every completion.)
local COMPLETE_FIELDS = {'status', 'token', 'started_at', 'tenant', 'type', 'priority',
                         'created_at', 'attempt', 'max_attempts', 'cancel_requested', 'error',
                         'callback_url', 'ttl_s', 'failed_ttl_s', 'idem_key', 'version', 'watch',
                         'counted', 'capped'}

-- The ones a succeeded outcome reads (COMPLETE_FIELDS without those only
-- a failure, a retry or a cancel reads: priority, attempt, max_attempts,
-- cancel_requested, error, failed_ttl_s; the ones it deletes among them are
-- deleted without being read, see del).  changed() reads attempt when the
-- job is watched.
local SUCCESS_FIELDS = {'status', 'token', 'started_at', 'tenant', 'type', 'created_at',
                        'callback_url', 'ttl_s', 'idem_key', 'version', 'watch', 'counted',
                        'capped'}

-- Field list -> set of its names, made once (Lua work per call costs about
-- as much as a Redis command: the tables here are kept few).
local loaded_sets = {}
local function loaded_set(fields)
  local set = loaded_sets[fields]
  if not set then
    set = {}
    for _, name in ipairs(fields) do set[name] = true end
    loaded_sets[fields] = set
  end
  return set
end

-- HMGET answers false for a missing field: the table holds nil instead.
-- j.hs: the pending HSET's arguments (field, value, ...) in the order of
-- put() (a field put twice is set twice: the last value wins, as in one
-- HSET); j.dels: the pending HDEL's fields.
--   Every table of a job is made by a constructor that names all the keys
-- it will hold (nil ones included) and has room for the pending writes: a
-- Lua table grown one key at a time is rehashed at each power of two.
local function job_of(key, id, f, loaded, base)
  base = base or base_of(key)
  return {key = key, id = id, base = base, f = f, loaded = loaded,
          hs = {nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
                nil, nil, nil, nil, nil, nil, nil, nil},
          dels = {nil, nil, nil, nil, nil, nil, nil, nil},
          tb = base .. 't:' .. (f.tenant or 'default') .. ':', now = nil, tally = nil,
          sums = nil, tally_run = nil, tally_wait = nil, log_ttl = nil, persist_log = nil}
end

local function load(key, id, fields)
  local v = redis.call('HMGET', key, unpack(fields))
  local f = {}
  for i = 1, #fields do
    local x = v[i]
    if x then f[fields[i]] = x end
  end
  return job_of(key, id, f, loaded_set(fields))
end

-- load(key, id, COMPLETE_FIELDS), or SUCCESS_FIELDS for a succeeded
-- outcome, the hottest, with its field table made by one constructor (the
-- fields in the order of the list; `x or nil`: HMGET's false is nil).
-- succeeded: the HMGET of SUCCESS_FIELDS already made (settle_success's), or
-- nil.
local function load_complete(key, id, base, outcome, succeeded)
  if outcome == 'succeeded' then
    local v = succeeded or redis.call('HMGET', key, unpack(SUCCESS_FIELDS))
    return job_of(key, id, {
      status = v[1] or nil, token = v[2] or nil, started_at = v[3] or nil, tenant = v[4] or nil,
      type = v[5] or nil, created_at = v[6] or nil, callback_url = v[7] or nil,
      ttl_s = v[8] or nil, idem_key = v[9] or nil, version = v[10] or nil, watch = v[11] or nil,
      counted = v[12] or nil, capped = v[13] or nil,
      -- what settle and its helpers may add
      result = nil, output = nil, finished_at = nil, cb_seq = nil, cb_id = nil, cb_state = nil,
      cb_attempts = nil, attempt = nil}, loaded_set(SUCCESS_FIELDS), base)
  end
  local v = redis.call('HMGET', key, unpack(COMPLETE_FIELDS))
  return job_of(key, id, {
    status = v[1] or nil, token = v[2] or nil, started_at = v[3] or nil, tenant = v[4] or nil,
    type = v[5] or nil, priority = v[6] or nil, created_at = v[7] or nil, attempt = v[8] or nil,
    max_attempts = v[9] or nil, cancel_requested = v[10] or nil, error = v[11] or nil,
    callback_url = v[12] or nil, ttl_s = v[13] or nil, failed_ttl_s = v[14] or nil,
    idem_key = v[15] or nil, version = v[16] or nil, watch = v[17] or nil, counted = v[18] or nil,
    capped = v[19] or nil,
    -- what settle and its helpers may add
    result = nil, output = nil, finished_at = nil, cb_seq = nil, cb_id = nil, cb_state = nil,
    cb_attempts = nil, run_at = nil, qz = nil}, loaded_set(COMPLETE_FIELDS), base)
end

-- A job read whole (HGETALL): every field is loaded (j.loaded = ALL).  A
-- claim reads the job this way: a queued job has few fields and the claim
-- answers most of them, where an HMGET of the ~20 fields it reads would
-- look each name up in the hash (a scan of its listpack for each; most are
-- absent).
local ALL = true

-- The job's fields, read whole (start makes the job of them when it takes
-- the general path: job_of(key, id, f, ALL, base)).
local function load_claim(key)
  local v = redis.call('HGETALL', key)
  -- The fields a claim reads or writes, as nil until set (see job_of).
  local f = {status = nil, tenant = nil, type = nil, created_at = nil, run_at = nil,
             m_due_at = nil, m_started = nil, attempt = nil, timeout_s = nil, progress_pct = nil,
             progress_msg = nil, progress_at = nil, version = nil, watch = nil, payload = nil,
             max_attempts = nil, priority = nil, input = nil, metadata = nil, qz = nil,
             token = nil, worker = nil, started_at = nil, deadline_at = nil, counted = nil,
             capped = nil, id = nil}
  for i = 1, #v, 2 do f[v[i]] = v[i + 1] end
  return f
end

local function put(j, k, v)
  local hs = j.hs
  hs[#hs + 1] = k
  hs[#hs + 1] = v
  j.f[k] = v
end

-- A field not loaded may exist: it is deleted unconditionally (an HDEL of
-- a field that is not there costs nothing).
local function del(j, k)
  local hs = j.hs
  for i = #hs - 1, 1, -2 do
    if hs[i] == k then -- put before: not set after all
      table.remove(hs, i + 1)
      table.remove(hs, i)
    end
  end
  if j.f[k] ~= nil or not (j.loaded == ALL or j.loaded[k]) then j.dels[#j.dels + 1] = k end
  j.f[k] = nil
end

local function flush(j)
  if #j.dels > 0 then redis.call('HDEL', j.key, unpack(j.dels)) end
  if #j.hs > 0 then redis.call('HSET', j.key, unpack(j.hs)) end
  j.hs, j.dels = {nil, nil, nil, nil, nil, nil, nil, nil}, {}
end

-- Every change of a job ends here: version, the pending writes, and, while
-- some request watches the job (its `watch` field, the time until which
-- it is watched, is not past: ht_watch), the log entry and the
-- notification.  kind is 'progress' for progress reports, 'status'
-- (default) otherwise.  A change made while nobody watches writes neither,
-- and drops the log and the lapsed mark, if any: a log must have no hole,
-- so the next watcher starts from the document (docs/keyspace.md).
-- The log's TTL follows the job's: a job gets a TTL only when it finishes
-- (expire_finished sets j.log_ttl) and loses it only in ht_retry
-- (j.persist_log); every other change is of a job without a TTL whose log
-- has none either.
local function changed(j, status, channel, kind)
  local version = (tonumber(j.f.version) or 0) + 1
  local v = int(version)
  put(j, 'version', v)
  local w = j.f.watch
  if not w or tonumber(w) < j.now then
    if w then del(j, 'watch') end
    flush(j)
    if w then redis.call('DEL', j.key .. ':ev') end
    return version
  end
  kind = kind or 'status'
  flush(j)
  if not (j.loaded == ALL or j.loaded.progress_pct) and j.f.progress_pct == nil then
    if j.loaded.attempt or j.f.attempt then
      local p = redis.call('HMGET', j.key, 'progress_pct', 'progress_msg')
      j.f.progress_pct, j.f.progress_msg = p[1] or nil, p[2] or nil
    else -- (a succeeded outcome's read leaves attempt out)
      local p = redis.call('HMGET', j.key, 'progress_pct', 'progress_msg', 'attempt')
      j.f.progress_pct, j.f.progress_msg, j.f.attempt = p[1] or nil, p[2] or nil, p[3] or nil
    end
  end
  local log = j.key .. ':ev'
  local pct = j.f.progress_pct
  if not pct or pct == '' then pct = '-' end
  local n = redis.call('RPUSH', log, v .. ' ' .. kind .. ' ' .. status .. ' ' ..
                       (j.f.attempt or '0') .. ' ' .. pct .. ' ' .. int(j.now) .. ' ' ..
                       (j.f.progress_msg or ''))
  if n > LOG_CAP then
    redis.call('LTRIM', log, LOG_KEEP, '-1')
  elseif n == 1 and v ~= '2' then
    -- A new list for a job changed before (its first change makes version
    -- 2): a stream log ':log' left by schema 7 or older may hold its earlier
    -- entries (data step 0008 turns such logs into lists, this one lost the
    -- race): nothing reads it once the list exists, and it has no TTL, so
    -- it goes.
    redis.call('DEL', j.key .. ':log')
  end
  if j.log_ttl then
    redis.call('EXPIRE', log, int(j.log_ttl))
  elseif j.persist_log then
    redis.call('PERSIST', log)
  end
  redis.call('PUBLISH', channel .. ':' .. j.id, v .. ' ' .. status .. ' ' .. v .. '-0 ' .. kind)
  return version
end

-- Moves a job to `status`, keeping the status indexes in step.  A job that
-- a submit queued is in no index (its list is its index, see ht_list);
-- one queued here is in status:queued, and its `qz` mark says so, so that
-- leaving `queued` costs a ZREM only then (the callers whose job may be
-- queued load `qz`: FIELDS, load_claim).
local function set_status(j, status)
  local old = j.f.status
  if old and old ~= status then
    if old ~= 'queued' or j.f.qz then redis.call('ZREM', j.tb .. 'status:' .. old, j.id) end
    if j.f.qz then del(j, 'qz') end
  end
  put(j, 'status', status)
  if status == 'queued' then put(j, 'qz', '1') end
  redis.call('ZADD', j.tb .. 'status:' .. status, j.f.created_at or int(j.now), j.id)
end

-- The list holds at most SIGNAL_CAP tokens, all '1' (every writer comes
-- here): when it is full no worker is blocked on it (BLPOP blocks only on
-- an empty list), so a full list is left alone; otherwise one LPUSH of up
-- to `n` tokens (default 1, one per job queued) stays within the cap.
local function wake(signal, n)
  local room = SIGNAL_CAP - redis.call('LLEN', signal)
  if not n then
    if room > 0 then redis.call('LPUSH', signal, '1') end
    return
  end
  if n > room then n = room end
  if n > 0 then
    local tokens = {}
    for i = 1, n do tokens[i] = '1' end
    redis.call('LPUSH', signal, unpack(tokens))
  end
end

-- ---- the wait structure: priorities x types x tenants ------------------------
-- (docs/fairness.md has the rule; docs/keyspace.md the keys.)  Under the
-- partition's base B = "ht:{Q}:":
--   B q:<prio>:<type>:<tenant>  list: the tenant's queued ids of that type and
--                               priority, newest on the left (FIFO: a claim
--                               pops the right end, a job handed back is
--                               pushed there)
--   B rr:<prio>:<type>          list: the rotation, tenants whose list above is
--                               not empty (parked ones aside), head first; a
--                               tenant joins at the tail and, after its turn,
--                               goes back to it
--   B rt:<prio>                 list: the types whose rotation is not empty,
--                               least recently served first
--   B turn                      hash "<prio>:<type>" -> "<tenant> <n>": claims
--                               the head had in its current turn (weights > 1)
--   B depth                     hash "<prio>" -> queued jobs
--   B parked:<tenant>           set of "<prio>:<type>": rotations the tenant
--                               left at its running cap; it rejoins at their
--                               head when one of its jobs ends under the cap
--   B limits                    hash: the operator's pause flags and caps
--                               (ht_limits)
--   B running                   hash "y:<type>" -> running jobs of the type
-- Types ([a-z0-9_.-]) and tenants ([A-Za-z0-9_.-]) hold no ':'.

local function qkey(base, prio, jtype, tenant)
  return base .. 'q:' .. prio .. ':' .. jtype .. ':' .. tenant
end

local function prio_of(p)
  return PRIO_RANK[p] and p or 'default'
end

-- The tenant's lists that exist, as {key, type}: each is in its rotation
-- (whose type is then in the priority's type order) or parked.
local function tenant_queues(base, tenant)
  local out, seen = {}, {}
  local function add(prio, jtype)
    local q = qkey(base, prio, jtype, tenant)
    if not seen[q] then
      seen[q] = true
      if redis.call('EXISTS', q) == 1 then out[#out + 1] = {q, jtype} end
    end
  end
  for _, prio in ipairs(PRIORITIES) do
    for _, jtype in ipairs(redis.call('LRANGE', base .. 'rt:' .. prio, '0', '-1')) do add(prio, jtype) end
  end
  for _, m in ipairs(redis.call('SMEMBERS', base .. 'parked:' .. tenant)) do
    local prio, jtype = string.match(m, '^([^:]+):(.*)$')
    if prio then add(prio, jtype) end
  end
  return out
end

-- The tenant's list of (prio, type) became non-empty: it joins the rotation
-- (at the tail, or at the head when `front`: a parked tenant coming back
-- to its place), unless it is parked there; a rotation that was empty puts
-- its type at the head of the type order (it waited longest).
local function join(base, prio, jtype, tenant, front)
  if redis.call('SISMEMBER', base .. 'parked:' .. tenant, prio .. ':' .. jtype) == 1 then return end
  local rr = base .. 'rr:' .. prio .. ':' .. jtype
  local n
  if front then n = redis.call('LPUSH', rr, tenant) else n = redis.call('RPUSH', rr, tenant) end
  if n == 1 then redis.call('LPUSH', base .. 'rt:' .. prio, jtype) end
end

-- Queues job `id` of priority `prio`, type `jtype` and tenant `tenant`:
-- at the tail of its tenant's list, or at the head (`head`: handed back or
-- reaped, it runs next).  enqueue takes them from the job's table `f`.
local function enqueue_as(base, prio, jtype, tenant, id, head)
  local q = qkey(base, prio, jtype, tenant)
  local n
  if head then n = redis.call('RPUSH', q, id) else n = redis.call('LPUSH', q, id) end
  redis.call('HINCRBY', base .. 'depth', prio, '1')
  if n == 1 then join(base, prio, jtype, tenant, false) end
end

local function enqueue(base, f, id, head)
  enqueue_as(base, prio_of(f.priority), f.type or '', f.tenant or 'default', id, head)
end

-- Takes a queued job out of its list (canceled): a tenant whose list
-- empties leaves the rotation (and its parked mark), a type whose
-- rotation empties leaves the type order.
local function unqueue(base, f, id)
  local prio, jtype, tenant = prio_of(f.priority), f.type or '', f.tenant or 'default'
  local q = qkey(base, prio, jtype, tenant)
  if redis.call('LREM', q, '0', id) > 0 then redis.call('HINCRBY', base .. 'depth', prio, '-1') end
  if redis.call('EXISTS', q) == 1 then return end
  local rr = base .. 'rr:' .. prio .. ':' .. jtype
  redis.call('LREM', rr, '0', tenant)
  redis.call('SREM', base .. 'parked:' .. tenant, prio .. ':' .. jtype)
  if redis.call('EXISTS', rr) == 0 then
    redis.call('LREM', base .. 'rt:' .. prio, '0', jtype)
    redis.call('HDEL', base .. 'turn', prio .. ':' .. jtype)
  end
end

-- Brings a parked tenant back to the head of the rotations it left, when
-- it is under its running cap (or has none any more).  Returns 1 when it
-- came back somewhere.
local function unpark(base, tenant)
  local parked = base .. 'parked:' .. tenant
  local cap = tonumber(redis.call('HGET', base .. 'limits', 'tr:' .. tenant))
  if cap and redis.call('ZCARD', base .. 't:' .. tenant .. ':status:running') >= cap then
    return 0
  end
  local back = 0
  for _, m in ipairs(redis.call('SMEMBERS', parked)) do
    local prio, jtype = string.match(m, '^([^:]+):(.*)$')
    redis.call('SREM', parked, m)
    if prio and redis.call('EXISTS', qkey(base, prio, jtype, tenant)) == 1 then
      join(base, prio, jtype, tenant, true)
      back = 1
    end
  end
  return back
end

-- ---- metrics (served by ht_metrics; the api renders them) -----------------
-- Counted in Redis, cluster-wide, with nothing exposed by the workers:
-- inside the same atomic calls that change the jobs, or, when the caller
-- counts (the C worker: a claim or a completion made with its flag, see
-- ht_count_add), by the caller, who adds up what the calls answer and
-- sends the sums once a second.  A call made with the flag sets j.tally,
-- and the helpers below note on j what they would have counted instead of
-- counting it: the histograms' observations (j.tally_wait, j.tally_run:
-- "<bucket> <ms>"); the
-- events are the caller's to infer (a claim is a start, a completion's
-- status its outcome).  Histogram buckets are upper bounds in ms (fixed:
-- changing them changes the keyspace, see SCHEMA); each bucket field
-- counts its own observations, ht_metrics makes them cumulative.
local HIST_BUCKETS = {
  wait = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
          300000, 1800000},
  run = {10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
         900000, 3600000},
}

-- "ht:{Q}:metrics" field "jobs:<event>:<type>" += 1 (types are few: the
-- ones workers registered, so the hash stays small).
local function count_type(base, jtype, what)
  redis.call('HINCRBY', base .. 'metrics', 'jobs:' .. what .. ':' .. (jtype or 'unknown'), '1')
end

-- The bucket bounds as field names, made at the first use (the string
-- library is not there while the library loads).
local HIST_FIELDS = {}

-- The bucket field of an observation of `ms` (>= 0) in histogram `name`.
local function bucket_of(name, ms)
  local names = HIST_FIELDS[name]
  if not names then
    names = {}
    for i, b in ipairs(HIST_BUCKETS[name]) do names[i] = string.format('%d', b) end
    HIST_FIELDS[name] = names
  end
  local bounds = HIST_BUCKETS[name]
  for i = 1, #bounds do
    if ms <= bounds[i] then return names[i] end
  end
  return '+Inf'
end

-- An observation as the caller counts it (see j.tally): "<bucket> <ms>".
local function tally_obs(name, ms)
  if ms < 0 then ms = 0 end
  return bucket_of(name, ms) .. ' ' .. int(ms)
end

local function observe(j, name, ms)
  if j.tally then
    local obs = tally_obs(name, ms)
    if name == 'wait' then j.tally_wait = obs else j.tally_run = obs end
    return
  end
  if ms < 0 then ms = 0 end
  local le = bucket_of(name, ms)
  local h = j.base .. 'hist:' .. name
  redis.call('HINCRBY', h, le, '1')
  redis.call('HINCRBY', h, 'sum_ms', int(ms))
end

-- At claim: one more attempt started; the first start of the job's life
-- (submit, or a hand retry) observes how long it waited since it was due:
-- created_at, or run_at (delayed), or m_due_at (ht_retry).
local function observe_start(j)
  if not j.tally then count_type(j.base, j.f.type, 'started') end
  if j.f.m_started == nil then
    put(j, 'm_started', '1')
    local now = j.now
    local due = math.max(tonumber(j.f.created_at) or now, tonumber(j.f.run_at) or 0,
                         tonumber(j.f.m_due_at) or 0)
    observe(j, 'wait', now - due)
  end
end

-- At complete (any outcome, retries included): the attempt's run time.
local function observe_run(j)
  local started = tonumber(j.f.started_at)
  if started then observe(j, 'run', j.now - started) end
end

-- ht_retry starts a new life: its first start is observed again, from now.
local function mark_due(j)
  del(j, 'm_started')
  put(j, 'm_due_at', int(j.now))
end

local DELIVERY_OUTCOMES = {delivered = 'delivered', retry = 'retried', failed = 'failed'}
local function count_delivery(base, outcome)
  redis.call('HINCRBY', base .. 'metrics',
             'webhook:' .. (DELIVERY_OUTCOMES[outcome] or 'failed'), 1)
end

local function count(j, what)
  if j.tally then return end
  redis.call('HINCRBY', j.tb .. 'stats', what, '1')
  count_type(j.base, j.f.type, what)
end

-- ---- files (the blob store holds the bytes; shared/blob.h) ----------------
-- "<bytes> <sha256> <name> <content type>" -> bytes, name
local function file_ref(ref)
  local bytes, name = string.match(ref or '', '^(%d+) %x+ ([%w_-]+) ')
  return tonumber(bytes), name
end

-- Records that job `id` of the tenant (tb, its index prefix) keeps blob
-- `name` of `bytes` bytes: the tenant's files hash and its stored bytes.
local function keep_file(tb, id, bytes, name)
  local prev = redis.call('HGET', tb .. 'files', id)
  local total, names = 0, ''
  if prev then total, names = string.match(prev, '^(%d+)(.*)$') end
  redis.call('HSET', tb .. 'files', id, int((tonumber(total) or 0) + bytes) .. names .. ' ' .. name)
  redis.call('HINCRBY', tb .. 'stats', 'stored_bytes', bytes)
end

-- A job gone from Redis: its blobs are listed for deletion (the gone list
-- that the api's sweeper drains) and its bytes leave the tenant's total.
local function drop_files(base, tenant, tb, id)
  local entry = redis.call('HGET', tb .. 'files', id)
  if not entry then return end
  redis.call('HDEL', tb .. 'files', id)
  local total, names = string.match(entry, '^(%d+)(.*)$')
  redis.call('HINCRBY', tb .. 'stats', 'stored_bytes', -(tonumber(total) or 0))
  for name in string.gmatch(names or '', '%S+') do
    redis.call('RPUSH', base .. 'gone', tenant .. '/' .. id .. '/' .. name)
  end
end

-- ---- expiry buckets (ht_trim walks them) --------------------------------
-- A finished job is filed under the bucket of the time it expires: the
-- list exp:<n> of its partition holds the jobs that expire in
-- ((n - 1) * EXPIRY_BUCKET_MS, n * EXPIRY_BUCKET_MS], each entry its id, or
-- "<id> <tenant>" for a tenant other than default; exps holds the
-- partition's buckets, member n scored by its end, written when the RPUSH
-- makes the list.  An entry costs the list its bytes; a bucket costs a
-- key and a member of exps, shared by the partition's jobs of that
-- EXPIRY_BUCKET_MS.  ht_trim walks a bucket once its end has passed, so
-- an expired job stays in its status index (and its counts) up to
-- EXPIRY_BUCKET_MS plus the trim's interval after it expired.  ht_trim
-- reads each bucket's end from its score: a bucket written with another
-- width is walked alike.
local EXPIRY_BUCKET_MS = 10000

-- Files job `id` of `tenant` (nil: default) of the partition `base` in
-- the bucket of `at` (ms).
local function file_expiry(base, tenant, id, at)
  local n = math.ceil(at / EXPIRY_BUCKET_MS)
  local b = int(n)
  if tenant and tenant ~= 'default' then id = id .. ' ' .. tenant end
  if redis.call('RPUSH', base .. 'exp:' .. b, id) == 1 then
    redis.call('ZADD', base .. 'exps', int(n * EXPIRY_BUCKET_MS), b)
  end
end

-- The expiry of finished job `id` of `tenant` (nil: default) in the
-- partition `base` (its hash `key`), `ttl` seconds from `now` (ms): the
-- hash and its idempotency key `idem` (nil or '': none) get the TTL, and
-- its expiry bucket tells ht_trim when.  expire_finished's, and
-- settle_success's (a succeeded job that nobody watches has no log).
local function expire_job(key, base, tenant, id, now, ttl, idem)
  local ttl_s = int(ttl)
  redis.call('EXPIRE', key, ttl_s)
  if idem and idem ~= '' then redis.call('EXPIRE', idem, ttl_s) end
  file_expiry(base, tenant, id, now + ttl * 1000)
end

-- A job reached a terminal status: it (and its idempotency key) expire
-- ttl_s later, failed jobs after failed_ttl_s, and its expiry bucket
-- (file_expiry) tells ht_trim when to drop it from the listing indexes.
-- The log gets the same TTL: at once when `log_now`, else in changed(),
-- after its RPUSH (which may be the one that creates it).
local function expire_finished(j, status, log_now)
  local ttl = tonumber(j.f.ttl_s) or 86400
  if status == 'failed' then ttl = math.max(ttl, tonumber(j.f.failed_ttl_s) or FAILED_TTL_S) end
  expire_job(j.key, j.base, j.f.tenant, j.id, j.now, ttl, j.f.idem_key)
  if log_now then
    -- Only a job watched since its last change has a log.
    if j.f.watch then redis.call('EXPIRE', j.key .. ':ev', int(ttl)) end
  else
    j.log_ttl = ttl
  end
end

-- A job with a callback_url gets a pending delivery of this terminal event
-- (a new webhook-id) and expires only when the delivery ends
-- (ht_delivery_done); any other job starts expiring now.
local function finish(j, status)
  put(j, 'finished_at', int(j.now))
  -- What only a running attempt needs goes with it (fewer bytes per
  -- finished job): its deadline and the wait histogram's mark (ht_retry
  -- starts a new life without it).  The token stays: it orders the
  -- attempts of a queue.  A succeeded job, which cannot be retried, needs
  -- no failed_ttl_s.
  del(j, 'deadline_at')
  del(j, 'm_started')
  if status == 'succeeded' then del(j, 'failed_ttl_s') end
  local url = j.f.callback_url
  if url and url ~= '' then
    if not (j.loaded == ALL or j.loaded.cb_seq) then
      j.f.cb_seq = redis.call('HGET', j.key, 'cb_seq') or nil
    end
    local seq = (tonumber(j.f.cb_seq) or 0) + 1
    put(j, 'cb_seq', int(seq))
    put(j, 'cb_id', 'msg_' .. j.id .. '_' .. int(seq))
    put(j, 'cb_state', 'pending')
    put(j, 'cb_attempts', '0')
    del(j, 'cb_last_status')
    del(j, 'cb_last_at')
    redis.call('ZADD', j.base .. 'deliveries', int(j.now), j.id)
  else
    expire_finished(j, status, false)
  end
  count(j, status)
end

-- The submit fields that cannot go to the job's HSET as the caller sent
-- them (true), or not at this value (OMIT_DEFAULT's: left out): the
-- queue, an id (the key's), what submit sets itself, a default.
local NOT_AS_IS = {queue = true, id = true, version = true, created_at = true, status = true,
                   run_at = true, idem_key = true, tenant = 'default', priority = 'default',
                   max_attempts = '3', timeout_s = '300', ttl_s = '86400',
                   failed_ttl_s = '604800'}

-- ht_submit's HSET when some field cannot go as it is (see NOT_AS_IS: a
-- caller of schema 18 and older sends every field, defaults included):
-- the fixed fields, then the caller's (which win), then idem_key, run_at
-- and status, gathered in one table.  Returns the job's version and the
-- created_at its status index is scored by.
local function submit_fields(job, args, created_at, priority, idem, status, run_at)
  local hs = {'version', '1', 'created_at', created_at}
  local created, gave_priority = created_at, false
  for i = 6, #args, 2 do
    local name, value = args[i], args[i + 1]
    if name == 'priority' then
      value = priority
      gave_priority = true
    end
    if name == 'version' then
      hs[2] = int((tonumber(value) or 0) + 1)
    elseif name ~= 'queue' and name ~= 'id' and (value == nil or OMIT_DEFAULT[name] ~= value) then
      hs[#hs + 1] = name
      hs[#hs + 1] = value
    end
    if name == 'created_at' and value ~= nil then created = value end
  end
  if priority ~= 'default' and not gave_priority then
    hs[#hs + 1] = 'priority'
    hs[#hs + 1] = priority
  end
  if idem ~= '' then
    hs[#hs + 1] = 'idem_key'
    hs[#hs + 1] = idem
  end
  if status == 'scheduled' then
    hs[#hs + 1] = 'run_at'
    hs[#hs + 1] = int(run_at)
  end
  hs[#hs + 1] = 'status'
  hs[#hs + 1] = status
  redis.call('HSET', job, unpack(hs))
  return tonumber(hs[2]), tonumber(created) or created_at
end

-- ht_submit KEYS: job, wait (ht:{Q}:wait:<priority>: names the partition's
--                 slot; the job goes to its tenant's list, see enqueue),
--                 signal
--           ARGV: id, channel, run_at ms ('' or '0' = now), idempotency key
--                 name ('' = none), body hash, field, value, ...
-- Fields at their default may be left out (an absent one reads as it);
-- a caller of schema 18 and older sends them all, and the queue.
-- Returns {version, created_at, status, id, 0, priority} for a new job
-- (priority: the one applied, lowered to the tenant's max_priority),
-- {0, '', '', first job's id, 1, ''} when the idempotency key was used with
-- the same body hash (nothing written), an IDEMMISMATCH error when it was
-- used with another body, or an OVERCAP error "OVERCAP max_queued <n>" when
-- the tenant has its max_queued jobs waiting (queued or scheduled) in this
-- partition.  An id already taken is an EXISTS error.
-- `many` (ht_submit_many's, nil otherwise) shares one TIME among its jobs
-- and counts the jobs queued (many.queued), woken for in one call.
local function submit(keys, args, many)
  local job, signal = keys[1], keys[3]
  local id, run_at, idem, hash = args[1], tonumber(args[3]) or 0, args[4], args[5]
  if idem ~= '' then
    local seen = redis.call('GET', idem)
    if seen then
      local first, first_hash = string.match(seen, '^(%S+) (%S+)$')
      if first_hash ~= hash then
        return redis.error_reply('IDEMMISMATCH the Idempotency-Key was used with another body')
      end
      return {0, '', '', first, 1, ''}
    end
  end
  if redis.call('EXISTS', job) == 1 then
    return redis.error_reply('EXISTS job id already taken')
  end
  local base = base_of(job)
  -- One pass over the caller's fields: the few the call uses, and whether
  -- they can all go to the HSET as they are.
  local tenant, given, jtype, input, as_is = 'default', nil, nil, nil, true
  for i = 6, #args, 2 do
    local name, value = args[i], args[i + 1]
    if name == 'type' then
      jtype = value
    elseif name == 'tenant' then
      tenant = value or tenant
    elseif name == 'priority' then
      given = value
    elseif name == 'input' then
      input = value
    end
    local no = NOT_AS_IS[name]
    if value == nil or no == true or no == value then as_is = false end
  end
  local priority = prio_of(given)
  local tb = base .. 't:' .. tenant .. ':'
  local cap = redis.call('HMGET', base .. 'limits', 'tq:' .. tenant, 'tp:' .. tenant)
  if cap[1] then
    -- Every queued job is in one of its tenant's lists.
    local n = redis.call('ZCARD', tb .. 'status:scheduled')
    for _, q in ipairs(tenant_queues(base, tenant)) do n = n + redis.call('LLEN', q[1]) end
    if n >= tonumber(cap[1]) then return redis.error_reply('OVERCAP max_queued ' .. cap[1]) end
  end
  if cap[2] and PRIO_RANK[cap[2]] and PRIO_RANK[priority] < PRIO_RANK[cap[2]] then
    priority = cap[2]
  end
  local now = many and many.now or now_ms()
  local created_at = int(now)
  local status = run_at > now and 'scheduled' or 'queued'
  -- One HSET: the fixed fields, then the caller's, then idem_key, run_at
  -- and status.  attempt and token are left out while they are 0 (fewer
  -- bytes per queued job; readers take absent as 0), and so is the id
  -- (the key's).  The caller's fields go from ARGV as they are when they
  -- can (no table of them is made).
  local version, created = 1, created_at
  if as_is and priority == (given or 'default') then
    if status == 'queued' then
      if idem == '' then
        redis.call('HSET', job, 'version', '1', 'created_at', created_at, 'status', status,
                   unpack(args, 6))
      else
        redis.call('HSET', job, 'version', '1', 'created_at', created_at, 'idem_key', idem,
                   'status', status, unpack(args, 6))
      end
    elseif idem == '' then
      redis.call('HSET', job, 'version', '1', 'created_at', created_at, 'run_at', int(run_at),
                 'status', status, unpack(args, 6))
    else
      redis.call('HSET', job, 'version', '1', 'created_at', created_at, 'idem_key', idem,
                 'run_at', int(run_at), 'status', status, unpack(args, 6))
    end
  else
    version, created = submit_fields(job, args, created_at, priority, idem, status, run_at)
  end
  if input then
    local bytes, name = file_ref(input)
    if bytes then keep_file(tb, id, bytes, name) end
  end
  if idem ~= '' then redis.call('SET', idem, id .. ' ' .. hash) end
  -- The tenant joins the partition's tenants at its first submit here:
  -- its submitted total (never lowered) is then 1.
  if redis.call('HINCRBY', tb .. 'stats', 'submitted', '1') == 1 then
    redis.call('SADD', base .. 'tenants', tenant)
  end
  count_type(base, jtype, 'submitted')
  if status == 'scheduled' then
    redis.call('ZADD', base .. 'scheduled', run_at, id)
    redis.call('ZADD', tb .. 'status:scheduled', created, id)
  else
    -- Its list is its only index while it waits there (ht_list reads it):
    -- status:queued holds the jobs queued again after they left.
    enqueue_as(base, priority, jtype or '', tenant, id, false)
    if many then many.queued = many.queued + 1 else wake(signal) end
  end
  -- No event log entry and no notification for the first state: nobody can
  -- be watching a job that did not exist, the hash holds that state, and a
  -- backlog of waiting jobs must not pay a stream each (a Redis stream
  -- allocates a whole node, about 4 KB, for its first entry).
  return {version, created_at, status, id, 0, priority}
end

-- ---- leases ------------------------------------------------------------------
-- A claimed job is owned until its score in the active zset: now + lease_ms
-- at the claim and at every renewal (ht_renew_many), so a job whose worker
-- died is reaped (ht_reap) lease_ms after its last renewal, whatever its
-- timeout_s.  The score never passes the attempt's deadline_at, started_at +
-- timeout_s + grace_ms (stored at the claim): a worker that keeps renewing a
-- job its handler does not stop cannot hold it longer, and the reaper then
-- ends the attempt as timed out.  A claim without lease_ms (a worker of
-- schema 9 or older, during a rolling upgrade) leases the job for its
-- timeout_s, as those workers renew it (ht_renew).
local GRACE_MS = 30000 -- the grace of a claim that names none

-- The lease score of a claim at `now`, and the attempt's deadline_at.
local function lease_of(now, timeout_s, lease_ms, grace_ms)
  local deadline = now + timeout_s * 1000 + (grace_ms or GRACE_MS)
  local until_ms = now + (lease_ms or timeout_s * 1000)
  return math.min(until_ms, deadline), deadline
end

-- A positive integer argument, or nil when absent or empty.
local function positive(arg)
  local n = tonumber(arg)
  if n and n > 0 then return math.floor(n) end
  return nil
end

-- HINCRBY key field n now, or, with `sums` (a call that settles or claims
-- several jobs, see ht_complete_many), added to sums and sent by
-- send_sums, one HINCRBY per key and field whose sum is not 0: what a
-- batch adds up to, as one command.
local function add(sums, key, field, n)
  if not sums then
    redis.call('HINCRBY', key, field, n == 1 and '1' or n == -1 and '-1' or int(n))
    return
  end
  local name = key .. '\0' .. field
  local e = sums[name]
  if not e then
    e = {key, field, 0}
    sums[name] = e
    sums[#sums + 1] = e
  end
  e[3] = e[3] + n
end

local function send_sums(sums)
  if not sums then return end
  for i, e in ipairs(sums) do
    if e[3] ~= 0 then redis.call('HINCRBY', e[1], e[2], int(e[3])) end
    sums[e[1] .. '\0' .. e[2]] = nil
    sums[i] = nil
  end
end

-- What a claim answers of job `id` (see start), from f, its fields after
-- the claim, and `wait`, the wait observation (nil: none).
local function claim_reply(c, id, f, wait)
  if c.many then
    local out = {id, f.token, f.attempt, f.type, f.payload or false, wait or false,
                 nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}
    put_pairs(out, 6, f, CLAIM_REPLY_MANY)
    return out
  end
  -- Room for every CLAIM_REPLY pair and count_wait's (see job_of).
  local out = {'id', id, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
               nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
               nil, nil, nil, nil, nil, nil}
  local n = put_pairs(out, 2, f, CLAIM_REPLY)
  if wait then
    out[n + 1] = 'count_wait'
    out[n + 2] = wait
  end
  return out
end

-- The claim's fencing token (see start).
local function next_token(c)
  if c.fenced then
    c.fenced, c.unfenced = c.fenced + 1, c.unfenced + 1
    return c.fenced
  end
  local token = redis.call('INCR', c.fence)
  if c.sums then c.fenced, c.unfenced = token, 0 end
  return token
end

-- A claim of a queued job, straight (locals and the field table, no job
-- table): for a caller that counts (c.tally), not under a type cap, and a
-- job that nobody watches (no `watch` field, not even a lapsed one), not
-- in status:queued (no `qz`: a submit queued it) and without an earlier
-- attempt's progress fields; start checks these.  It writes what start's
-- general path writes for it (the same commands, fields and values, in the
-- same order; tests/integration/test_fastpath.sh compares the two).
local function start_straight(c, id, job, f)
  local now = c.now or now_ms()
  local token = next_token(c)
  local score, deadline = lease_of(now, tonumber(f.timeout_s) or 300, c.lease, c.grace)
  local attempt = (tonumber(f.attempt) or 0) + 1
  local base = c.base
  add(c.sums, base .. 'running', 'y:' .. (f.type or ''), 1)
  local wait
  if f.m_started == nil then
    local due = math.max(tonumber(f.created_at) or now, tonumber(f.run_at) or 0,
                         tonumber(f.m_due_at) or 0)
    wait = tally_obs('wait', now - due)
  end
  local tb = base .. 't:' .. (f.tenant or 'default') .. ':'
  redis.call('ZADD', tb .. 'status:running', f.created_at or int(now), id)
  redis.call('ZADD', c.active, int(score), id)
  local a, t, at, dl = attempt == 1 and '1' or int(attempt), int(token), int(now), int(deadline)
  local ver = int((tonumber(f.version) or 0) + 1)
  if wait then
    redis.call('HSET', job, 'attempt', a, 'token', t, 'worker', c.worker, 'started_at', at,
               'deadline_at', dl, 'counted', '1', 'm_started', '1', 'status', 'running',
               'version', ver)
    f.m_started = '1'
  else
    redis.call('HSET', job, 'attempt', a, 'token', t, 'worker', c.worker, 'started_at', at,
               'deadline_at', dl, 'counted', '1', 'status', 'running', 'version', ver)
  end
  f.attempt, f.token, f.worker, f.started_at, f.deadline_at = a, t, c.worker, at, dl
  f.counted, f.status, f.version = '1', 'running', ver
  return claim_reply(c, id, f, wait)
end

-- Starts job `id`, just popped from its list, for claimer `c` (see
-- take_next): its new attempt, token and lease; it counts in its type's
-- running count, and `capped` (claimed under a type cap) marks it so that
-- its end wakes idle workers.  Returns the job as ht_claim answers it (the
-- CLAIM_REPLY fields it has, from what it read and wrote: no second read;
-- with c.many, as ht_complete_many answers it, see CLAIM_REPLY_MANY),
-- or nil when the id is not a queued job's (a stale entry: dropped).  When
-- the caller counts (c.tally), the start is not counted here and the reply
-- ends with the pair 'count_wait', "<bucket> <ms>", when this start is the
-- first of the job's life (the wait observation).  With c.sums (see add)
-- the running count's increment is summed, and the fencing tokens after
-- the call's first are counted in c.unfenced and taken from the counter at
-- the end of the call (ht_complete_many): nothing else runs in between.
-- The commonest claim takes start_straight.
local function start(c, id, capped)
  local job = c.base .. 'job:' .. id
  local f = load_claim(job)
  if f.status ~= 'queued' then return nil end
  if c.tally and not capped and not f.watch and not f.qz and not f.progress_pct and
     not f.progress_msg and not f.progress_at then
    return start_straight(c, id, job, f)
  end
  local j = job_of(job, id, f, ALL, c.base)
  j.tally = c.tally
  j.now = c.now or now_ms()
  local token = next_token(c)
  local score, deadline = lease_of(j.now, tonumber(j.f.timeout_s) or 300, c.lease, c.grace)
  local attempt = (tonumber(j.f.attempt) or 0) + 1
  put(j, 'attempt', attempt == 1 and '1' or int(attempt))
  del(j, 'progress_pct')
  del(j, 'progress_msg')
  del(j, 'progress_at')
  put(j, 'token', int(token))
  put(j, 'worker', c.worker)
  put(j, 'started_at', int(j.now))
  put(j, 'deadline_at', int(deadline))
  add(c.sums, c.base .. 'running', 'y:' .. (j.f.type or ''), 1)
  put(j, 'counted', '1')
  if capped then put(j, 'capped', '1') end
  observe_start(j)
  set_status(j, 'running')
  redis.call('ZADD', c.active, int(score), id)
  changed(j, 'running', c.channel)
  return claim_reply(c, id, j.f, j.tally_wait)
end

-- After a claim from the head tenant of a rotation that still has jobs
-- there: its turn goes on (a weight w gives it w claims in a row, counted
-- in B turn) or it goes to the tail.  `alone`: it is the rotation's only
-- tenant, head and tail at once (the move would change nothing).
local function next_turn(base, rr, field, tenant, weights, alone)
  local w = weights and tonumber(redis.call('HGET', base .. 'limits', 'tw:' .. tenant)) or 1
  if w <= 1 then
    if not alone then redis.call('LMOVE', rr, rr, 'LEFT', 'RIGHT') end
    return
  end
  local cur = redis.call('HGET', base .. 'turn', field)
  local who, n = nil, 0
  if cur then who, n = string.match(cur, '^(%S+) (%d+)$') end
  n = who == tenant and (tonumber(n) or 0) + 1 or 1
  if n >= w then
    if not alone then redis.call('LMOVE', rr, rr, 'LEFT', 'RIGHT') end
    redis.call('HDEL', base .. 'turn', field)
  else
    redis.call('HSET', base .. 'turn', field, tenant .. ' ' .. int(n))
  end
end

-- Drops type `jtype` from the claimer's copy of a type order (see
-- take_next): every entry, or, with `again`, the first one, which then goes
-- to the end, as the LREM and RPUSH on the list itself do.  Only for a
-- claimer that claims again (c.keep: ht_complete_many's k > 1); a single
-- claim never reads its copy again.
local function reorder(c, list, jtype, again)
  if not c.keep then return end
  for i = #list, 1, -1 do
    if list[i] == jtype then
      table.remove(list, i)
      if again then break end
    end
  end
  if again then list[#list + 1] = jtype end
end

-- Claims from the rotation of (prio, jtype): the head tenant's oldest job,
-- skipping (parking) tenants at their running cap.  ready: the claimer's
-- copy of the priority's type order, kept as the list itself changes.
-- room: how many more jobs of this type the claimer may take (c.left, the
-- claims its call has left, under the type's cap).  Returns the job or nil
-- when the rotation has nothing claimable.
--   A tenant alone in its rotation, of the priority's only type, with no
-- weights and no tenant caps, gets every claim the call has left until its
-- list is empty: then one RPOP of up to `room` ids replaces that many
-- LRANGE/RPOP/EXISTS (the ids wait in c.popped, taken in their order); its
-- place in the rotation changes when the last of them is taken, as it
-- would after that many single claims.
local function from_type(c, prio, jtype, ready, capped, room)
  local base = c.base
  local rr, rt, field = base .. 'rr:' .. prio .. ':' .. jtype, base .. 'rt:' .. prio,
                        prio .. ':' .. jtype
  while true do
    local popped, tenant, id, stays, alone = c.popped
    if popped and popped.rr == rr and popped.i <= #popped then
      tenant, id = popped.tenant, popped[popped.i]
      popped.i = popped.i + 1
      stays = popped.i <= #popped or popped.more
      alone = true
    else
      -- The head tenant, and whether another follows it.
      local head = redis.call('LRANGE', rr, '0', '1')
      tenant, alone = head[1], head[2] == nil
      if not tenant then
        redis.call('LREM', rt, '0', jtype)
        reorder(c, ready, jtype, false)
        return nil
      end
      local tcap = c.tcaps and tonumber(redis.call('HGET', base .. 'limits', 'tr:' .. tenant))
      if tcap and redis.call('ZCARD', base .. 't:' .. tenant .. ':status:running') >= tcap then
        redis.call('LPOP', rr)
        redis.call('SADD', base .. 'parked:' .. tenant, field)
        if c.weights then redis.call('HDEL', base .. 'turn', field) end
        tenant = nil
      else
        local q = qkey(base, prio, jtype, tenant)
        if alone and room > 1 and c.keep and #ready == 1 and not c.weights and not c.tcaps then
          local ids = redis.call('RPOP', q, int(room))
          if ids then
            popped = ids
            popped.rr, popped.q, popped.tenant, popped.i = rr, q, tenant, 2
            popped.more = redis.call('EXISTS', q) == 1
            c.popped = popped
            id, stays = ids[1], #ids > 1 or popped.more
          end
        else
          id = redis.call('RPOP', q)
          -- stays: the tenant keeps its place in the rotation (rr not empty)
          stays = id and redis.call('EXISTS', q) == 1
        end
      end
    end
    if tenant then
      if stays then
        next_turn(base, rr, field, tenant, c.weights, alone)
      else
        redis.call('LPOP', rr)
        if c.weights then redis.call('HDEL', base .. 'turn', field) end
      end
      if id then
        add(c.sums, base .. 'depth', prio, -1)
        local job = start(c, id, capped)
        if job then
          -- The type was served: it goes to the end of the type order.
          if not stays and redis.call('EXISTS', rr) == 0 then
            redis.call('LREM', rt, '0', jtype)
            reorder(c, ready, jtype, false)
          elseif #ready > 1 then
            redis.call('LREM', rt, '1', jtype)
            redis.call('RPUSH', rt, jtype)
            reorder(c, ready, jtype, true)
          end
          return job
        end
      end
    end
  end
end

-- Ids popped for claims the call did not make (none: see from_type; a
-- safety net) go back to the claim end of their list, in their order.
local function unpop(c)
  local popped = c.popped
  if not popped or popped.i > #popped then return end
  local back = {}
  for i = #popped, popped.i, -1 do back[#back + 1] = popped[i] end
  redis.call('RPUSH', popped.q, unpack(back)) -- (counted in depth until taken)
  c.popped = nil
end

-- A claimer (see take_next) with every key it will hold (see job_of).
local function claimer(base, active, fence, types, worker, channel, lease, grace, now, tally,
                       sums, keep)
  return {base = base, active = active, fence = fence, types = types, worker = worker,
          channel = channel, lease = lease, grace = grace, now = now, tally = tally, sums = sums,
          keep = keep, paused = nil, tcaps = nil, weights = nil, tlims = nil, ready = nil,
          seen = nil, running = nil, fenced = nil, unfenced = nil, left = nil, popped = nil,
          many = nil}
end

-- The claim itself, shared by ht_claim, ht_complete and ht_complete_many.
-- c: {base, active, fence, worker, channel, lease, grace, now (nil: read
-- when a job is found), types (a set; nil: any type, for callers of schema
-- 12 and older), tally (true: the caller counts, see start)}.  The first
-- priority with a claimable job wins; within it the caller's types are
-- tried least recently served first, skipping paused types and types at
-- their running cap; within a type, tenants take turns (from_type).
-- Nothing is claimed while the partition is paused.
--   What a claim reads besides the jobs (the partition's limits, each
-- priority's type order, the types' pause flags, caps and running counts)
-- is read once per c and then kept in c as this call's own writes change
-- it (the type orders only with c.keep, see reorder), so that several
-- claims in one call (ht_complete_many) read it once: nothing else runs
-- inside a function call.  Outcomes settled after a
-- claim would change it: a caller settles first, then claims.
local function take_next(c)
  local base = c.base
  local lim = base .. 'limits'
  if c.paused == nil then
    local g = redis.call('HMGET', lim, 'paused', 'tenant_caps', 'weights', 'type_limits')
    c.paused = g[1] == '1'
    c.tcaps = g[2] ~= false and g[2] ~= '0'
    c.weights = g[3] ~= false and g[3] ~= '0'
    c.tlims = g[4] ~= false and g[4] ~= '0'
    c.ready = {} -- prio -> the type order
    c.seen = {} -- type -> 'skip' (paused), or its cap (a number), or false: none
    c.running = {} -- capped type -> its running count
  end
  if c.paused then return nil end
  local seen, running = c.seen, c.running
  for _, prio in ipairs(PRIORITIES) do
    local ready = c.ready[prio]
    if not ready then
      ready = redis.call('LRANGE', base .. 'rt:' .. prio, '0', '-1')
      c.ready[prio] = ready
    end
    -- (a priority with no type waiting costs no table)
    if #ready > 0 then
      local cands, fields = {}, nil
      for _, t in ipairs(ready) do
        if c.types == nil or c.types[t] then
          cands[#cands + 1] = t
          if not c.tlims then
            seen[t] = false
          elseif seen[t] == nil then
            fields = fields or {}
            fields[#fields + 1] = 'py:' .. t
            fields[#fields + 1] = 'yr:' .. t
          end
        end
      end
      if fields then
        -- Pause flags and caps of the types not looked at yet, then the
        -- running counts of the capped ones.
        local v = redis.call('HMGET', lim, unpack(fields))
        local capped, counts = {}, {}
        for i = 1, #fields, 2 do
          local t = string.sub(fields[i], 4)
          if v[i] == '1' then
            seen[t] = 'skip'
          elseif v[i + 1] then
            seen[t] = tonumber(v[i + 1]) or 0
            capped[#capped + 1] = t
            counts[#counts + 1] = 'y:' .. t
          else
            seen[t] = false
          end
        end
        if #capped > 0 then
          local r = redis.call('HMGET', base .. 'running', unpack(counts))
          for i, t in ipairs(capped) do running[t] = tonumber(r[i]) or 0 end
        end
      end
      for _, t in ipairs(cands) do
        local cap = seen[t]
        if cap ~= 'skip' and not (cap and running[t] >= cap) then
          local left = c.left or 1
          local room = cap and math.min(left, cap - running[t]) or left
          local job = from_type(c, prio, t, ready, cap ~= false, room)
          if job then
            if cap then running[t] = running[t] + 1 end
            return job
          end
        end
      end
    end
  end
  return nil
end

-- "t1 t2 ..." -> a set of the types, and how many.
local function type_set(list)
  local set, n = {}, 0
  for t in string.gmatch(list or '', '%S+') do
    if not set[t] then n = n + 1 end
    set[t] = true
  end
  return set, n
end

-- ht_claim KEYS: active, fence
--          ARGV: base ("ht:{Q}:"), worker id, channel, lease_ms, grace_ms
--                (both optional: see lease_of), types
-- types: the job types the caller takes, one string of names separated by
-- spaces ("report.build video.transcode"); an empty list claims nothing.
-- Returns the claimed job as a flat field, value array (the CLAIM_REPLY
-- fields it has, with its new token), or nil: nothing of those types is
-- claimable (none queued, paused, capped).
--   A 7th argument '1' (workers of schema 16 and newer): the caller counts
--   (see ht_count_add): the claim counts nothing and its reply ends with
--   the wait observation, if any (see start).
--   The call of workers of schema 12 and older, KEYS wait:high,
--   wait:default, wait:low, active, fence and ARGV job key prefix
--   ("ht:{Q}:job:"), worker id, channel, lease_ms, grace_ms, claims a job of
--   any type, as they did.
local function claim(keys, args)
  local worker, channel, lease, grace = args[2], args[3], positive(args[4]), positive(args[5])
  if #keys == 5 then
    return take_next(claimer(string.match(args[1], '^(.*)job:$'), keys[4], keys[5], nil, worker,
                             channel, lease, grace, nil, false, nil, false))
  end
  local types, n = type_set(args[6])
  if n == 0 then return nil end
  return take_next(claimer(args[1], keys[1], keys[2], types, worker, channel, lease, grace, nil,
                           #keys == 2 and args[7] == '1', nil, false))
end

local function holds(j, token)
  return j.f.status == 'running' and j.f.token == token
end

-- What a renewal answers for one job (see ht_renew_many).
local RENEWED, CANCEL_REQUESTED, NOT_HELD, PAST_DEADLINE = 1, 2, 0, 3

-- Renews the lease of job `key` held with `token` until now + lease_ms
-- (never past its deadline_at).  Returns the answer and the new score (nil
-- when not renewed).  A job claimed before deadline_at existed has none: its
-- lease is capped by nothing but its worker.
local function renew_held(key, token, now, lease_ms)
  local f = redis.call('HMGET', key, 'status', 'token', 'deadline_at', 'cancel_requested',
                       'timeout_s')
  if not (f[1] == 'running' and f[2] == token) then return NOT_HELD end
  local deadline = tonumber(f[3])
  if deadline and now >= deadline then return PAST_DEADLINE end
  local until_ms = now + (lease_ms or (tonumber(f[5]) or 300) * 1000)
  if deadline and deadline < until_ms then until_ms = deadline end
  if f[4] == '1' then return CANCEL_REQUESTED, until_ms end
  return RENEWED, until_ms
end

-- ht_renew_many KEYS: active   ARGV: job key prefix, lease_ms, held jobs
-- The lease renewal of every job a worker holds in one partition, in one
-- call: the held jobs are one string of "<id> <token>" pairs separated by
-- spaces ("<id> <token>" alone for one job).  Returns one integer per pair,
-- in order: 1 renewed (owned until now + lease_ms, or its deadline_at if
-- sooner), 2 renewed but a cancel was requested (stop the handler, end it
-- canceled), 3 not renewed: past its deadline_at (the attempt ran past
-- timeout_s + grace; the reaper ends it as timed out), 0 not held (it
-- finished, its lease ran out and it was reaped, or another attempt owns
-- it: drop its outcome).
local ZADD_CHUNK = 2000 -- arguments per ZADD (unpack() has a limit)
local function renew_many(keys, args)
  local active, prefix, lease_ms = keys[1], args[1], positive(args[2])
  if not lease_ms then return redis.error_reply('BADLEASE lease_ms must be a positive integer') end
  local now = now_ms()
  local out, scores = {}, {}
  for id, token in string.gmatch(args[3] or '', '(%S+) (%S+)') do
    local answer, until_ms = renew_held(prefix .. id, token, now, lease_ms)
    out[#out + 1] = answer
    if until_ms then
      scores[#scores + 1] = until_ms
      scores[#scores + 1] = id
    end
  end
  for i = 1, #scores, ZADD_CHUNK do
    redis.call('ZADD', active, unpack(scores, i, math.min(i + ZADD_CHUNK - 1, #scores)))
  end
  return out
end

-- ht_renew KEYS: job, active   ARGV: id, token
-- The per-job renewal of workers of schema 9 and older (during a rolling
-- upgrade): the lease is the job's timeout_s, as they claimed it.  Returns
-- 1 while the caller holds the job, 2 when it holds it but a cancel was
-- requested (stop the handler), 0 when its lease is lost (or its
-- deadline_at passed).
local function renew(keys, args)
  local answer, until_ms = renew_held(keys[1], args[2], now_ms(), nil)
  if not until_ms then return NOT_HELD end
  redis.call('ZADD', keys[2], until_ms, args[1])
  return answer
end

-- ht_progress KEYS: job   ARGV: id, token, percent ('' = none), message, channel
-- Returns 1, or 0 when the caller no longer holds the job.
local PROGRESS_FIELDS = {'status', 'token', 'attempt', 'version', 'watch'}
local function progress(keys, args)
  local j = load(keys[1], args[1], PROGRESS_FIELDS)
  if not holds(j, args[2]) then return 0 end
  j.now = now_ms()
  put(j, 'progress_pct', args[3])
  put(j, 'progress_msg', args[4])
  put(j, 'progress_at', int(j.now))
  changed(j, 'running', args[5], 'progress')
  return 1
end

-- Puts a job back to wait: queued at once (at the head of its tenant's
-- list when `head`), or scheduled `delay_ms` from now.
local function requeue(j, signal, delay_ms, head)
  del(j, 'cancel_requested')
  if delay_ms > 0 then
    local due = j.now + delay_ms
    put(j, 'run_at', int(due))
    redis.call('ZADD', j.base .. 'scheduled', due, j.id)
    set_status(j, 'scheduled')
    return 'scheduled'
  end
  enqueue(j.base, j.f, j.id, head)
  wake(signal)
  set_status(j, 'queued')
  return 'queued'
end

-- A running job of `tenant` ended: the tenant, if parked at its running
-- cap, comes back.  Returns true when that made room (idle workers are to
-- be woken).  With sums (a batch's outcomes, settled before its claims:
-- nothing in between parks a tenant; see add), a tenant found not parked
-- is not asked again.
local function unpark_ended(base, tenant, sums)
  local unparked = sums and sums.unparked
  if unparked and unparked[tenant] then return false end
  if redis.call('EXISTS', base .. 'parked:' .. tenant) == 1 then
    return unpark(base, tenant) == 1
  elseif unparked then
    unparked[tenant] = true
  end
  return false
end

-- A running attempt ended (its outcome stored, reaped, or handed back; call
-- it once the job's status changed): its type's running count drops, its
-- tenant, if parked at its running cap, comes back, and idle workers are
-- woken when that or a capped type made room.  j.sums: see add.
local function ended(j, signal)
  local f = j.f
  local woke = f.capped == '1'
  if f.counted == '1' then
    add(j.sums, j.base .. 'running', 'y:' .. (f.type or ''), -1)
    del(j, 'counted')
  end
  del(j, 'capped')
  if unpark_ended(j.base, f.tenant or 'default', j.sums) then woke = true end
  if woke then wake(signal) end
end

-- A succeeded outcome, straight (locals, no job table): the hottest
-- completion, for a caller that counts (tally) and a job that its caller
-- holds, that nobody watches (no `watch` field, not even a lapsed one,
-- which settle drops), with no callback_url, counted in its type's running
-- count (`counted`) and not claimed under a type cap (`capped`); the
-- caller checks that the outcome is succeeded with no output file.  It
-- writes what settle writes for it (the same commands, fields and
-- values, in the same order; tests/integration/test_fastpath.sh compares
-- the two): the indexes, finish's fields and deletes with expire_job, the
-- running count (add) and the parked tenant (unpark_ended).  Returns
-- 'succeeded' and the run observation, or, when a condition fails, nil,
-- nil and the fields it read (SUCCESS_FIELDS' HMGET), from which settle
-- then stores the outcome.
local function settle_success(base, job, active, signal, id, token, body, now, sums)
  -- status, token, started_at, tenant, type, created_at, callback_url,
  -- ttl_s, idem_key, version, watch, counted, capped
  local v = redis.call('HMGET', job, unpack(SUCCESS_FIELDS))
  if v[1] ~= 'running' or v[2] ~= token or v[11] or v[12] ~= '1' or v[13] or
     v[7] and v[7] ~= '' then
    return nil, nil, v
  end
  redis.call('ZREM', active, id)
  local started, run = tonumber(v[3]), nil
  if started then run = tally_obs('run', now - started) end
  local tenant = v[4] or 'default'
  local tb = base .. 't:' .. tenant .. ':'
  redis.call('ZREM', tb .. 'status:running', id)
  redis.call('ZADD', tb .. 'status:succeeded', v[6] or int(now), id)
  expire_job(job, base, v[4], id, now, tonumber(v[8]) or 86400, v[9])
  add(sums, base .. 'running', 'y:' .. (v[5] or ''), -1)
  if unpark_ended(base, tenant, sums) then wake(signal) end
  redis.call('HDEL', job, 'error', 'cancel_requested', 'deadline_at', 'm_started',
             'failed_ttl_s', 'counted')
  redis.call('HSET', job, 'result', body, 'status', 'succeeded', 'finished_at', int(now),
             'version', int((tonumber(v[10]) or 0) + 1))
  return 'succeeded', run
end

-- ht_complete KEYS: job, active, wait (ht:{Q}:wait:<priority>: unused, kept
--                   in the call's shape), signal
--             ARGV: id, token, outcome ('succeeded'|'failed'|'canceled'),
--                   result JSON, error JSON or '' (canceled), retryable
--                   ('1'|'0'), channel, retry delay ms ('' or '0' = now)
-- A retryable failure with attempts left waits retry_delay_ms (scheduled)
-- or goes back to its queue at once, with the error kept.  Returns the job's
-- new status, or nil when the caller no longer holds it (a later attempt
-- owns the job: the stale outcome is dropped).
--   With a fifth key, fence, and ARGV ..., base, worker id, lease_ms,
--   grace_ms, types (ht_claim's) it then claims the next job for the same
--   worker as ht_claim does (whether or not the outcome was taken: the
--   worker is free either way) and returns {status or nil, the claimed job
--   as ht_claim answers it or nil}.  Workers of schema 12 and older call it
--   with KEYS job, active, wait, signal, wait:high, wait:default, wait:low,
--   fence and ARGV ..., job key prefix, worker id, lease_ms, grace_ms: the
--   next job is then of any type.
--   One more argument after these (the 8th with 4 keys, the 13th with 5,
--   after types, the 12th with 8, after lease_ms and grace_ms, which may
--   then be ''): the output file the attempt left, "<bytes> <sha256> <blob
--   name> <content type>" ('' = none), already stored under
--   "<tenant>/<id>/<blob name>".  It becomes the job's output only when the
--   outcome is succeeded and the caller still holds the job; otherwise the
--   caller deletes that blob (nothing here refers to it).
--   One more after the output (the 9th with 4 keys, the 14th with 5; the
--   output is then '' when there is none), '1' (workers of schema 16 and
--   newer): the caller counts (see ht_count_add).  The outcome and the
--   claim count nothing, and the call returns {status or nil, the claimed
--   job or nil (always nil with 4 keys), the attempt's run observation
--   "<bucket> <ms>" or nil}: the caller counts the outcome (the status;
--   queued or scheduled: retried) and its run, and the claim as ht_claim's
--   caller does.  A stale outcome (status nil) counts nothing.  An outcome
--   this very attempt stored already, succeeded or failed, by a call whose
--   reply the caller lost, is answered again (its status and run) so that
--   it is counted once: the job is no longer running but still has the
--   attempt's token, and, succeeded (only the holder's outcome makes it) or
--   failed with the same error (the reaper would have written its own).
--   settle stores one outcome o: {job (its key), base (its partition's
-- "ht:{Q}:", nil: taken from the key), active, signal, id, token, outcome,
-- body (result or error JSON), retryable (true|false), channel, delay_ms,
-- output, sums (see add)}, for ht_complete and ht_complete_many; `read`:
-- the job's fields settle_success read, or nil.
-- Returns the job's new status or nil, and the run observation when tally.
local function settle(o, now, tally, read)
  local job, active, signal = o.job, o.active, o.signal
  local id, token, outcome, body = o.id, o.token, o.outcome, o.body
  local retryable, channel, delay_ms, output = o.retryable, o.channel, o.delay_ms, o.output
  local j = load_complete(job, id, o.base, outcome, read)
  if not holds(j, token) then
    local f = j.f
    if tally and f.token == token and f.status == outcome and
       (outcome == 'succeeded' or outcome == 'failed' and f.error == body) then
      j.tally = true
      local finished = tonumber(redis.call('HGET', job, 'finished_at'))
      local started = tonumber(f.started_at)
      if finished and started then observe(j, 'run', finished - started) end
      return outcome, j.tally_run
    end
    return nil
  end
  j.tally = tally
  j.now = now
  j.sums = o.sums
  redis.call('ZREM', active, id)
  observe_run(j)
  local status
  if outcome == 'succeeded' then
    status = 'succeeded'
    put(j, 'result', body)
    del(j, 'error')
    local bytes, name = file_ref(output)
    if bytes then
      put(j, 'output', output)
      keep_file(j.tb, id, bytes, name)
    end
  elseif outcome == 'canceled' then
    status = 'canceled'
  else
    put(j, 'error', body)
    if retryable and j.f.cancel_requested ~= '1' and
       tonumber(j.f.attempt) < (tonumber(j.f.max_attempts) or MAX_ATTEMPTS) then
      status = requeue(j, signal, delay_ms, false)
      count(j, 'retried')
    else
      status = 'failed'
    end
  end
  if status ~= 'queued' and status ~= 'scheduled' then
    del(j, 'cancel_requested')
    set_status(j, status)
    finish(j, status)
  end
  ended(j, signal)
  changed(j, status, channel)
  return status, j.tally_run
end

local function complete(keys, args)
  local now = now_ms()
  local nkeys = #keys
  local tally = nkeys ~= 8 and args[nkeys == 5 and 14 or 9] == '1'
  local output = args[nkeys == 5 and 13 or nkeys == 8 and 12 or 8]
  local status, run, read
  if tally and args[3] == 'succeeded' and (output or '') == '' then
    status, run, read = settle_success(base_of(keys[1]), keys[1], keys[2], keys[4], args[1],
                                       args[2], args[4], now, nil)
  end
  if not status then
    status, run = settle({job = keys[1], active = keys[2], signal = keys[4], id = args[1],
                          token = args[2], outcome = args[3], body = args[4],
                          retryable = args[5] == '1', channel = args[6],
                          delay_ms = tonumber(args[7]) or 0, output = output},
                         now, tally, read)
  end
  run = run or false
  local base, fence, types
  if nkeys == 8 then
    base, fence = string.match(args[8], '^(.*)job:$'), keys[8]
  elseif nkeys == 5 then
    local n
    types, n = type_set(args[12])
    if n == 0 then return {status or false, false, run or nil} end
    base, fence = args[8], keys[5]
  elseif tally then
    return {status or false, false, run}
  else
    return status
  end
  local c = claimer(base, keys[2], fence, types, args[9], args[6], positive(args[10]),
                    positive(args[11]), now, tally, nil, false)
  return {status or false, take_next(c) or false, run or nil}
end

-- ht_complete_many KEYS: active, fence, signal
--                  ARGV: base ("ht:{Q}:"), worker id, channel, lease_ms,
--                        grace_ms, types (ht_claim's), k, then 7 per
--                        outcome: id, token, outcome, result or error JSON,
--                        retryable, retry delay ms, output (ht_complete's,
--                        '' where absent)
-- The outcomes of several of one worker's attempts and up to k claims for
-- that worker in one call, the caller counting (workers of schema 18 and
-- newer; see ht_count_add): each outcome is settled exactly as ht_complete
-- settles it (a stale one is refused alone, the others are stored), in
-- order, and then up to k jobs are claimed one after another exactly as
-- that many ht_claim calls would claim them (priorities, types, caps,
-- tenants' turns, pause), with one clock reading and one read of the
-- limits for the whole call; the counters the call moves (each type's
-- running count, each priority's depth, the fencing counter) are summed
-- and moved once.  Returns {statuses, jobs}: statuses holds two
-- entries per outcome, in order, the job's new status or nil (stale) and
-- the run observation or nil, as ht_complete answers them with the caller
-- counting; jobs holds the claimed jobs (0 to k), each as {id, token,
-- attempt, type, payload, count_wait (ht_claim's; nil: none), then name,
-- value pairs of tenant, priority, max_attempts, timeout_s, input, those the
-- job has} (CLAIM_REPLY_MANY; no status: it is running).  A call with no
-- outcomes claims only; k = 0 settles only.
local BATCH_MAX = 256 -- outcomes, and claims, per ht_complete_many
local function complete_many(keys, args)
  local n = (#args - 7) / 7
  local k = tonumber(args[7])
  if #keys ~= 3 or n < 0 or n ~= math.floor(n) or n > BATCH_MAX then
    return redis.error_reply('ERR ht_complete_many: 3 keys and 7 + 7 per outcome arguments')
  end
  if not k or k < 0 or k ~= math.floor(k) or k > BATCH_MAX then
    return redis.error_reply('ERR ht_complete_many: k must be 0..' .. BATCH_MAX)
  end
  local now = now_ms()
  local base, active, signal, channel = args[1], keys[1], keys[3], args[3]
  -- Sums pay for themselves from two jobs a call on.
  local statuses, sums = {}, n + k > 2 and {unparked = {}} or nil
  for i = 0, n - 1 do
    local a = 7 + i * 7
    local id, job = args[a + 1], base .. 'job:' .. args[a + 1]
    local status, run, read
    if args[a + 3] == 'succeeded' and args[a + 7] == '' then
      status, run, read = settle_success(base, job, active, signal, id, args[a + 2], args[a + 4],
                                         now, sums)
    end
    if not status then
      status, run = settle({job = job, base = base, active = active, signal = signal, id = id,
                            token = args[a + 2], outcome = args[a + 3], body = args[a + 4],
                            retryable = args[a + 5] == '1', channel = channel,
                            delay_ms = tonumber(args[a + 6]) or 0, output = args[a + 7],
                            sums = sums}, now, true, read)
    end
    statuses[#statuses + 1] = status or false
    statuses[#statuses + 1] = run or false
  end
  -- The running counts the outcomes lowered are sent before the claims
  -- read them (take_next's caps).
  send_sums(sums)
  local jobs = {}
  local types, ntypes = type_set(args[6])
  if ntypes > 0 and k > 0 then
    local c = claimer(base, active, keys[2], types, args[2], channel, positive(args[4]),
                      positive(args[5]), now, true, sums, k > 1)
    c.many = true
    for i = 1, k do
      c.left = k - i + 1
      local job = take_next(c)
      if not job then break end
      jobs[#jobs + 1] = job
    end
    unpop(c)
    send_sums(sums)
    if c.unfenced and c.unfenced > 0 then redis.call('INCRBY', c.fence, int(c.unfenced)) end
  end
  return {statuses, jobs}
end

-- ht_release KEYS: job, active, wait (unused, as in ht_complete), signal
--            ARGV: id, token, channel
-- A draining worker hands a job back: it is queued at the head of its queue
-- and the attempt is not counted.  Returns 1, or 0 if not held.
local function release(keys, args)
  local job, active, signal = keys[1], keys[2], keys[4]
  local id, token = args[1], args[2]
  local j = load(job, id, FIELDS)
  if not holds(j, token) then return 0 end
  j.now = now_ms()
  redis.call('ZREM', active, id)
  put(j, 'attempt', int((tonumber(j.f.attempt) or 0) - 1))
  if j.f.cancel_requested == '1' then
    -- Asked to cancel while it was being handed back: cancel it now.
    del(j, 'cancel_requested')
    set_status(j, 'canceled')
    finish(j, 'canceled')
    ended(j, signal)
    changed(j, 'canceled', args[3])
    return 1
  end
  requeue(j, signal, 0, true)
  ended(j, signal)
  changed(j, 'queued', args[3])
  return 1
end

-- ht_reap KEYS: active, wait:high, wait:default, wait:low (unused, kept in
--               the call's shape), signal
--         ARGV: job key prefix, channel, limit
-- Jobs whose lease ran out (their worker died, hung or lost Redis, or the
-- claim's reply was lost) go back to the head of their queue with the
-- attempt counted, or fail when none is left (or end canceled when a cancel
-- was requested).  The error says why: lease_expired, or timeout when the
-- attempt's deadline_at has passed (it ran past timeout_s + grace: its
-- renewals stopped at the deadline).  Returns the number of jobs reaped.
local function reap(keys, args)
  local active, signal = keys[1], keys[5]
  local prefix, channel, limit = args[1], args[2], tonumber(args[3]) or 100
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', active, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(ids) do
    redis.call('ZREM', active, id)
    local j = load(prefix .. id, id, FIELDS)
    j.now = now
    local f = j.f
    if f.status == 'running' then
      local deadline = tonumber(f.deadline_at)
      local err
      if deadline and now >= deadline then
        err = {code = 'timeout', message = 'attempt ' .. f.attempt .. ' ran past its timeout_s of ' ..
               (f.timeout_s or '300') .. ' s and the grace after it without an outcome'}
      else
        err = {code = 'lease_expired', message =
               'the worker holding attempt ' .. f.attempt .. ' stopped renewing its lease'}
      end
      put(j, 'error', cjson.encode(err))
      local status
      if f.cancel_requested == '1' then
        status = 'canceled'
      elseif tonumber(f.attempt) < (tonumber(f.max_attempts) or MAX_ATTEMPTS) then
        status = requeue(j, signal, 0, true)
      else
        status = 'failed'
      end
      if status ~= 'queued' then
        del(j, 'cancel_requested')
        set_status(j, status)
        finish(j, status)
      end
      ended(j, signal)
      changed(j, status, channel)
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
  local j = load(job, id, FIELDS)
  local status = j.f.status
  if not status or (j.f.tenant or 'default') ~= args[4] then return nil end
  if status == 'queued' or status == 'scheduled' then
    j.now = now_ms()
    if status == 'queued' then unqueue(j.base, j.f, id) end
    redis.call('ZREM', j.base .. 'scheduled', id)
    set_status(j, 'canceled')
    finish(j, 'canceled')
    changed(j, 'canceled', channel)
    return 'canceled'
  end
  if status == 'running' then
    redis.call('HSET', job, 'cancel_requested', '1')
    redis.call('PUBLISH', cancel_channel, id .. ' ' .. j.f.token)
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
  local j = load(job, id, FIELDS)
  local f = j.f
  if not f.status or (f.tenant or 'default') ~= args[3] then return nil end
  if f.status ~= 'failed' and f.status ~= 'canceled' then return 'conflict' end
  j.now = now_ms()
  redis.call('PERSIST', job)
  if f.idem_key and f.idem_key ~= '' then redis.call('PERSIST', f.idem_key) end
  j.persist_log = true
  redis.call('ZREM', j.base .. 'deliveries', id)
  for _, k in ipairs({'cb_state', 'cb_id', 'cb_attempts', 'cb_last_status', 'cb_last_at'}) do
    del(j, k)
  end
  put(j, 'attempt', '0')
  for _, k in ipairs({'result', 'finished_at', 'started_at', 'run_at', 'progress_pct',
                      'progress_msg', 'progress_at'}) do
    del(j, k)
  end
  count(j, 'retried')
  mark_due(j)
  local status = requeue(j, signal, 0, false)
  changed(j, status, channel)
  return status
end

-- ht_promote KEYS: scheduled, wait:high, wait:default, wait:low (unused,
--                  kept in the call's shape), signal
--            ARGV: base ("ht:{Q}:"), channel, limit
-- Due scheduled jobs join the end of their queue.  Every worker calls this
-- about every 100 ms, so there is no single scheduler to lose.  Returns
-- {number promoted, when the next one is due (ms) or -1}.
local function promote(keys, args)
  local scheduled, signal = keys[1], keys[5]
  local base, channel, limit = args[1], args[2], tonumber(args[3]) or 100
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', scheduled, '-inf', now, 'LIMIT', 0, limit)
  local n = 0
  for _, id in ipairs(ids) do
    redis.call('ZREM', scheduled, id)
    local j = load(base .. 'job:' .. id, id, FIELDS)
    j.now = now
    if j.f.status == 'scheduled' then
      enqueue(base, j.f, id, false)
      set_status(j, 'queued')
      changed(j, 'queued', channel)
      n = n + 1
    end
  end
  if n > 0 then wake(signal) end
  local next_due = redis.call('ZRANGE', scheduled, 0, 0, 'WITHSCORES')
  return {n, next_due[2] and tonumber(next_due[2]) or -1}
end

-- ht_trim KEYS: tenants   ARGV: base, limit
-- Drops finished jobs that have expired from their tenant's listing indexes
-- (Redis expires the hashes, logs and idempotency keys themselves), and
-- lists the blobs of those that had files on the gone list (Redis cannot
-- delete them: the api's sweeper does).  It walks the partition's expiry
-- buckets whose end has passed, oldest first, at most `limit` entries,
-- deleting each bucket once walked; and before them, until data step 0019
-- moved them, the due entries of each tenant's sorted set `expiry` of
-- schema 18 and older (at most `limit` a tenant).  Returns the number
-- dropped.
--   An entry whose job is gone leaves the status indexes.  A job still
-- there with a TTL either expires within EXPIRY_SLACK_MS of the end it was
-- filed under (inside a script Redis judges expiry by the script's start,
-- and clocks may disagree by a millisecond): it is filed again, in the
-- bucket of now, walked by a later call; or it expires later: a retry
-- made it live again and its new finish filed it in a later bucket, where
-- it is walked then (filing it again would list it twice).  A job without
-- a TTL was retried and has not finished since: its next finish files it.
local EXPIRY_SLACK_MS = 1000
local function trim(keys, args)
  local base, limit = args[1], tonumber(args[2]) or 1000
  local now = now_ms()
  local n = 0
  local function walk(tenant, id, filed_end)
    local ttl = redis.call('PTTL', base .. 'job:' .. id)
    if ttl == -2 then
      local tb = base .. 't:' .. tenant .. ':'
      for _, s in ipairs(STATUSES) do
        redis.call('ZREM', tb .. 'status:' .. s, id)
      end
      drop_files(base, tenant, tb, id)
      n = n + 1
    elseif ttl >= 0 and now + ttl <= filed_end + EXPIRY_SLACK_MS then
      file_expiry(base, tenant, id, now)
    end
  end
  for _, tenant in ipairs(redis.call('SMEMBERS', keys[1])) do
    local old = base .. 't:' .. tenant .. ':expiry'
    local due = redis.call('ZRANGEBYSCORE', old, '-inf', now - 1, 'WITHSCORES', 'LIMIT', 0, limit)
    for i = 1, #due, 2 do
      redis.call('ZREM', old, due[i])
      walk(tenant, due[i], tonumber(due[i + 1]))
    end
  end
  local exps, left = base .. 'exps', limit
  local due = redis.call('ZRANGEBYSCORE', exps, '-inf', now - 1, 'WITHSCORES', 'LIMIT', 0, left)
  for i = 1, #due, 2 do
    local entries = redis.call('LPOP', base .. 'exp:' .. due[i], left)
    local got = entries and #entries or 0
    local filed_end = tonumber(due[i + 1])
    for k = 1, got do
      local e = entries[k]
      local sp = string.find(e, ' ', 1, true)
      if sp then
        walk(string.sub(e, sp + 1), string.sub(e, 1, sp - 1), filed_end)
      else
        walk('default', e, filed_end)
      end
    end
    if got < left then redis.call('ZREM', exps, due[i]) end
    left = left - got
    if left <= 0 then break end
  end
  return n
end

-- ht_list (read-only) KEYS: index (ht:{Q}:t:<tenant>:jobs: every job of the
--                          tenant; or ht:{Q}:t:<tenant>:status:<s>)
--         ARGV: base, limit (1..100), cursor ('' = from the newest), type ('' = any),
--               then the job hash fields to read (none: every field, HGETALL)
-- Returns {next cursor or '', job, job, ...}, newest first, each job a flat
-- field, value array of the fields asked for that it has.  A job is found
-- where its status keeps it: a job that a submit queued is in its tenant's
-- wait list only (q:<prio>:<type>:<tenant>, newest on the left); every
-- other job is in the index of its status (status:<s>, a sorted set scored
-- by created_at; status:queued holds the jobs queued again after they
-- left their list).  There is no index of every job: a listing merges the
-- indexes and wait lists of the statuses asked for, walked together in
-- one order, (created_at, id) descending.  The cursor is
-- "<created_at>:<id>" of the last entry looked at, so paging never skips
-- or repeats a job while others arrive (a job whose status changes between
-- two pages keeps its created_at: it is listed once, or not at all when
-- it moved to a status not walked).  A wait list is in that order because
-- only a submit pushes to it at its newest end a job it has not held
-- before (jobs queued again are in status:queued and skipped in the list);
-- a page finds its place in it by bisection.  So the order holds as long
-- as Redis' clock does not step back.  The type filter reads one field of
-- each entry before anything else, at most SCAN_MAX entries are looked at
-- per call, and a page holds about PAGE_BYTES of results at most (a job
-- whose result would pass it starts the next page, unless the page is
-- empty): the reply may then hold fewer jobs and a cursor to go on.  So one
-- call reads at most SCAN_MAX type fields and `limit` jobs whose results
-- add up to PAGE_BYTES, or one larger one.
local SCAN_MAX = 1000
local PAGE_BYTES = 1048576
local LIST_BATCH = 100
local WAIT_BATCH_MAX = 64 -- a wait list is read 8, 16, 32, then 64 entries at a time

-- A listing index: src.max ('+inf' or the cursor's created_at text),
-- src.maxn (nil or its number), src.after_id (nil or the cursor's id);
-- entries at or above the cursor are skipped (earlier pages had them).
local function past_cursor(src, n, id)
  return src.maxn and (n > src.maxn or (n == src.maxn and id >= src.after_id))
end

-- A status index: ZREVRANGEBYSCORE batches from the cursor's score down.
local function zset_fill(src)
  local batch = redis.call('ZREVRANGEBYSCORE', src.key, src.max, '-inf', 'WITHSCORES',
                           'LIMIT', src.offset, LIST_BATCH)
  src.offset = src.offset + #batch / 2
  src.done = #batch < 2 * LIST_BATCH
  for i = 1, #batch, 2 do
    local id, score = batch[i], batch[i + 1]
    local n = tonumber(score)
    if not past_cursor(src, n, id) then src.buf[#src.buf + 1] = {score, n, id} end
  end
end

-- The wait list's entry `id` as a listing entry, or nil when it is not a
-- job that a submit queued there (queued again: in status:queued, src.zq,
-- nil when that is empty; or a stale id).
local function wait_entry(src, id)
  local v = redis.call('HMGET', src.jobs .. id, 'status', 'created_at')
  if v[1] ~= 'queued' or not v[2] or (src.zq and redis.call('ZSCORE', src.zq, id)) then
    return nil
  end
  return {v[2], tonumber(v[2]), id}
end

-- The position of the first entry of the list at or after p (below
-- `stop`) that wait_entry takes, and that entry; nil when none.
local function wait_next(src, p, stop)
  while p < stop do
    local ids = redis.call('LRANGE', src.key, p, math.min(p + 7, stop - 1))
    if #ids == 0 then return nil end
    for i, id in ipairs(ids) do
      local e = wait_entry(src, id)
      if e then return p + i - 1, e end
    end
    p = p + #ids
  end
  return nil
end

-- A wait list: its entries are read from the newest end, from the first
-- at or below the cursor's created_at (bisection: the entries wait_entry
-- takes are in created_at order), and a run of entries of one created_at
-- is passed on whole, sorted by id.
local function wait_fill(src)
  if not src.lpos then
    local lo, hi = 0, redis.call('LLEN', src.key)
    if src.maxn then
      while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        local at, e = wait_next(src, mid, hi)
        if not e or e[2] <= src.maxn then hi = mid else lo = at + 1 end
      end
    end
    src.lpos = lo
  end
  local ids = redis.call('LRANGE', src.key, src.lpos, src.lpos + src.batch - 1)
  src.lpos = src.lpos + #ids
  src.done = #ids < src.batch
  src.batch = math.min(src.batch * 2, WAIT_BATCH_MAX)
  local pend = src.pending
  for _, id in ipairs(ids) do
    local e = wait_entry(src, id)
    if e and not past_cursor(src, e[2], id) then pend[#pend + 1] = e end
  end
  -- The run of the smallest created_at may go on in the next batch.
  local low
  if not src.done then
    for _, e in ipairs(pend) do
      if not low or e[2] < low then low = e[2] end
    end
  end
  local keep = {}
  for _, e in ipairs(pend) do
    if low and e[2] == low then keep[#keep + 1] = e else src.buf[#src.buf + 1] = e end
  end
  src.pending = keep
  table.sort(src.buf, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[3] > b[3]) end)
end

-- The next entry of an index without taking it, or nil at its end.
local function list_peek(src)
  while src.pos > #src.buf and not src.done do
    src.buf, src.pos = {}, 1
    src.fill(src)
  end
  return src.buf[src.pos]
end

local function list(keys, args)
  local index, base = keys[1], args[1]
  local limit = math.max(1, math.min(100, tonumber(args[2]) or 20))
  local cursor, want_type = args[3], args[4]
  local fields = {}
  for i = 5, #args do fields[#fields + 1] = args[i] end
  local max, after_id = '+inf', nil
  if cursor ~= '' then
    local after_score
    after_score, after_id = string.match(cursor, '^(%d+):(.+)$')
    if not after_score then return redis.error_reply('BADCURSOR malformed cursor') end
    max = after_score
  end
  local maxn = cursor ~= '' and tonumber(max) or nil
  local srcs = {}
  local function add(key, fill)
    srcs[#srcs + 1] = {key = key, fill = fill, max = max, maxn = maxn, after_id = after_id,
                       offset = 0, buf = {}, pos = 1, done = false, pending = {}}
    return srcs[#srcs]
  end
  local tb, tenant = string.match(index, '^(.*:t:([^:]*):)jobs$')
  if tb then
    for _, s in ipairs(STATUSES) do add(tb .. 'status:' .. s, zset_fill) end
  else
    add(index, zset_fill)
    tb, tenant = string.match(index, '^(.*:t:([^:]*):)status:queued$')
  end
  -- status:queued may hold, for a while, a job claimed without its `qz`
  -- mark (queued under schema 16 or older, claimed before data step 0017
  -- marked it): such an entry is skipped.
  for _, src in ipairs(srcs) do
    if string.sub(src.key, -14) == ':status:queued' then src.check = 'queued' end
  end
  if tenant then
    local zq = tb .. 'status:queued'
    if redis.call('EXISTS', zq) == 0 then zq = nil end
    for _, q in ipairs(tenant_queues(base, tenant)) do
      if want_type == '' or q[2] == want_type then
        local src = add(q[1], wait_fill)
        src.jobs, src.zq, src.batch = base .. 'job:', zq, 8
      end
    end
  end
  -- The next entry of the merge: the greatest (score, id) of the indexes'.
  local function next_entry()
    local best, from
    for _, src in ipairs(srcs) do
      local e = list_peek(src)
      if e and (not best or e[2] > best[2] or (e[2] == best[2] and e[3] > best[3])) then
        best, from = e, src
      end
    end
    return best, from
  end
  local out = {''}
  local looked, bytes, last = 0, 0, nil
  while #out - 1 < limit and looked < SCAN_MAX do
    local e, from = next_entry()
    if not e then break end
    local id = e[3]
    local job = base .. 'job:' .. id
    local keep = want_type == '' or redis.call('HGET', job, 'type') == want_type
    if keep and from.check then keep = redis.call('HGET', job, 'status') == from.check end
    local size = keep and redis.call('HSTRLEN', job, 'result') or 0
    -- This job starts the next page: the cursor stays before it.
    if keep and #out > 1 and bytes + size > PAGE_BYTES then break end
    from.pos = from.pos + 1
    looked = looked + 1
    last = e[1] .. ':' .. id
    if keep then
      bytes = bytes + size
      local h
      local want_id = #fields == 0
      if #fields > 0 then
        h = {}
        local v = redis.call('HMGET', job, unpack(fields))
        for k = 1, #fields do
          if v[k] then
            h[#h + 1] = fields[k]
            h[#h + 1] = v[k]
          elseif fields[k] == 'id' then
            want_id = true
          end
        end
      else
        h = redis.call('HGETALL', job)
        for k = 1, #h, 2 do
          if h[k] == 'id' then want_id = false end
        end
      end
      -- The id is the key's (for a hash without the field).
      if #h > 0 then
        if want_id then
          h[#h + 1] = 'id'
          h[#h + 1] = id
        end
        out[#out + 1] = h
      end
    end
  end
  -- No cursor once every index ran out.
  if not next_entry() then last = nil end
  out[1] = last or ''
  return out
end

-- ht_watch KEYS: job   ARGV: ms, log ('' none, 'all'), field, ...
-- A request that watches the job (a sync submit, a long poll, an event
-- stream) reads it here, and from then on, for `ms` more milliseconds (by
-- Redis' clock; a later time already set stays), every change of it is
-- logged and published (changed()).  Mark and read are one atomic step:
-- the watcher sees each change after its read through the log or a note.
-- Returns nil when there is no such job, else {values of the fields asked
-- for (as HMGET), the log entries (all, oldest first, or none: nil)}.
local function watch(keys, args)
  local job, ms, log = keys[1], tonumber(args[1]) or 0, args[2]
  local v = redis.call('HMGET', job, 'status', 'watch', unpack(args, 3))
  if not v[1] then return nil end
  local until_ms = now_ms() + ms
  if (tonumber(v[2]) or 0) < until_ms then redis.call('HSET', job, 'watch', int(until_ms)) end
  local out = {}
  for i = 3, #v do out[i - 2] = v[i] end
  -- The id is the key's (for a hash without the field).
  for i = 3, #args do
    if args[i] == 'id' and not out[i - 2] then out[i - 2] = string.match(job, ':job:(.+)$') end
  end
  local entries = false
  if log == 'all' then entries = redis.call('LRANGE', job .. ':ev', 0, -1) end
  return {out, entries}
end

-- The partition's queued jobs by priority (every tenant's: the load ahead
-- of a new job) and its pause flags, as name, value pairs appended to
-- `out`: 'queued:<priority>', 'paused' (0|1), 'paused:<type>' (1) per
-- paused type.
local function queue_state(base, out)
  local depth = redis.call('HMGET', base .. 'depth', unpack(PRIORITIES))
  for i, prio in ipairs(PRIORITIES) do
    out[#out + 1] = 'queued:' .. prio
    out[#out + 1] = math.max(0, tonumber(depth[i]) or 0)
  end
  local lim = redis.call('HGETALL', base .. 'limits')
  local paused = 0
  for i = 1, #lim, 2 do
    if lim[i] == 'paused' and lim[i + 1] == '1' then
      paused = 1
    elseif string.sub(lim[i], 1, 3) == 'py:' and lim[i + 1] == '1' then
      out[#out + 1] = 'paused:' .. string.sub(lim[i], 4)
      out[#out + 1] = 1
    end
  end
  out[#out + 1] = 'paused'
  out[#out + 1] = paused
end

-- ht_queue_stats (read-only) KEYS: wait:high, wait:default, wait:low (name
--   the partition's slot)
--   ARGV: the tenant's index prefix "ht:{Q}:t:<tenant>:", or with a second
--         argument '1' the base "ht:{Q}:" for every tenant's
-- Returns a flat name, value array: queue_state()'s pairs, then the
-- tenant's own jobs (or every tenant's) by status (but queued:
-- queue_state() tells the load), totals ("<name>_total") and the bytes of
-- their files ("stored_bytes", once there were files).
local function queue_stats(keys, args)
  local prefixes, base = {args[1]}, nil
  if args[2] == '1' then
    base, prefixes = args[1], {}
    for _, tenant in ipairs(redis.call('SMEMBERS', base .. 'tenants')) do
      prefixes[#prefixes + 1] = base .. 't:' .. tenant .. ':'
    end
  else
    base = string.match(args[1], '^(.*)t:[^:]*:$')
  end
  local out = {}
  queue_state(base, out)
  local sums, order = {}, {}
  local function add(name, v)
    if not sums[name] then order[#order + 1] = name; sums[name] = 0 end
    sums[name] = sums[name] + (tonumber(v) or 0)
  end
  for _, s in ipairs(STATUSES) do
    if s ~= 'queued' then add(s, 0) end
  end
  for _, tb in ipairs(prefixes) do
    for _, s in ipairs(STATUSES) do
      if s ~= 'queued' then add(s, redis.call('ZCARD', tb .. 'status:' .. s)) end
    end
    local totals = redis.call('HGETALL', tb .. 'stats')
    for i = 1, #totals, 2 do
      -- stored_bytes is a gauge, not a total: it keeps its name.
      add(totals[i] == 'stored_bytes' and totals[i] or totals[i] .. '_total', totals[i + 1])
    end
  end
  for _, name in ipairs(order) do
    out[#out + 1] = name
    out[#out + 1] = sums[name]
  end
  return out
end

-- ht_metrics (read-only) KEYS: wait:high, wait:default, wait:low (name the
--   slot), scheduled, active, tenants, metrics, hist:wait, hist:run
--   ARGV: base ("ht:{Q}:")
-- Everything GET /metrics needs from Redis in one round trip, as a flat
-- name, integer array: queue_state()'s pairs ('queued:<priority>',
-- 'paused', 'paused:<type>'), 'scheduled', 'running', 'running:<type>'
-- (jobs running by type), 'dead' (failed jobs kept, every tenant),
-- 'stored_bytes:<tenant>' (the bytes of each tenant's files, tenants that
-- had files only), the metrics hash as stored ('jobs:<event>:<type>', 'webhook:<outcome>'), then
-- per histogram 'hist:<name>:le:<ms>' (cumulative, ending with le:+Inf),
-- 'hist:<name>:sum_ms' and 'hist:<name>:count'.
local function metrics(keys, args)
  local base = args[1]
  local out = {}
  queue_state(base, out)
  for _, kv in ipairs({{'scheduled', redis.call('ZCARD', keys[4])},
                       {'running', redis.call('ZCARD', keys[5])}}) do
    out[#out + 1] = kv[1]
    out[#out + 1] = kv[2]
  end
  local running = redis.call('HGETALL', base .. 'running')
  for i = 1, #running, 2 do
    out[#out + 1] = 'running:' .. string.sub(running[i], 3)
    out[#out + 1] = math.max(0, tonumber(running[i + 1]) or 0)
  end
  local dead = 0
  local stored = {}
  for _, tenant in ipairs(redis.call('SMEMBERS', keys[6])) do
    dead = dead + redis.call('ZCARD', base .. 't:' .. tenant .. ':status:failed')
    local bytes = redis.call('HGET', base .. 't:' .. tenant .. ':stats', 'stored_bytes')
    if bytes then
      stored[#stored + 1] = 'stored_bytes:' .. tenant
      stored[#stored + 1] = tonumber(bytes)
    end
  end
  out[#out + 1] = 'dead'
  out[#out + 1] = dead
  for _, v in ipairs(stored) do out[#out + 1] = v end
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
    out[#out + 1] = cum + (v['+Inf'] or 0) -- every observation is in one bucket
  end
  return out
end

-- ht_count_add KEYS: metrics (names the partition's slot)
--   ARGV: base ("ht:{Q}:"), worker id, seq, then (key, field, n) triples
-- What a worker counted of the claims and completions it made with "the
-- caller counts" (ht_claim, ht_complete) since its last call, summed: one
-- HINCRBY of `n` per triple, on the key base .. key (metrics, hist:wait,
-- hist:run or t:<tenant>:stats only).  seq (a positive integer) grows with
-- each batch a worker sends to this partition; the last one applied is kept
-- under counted:<worker id> for a day, and a batch whose seq is not above
-- it is not applied again: a worker that lost the reply of a call Redis
-- applied sends the same batch with the same seq, so a batch counts once.
-- Returns 1 when applied, 0 when it was already.
local COUNT_KEYS = {metrics = true, ['hist:wait'] = true, ['hist:run'] = true}
local COUNTED_TTL_S = '86400'
local function count_add(keys, args)
  local base, seq = args[1], tonumber(args[3])
  if not seq or seq < 1 or seq ~= math.floor(seq) or (#args - 3) % 3 ~= 0 then
    return redis.error_reply('BADCOUNT seq must be a positive integer, then key, field, n triples')
  end
  -- All checked before any is applied: a batch counts whole or not at all.
  for i = 4, #args, 3 do
    local key, n = args[i], args[i + 2]
    if not (COUNT_KEYS[key] or string.match(key, '^t:[%w_.%-]+:stats$')) or
       not string.match(n, '^%-?%d+$') or #n > 15 then
      return redis.error_reply('BADCOUNT not a counter or not an integer: ' .. key)
    end
  end
  local done = base .. 'counted:' .. args[2]
  if (tonumber(redis.call('GET', done)) or 0) >= seq then return 0 end
  for i = 4, #args, 3 do
    redis.call('HINCRBY', base .. args[i], args[i + 1], args[i + 2])
  end
  redis.call('SET', done, args[3], 'EX', COUNTED_TTL_S)
  return 1
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
local DELIVERY_FIELDS = {'cb_id', 'cb_state', 'status', 'cb_attempts', 'tenant', 'ttl_s',
                         'failed_ttl_s', 'idem_key', 'version', 'watch'}
local function delivery_done(keys, args)
  local job, deliveries = keys[1], keys[2]
  local id, cb_id, outcome, last_status = args[1], args[2], args[3], args[4]
  local j = load(job, id, DELIVERY_FIELDS)
  if j.f.cb_id ~= cb_id or j.f.cb_state ~= 'pending' then return 0 end
  j.now = now_ms()
  put(j, 'cb_attempts', int((tonumber(j.f.cb_attempts) or 0) + 1))
  count_delivery(j.base, outcome)
  put(j, 'cb_last_status', last_status)
  put(j, 'cb_last_at', int(j.now))
  if outcome == 'retry' then
    redis.call('ZADD', deliveries, tonumber(args[5]) or j.now, id)
  else
    put(j, 'cb_state', outcome == 'delivered' and 'delivered' or 'failed')
    redis.call('ZREM', deliveries, id)
    expire_finished(j, j.f.status, true)
  end
  put(j, 'version', int((tonumber(j.f.version) or 0) + 1))
  flush(j)
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

-- ---- operator settings: pause, caps, weights (docs/fairness.md) ------------
-- B limits holds, for this partition: 'paused' (1: nothing is claimed),
-- 'py:<type>' (1: that type is paused), 'tq:<tenant>' (most jobs waiting),
-- 'tr:<tenant>' (most running), 'tp:<tenant>' (highest priority applied),
-- 'tw:<tenant>' (weight, 2 or more), 'yr:<type>' (most running of the
-- type), and the counts of tr:, tw:, and py: and yr: fields, 'tenant_caps',
-- 'weights' and 'type_limits', that let a claim skip those lookups when
-- there are none.  Caps spanning
-- partitions are split by the caller (api/operator.c); each value here is
-- this partition's share.
local LIMIT_FIELD = {paused = true, py = true, tq = true, tr = true, tp = true, tw = true,
                     yr = true}
local LIMIT_COUNT = {tr = 'tenant_caps', tw = 'weights', py = 'type_limits', yr = 'type_limits'}

-- ht_limits KEYS: limits, signal   ARGV: base, field, value, field, value, ...
-- Sets each field of the partition's limits (value '' deletes it), then
-- brings back the tenants whose running cap or weight changed if they were
-- parked, and wakes idle workers (a resume, or a cap raised, may have made
-- work claimable).  Returns 1, or a BADLIMIT error (nothing changed) for a
-- field it does not know or a value that is not a positive integer (a
-- priority for tp:, 1 for paused and py:).
local function limits(keys, args)
  local lim, signal, base = keys[1], keys[2], args[1]
  for i = 2, #args, 2 do
    local field, value = args[i], args[i + 1] or ''
    local kind = string.match(field, '^(%a+)') or ''
    local ok = LIMIT_FIELD[kind] and (kind == 'paused') == (field == 'paused')
    if ok and value ~= '' then
      if kind == 'paused' or kind == 'py' then
        ok = value == '1'
      elseif kind == 'tp' then
        ok = PRIO_RANK[value] ~= nil
      else
        ok = string.match(value, '^[1-9]%d*$') ~= nil
      end
    end
    if not ok then return redis.error_reply('BADLIMIT ' .. field .. ' ' .. value) end
  end
  local touched = {}
  for i = 2, #args, 2 do
    local field, value = args[i], args[i + 1] or ''
    local kind = string.match(field, '^(%a+)')
    local changed_n
    if value == '' then
      changed_n = -redis.call('HDEL', lim, field)
    else
      changed_n = redis.call('HSET', lim, field, value)
    end
    if LIMIT_COUNT[kind] and changed_n ~= 0 then
      redis.call('HINCRBY', lim, LIMIT_COUNT[kind], changed_n)
    end
    local tenant = string.match(field, '^t[rw]:(.*)$')
    if tenant then touched[tenant] = true end
  end
  for tenant in pairs(touched) do
    if redis.call('EXISTS', base .. 'parked:' .. tenant) == 1 then unpark(base, tenant) end
  end
  wake(signal, SIGNAL_CAP)
  return 1
end

-- ---- tenant webhook signing secrets -----------------------------------------
-- ht:whsec:{<tenant>} is a hash: secret id -> "<created ms> <expires ms>
-- <sealed key>".  The sealed key is opaque here (AES-256-GCM under the
-- processes' HANGTIGHT_SECRETS_KEY, shared/secretbox.h).  expires 0 marks
-- the tenant's current secret, the newest, which has no end; a secret is
-- live while its expires is 0 or later than now, and dead ones are dropped
-- by the next create or revoke.

-- The live secrets of `key` at `now`, newest first, each {id, created,
-- expires, sealed}, and the ids of the dead ones.
local function whsec_read(key, now)
  local flat = redis.call('HGETALL', key)
  local live, dead = {}, {}
  for i = 1, #flat, 2 do
    local created, expires, sealed = string.match(flat[i + 1], '^(%d+) (%d+) (%S+)$')
    created, expires = tonumber(created), tonumber(expires)
    if created and (expires == 0 or expires > now) then
      live[#live + 1] = {flat[i], created, expires, sealed}
    else
      dead[#dead + 1] = flat[i]
    end
  end
  table.sort(live, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[3] == 0 and b[3] ~= 0
  end)
  return live, dead
end

local function whsec_drop(key, dead)
  if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
end

-- ht_whsec_create KEYS: ht:whsec:{<tenant>}
--                 ARGV: id, sealed key, rotation (ms), most live
-- Makes secret `id` the tenant's current one; every other live secret then
-- ends `rotation` ms from now (or when it already ends, if sooner).
-- Returns the new secret's created_at (ms), or 0, with nothing changed,
-- when `most live` secrets are live already.
local function whsec_create(keys, args)
  local key, id, sealed = keys[1], args[1], args[2]
  local rotation, most = tonumber(args[3]), tonumber(args[4])
  local now = now_ms()
  local live, dead = whsec_read(key, now)
  whsec_drop(key, dead)
  if #live >= most then return 0 end
  local ends = now + rotation
  for _, s in ipairs(live) do
    if s[3] == 0 or s[3] > ends then
      redis.call('HSET', key, s[1], int(s[2]) .. ' ' .. int(ends) .. ' ' .. s[4])
    end
  end
  redis.call('HSET', key, id, int(now) .. ' 0 ' .. sealed)
  return now
end

-- ht_whsec_revoke KEYS: ht:whsec:{<tenant>}   ARGV: id
-- Returns 'revoked' (the secret is gone), 'current' (refused: the current
-- secret goes only once a newer one is made), or nil (no live secret of
-- that id).
local function whsec_revoke(keys, args)
  local key, id = keys[1], args[1]
  local live, dead = whsec_read(key, now_ms())
  whsec_drop(key, dead)
  for _, s in ipairs(live) do
    if s[1] == id then
      if s[3] == 0 then return 'current' end
      redis.call('HDEL', key, id)
      return 'revoked'
    end
  end
  return false
end

-- ht_whsec_list KEYS: ht:whsec:{<tenant>}   (read only)
-- Returns Redis' time (ms), then id, created (ms), expires (ms, 0: none)
-- and the sealed key of each live secret, newest first, all as strings.
local function whsec_list(keys, args)
  local now = now_ms()
  local out = {int(now)}
  for _, s in ipairs((whsec_read(keys[1], now))) do
    out[#out + 1] = s[1]
    out[#out + 1] = int(s[2])
    out[#out + 1] = int(s[3])
    out[#out + 1] = s[4]
  end
  return out
end

-- ---- batch submit ----------------------------------------------------------

-- ht_submit_many KEYS: signal, then per job: job, wait (of its priority)
--   ARGV: channel, then per job: id, run_at ms ('' or '0' = now), idempotency
--         key name ('' = none), body hash, n, then n field, value pairs
-- Submits each job as ht_submit does (the same function: indexes,
-- counters, idempotency), in order, at one time (the call's TIME), with the
-- wake-ups of them all in one LPUSH; a job refused (IDEMMISMATCH, EXISTS) is answered
-- with its error and the others go on.  Returns one entry per job: what
-- ht_submit answers for it, or its error.
local function submit_many(keys, args)
  local signal, channel = keys[1], args[1]
  local out = {}
  local many = {now = now_ms(), queued = 0}
  local a = 2
  for k = 2, #keys, 2 do
    local nf = tonumber(args[a + 4]) or 0
    local sargs = {args[a], channel, args[a + 1], args[a + 2], args[a + 3]}
    for i = 1, 2 * nf do sargs[5 + i] = args[a + 4 + i] end
    a = a + 5 + 2 * nf
    out[#out + 1] = submit({keys[k], keys[k + 1], signal}, sargs, many)
  end
  if many.queued > 0 then wake(signal, many.queued) end
  return out
end

-- ---- recurring schedules (docs/schedules.md) -------------------------------
-- A schedule lives in the partition its jobs go to: its hash
-- ht:{Q}:sched:<id>, its entry in ht:{Q}:sched:due scored by its next run
-- (ms; absent while paused) and one in its tenant's ht:{Q}:t:<tenant>:scheds
-- scored by created_at.  When a schedule runs is computed in C (cron
-- expressions in time zones, shared/schedule.c); these functions store it
-- and, in ht_sched_fire, submit the job of each run exactly once whatever
-- the number of workers calling.  The job template is kept as the submit
-- fields ht_submit takes, each under 'j_' (j_type, j_payload, ...).

local function sched_base(sched)
  return string.match(sched, '^(.*)sched:[^:]*$')
end

-- ht_sched_create KEYS: sched, due, the tenant's scheds index
--   ARGV: id, tenant, most schedules a tenant may have here, next run (ms),
--         field, value, ...
-- Returns the new schedule (flat HGETALL), or a TOOMANY error when the
-- tenant has `most` already (EXISTS: the id is taken).
local function sched_create(keys, args)
  local sched, due, index = keys[1], keys[2], keys[3]
  local id, tenant, most, next_run = args[1], args[2], tonumber(args[3]) or 0, args[4]
  if redis.call('ZCARD', index) >= most then
    return redis.error_reply('TOOMANY the tenant has ' .. int(most) .. ' schedules already')
  end
  if redis.call('EXISTS', sched) == 1 then
    return redis.error_reply('EXISTS schedule id already taken')
  end
  local now = now_ms()
  local hs = {'id', id, 'tenant', tenant, 'created_at', int(now), 'next_run_at', next_run,
              'runs', '0'}
  for i = 5, #args, 2 do
    hs[#hs + 1] = args[i]
    hs[#hs + 1] = args[i + 1]
  end
  redis.call('HSET', sched, unpack(hs))
  redis.call('ZADD', due, next_run, id)
  redis.call('ZADD', index, now, id)
  return redis.call('HGETALL', sched)
end

-- ht_sched_list (read-only) KEYS: the tenant's scheds index
--   ARGV: base, limit (1..100), cursor ('' = from the oldest, else
--         "<created_at>:<id>" of the last schedule seen)
-- Returns {next cursor or '', schedule, schedule, ...}, oldest first
-- (created_at, then id), each a flat HGETALL array.
local function sched_list(keys, args)
  local index, base = keys[1], args[1]
  local limit = math.max(1, math.min(100, tonumber(args[2]) or 20))
  local cursor = args[3]
  local min, after_score, after_id = '-inf', nil, nil
  if cursor ~= '' then
    after_score, after_id = string.match(cursor, '^(%d+):(.+)$')
    if not after_score then return redis.error_reply('BADCURSOR malformed cursor') end
    min = after_score
    after_score = tonumber(after_score)
  end
  local out = {''}
  local offset = 0
  while true do
    local batch = redis.call('ZRANGEBYSCORE', index, min, '+inf', 'WITHSCORES', 'LIMIT',
                             offset, 100)
    for i = 1, #batch, 2 do
      local id, score = batch[i], tonumber(batch[i + 1])
      if not (after_score and score == after_score and id <= after_id) then
        local h = redis.call('HGETALL', base .. 'sched:' .. id)
        if #h > 0 then
          out[#out + 1] = h
          if #out - 1 >= limit then
            out[1] = int(score) .. ':' .. id
            return out
          end
        end
      end
    end
    if #batch < 200 then return out end
    offset = offset + 100
  end
end

-- ht_sched_delete KEYS: sched, due, the tenant's scheds index   ARGV: id, tenant
-- Returns 1, or 0 (no such schedule, or another tenant's).  The jobs it
-- made stay.
local function sched_delete(keys, args)
  if redis.call('HGET', keys[1], 'tenant') ~= args[2] then return 0 end
  redis.call('DEL', keys[1])
  redis.call('ZREM', keys[2], args[1])
  redis.call('ZREM', keys[3], args[1])
  return 1
end

-- ht_sched_pause KEYS: sched, due   ARGV: id, tenant
-- No run comes while it is paused.  Returns the schedule (flat HGETALL), or
-- nil (no such schedule, or another tenant's).
local function sched_pause(keys, args)
  local sched, due, id = keys[1], keys[2], args[1]
  if redis.call('HGET', sched, 'tenant') ~= args[2] then return nil end
  redis.call('HSET', sched, 'paused', '1')
  redis.call('HDEL', sched, 'next_run_at')
  redis.call('ZREM', due, id)
  return redis.call('HGETALL', sched)
end

-- ht_sched_resume KEYS: sched, due   ARGV: id, tenant, next run (ms)
-- A paused schedule runs again from `next run` (the caller computes it
-- from now: the runs it missed while paused are not made up); a schedule
-- that is not paused is left as it is.  Returns the schedule or nil.
local function sched_resume(keys, args)
  local sched, due, id = keys[1], keys[2], args[1]
  local f = redis.call('HMGET', sched, 'tenant', 'paused')
  if f[1] ~= args[2] then return nil end
  if f[2] == '1' then
    redis.call('HDEL', sched, 'paused')
    redis.call('HSET', sched, 'next_run_at', args[3])
    redis.call('ZADD', due, args[3], id)
  end
  return redis.call('HGETALL', sched)
end

-- ht_sched_due KEYS: due   ARGV: base, limit
-- The schedules whose next run has come, for a worker to fire: returns
-- {now (ms), when the next one after them is due (ms) or -1, entry, ...},
-- each entry {id, next_run_at, cron, every_s, anchor, timezone, seconds,
-- catch_up} ('' for what the schedule does not have).  An entry whose
-- schedule is gone is dropped.
local SCHED_DUE_FIELDS = {'next_run_at', 'cron', 'every_s', 'anchor', 'timezone', 'seconds',
                          'catch_up'}
local function sched_due(keys, args)
  local due, base, limit = keys[1], args[1], tonumber(args[2]) or 50
  local now = now_ms()
  local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, limit)
  local out = {now, -1}
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', base .. 'sched:' .. id, unpack(SCHED_DUE_FIELDS))
    if f[1] then
      local e = {id}
      for i = 1, #SCHED_DUE_FIELDS do e[#e + 1] = f[i] or '' end
      out[#out + 1] = e
    else
      redis.call('ZREM', due, id)
    end
  end
  local later = redis.call('ZRANGEBYSCORE', due, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if later[2] then out[2] = tonumber(later[2]) end
  return out
end

-- ht_sched_fire KEYS: sched, due, job, signal
--   ARGV: id, due (the next_run_at the caller read), tick (ms: the run the
--         job is for, stored as its run_at; '' = no job this time), next run
--         (ms; '' = no more runs: the schedule stops), job id, channel,
--         problem ('' or why the schedule cannot run: recorded, it stops)
-- Compare-and-set: it fires only while the schedule's next_run_at is still
-- `due` (and it is not paused), so of the workers that read the same run
-- one fires it and the others get 0.  The job is submitted by ht_submit
-- itself (the tenant's indexes and counters, the wake-up); when ht_submit
-- refuses it, the run makes no job and the refusal is recorded
-- (last_error_*).  Returns {1, job id or '', error or ''} or {0}.
local function sched_fire(keys, args)
  local sched, due, job, signal = keys[1], keys[2], keys[3], keys[4]
  local id, expect, tick, next_run = args[1], args[2], args[3], args[4]
  local job_id, channel, problem = args[5], args[6], args[7] or ''
  local cur = redis.call('HMGET', sched, 'next_run_at', 'paused')
  if not cur[1] or cur[1] ~= expect or cur[2] == '1' then return {0} end
  local made, err = '', ''
  local hs = {}
  if tick ~= '' then
    local h = redis.call('HGETALL', sched)
    local sargs = {job_id, channel, '', '', ''}
    local priority, tenant = nil, nil
    for i = 1, #h, 2 do
      local name = h[i]
      if string.sub(name, 1, 2) == 'j_' then
        name = string.sub(name, 3)
        sargs[#sargs + 1] = name
        sargs[#sargs + 1] = h[i + 1]
        if name == 'priority' then priority = h[i + 1] end
      elseif name == 'tenant' then
        tenant = h[i + 1]
      end
    end
    for _, kv in ipairs({{'tenant', tenant or 'default'}, {'schedule_id', id}, {'run_at', tick}}) do
      sargs[#sargs + 1] = kv[1]
      sargs[#sargs + 1] = kv[2]
    end
    local r = submit({job, sched_base(sched) .. 'wait:' .. prio_of(priority), signal}, sargs)
    if type(r) == 'table' and r.err then
      err = r.err
      local code, msg = string.match(err, '^(%S+) (.*)$')
      hs = {'last_error_code', string.lower(code or 'refused'), 'last_error_msg', msg or err,
            'last_error_at', tick}
    else
      made = job_id
      hs = {'last_run_at', tick, 'last_job_id', job_id}
      redis.call('HDEL', sched, 'last_error_code', 'last_error_msg', 'last_error_at')
      redis.call('HINCRBY', sched, 'runs', 1)
    end
  end
  if problem ~= '' then
    for _, v in ipairs({'last_error_code', 'schedule_invalid', 'last_error_msg', problem,
                        'last_error_at', expect}) do
      hs[#hs + 1] = v
    end
  end
  if next_run ~= '' then
    hs[#hs + 1] = 'next_run_at'
    hs[#hs + 1] = next_run
    redis.call('ZADD', due, next_run, id)
  else
    redis.call('HDEL', sched, 'next_run_at')
    redis.call('ZREM', due, id)
  end
  if #hs > 0 then redis.call('HSET', sched, unpack(hs)) end
  return {1, made, err}
end

-- ---- remote workers (the HTTP worker API, api/worker_api.c) ----------------

-- ht_types_remote KEYS: types ("ht:types")   ARGV: worker id, ttl_ms, type, ...
-- Records that remote worker `worker id` serves the types: each type's entry
-- becomes {"worker", "at", "remote": true}, except an entry a
-- hangtight-worker wrote (one without "remote"): those stay as they are and
-- never expire here (their workers write them again every minute).  Then
-- the remote entries not written for ttl_ms are dropped, so a type that
-- only remote workers serve stops being accepted ttl_ms after the last of
-- them was seen (no types: only that).  Returns the number dropped.
local function remote_entry(text)
  local ok, v = pcall(cjson.decode, text)
  if ok and type(v) == 'table' and v.remote == true then return v end
  return nil
end

local function types_remote(keys, args)
  local key, worker, ttl = keys[1], args[1], positive(args[2])
  if not ttl then return redis.error_reply('BADTTL ttl_ms must be a positive integer') end
  local now = now_ms()
  local entry = cjson.encode({worker = worker, at = now, remote = true})
  for i = 3, #args do
    local old = redis.call('HGET', key, args[i])
    if not old or remote_entry(old) then redis.call('HSET', key, args[i], entry) end
  end
  local dropped = 0
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local v = remote_entry(all[i + 1])
    if v and (tonumber(v.at) or 0) < now - ttl then
      redis.call('HDEL', key, all[i])
      dropped = dropped + 1
    end
  end
  return dropped
end

-- ht_workers_held (read-only) KEYS: active   ARGV: job key prefix,
--                 worker id prefix, limit
-- The jobs each worker whose id starts with the prefix holds now: the
-- partition's running jobs whose lease has not run out, counted by their
-- `worker` field, looking at up to `limit` of them.  Returns a flat
-- worker id, count array.
local function workers_held(keys, args)
  local prefix, want, limit = args[1], args[2] or '', positive(args[3]) or 10000
  local ids = redis.call('ZRANGEBYSCORE', keys[1], now_ms(), '+inf', 'LIMIT', 0, limit)
  local counts, order = {}, {}
  for _, id in ipairs(ids) do
    local w = redis.call('HGET', prefix .. id, 'worker')
    if w and string.sub(w, 1, #want) == want then
      if not counts[w] then
        counts[w] = 0
        order[#order + 1] = w
      end
      counts[w] = counts[w] + 1
    end
  end
  local out = {}
  for _, w in ipairs(order) do
    out[#out + 1] = w
    out[#out + 1] = counts[w]
  end
  return out
end

redis.register_function('ht_submit', submit)
redis.register_function('ht_claim', claim)
redis.register_function('ht_renew', renew)
redis.register_function('ht_renew_many', renew_many)
redis.register_function('ht_progress', progress)
redis.register_function('ht_watch', watch)
redis.register_function('ht_complete', complete)
redis.register_function('ht_complete_many', complete_many)
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
redis.register_function('ht_count_add', count_add)
redis.register_function{function_name = 'ht_list', callback = list, flags = {'no-writes'}}
redis.register_function{function_name = 'ht_queue_stats', callback = queue_stats,
                        flags = {'no-writes'}}
redis.register_function('ht_limits', limits)
redis.register_function('ht_whsec_create', whsec_create)
redis.register_function('ht_whsec_revoke', whsec_revoke)
redis.register_function{function_name = 'ht_whsec_list', callback = whsec_list,
                        flags = {'no-writes'}}
redis.register_function('ht_submit_many', submit_many)
redis.register_function('ht_sched_create', sched_create)
redis.register_function{function_name = 'ht_sched_list', callback = sched_list,
                        flags = {'no-writes'}}
redis.register_function('ht_sched_delete', sched_delete)
redis.register_function('ht_sched_pause', sched_pause)
redis.register_function('ht_sched_resume', sched_resume)
redis.register_function('ht_sched_due', sched_due)
redis.register_function('ht_sched_fire', sched_fire)
redis.register_function('ht_types_remote', types_remote)
redis.register_function{function_name = 'ht_workers_held', callback = workers_held,
                        flags = {'no-writes'}}
