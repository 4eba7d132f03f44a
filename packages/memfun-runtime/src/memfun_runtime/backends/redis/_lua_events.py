"""Lua scripts of the event bus (each runs atomically on the server).

Keys: ``<ns>:ev:<topic>`` is the topic's stream (fields ``i`` event id, ``p`` JSON payload,
``h`` JSON headers when there are any; the stream id carries the server's millisecond);
``<ns>:evd:<topic>:<id>`` marks an event id inside the dedupe window;
``<ns>:evq:<topic>:<group>`` is a sorted set of the group's nacked deliveries scored by the
millisecond at which they are due again; ``<ns>:evt:<topic>:<group>`` is a sorted set of the
group's consumers scored by their ack timeout in milliseconds; ``<ns>:evw:<topic>:<group>`` is
a tiny stream whose entries wake blocked consumers after a nack;
``<ns>:evf:<topic>:<group>:<consumer>`` is never stored: :data:`CLAIM` writes and deletes it
to abort (through ``WATCH``) the ``XREADGROUP`` that a fetch queues behind it.

Large payloads pass through Lua (which copies each one twice) only when they carry an id:
a large event without one is its own ``XADD``, while each run of the others is stored by
one :data:`PUBLISH_MANY` call, which costs the client far less than one reply per event. A
first delivery is a plain ``XREADGROUP``, an ack an ``XACK``. Redis keeps each pending
delivery's consumer, delivery count and idle time in the group's pending entries list;
:data:`CLAIM` reads it to redeliver what outlived its consumer's ack timeout.
"""

from __future__ import annotations

__all__ = ["CLAIM", "CLOSE", "NACK", "PUBLISH_MANY"]

_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

PUBLISH_MANY = """
-- Stores one event unless its id is inside the dedupe window: 1 stored, 0 a duplicate.
-- A failed XADD forgets the id again (nothing was stored), then raises its error.
local function store(stream, dedupe, window, maxlen, eid, body, head)
  if dedupe ~= '' and not redis.call('SET', dedupe, '1', 'NX', 'PX', window) then
    return 0
  end
  local ok, err
  if head == '' then
    ok, err = pcall(redis.call, 'XADD', stream, 'MAXLEN', '~', maxlen, '*', 'i', eid, 'p', body)
  else
    ok, err = pcall(redis.call, 'XADD', stream, 'MAXLEN', '~', maxlen, '*', 'i', eid, 'p', body,
      'h', head)
  end
  if not ok then
    if dedupe ~= '' then redis.call('DEL', dedupe) end
    error(type(err) == 'table' and err.err or tostring(err), 0)
  end
  return 1
end

-- A run of events (small ones, and large ones with an id), stored in order.
-- KEYS: stream and dedupe key ('' = none) of each event, in pairs
-- ARGV: maxlen, dedupe window ms, then event id, payload, headers ('' = none) of each event
-- Returns per event: 1 stored, 0 a duplicate, or the error that refused it.
local out = {}
for k = 1, #KEYS, 2 do
  local a = 3 + (k - 1) / 2 * 3
  local ok, res = pcall(store, KEYS[k], KEYS[k + 1], ARGV[2], ARGV[1], ARGV[a], ARGV[a + 1],
    ARGV[a + 2])
  if ok then
    out[#out + 1] = res
  else
    out[#out + 1] = type(res) == 'table' and res.err or tostring(res)
  end
end
return out
"""

# Moves one pending event of a group to the dead-letter stream and settles it for the group.
_DEAD = """
local function dead_letter(stream, dl, dlq, group, id, deliveries, cause, ctx)
  local entry = redis.call('XRANGE', stream, id, id)
  redis.call('XACK', stream, group, id)
  redis.call('ZREM', dl, id)
  if #entry == 0 then return end
  local f = {}
  local fields = entry[1][2]
  for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
  local headers = cjson.decode(f['h'] or '{}')
  headers['memfun-dead-reason'] = 'max deliveries (' .. ctx.maxd .. ') reached after ' .. cause
  headers['memfun-dead-topic'] = ctx.topic
  headers['memfun-dead-event-id'] = f['i'] or id
  headers['memfun-dead-group'] = group
  headers['memfun-dead-deliveries'] = tostring(deliveries)
  ctx.dead = ctx.dead + 1
  redis.call('XADD', dlq, 'MAXLEN', '~', ctx.maxlen, '*',
    'i', ctx.dead_id .. string.format('%04x', ctx.dead), 'p', f['p'] or 'null',
    'h', cjson.encode(headers))
end
"""

CLAIM = (
    _NOW
    + _DEAD
    + """
-- Run by every fetch, before the XREADGROUP of new events: claims for this consumer the
-- nacked deliveries now due and the deliveries older than their consumer's ack timeout,
-- and dead-letters those that reached max deliveries. If it claims anything, it touches
-- the flag key, so the XREADGROUP queued after it (MULTI under WATCH) does not run and the
-- fetch returns at most `count` deliveries.
-- KEYS[1] stream, KEYS[2] due set, KEYS[3] dead-letter stream, KEYS[4] wake stream,
-- KEYS[5] ack timeouts, KEYS[6] flag
-- ARGV: group, consumer, count, ack timeout ms, max deliveries, topic, maxlen, dead id base
-- (the ack timeout applies to consumers that have none recorded).
-- Returns {claimed {id, attempt, fields}..., last stream id, last wake id, next due ms, now}.
local stream, dl, dlq, wake, timeouts = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, consumer = ARGV[1], ARGV[2]
local count, own = tonumber(ARGV[3]), tonumber(ARGV[4])
local ctx = {maxd = tonumber(ARGV[5]), topic = ARGV[6], maxlen = ARGV[7],
             dead_id = ARGV[8], dead = 0}
local now = now_ms()
local out = {}

local known = {}
local function timeout_of(owner)
  local ms = known[owner]
  if ms == nil then
    ms = tonumber(redis.call('ZSCORE', timeouts, owner) or own)
    known[owner] = ms
  end
  return ms
end

local function claim(id, deliveries, cause)
  if deliveries >= ctx.maxd then
    dead_letter(stream, dl, dlq, group, id, deliveries, cause, ctx)
    return
  end
  local c = redis.call('XCLAIM', stream, group, consumer, 0, id)
  if #c > 0 and c[1] then
    out[#out + 1] = {id, deliveries + 1, c[1][2]}
  end
end

local due = redis.call('ZRANGEBYSCORE', dl, '-inf', now, 'LIMIT', 0, count)
for _, id in ipairs(due) do
  redis.call('ZREM', dl, id)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  if #p > 0 then claim(id, p[1][4], 'nack') end
end

local shortest = redis.call('ZRANGE', timeouts, 0, 0, 'WITHSCORES')
local floor = math.min(tonumber(shortest[2] or own), own)
-- Scanning the pending entries list costs its length, so it is skipped while nothing can
-- have timed out: an id carries the server's millisecond of its XADD and no delivery predates
-- its entry, so no pending delivery has been idle longer than the oldest pending id's age.
-- An id ahead of the clock (a clock set back, an id given by hand) proves nothing: scan.
local oldest = redis.call('XPENDING', stream, group, '-', '+', 1)
local age = #oldest > 0 and now - tonumber(string.match(oldest[1][1], '^%d+')) or 0
local start, pages = '-', 0
while (age >= floor or age < 0) and #out < count and pages < 16 do
  pages = pages + 1
  local want = count - #out
  local page = redis.call('XPENDING', stream, group, 'IDLE', floor, start, '+', want)
  for _, e in ipairs(page) do
    if e[3] >= timeout_of(e[2]) and not redis.call('ZSCORE', dl, e[1]) then
      claim(e[1], e[4], 'ack timeout')
    end
  end
  if #page < want then break end
  start = '(' .. page[#page][1]
end

if #out > 0 then
  redis.call('SET', KEYS[6], '1')
  redis.call('DEL', KEYS[6])
  return {out, '0-0', '0-0', '', tostring(now)}
end

local last, woke, nxt = '0-0', '0-0', nil
local l = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
if #l > 0 then last = l[1][1] end
local w = redis.call('XREVRANGE', wake, '+', '-', 'COUNT', 1)
if #w > 0 then woke = w[1][1] end
local n = redis.call('ZRANGE', dl, 0, 0, 'WITHSCORES')
if #n > 0 then nxt = tonumber(n[2]) end
-- The oldest pending delivery is usually the first to time out: wake up for it.
if ctx.dead > 0 then oldest = redis.call('XPENDING', stream, group, '-', '+', 1) end
if #oldest > 0 and not redis.call('ZSCORE', dl, oldest[1][1]) then
  local at = math.max(now + timeout_of(oldest[1][2]) - oldest[1][3], now + 1)
  if nxt == nil or at < nxt then nxt = at end
end
return {out, last, woke, nxt and tostring(nxt) or '', tostring(now)}
"""
)

NACK = (
    _NOW
    + _DEAD
    + """
-- KEYS[1] stream, KEYS[2] due set, KEYS[3] dead-letter stream, KEYS[4] wake stream
-- ARGV: group, consumer, id, attempt, delay ms, max deliveries, topic, maxlen, dead id base
local stream, dl, dlq, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer, id = ARGV[1], ARGV[2], ARGV[3]
local ctx = {maxd = tonumber(ARGV[6]), topic = ARGV[7], maxlen = ARGV[8],
             dead_id = ARGV[9], dead = 0}
local p = redis.call('XPENDING', stream, group, id, id, 1)
if #p == 0 or p[1][2] ~= consumer or p[1][4] ~= tonumber(ARGV[4]) then
  return 0
end
if p[1][4] >= ctx.maxd then
  dead_letter(stream, dl, dlq, group, id, p[1][4], 'nack', ctx)
  return 2
end
redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[5]), id)
redis.call('XADD', wake, 'MAXLEN', '~', '16', '*', 'n', '1')
return 1
"""
)

CLOSE = """
-- KEYS[1] stream, KEYS[2] ack timeouts; ARGV: group, consumer.
-- Forget the consumer if it holds nothing (what it holds times out with its own timeout).
local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if ok and #p == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""
