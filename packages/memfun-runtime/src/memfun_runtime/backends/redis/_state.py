"""The state store on Redis hashes: value, version and expiry per key, Lua for atomicity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from memfun_core.errors import ConflictError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.redis._client import TIER, RedisClient, seconds_to_ms, text
from memfun_runtime.protocols import Entry, JSONValue, StateStore

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

_SCAN_BATCH = 500


class RedisStateStore(StateStore):
    """:class:`~memfun_runtime.protocols.StateStore` on Redis (see the protocol).

    Every write is one Lua script, so compare-and-set and increments are atomic on the
    server. TTLs are Redis key expiries (``PEXPIREAT``), checked by Redis on every access.
    Counters use ``HINCRBY``, so they are 64-bit signed integers.
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._clock = client.key("kvclock")

    def _key(self, key: str) -> str:
        return self._client.key("kv", key)

    async def get(self, key: str) -> Entry | None:
        """Return the live entry for ``key``, or ``None``."""
        _codec.check_name(key, field="key")
        name = self._key(key)
        fields = await self._client.run("get", lambda r: r.hgetall(name))
        return _entry(key, fields)

    async def set(self, key: str, value: JSONValue, *, ttl: float | None = None) -> int:
        """Write ``value`` and return the new version."""
        _codec.check_name(key, field="key")
        seconds = _codec.check_ttl(ttl)
        body = _codec.encode_json(value, field="value")
        script = self._client.script(_SET)
        keys = (self._key(key), self._clock)
        args = (body, _ttl_arg(seconds))
        return int(await self._client.run("set", lambda r: script(keys, args, r)))

    async def compare_and_set(
        self,
        key: str,
        value: JSONValue,
        *,
        expected_version: int | None,
        ttl: float | None = None,
    ) -> int:
        """Write only at ``expected_version`` (``None``: must not exist)."""
        _codec.check_name(key, field="key")
        seconds = _codec.check_ttl(ttl)
        body = _codec.encode_json(value, field="value")
        expected = _expected(expected_version)
        script = self._client.script(_CAS)
        keys = (self._key(key), self._clock)
        args = (body, _ttl_arg(seconds), expected)
        ok, version = await self._client.run("compare_and_set", lambda r: script(keys, args, r))
        if not int(ok):
            raise _conflict(key, expected_version, text(version))
        return int(version)

    async def delete(self, key: str, *, expected_version: int | None = None) -> bool:
        """Remove ``key``; with ``expected_version``, only at that version."""
        _codec.check_name(key, field="key")
        expected = "" if expected_version is None else _expected(expected_version)
        script = self._client.script(_DELETE)
        keys, args = (self._key(key),), (expected,)
        ok, result = await self._client.run("delete", lambda r: script(keys, args, r))
        if not int(ok):
            raise _conflict(key, expected_version, text(result))
        return bool(int(result))

    async def increment(self, key: str, delta: int = 1) -> int:
        """Atomically add ``delta`` to an integer value and return the result."""
        _codec.check_name(key, field="key")
        if isinstance(delta, bool) or not isinstance(delta, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(f"must be an int, got {delta!r}", field="delta", rule="an int")
        script = self._client.script(_INCREMENT)
        keys, args = (self._key(key), self._clock), (delta,)
        reply = await self._client.run("increment", lambda r: script(keys, args, r))
        if not int(reply[0]):
            raise ValidationError(
                f"holds {text(reply[2])[:80]!r}, not an integer in the 64-bit range "
                f"(after adding {delta}: {text(reply[1])})",
                field="key",
                rule="increment needs an integer value (64-bit signed on the redis tier)",
                hint=f"set {key!r} to an integer or use another key for the counter",
            )
        return int(reply[1])

    async def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        """Yield every live ``(key, entry)`` whose key starts with ``prefix``."""
        _codec.check_prefix(prefix)
        pattern = self._key(prefix) + "*"
        skip = len(self._key(""))
        cursor: Any = 0
        while True:
            cursor, names = await self._client.run(
                "scan", lambda r, c=cursor: r.scan(c, match=pattern, count=_SCAN_BATCH)
            )
            if names:
                found = [text(n) for n in names]
                replies = await self._client.pipeline(
                    "scan", lambda pipe, f=found: [pipe.hgetall(n) for n in f]
                )
                for name, fields in zip(found, replies, strict=True):
                    entry = _entry(name[skip:], fields)
                    if entry is not None:
                        yield name[skip:], entry
            if int(cursor) == 0:
                return


def _ttl_arg(seconds: float | None) -> str:
    return "" if seconds is None else str(seconds_to_ms(seconds))


def _expected(version: int | None) -> str:
    if version is None:
        return ""
    return str(_codec.check_int(version, field="expected_version", minimum=0))


def _entry(key: str, fields: Any) -> Entry | None:
    if not fields or "v" not in fields:
        return None
    value = _codec.decode_json(fields["v"], backend=TIER, location=key)
    expiry = fields.get("e")
    return Entry(
        value=value,
        version=int(fields.get("n", 0)),
        expires_at=None if expiry is None else int(expiry) / 1000,
    )


def _conflict(key: str, expected: int | None, current: str) -> ConflictError:
    wanted = "absent" if expected is None else f"version {expected}"
    found = "absent" if not current else f"at version {current}"
    return ConflictError(
        f"state key {key!r}: expected {wanted}, but it is {found}",
        hint="read the key again and retry with its current version",
    )
