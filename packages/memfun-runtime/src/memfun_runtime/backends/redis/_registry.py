"""The agent and skill registries on Redis."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.redis._client import TIER, RedisClient, text
from memfun_runtime.protocols import (
    DEFAULT_AGENT_TTL,
    AgentInstance,
    AgentRegistry,
    InvocationOutcome,
    JSONValue,
    SkillInvocation,
    SkillRegistry,
    SkillStats,
    SkillVersion,
)

__all__ = ["RedisAgentRegistry", "RedisSkillRegistry"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.6f', x) end
"""

# <ns>:ag:<id> hash {name, caps, meta, registered_at, last_heartbeat, ttl} with a key expiry
# at last_heartbeat + ttl; <ns>:agidx sorted set of ids by registration time.
_REGISTER = (
    _NOW
    + """
-- KEYS: instance, index; ARGV: id, name, capabilities, metadata, ttl seconds
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'caps', ARGV[3], 'meta', ARGV[4],
  'registered_at', fmt(now), 'last_heartbeat', fmt(now), 'ttl', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], math.floor((now + tonumber(ARGV[5])) * 1000))
redis.call('ZADD', KEYS[2], now, ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""
)

_HEARTBEAT = (
    _NOW
    + """
-- KEYS: instance
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_heartbeat', fmt(now))
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl'))
redis.call('PEXPIREAT', KEYS[1], math.floor((now + ttl) * 1000))
return redis.call('HGETALL', KEYS[1])
"""
)

# <ns>:skv:<name> hash version -> "<published_at>\\n<metadata JSON>\\n<description>";
# <ns>:sko:<name> list of versions in publication order; <ns>:skn set of skill names.
_PUBLISH = (
    _NOW
    + """
-- KEYS: versions, order, names; ARGV: version, description, metadata
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then
  local cut1 = string.find(stored, '\\n', 1, true)
  local cut2 = string.find(stored, '\\n', cut1 + 1, true)
  local meta = string.sub(stored, cut1 + 1, cut2 - 1)
  local description = string.sub(stored, cut2 + 1)
  if meta == ARGV[3] and description == ARGV[2] then return {1, stored} end
  return {0}
end
local record = fmt(now) .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], record)
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], string.sub(KEYS[1], string.len(ARGV[4]) + 1))
return {1, record}
"""
)

_BATCH = 200


def _flat(reply: Any) -> dict[str, str]:
    if isinstance(reply, dict):
        return {text(k): text(v) for k, v in reply.items()}  # pyright: ignore[reportUnknownVariableType]
    items = list(reply)
    return {text(items[i]): text(items[i + 1]) for i in range(0, len(items), 2)}


def _instance(instance_id: str, fields: dict[str, str]) -> AgentInstance:
    where = f"agent {instance_id}"
    ttl = float(fields["ttl"])
    beat = float(fields["last_heartbeat"])
    caps = _codec.decode_json(fields["caps"], backend=TIER, location=where)
    return AgentInstance(
        instance_id=instance_id,
        name=fields["name"],
        capabilities=frozenset(str(c) for c in caps),
        metadata=_codec.decode_json(fields["meta"], backend=TIER, location=where),
        registered_at=float(fields["registered_at"]),
        last_heartbeat=beat,
        ttl=ttl,
        expires_at=beat + ttl,
    )


class RedisAgentRegistry(AgentRegistry):
    """:class:`~memfun_runtime.protocols.AgentRegistry` on Redis (see the protocol).

    An instance is a hash whose key expiry is its heartbeat deadline, so Redis itself
    forgets dead instances; an index of ids (pruned lazily) serves ``find`` and ``list``.
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._index = client.key("agidx")

    def _key(self, instance_id: str) -> str:
        return self._client.key("ag", _codec.check_name(instance_id, field="instance_id"))

    async def register(
        self,
        name: str,
        *,
        capabilities: Iterable[str] = (),
        instance_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float = DEFAULT_AGENT_TTL,
    ) -> AgentInstance:
        """Register (or replace) an instance."""
        _codec.check_name(name, field="name")
        caps = _codec.check_capabilities(capabilities)
        iid = _codec.new_id() if instance_id is None else instance_id
        key = self._key(iid)
        meta = _codec.check_metadata(metadata)
        seconds = _codec.check_positive(ttl, field="ttl")
        script = self._client.script(_REGISTER)
        keys = (key, self._index)
        args = (iid, name, json.dumps(sorted(caps)), meta, repr(seconds))
        reply = await self._client.run("register", lambda r: script(keys, args, r))
        return _instance(iid, _flat(reply))

    async def heartbeat(self, instance_id: str) -> AgentInstance:
        """Extend the instance's life by its ttl."""
        key = self._key(instance_id)
        script = self._client.script(_HEARTBEAT)
        reply = await self._client.run("heartbeat", lambda r: script((key,), (), r))
        if reply == 0:
            raise NotFoundError(
                "agent instance", instance_id, hint="it expired or was deregistered; register again"
            )
        return _instance(instance_id, _flat(reply))

    async def deregister(self, instance_id: str) -> bool:
        """Remove the instance."""
        key = self._key(instance_id)
        removed, _ = await self._client.pipeline(
            "deregister", lambda pipe: (pipe.delete(key), pipe.zrem(self._index, instance_id))
        )
        return bool(int(removed))

    async def get(self, instance_id: str) -> AgentInstance | None:
        """Return the live instance, or ``None``."""
        key = self._key(instance_id)
        fields = await self._client.run("get", lambda r: r.hgetall(key))
        return _instance(instance_id, _flat(fields)) if fields else None

    async def _all_live(self) -> builtins.list[AgentInstance]:
        ids = [
            text(i) for i in await self._client.run("list", lambda r: r.zrange(self._index, 0, -1))
        ]
        live: builtins.list[AgentInstance] = []
        gone: builtins.list[str] = []
        for first in range(0, len(ids), _BATCH):
            chunk = ids[first : first + _BATCH]
            replies = await self._client.pipeline(
                "list", lambda pipe, c=chunk: [pipe.hgetall(self._client.key("ag", i)) for i in c]
            )
            for iid, fields in zip(chunk, replies, strict=True):
                if fields:
                    live.append(_instance(iid, _flat(fields)))
                else:
                    gone.append(iid)
        if gone:
            await self._client.run("list", lambda r: r.zrem(self._index, *gone))
        live.sort(key=lambda i: i.registered_at)
        return live

    async def find(self, capability: str) -> builtins.list[AgentInstance]:
        """Return the live instances having ``capability``."""
        _codec.check_name(capability, field="capability")
        return [i for i in await self._all_live() if capability in i.capabilities]

    async def list(self, *, name: str | None = None) -> builtins.list[AgentInstance]:
        """Return all live instances (of agent ``name`` when given)."""
        if name is not None:
            _codec.check_name(name, field="name")
        return [i for i in await self._all_live() if name is None or i.name == name]


def _version(name: str, version: str, record: str) -> SkillVersion:
    stamp, meta, description = record.split("\n", 2)
    return SkillVersion(
        name=name,
        version=version,
        description=description,
        metadata=_codec.decode_json(meta, backend=TIER, location=f"{name}@{version}"),
        published_at=float(stamp),
    )


class RedisSkillRegistry(SkillRegistry):
    """:class:`~memfun_runtime.protocols.SkillRegistry` on Redis (see the protocol).

    Invocations are a list per skill (newest first) plus a hash of running totals updated
    in the same ``MULTI`` transaction, so :meth:`stats` is one read.
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._names = client.key("skn")

    async def publish(
        self,
        name: str,
        version: str,
        *,
        description: str,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> SkillVersion:
        """Publish an immutable version of a skill."""
        _codec.check_name(name, field="name")
        _codec.check_version(version)
        if not isinstance(description, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a str, not {type(description).__name__}",
                field="description",
                rule="a str",
            )
        meta = _codec.check_metadata(metadata)
        prefix = self._client.key("skv", "")
        keys = (self._client.key("skv", name), self._client.key("sko", name), self._names)
        args = (version, description, meta, prefix)
        script = self._client.script(_PUBLISH)
        reply = await self._client.run("publish", lambda r: script(keys, args, r))
        if not int(reply[0]):
            raise ConflictError(
                f"skill {name!r} version {version!r} was already published with other content",
                hint="published versions are immutable; publish a new version",
            )
        return _version(name, version, text(reply[1]))

    async def get(self, name: str, version: str | None = None) -> SkillVersion | None:
        """Return that version (the latest when ``None``), or ``None``."""
        _codec.check_name(name, field="name")
        if version is not None:
            _codec.check_version(version)
        if version is None:
            order = self._client.key("sko", name)
            latest = await self._client.run("get", lambda r: r.lindex(order, -1))
            if latest is None:
                return None
            version = text(latest)
        versions = self._client.key("skv", name)
        chosen = version
        record = await self._client.run("get", lambda r: r.hget(versions, chosen))
        return None if record is None else _version(name, chosen, text(record))

    async def versions(self, name: str) -> builtins.list[SkillVersion]:
        """Return every version, oldest publication first."""
        _codec.check_name(name, field="name")
        order = self._client.key("sko", name)
        names = [
            text(v) for v in await self._client.run("versions", lambda r: r.lrange(order, 0, -1))
        ]
        if not names:
            return []
        versions = self._client.key("skv", name)
        records = await self._client.run("versions", lambda r: r.hmget(versions, names))
        return [_version(name, v, text(rec)) for v, rec in zip(names, records, strict=True) if rec]

    async def list(self) -> builtins.list[SkillVersion]:
        """Return the latest version of every skill, sorted by name."""
        names = sorted(
            text(n) for n in await self._client.run("list", lambda r: r.smembers(self._names))
        )
        out: builtins.list[SkillVersion] = []
        for name in names:
            latest = await self.get(name)
            if latest is not None:
                out.append(latest)
        return out

    async def record_invocation(
        self,
        skill: str,
        *,
        outcome: InvocationOutcome,
        latency: float,
        version: str | None = None,
        tokens: int = 0,
        cost: float = 0.0,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> SkillInvocation:
        """Record one invocation of a skill."""
        _codec.check_name(skill, field="skill")
        if version is not None:
            _codec.check_version(version)
        record = SkillInvocation(
            id=_codec.new_id(),
            skill=skill,
            version=version,
            outcome=_codec.check_outcome(outcome),
            latency=_codec.check_non_negative(latency, field="latency"),
            tokens=_codec.check_int(tokens, field="tokens", minimum=0),
            cost=_codec.check_non_negative(cost, field="cost"),
            metadata=_codec.decode_json(
                _codec.check_metadata(metadata), backend=TIER, location=skill
            ),
            recorded_at=time.time(),
        )
        row = _codec.encode_json(
            {
                "id": record.id,
                "version": record.version,
                "outcome": record.outcome,
                "latency": record.latency,
                "tokens": record.tokens,
                "cost": record.cost,
                "metadata": dict(record.metadata),
                "recorded_at": record.recorded_at,
            },
            field="metadata",
        )
        log, totals = self._client.key("ski", skill), self._client.key("sks", skill)

        async def write(r: Any) -> None:
            pipe = r.pipeline(transaction=True)
            pipe.lpush(log, row)
            pipe.hincrby(totals, "count", 1)
            pipe.hincrby(totals, record.outcome, 1)
            pipe.hincrby(totals, "tokens", record.tokens)
            pipe.hincrbyfloat(totals, "latency", record.latency)
            pipe.hincrbyfloat(totals, "cost", record.cost)
            await pipe.execute()

        await self._client.run("record_invocation", write)
        return record

    async def invocations(self, skill: str, *, limit: int = 100) -> builtins.list[SkillInvocation]:
        """Return up to ``limit`` invocations, newest first."""
        _codec.check_name(skill, field="skill")
        _codec.check_int(limit, field="limit", minimum=0)
        if limit == 0:
            return []
        log = self._client.key("ski", skill)
        rows = await self._client.run("invocations", lambda r: r.lrange(log, 0, limit - 1))
        return [_invocation(skill, text(row)) for row in rows]

    async def stats(self, skill: str) -> SkillStats:
        """Return aggregates over every recorded invocation."""
        _codec.check_name(skill, field="skill")
        totals = self._client.key("sks", skill)
        f = _flat(await self._client.run("stats", lambda r: r.hgetall(totals)))
        count = int(f.get("count", "0"))
        return SkillStats(
            skill=skill,
            invocations=count,
            successes=int(f.get("success", "0")),
            failures=int(f.get("failure", "0")),
            errors=int(f.get("error", "0")),
            mean_latency=float(f.get("latency", "0")) / count if count else 0.0,
            total_tokens=int(f.get("tokens", "0")),
            total_cost=float(f.get("cost", "0")),
        )


def _invocation(skill: str, row: str) -> SkillInvocation:
    data = _codec.decode_json(row, backend=TIER, location=f"invocations of {skill}")
    return SkillInvocation(
        id=str(data["id"]),
        skill=skill,
        version=data["version"],
        outcome=_codec.check_outcome(data["outcome"]),
        latency=float(data["latency"]),
        tokens=int(data["tokens"]),
        cost=float(data["cost"]),
        metadata=data["metadata"],
        recorded_at=float(data["recorded_at"]),
    )
