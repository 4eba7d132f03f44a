"""Lua scripts of the task queue (each runs atomically on the server).

Keys under the queue prefix ``P = <ns>:tq:<queue>:``: ``P t:<id>`` is a task's hash;
``P r<0..9>`` are sorted sets of pending tasks per priority, scored by ``available_at``,
with members ``<16-digit enqueue order>:<id>`` so equal times keep enqueue order;
``P leased`` scores leased task ids by lease expiry; ``P dead`` scores dead ids by enqueue
order; ``P seq`` counts enqueues; ``P wake`` is a short list that wakes blocked ``lease``
calls (``BLPOP``). Finished tasks get a key expiry of the retention period.

Every script gets ``KEYS[1] = P`` and ``ARGV[1] = retention in ms``; ``ENQUEUE`` also adds the
queue to the namespace's set of queue names (:mod:`._names`).
"""

from __future__ import annotations

from memfun_runtime.backends.redis._client import LUA_CLOCK

__all__ = ["COMPLETE", "DEAD", "ENQUEUE", "EXTEND", "FAIL", "GET", "LEASE"]

_PRELUDE = """
local P = KEYS[1]
local retention = ARGV[1]
local function ready(priority) return P .. 'r' .. priority end
local function wake()
  redis.call('LPUSH', P .. 'wake', '1')
  redis.call('LTRIM', P .. 'wake', 0, 63)
end
local function finish(h, id, status, t)
  redis.call('HSET', h, 'status', status, 'token', '', 'finished_at', fmt(t))
  if status == 'dead' then
    redis.call('ZADD', P .. 'dead', redis.call('HGET', h, 'order'), id)
  end
  redis.call('PEXPIRE', h, retention)
end
-- Expire lapsed leases: the task is pending again, or dead after its last attempt.
local function settle(t)
  local due = redis.call('ZRANGEBYSCORE', P .. 'leased', '-inf', fmt(t), 'LIMIT', 0, 256)
  for _, id in ipairs(due) do
    redis.call('ZREM', P .. 'leased', id)
    local h = P .. 't:' .. id
    local f = redis.call('HMGET', h, 'status', 'attempts', 'max_attempts', 'expires_at',
                         'priority', 'member')
    if f[1] == 'leased' and tonumber(f[4]) <= t then
      redis.call('HSET', h, 'last_error', 'lease expired')
      if tonumber(f[2]) >= tonumber(f[3]) then
        finish(h, id, 'dead', t)
      else
        redis.call('HSET', h, 'status', 'pending', 'available_at', f[4])
        redis.call('ZADD', ready(f[5]), f[4], f[6])
        wake()
      end
    end
  end
end
-- Check that ARGV[2] (task id) / ARGV[3] (token) is the current lease and take the task
-- off the leased and ready sets; returns the hash key, its fields and the time, or nil and
-- the status for the error.
local function current()
  local t = now()
  settle(t)
  local h = P .. 't:' .. ARGV[2]
  local f = redis.call('HMGET', h, 'status', 'token', 'attempts', 'max_attempts',
                       'priority', 'member', 'backoff', 'payload', 'expires_at')
  if not f[1] then return nil, 'unknown' end
  if f[2] ~= ARGV[3] or (f[1] ~= 'leased' and f[1] ~= 'pending') then return nil, f[1] end
  redis.call('ZREM', P .. 'leased', ARGV[2])
  redis.call('ZREM', ready(f[5]), f[6])
  return h, f, t
end
"""


def _script(body: str) -> str:
    return LUA_CLOCK + _PRELUDE + body


ENQUEUE = _script("""
-- KEYS[2]: the set of queue names; ARGV: retention, id, payload, priority, delay,
-- max attempts, backoff, queue name
local h = P .. 't:' .. ARGV[2]
if redis.call('EXISTS', h) == 1 then return 0 end
redis.call('SADD', KEYS[2], ARGV[8])
local t = now()
local order = redis.call('INCR', P .. 'seq')
local member = string.format('%016d', order) .. ':' .. ARGV[2]
local available = fmt(t + tonumber(ARGV[5]))
redis.call('HSET', h, 'payload', ARGV[3], 'priority', ARGV[4], 'max_attempts', ARGV[6],
  'backoff', ARGV[7], 'enqueued_at', fmt(t), 'available_at', available, 'order', order,
  'member', member, 'status', 'pending', 'attempts', 0)
redis.call('ZADD', ready(ARGV[4]), available, member)
wake()
return 1
""")

LEASE = _script("""
-- ARGV: retention, visibility seconds, token
local t = now()
settle(t)
for priority = 9, 0, -1 do
  while true do
    local m = redis.call('ZRANGEBYSCORE', ready(priority), '-inf', fmt(t), 'LIMIT', 0, 1)
    if #m == 0 then break end
    redis.call('ZREM', ready(priority), m[1])
    local id = string.sub(m[1], 18)
    local h = P .. 't:' .. id
    if redis.call('HGET', h, 'status') == 'pending' then
      local attempts = redis.call('HINCRBY', h, 'attempts', 1)
      local expires = fmt(t + tonumber(ARGV[2]))
      redis.call('HSET', h, 'status', 'leased', 'token', ARGV[3], 'expires_at', expires)
      redis.call('ZADD', P .. 'leased', expires, id)
      return {1, id, redis.call('HGET', h, 'payload'), attempts,
              redis.call('HGET', h, 'max_attempts'), expires}
    end
  end
end
local next_due = ''
for priority = 0, 9 do
  local first = redis.call('ZRANGE', ready(priority), 0, 0, 'WITHSCORES')
  if #first > 0 and (next_due == '' or tonumber(first[2]) < tonumber(next_due)) then
    next_due = first[2]
  end
end
local lapse = redis.call('ZRANGE', P .. 'leased', 0, 0, 'WITHSCORES')
if #lapse > 0 and (next_due == '' or tonumber(lapse[2]) < tonumber(next_due)) then
  next_due = lapse[2]
end
return {0, next_due, fmt(t)}
""")

COMPLETE = _script("""
-- ARGV: retention, id, token, result
local h, f, t = current()
if not h then return {0, f} end
redis.call('HSET', h, 'result', ARGV[4])
finish(h, ARGV[2], 'completed', t)
return {1}
""")

FAIL = _script("""
-- ARGV: retention, id, token, error, retry (1/0), max backoff
local h, f, t = current()
if not h then return {0, f} end
redis.call('HSET', h, 'last_error', ARGV[4])
local attempts = tonumber(f[3])
if ARGV[5] == '1' and attempts < tonumber(f[4]) then
  local pause = math.min(tonumber(f[7]) * 2 ^ (attempts - 1), tonumber(ARGV[6]))
  local available = fmt(t + pause)
  redis.call('HSET', h, 'status', 'pending', 'token', '', 'available_at', available)
  redis.call('ZADD', ready(f[5]), available, f[6])
  wake()
  return {1, 'retry'}
end
finish(h, ARGV[2], 'dead', t)
return {1, 'dead'}
""")

EXTEND = _script("""
-- ARGV: retention, id, token, seconds
local h, f, t = current()
if not h then return {0, f} end
local expires = fmt(t + tonumber(ARGV[4]))
redis.call('HSET', h, 'status', 'leased', 'expires_at', expires)
redis.call('ZADD', P .. 'leased', expires, ARGV[2])
return {1, f[8], f[3], f[4], expires}
""")

GET = _script("""
-- ARGV: retention, id
settle(now())
return redis.call('HGETALL', P .. 't:' .. ARGV[2])
""")

DEAD = _script("""
-- ARGV: retention, limit
settle(now())
local out = {}
local limit = tonumber(ARGV[2])
local start = 0
while #out < limit do
  local ids = redis.call('ZRANGE', P .. 'dead', start, start + limit - 1)
  if #ids == 0 then break end
  start = start + #ids
  for _, id in ipairs(ids) do
    local fields = redis.call('HGETALL', P .. 't:' .. id)
    if #fields == 0 then
      redis.call('ZREM', P .. 'dead', id)
      start = start - 1
    elseif #out < limit then
      out[#out + 1] = {id, fields}
    end
  end
end
return out
""")
