"""Lua scripts of the event bus (each runs atomically on the server).

Keys: ``<ns>:ev:<topic>`` is the topic's stream (fields ``i`` event id, ``p`` JSON payload,
``h`` JSON headers, ``t`` server time); ``<ns>:evd:<topic>:<id>`` marks an event id inside
the dedupe window; ``<ns>:evq:<topic>:<group>`` is a sorted set of the group's pending
deliveries scored by the millisecond at which they are due again (ack timeout or nack
delay); ``<ns>:evw:<topic>:<group>`` is a tiny stream whose entries wake blocked consumers
after a nack.
"""

from __future__ import annotations

__all__ = ["ACK", "CLOSE", "FETCH", "NACK", "PUBLISH"]

_NOW = """
local function now_parts()
  local t = redis.call('TIME')
  return tonumber(t[1]), tonumber(t[2])
end
local function now_ms()
  local s, us = now_parts()
  return s * 1000 + math.floor(us / 1000)
end
local function now_text()
  local s, us = now_parts()
  return string.format('%d.%06d', s, us)
end
"""

PUBLISH = (
    _NOW
    + """
-- KEYS: stream and dedupe key ('' = none) of each event, in pairs
-- ARGV: maxlen, dedupe window ms, then event id, payload, headers of each event
local stamp = now_text()
local out = {}
for k = 1, #KEYS, 2 do
  local a = 3 + (k - 1) / 2 * 3
  local fresh = 1
  if KEYS[k + 1] ~= '' and not redis.call('SET', KEYS[k + 1], '1', 'NX', 'PX', ARGV[2]) then
    fresh = 0
  end
  if fresh == 1 then
    redis.call('XADD', KEYS[k], 'MAXLEN', '~', ARGV[1], '*',
      'i', ARGV[a], 'p', ARGV[a + 1], 'h', ARGV[a + 2], 't', stamp)
  end
  out[#out + 1] = fresh
end
return out
"""
)

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
    'h', cjson.encode(headers), 't', now_text())
end
"""

FETCH = (
    _NOW
    + _DEAD
    + """
-- KEYS[1] stream, KEYS[2] due set, KEYS[3] dead-letter stream, KEYS[4] wake stream
-- ARGV: group, consumer, count, ack timeout ms, max deliveries, topic, maxlen, dead id base
local stream, dl, dlq, wake = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer = ARGV[1], ARGV[2]
local count, ack_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local ctx = {maxd = tonumber(ARGV[5]), topic = ARGV[6], maxlen = ARGV[7],
             dead_id = ARGV[8], dead = 0}
local now = now_ms()
local out = {}
local due = redis.call('ZRANGEBYSCORE', dl, '-inf', now, 'LIMIT', 0, count)
for _, id in ipairs(due) do
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  if #p == 0 then
    redis.call('ZREM', dl, id)
  elseif p[1][4] >= ctx.maxd then
    dead_letter(stream, dl, dlq, group, id, p[1][4], 'ack timeout', ctx)
  else
    local c = redis.call('XCLAIM', stream, group, consumer, 0, id)
    if #c == 0 or not c[1] then
      redis.call('ZREM', dl, id)
    else
      redis.call('ZADD', dl, now + ack_ms, id)
      out[#out + 1] = {id, p[1][4] + 1, c[1][2]}
    end
  end
end
if #out < count then
  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - #out,
    'STREAMS', stream, '>')
  if r then
    for _, e in ipairs(r[1][2]) do
      redis.call('ZADD', dl, now + ack_ms, e[1])
      out[#out + 1] = {e[1], 1, e[2]}
    end
  end
end
local last, woke, nxt = '0-0', '0-0', ''
if #out == 0 then
  local l = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if #l > 0 then last = l[1][1] end
  local w = redis.call('XREVRANGE', wake, '+', '-', 'COUNT', 1)
  if #w > 0 then woke = w[1][1] end
  local n = redis.call('ZRANGE', dl, 0, 0, 'WITHSCORES')
  if #n > 0 then nxt = n[2] end
end
return {out, last, woke, nxt, tostring(now)}
"""
)

ACK = """
-- KEYS[1] stream, KEYS[2] due set; ARGV: group, ids...
for i = 2, #ARGV do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
end
return 1
"""

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
-- KEYS[1] stream; ARGV: group, consumer. Forget the consumer if it holds nothing.
local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if ok and #p == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""
