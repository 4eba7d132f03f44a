"""The agent and skill registries on Redis."""

from __future__ import annotations

import builtins
import json
from typing import Any

from memfun_runtime import _codec
from memfun_runtime.backends._registry_base import (
    AgentRegistryBase,
    SkillRegistryBase,
    agent_from,
    invocation_from,
    invocation_json,
    pick,
)
from memfun_runtime.backends.redis._client import LUA_CLOCK, TIER, RedisClient, fields, text
from memfun_runtime.protocols import AgentInstance, SkillInvocation, SkillStats, SkillVersion

__all__ = ["RedisAgentRegistry", "RedisSkillRegistry"]


def _timed(body: str) -> str:
    """The script ``body`` with ``t``, the server's time in seconds, and ``fmt``."""
    return LUA_CLOCK + "local t = now()\n" + body


# <ns>:ag:<id> hash {name, caps, meta, registered_at, last_heartbeat, ttl} with a key expiry
# at last_heartbeat + ttl; <ns>:agidx sorted set of ids by registration time.
_REGISTER = _timed("""
-- KEYS: instance, index; ARGV: id, name, capabilities, metadata, ttl seconds
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'caps', ARGV[3], 'meta', ARGV[4],
  'registered_at', fmt(t), 'last_heartbeat', fmt(t), 'ttl', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], math.floor((t + tonumber(ARGV[5])) * 1000))
redis.call('ZADD', KEYS[2], t, ARGV[1])
return redis.call('HGETALL', KEYS[1])
""")

_HEARTBEAT = _timed("""
-- KEYS: instance
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_heartbeat', fmt(t))
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl'))
redis.call('PEXPIREAT', KEYS[1], math.floor((t + ttl) * 1000))
return redis.call('HGETALL', KEYS[1])
""")

# <ns>:skv:<name> hash version -> "<published_at>\\n<metadata JSON>\\n<description>";
# <ns>:sko:<name> list of versions in publication order; <ns>:skn set of skill names.
_PUBLISH = _timed("""
-- KEYS: versions, order, names; ARGV: version, description, metadata, versions key prefix
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored then return stored end
local record = fmt(t) .. '\\n' .. ARGV[3] .. '\\n' .. ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], record)
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], string.sub(KEYS[1], string.len(ARGV[4]) + 1))
return record
""")

_BATCH = 200


def _instance(instance_id: str, reply: Any) -> AgentInstance:
    f = fields(reply)
    stored = (instance_id, f["name"], f["caps"], f["meta"])
    times = (f["registered_at"], f["last_heartbeat"], f["ttl"])
    return agent_from((*stored, *times), backend=TIER, location=f"agent {instance_id}")


class RedisAgentRegistry(AgentRegistryBase):
    """:class:`~memfun_runtime.protocols.AgentRegistry` on Redis (see the protocol).

    An instance is a hash whose key expiry is its heartbeat deadline, so Redis itself
    forgets dead instances; an index of ids (pruned lazily) serves ``find`` and ``list``.
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._index = client.key("agidx")

    async def _register(self, instance: AgentInstance) -> AgentInstance:
        iid = instance.instance_id
        keys = (self._client.key("ag", iid), self._index)
        caps = json.dumps(sorted(instance.capabilities))
        metadata = _codec.encode_json(dict(instance.metadata))
        args = (iid, instance.name, caps, metadata, repr(instance.ttl))
        return _instance(iid, await self._client.eval("register", _REGISTER, keys, args))

    async def _heartbeat(self, instance_id: str) -> AgentInstance | None:
        key = self._client.key("ag", instance_id)
        reply = await self._client.eval("heartbeat", _HEARTBEAT, (key,), ())
        return None if reply == 0 else _instance(instance_id, reply)

    async def _deregister(self, instance_id: str) -> bool:
        key = self._client.key("ag", instance_id)
        removed, _ = await self._client.pipeline(
            "deregister", lambda pipe: (pipe.delete(key), pipe.zrem(self._index, instance_id))
        )
        return bool(int(removed))

    async def _get(self, instance_id: str) -> AgentInstance | None:
        key = self._client.key("ag", instance_id)
        found = await self._client.call("get", ("HGETALL", key))
        return _instance(instance_id, found) if found else None

    async def _select(
        self, capability: str | None, name: str | None
    ) -> builtins.list[AgentInstance]:
        ids = [text(i) for i in await self._client.call("list", ("ZRANGE", self._index, 0, -1))]
        live: builtins.list[AgentInstance] = []
        gone: builtins.list[str] = []
        for first in range(0, len(ids), _BATCH):
            chunk = ids[first : first + _BATCH]
            replies = await self._client.pipeline(
                "list", lambda pipe, c=chunk: [pipe.hgetall(self._client.key("ag", i)) for i in c]
            )
            for iid, found in zip(chunk, replies, strict=True):
                if found:
                    live.append(_instance(iid, found))
                else:
                    gone.append(iid)
        if gone:
            await self._client.call("list", ("ZREM", self._index, *gone))
        return pick(live, capability, name)


def _version(name: str, version: str, record: Any) -> SkillVersion:
    stamp, meta, description = text(record).split("\n", 2)
    return SkillVersion(
        name=name,
        version=version,
        description=description,
        metadata=_codec.decode_json(meta, backend=TIER, location=f"{name}@{version}"),
        published_at=float(stamp),
    )


class RedisSkillRegistry(SkillRegistryBase):
    """:class:`~memfun_runtime.protocols.SkillRegistry` on Redis (see the protocol).

    Invocations are a list per skill (newest first) plus a hash of running totals updated
    in the same ``MULTI`` transaction, so :meth:`stats` is one read.
    """

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._names = client.key("skn")

    async def _publish(self, record: SkillVersion) -> SkillVersion:
        name = record.name
        keys = (self._client.key("skv", name), self._client.key("sko", name), self._names)
        metadata = _codec.encode_json(dict(record.metadata))
        args = (record.version, record.description, metadata, self._client.key("skv", ""))
        reply = await self._client.eval("publish", _PUBLISH, keys, args)
        return _version(name, record.version, reply)

    async def _get(self, name: str, version: str | None) -> SkillVersion | None:
        if version is None:
            latest = await self._client.call("get", ("LINDEX", self._client.key("sko", name), -1))
            if latest is None:
                return None
            version = text(latest)
        record = await self._client.call("get", ("HGET", self._client.key("skv", name), version))
        return None if record is None else _version(name, version, record)

    async def _versions(self, name: str) -> builtins.list[SkillVersion]:
        order = await self._client.call(
            "versions", ("LRANGE", self._client.key("sko", name), 0, -1)
        )
        names = [text(v) for v in order]
        if not names:
            return []
        versions = ("HMGET", self._client.key("skv", name), *names)
        records = await self._client.call("versions", versions)
        return [_version(name, v, rec) for v, rec in zip(names, records, strict=True) if rec]

    async def _latest(self) -> builtins.list[SkillVersion]:
        names = sorted(text(n) for n in await self._client.call("list", ("SMEMBERS", self._names)))
        out: builtins.list[SkillVersion] = []
        for name in names:
            latest = await self._get(name, None)
            if latest is not None:
                out.append(latest)
        return out

    async def _record(self, record: SkillInvocation) -> None:
        row = invocation_json(record)
        log, totals = self._client.key("ski", record.skill), self._client.key("sks", record.skill)

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

    async def _invocations(self, skill: str, limit: int | None) -> builtins.list[SkillInvocation]:
        if limit == 0:
            return []
        log = self._client.key("ski", skill)
        stop = -1 if limit is None else limit - 1
        rows = await self._client.call("invocations", ("LRANGE", log, 0, stop))
        where = f"invocations of {skill}"
        return [
            invocation_from(_codec.decode_json(row, backend=TIER, location=where), skill)
            for row in rows
        ]

    async def _stats(self, skill: str) -> SkillStats:
        totals = self._client.key("sks", skill)
        f = fields(await self._client.call("stats", ("HGETALL", totals)))
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
