"""The session store on Redis: a header hash and a turn list per session, an activity index."""

from __future__ import annotations

import builtins
from typing import Any

from memfun_runtime import _codec
from memfun_runtime.backends._sessions_base import Fork, SessionStoreBase, fork_cut, missing, taken
from memfun_runtime.backends.redis._client import LUA_CLOCK, TIER, RedisClient, fields, text
from memfun_runtime.protocols import Session, Turn

__all__ = ["RedisSessionStore"]

# <ns>:ss:<id> hash {meta, created_at, updated_at, ttl, parent, forked_at};
# <ns>:st:<id> list of turns (JSON); <ns>:sidx sorted set of ids by last activity.
# Both keys of a session with a ttl carry the same key expiry, refreshed on activity.
_PRELUDE = """
local function touch(header, turns, index, id, t)
  redis.call('HSET', header, 'updated_at', fmt(t))
  local ttl = redis.call('HGET', header, 'ttl')
  if ttl and ttl ~= '' then
    local at = math.floor((t + tonumber(ttl)) * 1000)
    redis.call('PEXPIREAT', header, at)
    if redis.call('EXISTS', turns) == 1 then redis.call('PEXPIREAT', turns, at) end
  end
  redis.call('ZADD', index, t, id)
end
local function reply(header, turns)
  return {redis.call('HGETALL', header), redis.call('LLEN', turns)}
end
"""


def _lua(body: str) -> str:
    return LUA_CLOCK + _PRELUDE + body


_CREATE = _lua("""
-- KEYS: header, turns, index; ARGV: id, metadata, ttl, parent, forked_at
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = now()
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'created_at', fmt(t), 'ttl', ARGV[3],
  'parent', ARGV[4], 'forked_at', ARGV[5])
touch(KEYS[1], KEYS[2], KEYS[3], ARGV[1], t)
return reply(KEYS[1], KEYS[2])
""")

_APPEND = _lua("""
-- KEYS: header, turns, index; ARGV: id, role, content, metadata
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = now()
local turn = '{"r":' .. cjson.encode(ARGV[2]) .. ',"c":' .. ARGV[3] .. ',"m":' .. ARGV[4]
  .. ',"t":' .. fmt(t) .. '}'
local n = redis.call('RPUSH', KEYS[2], turn)
touch(KEYS[1], KEYS[2], KEYS[3], ARGV[1], t)
return {n - 1, fmt(t)}
""")

_RESUME = _lua("""
-- KEYS: header, turns, index; ARGV: id
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
touch(KEYS[1], KEYS[2], KEYS[3], ARGV[1], now())
return reply(KEYS[1], KEYS[2])
""")

_FORK = _lua("""
-- KEYS: parent header, parent turns, child header, child turns, index
-- ARGV: child id, upto or '', metadata or '', ttl or '' (parent's), parent id
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 'missing'} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {0, 'taken'} end
local count = redis.call('LLEN', KEYS[2])
local upto = count
if ARGV[2] ~= '' then upto = tonumber(ARGV[2]) end
if upto > count then return {0, 'upto', count} end
local meta = ARGV[3]
if meta == '' then meta = redis.call('HGET', KEYS[1], 'meta') end
local ttl = ARGV[4]
if ttl == '' then ttl = redis.call('HGET', KEYS[1], 'ttl') end
local t = now()
redis.call('DEL', KEYS[4])
for first = 0, upto - 1, 1000 do
  local last = math.min(first + 999, upto - 1)
  redis.call('RPUSH', KEYS[4], unpack(redis.call('LRANGE', KEYS[2], first, last)))
end
redis.call('HSET', KEYS[3], 'meta', meta, 'created_at', fmt(t), 'ttl', ttl,
  'parent', ARGV[5], 'forked_at', upto)
touch(KEYS[3], KEYS[4], KEYS[5], ARGV[1], t)
return {1, reply(KEYS[3], KEYS[4])}
""")

_DELETE = """
-- KEYS: header, turns, index; ARGV: id
local existed = redis.call('EXISTS', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return existed
"""

_LIST_BATCH = 100


class RedisSessionStore(SessionStoreBase[Session]):
    """:class:`~memfun_runtime.protocols.SessionStore` on Redis (see the protocol).

    Appends are ``RPUSH`` inside a Lua script, so concurrent appends from any number of
    processes get consecutive indexes. Expiry is a Redis key expiry on both keys of the
    session, pushed forward on every activity.
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._index = client.key("sidx")

    def _keys(self, session_id: str) -> tuple[str, str]:
        return self._client.key("ss", session_id), self._client.key("st", session_id)

    async def _eval(self, operation: str, source: str, session_id: str, *args: str) -> Any:
        keys = (*self._keys(session_id), self._index)
        return await self._client.eval(operation, source, keys, (session_id, *args))

    def _header(self, found: Session) -> Session:
        return found

    async def _find(self, session_id: str) -> Session | None:
        header, turns = self._keys(session_id)
        head, count = await self._client.pipeline(
            "get", lambda pipe: (pipe.hgetall(header), pipe.llen(turns))
        )
        return _session(session_id, (head, count)) if head else None

    async def _turns(self, found: Session, window: range) -> builtins.list[Turn]:
        if not window:
            return []
        turns = self._client.key("st", found.id)
        rows = await self._client.call("read", ("LRANGE", turns, window.start, window.stop - 1))
        return [_turn(found.id, window.start + i, text(row)) for i, row in enumerate(rows)]

    async def _create(self, session_id: str, metadata: str, ttl: float | None) -> Session | None:
        reply = await self._eval("create", _CREATE, session_id, metadata, _ttl(ttl), "", "")
        return None if reply == 0 else _session(session_id, reply)

    async def _append(
        self, session_id: str, role: str, content: str, metadata: str
    ) -> tuple[int, float] | None:
        reply = await self._eval("append", _APPEND, session_id, role, content, metadata)
        return None if reply == 0 else (int(reply[0]), float(reply[1]))

    async def _list(self, limit: int) -> builtins.list[Session]:
        out: builtins.list[Session] = []
        offset = 0
        while len(out) < limit:
            page = ("ZREVRANGE", self._index, offset, offset + _LIST_BATCH - 1)
            ids = await self._client.call("list", page)
            if not ids:
                return out
            offset += len(ids)
            names = [text(i) for i in ids]
            replies = await self._client.pipeline(
                "list", lambda pipe, n=names: [self._queue_head(pipe, sid) for sid in n]
            )
            gone: builtins.list[str] = []
            for sid, head, count in zip(names, replies[::2], replies[1::2], strict=True):
                if head:
                    out.append(_session(sid, (head, count)))
                else:
                    gone.append(sid)
            if gone:
                offset -= len(gone)
                await self._client.call("list", ("ZREM", self._index, *gone))
        return out[:limit]

    def _queue_head(self, pipe: Any, session_id: str) -> None:
        header, turns = self._keys(session_id)
        pipe.hgetall(header)
        pipe.llen(turns)

    async def _fork(self, fork: Fork) -> Session:
        keys = (*self._keys(fork.parent), *self._keys(fork.child), self._index)
        cut = "" if fork.upto is None else str(fork.upto)
        args = (fork.child, cut, fork.metadata or "", _ttl(fork.ttl), fork.parent)
        reply = await self._client.eval("fork", _FORK, keys, args)
        if not int(reply[0]):
            problem = text(reply[1])
            if problem == "missing":
                raise missing(fork.parent)
            if problem == "taken":
                raise taken(fork.child)
            fork_cut(fork.upto, int(reply[2]))
        return _session(fork.child, reply[1])

    async def _resume(self, session_id: str) -> Session | None:
        reply = await self._eval("resume", _RESUME, session_id)
        return None if reply == 0 else _session(session_id, reply)

    async def _delete(self, session_id: str) -> bool:
        return bool(int(await self._eval("delete", _DELETE, session_id)))


def _ttl(seconds: float | None) -> str:
    return "" if seconds is None else repr(seconds)


def _session(session_id: str, reply: Any) -> Session:
    flat, count = reply
    f = fields(flat)
    ttl = float(f["ttl"]) if f.get("ttl") else None
    updated = float(f.get("updated_at", "0"))
    return Session(
        id=session_id,
        metadata=_codec.decode_json(f.get("meta", "{}"), backend=TIER, location=session_id),
        created_at=float(f.get("created_at", "0")),
        updated_at=updated,
        turn_count=int(count),
        ttl=ttl,
        expires_at=None if ttl is None else updated + ttl,
        parent_id=f.get("parent") or None,
        forked_at=int(f["forked_at"]) if f.get("forked_at") else None,
    )


def _turn(session_id: str, index: int, row: str) -> Turn:
    where = f"{session_id}/{index}"
    data = _codec.decode_json(row, backend=TIER, location=where)
    return Turn(
        index=index,
        role=str(data["r"]),
        content=data["c"],
        metadata=data["m"],
        created_at=float(data["t"]),
    )
