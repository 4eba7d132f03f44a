"""The state store on Redis hashes: value, version and expiry per key, Lua for atomicity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from memfun_runtime import _codec
from memfun_runtime.backends._state_base import StateStoreBase, conflict, not_an_integer
from memfun_runtime.backends.redis._client import TIER, RedisClient, fields, seconds_to_ms, text
from memfun_runtime.protocols import Entry

__all__ = ["RedisStateStore"]

# Each key is a hash <ns>:kv:<key> {v: JSON value, n: version, e: expiry in ms}; versions come
# from one counter <ns>:kvclock, so they keep growing across delete and re-create.
_WRITE = """
local function write(key, clock, value, ttl)
  local version = redis.call('INCR', clock)
  redis.call('DEL', key)
  if ttl == '' then
    redis.call('HSET', key, 'v', value, 'n', version)
  else
    local t = redis.call('TIME')
    local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ttl)
    redis.call('HSET', key, 'v', value, 'n', version, 'e', at)
    redis.call('PEXPIREAT', key, at)
  end
  return version
end
"""

_SET = _WRITE + "return write(KEYS[1], KEYS[2], ARGV[1], ARGV[2])"

_CAS = (
    _WRITE
    + """
-- ARGV: value, ttl ms or '', expected version or '' (must not exist)
local current = redis.call('HGET', KEYS[1], 'n')
if (ARGV[3] == '' and current) or (ARGV[3] ~= '' and current ~= ARGV[3]) then
  return {0, current or ''}
end
return {1, write(KEYS[1], KEYS[2], ARGV[1], ARGV[2])}
"""
)

_DELETE = """
-- ARGV: expected version or ''
local current = redis.call('HGET', KEYS[1], 'n')
if ARGV[1] ~= '' and current ~= ARGV[1] then
  return {0, current or ''}
end
return {1, redis.call('DEL', KEYS[1])}
"""

_INCREMENT = """
-- ARGV: delta
local r = redis.pcall('HINCRBY', KEYS[1], 'v', ARGV[1])
if type(r) == 'table' and r.err then
  return {0, r.err, redis.call('HGET', KEYS[1], 'v') or ''}
end
redis.call('HSET', KEYS[1], 'n', redis.call('INCR', KEYS[2]))
return {1, tostring(r)}
"""


class RedisStateStore(StateStoreBase):
    """:class:`~memfun_runtime.protocols.StateStore` on Redis (see the protocol).

    Every write is one Lua script, so compare-and-set and increments are atomic on the
    server. TTLs are Redis key expiries (``PEXPIREAT``), checked by Redis on every access.
    Counters use ``HINCRBY``, so they are 64-bit signed integers.
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._clock = client.key("kvclock")

    async def _eval(self, operation: str, source: str, key: str, *args: str | int) -> Any:
        keys = (self._client.key("kv", key), self._clock)
        return await self._client.eval(operation, source, keys, args)

    async def _get(self, key: str) -> Entry | None:
        found = await self._client.call("get", ("HGETALL", self._client.key("kv", key)))
        return _entry(key, fields(found))

    async def _set(self, key: str, text: str, ttl: float | None) -> int:
        return int(await self._eval("set", _SET, key, text, _ttl_arg(ttl)))

    async def _cas(self, key: str, text: str, ttl: float | None, expected: int | None) -> int:
        wanted = "" if expected is None else str(expected)
        ok, version = await self._eval("compare_and_set", _CAS, key, text, _ttl_arg(ttl), wanted)
        if not int(ok):
            raise conflict(key, expected, _version(version))
        return int(version)

    async def _delete(self, key: str, expected: int | None) -> bool:
        wanted = "" if expected is None else str(expected)
        ok, result = await self._eval("delete", _DELETE, key, wanted)
        if not int(ok):
            raise conflict(key, expected, _version(result))
        return bool(int(result))

    async def _increment(self, key: str, delta: int) -> int:
        reply = await self._eval("increment", _INCREMENT, key, delta)
        if not int(reply[0]):
            raise not_an_integer(
                key,
                text(reply[2]),
                rule="an integer in the 64-bit signed range (the redis tier's counters), "
                f"also after adding {delta} ({text(reply[1])})",
            )
        return int(reply[1])

    async def _scan(self, prefix: str) -> AsyncIterator[tuple[str, Entry]]:
        skip = len(self._client.key("kv", ""))
        async for names in self._client.scan("scan", self._client.key("kv", prefix) + "*"):
            replies = await self._client.pipeline(
                "scan", lambda pipe, batch=names: [pipe.hgetall(name) for name in batch]
            )
            for name, found in zip(names, replies, strict=True):
                entry = _entry(name[skip:], found)
                if entry is not None:
                    yield name[skip:], entry


def _ttl_arg(seconds: float | None) -> str:
    return "" if seconds is None else str(seconds_to_ms(seconds))


def _version(reply: Any) -> int | None:
    found = text(reply)
    return int(found) if found else None


def _entry(key: str, found: Any) -> Entry | None:
    if not found or "v" not in found:
        return None
    value = _codec.decode_json(found["v"], backend=TIER, location=key)
    expiry = found.get("e")
    return Entry(
        value=value,
        version=int(found.get("n", 0)),
        expires_at=None if expiry is None else int(expiry) / 1000,
    )
