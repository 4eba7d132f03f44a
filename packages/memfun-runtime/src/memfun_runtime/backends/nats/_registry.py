"""Agent and skill registries on JetStream: KV buckets plus an invocation stream.

* Agents: bucket ``<ns>_agents``, key ``i.<instance id>``; liveness (``expires_at``) is stored
  with the record and enforced on read, heartbeats are revision-checked updates.
* Skills: bucket ``<ns>_skills``, key ``v.<name digest>.<version digest>`` (versions may
  contain dots); publishing *creates* the key, so a version is immutable.
* Invocations: append-only stream ``<ns>_INVOCATIONS``, subject ``<ns>.inv.<name digest>``.
"""

from __future__ import annotations

import builtins
import hashlib
import time
from collections.abc import Iterable, Mapping
from typing import Any

from nats.js.api import DeliverPolicy

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.nats._client import BACKEND, NatsClient, StreamSpec
from memfun_runtime.backends.nats._kv import Bucket
from memfun_runtime.backends.nats._pull import read_stream, reader_config
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

__all__ = ["NatsAgentRegistry", "NatsSkillRegistry"]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _meta(metadata: Mapping[str, JSONValue] | None) -> Any:
    return _codec.decode_json(_codec.check_metadata(metadata), backend=BACKEND, location="-")


def _instance(data: dict[str, Any]) -> AgentInstance:
    return AgentInstance(
        instance_id=data["instance_id"],
        name=data["name"],
        capabilities=frozenset(data["capabilities"]),
        metadata=data["metadata"],
        registered_at=data["registered_at"],
        last_heartbeat=data["last_heartbeat"],
        ttl=data["ttl"],
        expires_at=data["expires_at"],
    )


class NatsAgentRegistry(AgentRegistry):
    """:class:`~memfun_runtime.protocols.AgentRegistry` on the KV bucket ``<ns>_agents``."""

    def __init__(self, client: NatsClient) -> None:
        self._bucket = Bucket(client, "agents")

    @property
    def bucket(self) -> Bucket:
        """The KV bucket."""
        return self._bucket

    async def _live(self, instance_id: str) -> tuple[dict[str, Any], int] | None:
        _codec.check_name(instance_id, field="instance_id")
        found = await self._bucket.get(f"i.{instance_id}")
        if found is None:
            return None
        data, revision = found
        if data["expires_at"] <= time.time():
            await self._bucket.delete(f"i.{instance_id}", revision)
            return None
        return data, revision

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
        iid = (
            _codec.new_id()
            if instance_id is None
            else _codec.check_name(instance_id, field="instance_id")
        )
        meta = _meta(metadata)
        seconds = _codec.check_positive(ttl, field="ttl")
        stamp = time.time()
        data = {
            "instance_id": iid,
            "name": name,
            "capabilities": sorted(caps),
            "metadata": meta,
            "registered_at": stamp,
            "last_heartbeat": stamp,
            "ttl": seconds,
            "expires_at": stamp + seconds,
        }
        await self._bucket.put(f"i.{iid}", data)
        return _instance(data)

    async def heartbeat(self, instance_id: str) -> AgentInstance:
        """Extend the instance's life by its ttl."""
        while True:
            found = await self._live(instance_id)
            if found is None:
                raise NotFoundError(
                    "agent instance",
                    instance_id,
                    hint="it expired or was deregistered; register again",
                )
            data, revision = found
            stamp = time.time()
            data["last_heartbeat"] = stamp
            data["expires_at"] = stamp + data["ttl"]
            if await self._bucket.update(f"i.{instance_id}", data, revision) is not None:
                return _instance(data)

    async def deregister(self, instance_id: str) -> bool:
        """Remove the instance."""
        while True:
            found = await self._live(instance_id)
            if found is None:
                return False
            if await self._bucket.delete(f"i.{instance_id}", found[1]):
                return True

    async def get(self, instance_id: str) -> AgentInstance | None:
        """Return the live instance, or ``None``."""
        found = await self._live(instance_id)
        return None if found is None else _instance(found[0])

    async def _all_live(self) -> builtins.list[AgentInstance]:
        now = time.time()
        live = [
            _instance(data)
            async for _, data, _ in self._bucket.items("i.>")
            if data["expires_at"] > now
        ]
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


def _version(data: dict[str, Any]) -> SkillVersion:
    return SkillVersion(
        name=data["name"],
        version=data["version"],
        description=data["description"],
        metadata=data["metadata"],
        published_at=data["published_at"],
    )


def _invocation(data: dict[str, Any]) -> SkillInvocation:
    return SkillInvocation(
        id=data["id"],
        skill=data["skill"],
        version=data["version"],
        outcome=data["outcome"],
        latency=data["latency"],
        tokens=data["tokens"],
        cost=data["cost"],
        metadata=data["metadata"],
        recorded_at=data["recorded_at"],
    )


class NatsSkillRegistry(SkillRegistry):
    """:class:`~memfun_runtime.protocols.SkillRegistry` on KV plus an invocation stream."""

    def __init__(self, client: NatsClient) -> None:
        self._client = client
        self._bucket = Bucket(client, "skills")
        self.stream = client.stream("INVOCATIONS")
        self._prefix = f"{client.namespace}.inv."

    @property
    def bucket(self) -> Bucket:
        """The KV bucket."""
        return self._bucket

    def spec(self) -> StreamSpec:
        """The invocation stream this registry needs."""
        return StreamSpec(self.stream, [f"{self._prefix}>"])

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
        data = {
            "name": name,
            "version": version,
            "description": description,
            "metadata": _meta(metadata),
            "published_at": time.time(),
            "order": time.time_ns(),
        }
        key = f"v.{_digest(name)}.{_digest(version)}"
        if await self._bucket.create(key, data) is not None:
            return _version(data)
        found = await self._bucket.get(key)
        if found is not None:
            existing = found[0]
            same = (existing["description"], existing["metadata"]) == (
                description,
                data["metadata"],
            )
            if same:
                return _version(existing)
        raise ConflictError(
            f"skill {name!r} version {version!r} was already published with other content",
            hint="published versions are immutable; publish a new version",
        )

    async def _versions(self, name: str | None) -> builtins.list[dict[str, Any]]:
        pattern = "v.>" if name is None else f"v.{_digest(name)}.*"
        found = [data async for _, data, _ in self._bucket.items(pattern)]
        found.sort(key=lambda d: d["order"])
        return found

    async def get(self, name: str, version: str | None = None) -> SkillVersion | None:
        """Return that version (the latest when ``None``), or ``None``."""
        _codec.check_name(name, field="name")
        if version is not None:
            _codec.check_version(version)
            found = await self._bucket.get(f"v.{_digest(name)}.{_digest(version)}")
            return None if found is None else _version(found[0])
        versions = await self._versions(name)
        return _version(versions[-1]) if versions else None

    async def versions(self, name: str) -> builtins.list[SkillVersion]:
        """Return every version, oldest publication first."""
        _codec.check_name(name, field="name")
        return [_version(d) for d in await self._versions(name)]

    async def list(self) -> builtins.list[SkillVersion]:
        """Return the latest version of every skill, sorted by name."""
        latest: dict[str, dict[str, Any]] = {}
        for data in await self._versions(None):
            latest[data["name"]] = data
        return [_version(latest[n]) for n in sorted(latest)]

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
        """Record one invocation of a skill (appended to the invocation stream)."""
        _codec.check_name(skill, field="skill")
        if version is not None:
            _codec.check_version(version)
        data = {
            "id": _codec.new_id(),
            "skill": skill,
            "version": version,
            "outcome": _codec.check_outcome(outcome),
            "latency": _codec.check_non_negative(latency, field="latency"),
            "tokens": _codec.check_int(tokens, field="tokens", minimum=0),
            "cost": _codec.check_non_negative(cost, field="cost"),
            "metadata": _meta(metadata),
            "recorded_at": time.time(),
        }
        body = _codec.encode_json(data).encode()
        js = self._client.js
        subject = self._prefix + _digest(skill)
        await self._client.call(
            f"recording an invocation of {skill!r}",
            lambda: js.publish(subject, body, stream=self.stream),
        )
        return _invocation(data)

    async def _records(self, skill: str) -> builtins.list[SkillInvocation]:
        config = reader_config(self._prefix + _digest(skill), deliver_policy=DeliverPolicy.ALL)
        out: builtins.list[SkillInvocation] = []
        async for msg in read_stream(self._client, self.stream, config):
            data = _codec.decode_json(msg.data, backend=BACKEND, location=msg.subject)
            if data.get("skill") == skill:
                out.append(_invocation(data))
        return out

    async def invocations(self, skill: str, *, limit: int = 100) -> builtins.list[SkillInvocation]:
        """Return up to ``limit`` invocations, newest first."""
        _codec.check_name(skill, field="skill")
        _codec.check_int(limit, field="limit", minimum=0)
        return list(reversed(await self._records(skill)))[:limit]

    async def stats(self, skill: str) -> SkillStats:
        """Return aggregates over every recorded invocation."""
        _codec.check_name(skill, field="skill")
        records = await self._records(skill)
        count = len(records)
        return SkillStats(
            skill=skill,
            invocations=count,
            successes=sum(r.outcome == "success" for r in records),
            failures=sum(r.outcome == "failure" for r in records),
            errors=sum(r.outcome == "error" for r in records),
            mean_latency=sum(r.latency for r in records) / count if count else 0.0,
            total_tokens=sum(r.tokens for r in records),
            total_cost=sum(r.cost for r in records),
        )
