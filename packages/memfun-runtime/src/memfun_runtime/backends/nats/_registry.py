"""Agent and skill registries on JetStream: KV buckets plus an invocation stream.

* Agents: bucket ``<ns>_agents``, key ``i.<instance id>``; liveness (``expires_at``) is stored
  with the record and enforced on read, heartbeats are revision-checked updates.
* Skills: bucket ``<ns>_skills``, key ``v.<name digest>.<version digest>`` (versions may
  contain dots); publishing *creates* the key, so a version is immutable.
* Invocations: append-only stream ``<ns>_INVOCATIONS``, subject ``<ns>.inv.<name digest>``.
"""

from __future__ import annotations

import builtins
import dataclasses
import time
from typing import Any

from nats.js.api import DeliverPolicy, StreamConfig

from memfun_runtime import _codec
from memfun_runtime.backends._registry_base import (
    AgentRegistryBase,
    SkillRegistryBase,
    invocation_from,
    invocation_json,
    pick,
)
from memfun_runtime.backends.nats._client import BACKEND, NatsClient, stream_config, token
from memfun_runtime.backends.nats._kv import Bucket
from memfun_runtime.backends.nats._pull import read_stream, reader_config, tail_start
from memfun_runtime.protocols import AgentInstance, SkillInvocation, SkillVersion

__all__ = ["NatsAgentRegistry", "NatsSkillRegistry"]


def _instance(data: dict[str, Any]) -> AgentInstance:
    fields: dict[str, Any] = {**data, "capabilities": frozenset(data["capabilities"])}
    return AgentInstance(**fields)


class NatsAgentRegistry(AgentRegistryBase):
    """:class:`~memfun_runtime.protocols.AgentRegistry` on the KV bucket ``<ns>_agents``."""

    def __init__(self, client: NatsClient) -> None:
        self._bucket = Bucket(client, "agents")

    async def _live(self, instance_id: str) -> tuple[AgentInstance, int] | None:
        found = await self._bucket.get(f"i.{instance_id}")
        if found is None:
            return None
        instance, revision = _instance(found[0]), found[1]
        if instance.expires_at <= time.time():
            await self._bucket.delete(f"i.{instance_id}", revision)
            return None
        return instance, revision

    async def _register(self, instance: AgentInstance) -> AgentInstance:
        await self._bucket.put(f"i.{instance.instance_id}", _record(instance))
        return instance

    async def _heartbeat(self, instance_id: str) -> AgentInstance | None:
        while (found := await self._live(instance_id)) is not None:
            stamp = time.time()
            instance = dataclasses.replace(
                found[0], last_heartbeat=stamp, expires_at=stamp + found[0].ttl
            )
            if await self._bucket.update(f"i.{instance_id}", _record(instance), found[1]):
                return instance
        return None

    async def _deregister(self, instance_id: str) -> bool:
        while (found := await self._live(instance_id)) is not None:
            if await self._bucket.delete(f"i.{instance_id}", found[1]):
                return True
        return False

    async def _get(self, instance_id: str) -> AgentInstance | None:
        found = await self._live(instance_id)
        return None if found is None else found[0]

    async def _select(
        self, capability: str | None, name: str | None
    ) -> builtins.list[AgentInstance]:
        now = time.time()
        every = [_instance(data) async for _, data, _ in self._bucket.items("i.>")]
        return pick([i for i in every if i.expires_at > now], capability, name)


def _record(instance: AgentInstance) -> dict[str, Any]:
    return {**dataclasses.asdict(instance), "capabilities": sorted(instance.capabilities)}


def _version(data: dict[str, Any]) -> SkillVersion:
    return SkillVersion(**{field: value for field, value in data.items() if field != "order"})


class NatsSkillRegistry(SkillRegistryBase):
    """:class:`~memfun_runtime.protocols.SkillRegistry` on KV plus an invocation stream."""

    def __init__(self, client: NatsClient) -> None:
        self._client = client
        self._bucket = Bucket(client, "skills")
        self.stream = client.name("INVOCATIONS")
        self._prefix = f"{client.namespace}.inv."

    def spec(self) -> StreamConfig:
        """The invocation stream this registry needs."""
        return stream_config(self.stream, [f"{self._prefix}>"])

    async def _publish(self, record: SkillVersion) -> SkillVersion:
        data = {**dataclasses.asdict(record), "order": time.time_ns()}
        key = f"v.{token(record.name)}.{token(record.version)}"
        while True:
            if await self._bucket.create(key, data) is not None:
                return record
            found = await self._bucket.get(key)
            if found is not None:
                return _version(found[0])

    async def _all_versions(self, name: str | None) -> builtins.list[dict[str, Any]]:
        pattern = "v.>" if name is None else f"v.{token(name)}.*"
        found = [data async for _, data, _ in self._bucket.items(pattern)]
        found.sort(key=lambda d: d["order"])
        return found

    async def _get(self, name: str, version: str | None) -> SkillVersion | None:
        if version is not None:
            found = await self._bucket.get(f"v.{token(name)}.{token(version)}")
            return None if found is None else _version(found[0])
        versions = await self._all_versions(name)
        return _version(versions[-1]) if versions else None

    async def _versions(self, name: str) -> builtins.list[SkillVersion]:
        return [_version(d) for d in await self._all_versions(name)]

    async def _latest(self) -> builtins.list[SkillVersion]:
        latest: dict[str, dict[str, Any]] = {}
        for data in await self._all_versions(None):
            latest[data["name"]] = data
        return [_version(latest[n]) for n in sorted(latest)]

    async def _record(self, record: SkillInvocation) -> None:
        body = invocation_json(record).encode()
        js = self._client.js
        subject = self._prefix + token(record.skill)
        await self._client.call(
            f"recording an invocation of {record.skill!r}",
            lambda: js.publish(subject, body, stream=self.stream),
        )

    async def _invocations(self, skill: str, limit: int | None) -> builtins.list[SkillInvocation]:
        if limit == 0:
            return []
        subject = self._prefix + token(skill)
        # The newest only when a limit is given: routing asks every skill for its last few.
        start = 1 if limit is None else await tail_start(self._client, self.stream, subject, limit)
        if start is None:
            return []
        config = reader_config(
            subject, deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start
        )
        out: builtins.list[SkillInvocation] = []
        async for msg in read_stream(self._client, self.stream, config):
            data = _codec.decode_json(msg.data, backend=BACKEND, location=msg.subject)
            if data.get("skill") == skill:
                out.append(invocation_from(data, skill))
        return out[::-1][:limit]
