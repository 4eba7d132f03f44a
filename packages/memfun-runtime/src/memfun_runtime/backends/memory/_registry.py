"""The in-memory agent and skill registries."""

from __future__ import annotations

import dataclasses

from memfun_runtime.backends._registry_base import AgentRegistryBase, SkillRegistryBase, pick
from memfun_runtime.backends.memory._common import Gate, now
from memfun_runtime.protocols import AgentInstance, SkillInvocation, SkillVersion

__all__ = ["MemoryAgentRegistry", "MemorySkillRegistry"]


class MemoryAgentRegistry(AgentRegistryBase):
    """:class:`~memfun_runtime.protocols.AgentRegistry` in process memory (see the protocol)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._instances: dict[str, AgentInstance] = {}

    async def _get(self, instance_id: str) -> AgentInstance | None:
        self._gate.check()
        instance = self._instances.get(instance_id)
        if instance is not None and instance.expires_at <= now():
            del self._instances[instance_id]
            return None
        return instance

    async def _select(self, capability: str | None, name: str | None) -> list[AgentInstance]:
        self._gate.check()
        live = [i for key in list(self._instances) if (i := await self._get(key)) is not None]
        return pick(live, capability, name)

    async def _register(self, instance: AgentInstance) -> AgentInstance:
        self._gate.check()
        self._instances[instance.instance_id] = instance
        return instance

    async def _heartbeat(self, instance_id: str) -> AgentInstance | None:
        instance = await self._get(instance_id)
        if instance is None:
            return None
        stamp = now()
        instance = dataclasses.replace(
            instance, last_heartbeat=stamp, expires_at=stamp + instance.ttl
        )
        self._instances[instance_id] = instance
        return instance

    async def _deregister(self, instance_id: str) -> bool:
        live = await self._get(instance_id) is not None
        self._instances.pop(instance_id, None)
        return live


class MemorySkillRegistry(SkillRegistryBase):
    """:class:`~memfun_runtime.protocols.SkillRegistry` in process memory (see the protocol)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._versions_of: dict[str, list[SkillVersion]] = {}
        self._invocations_of: dict[str, list[SkillInvocation]] = {}

    async def _publish(self, record: SkillVersion) -> SkillVersion:
        self._gate.check()
        versions = self._versions_of.setdefault(record.name, [])
        for existing in versions:
            if existing.version == record.version:
                return existing
        versions.append(record)
        return record

    async def _get(self, name: str, version: str | None) -> SkillVersion | None:
        versions = await self._versions(name)
        if version is None:
            return versions[-1] if versions else None
        return next((v for v in versions if v.version == version), None)

    async def _versions(self, name: str) -> list[SkillVersion]:
        self._gate.check()
        return list(self._versions_of.get(name, []))

    async def _latest(self) -> list[SkillVersion]:
        self._gate.check()
        return [self._versions_of[n][-1] for n in sorted(self._versions_of) if self._versions_of[n]]

    async def _record(self, record: SkillInvocation) -> None:
        self._gate.check()
        self._invocations_of.setdefault(record.skill, []).append(record)

    async def _invocations(self, skill: str, limit: int | None) -> list[SkillInvocation]:
        self._gate.check()
        return list(reversed(self._invocations_of.get(skill, [])))[:limit]
