"""The in-memory agent and skill registries."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.memory._common import TIER, Gate, now
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

__all__ = ["MemoryAgentRegistry", "MemorySkillRegistry"]


def _decode(text: str, location: str) -> dict[str, JSONValue]:
    return _codec.decode_json(text, backend=TIER, location=location)


class MemoryAgentRegistry(AgentRegistry):
    """:class:`~memfun_runtime.protocols.AgentRegistry` in process memory (see the protocol)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._instances: dict[str, AgentInstance] = {}

    def _live(self, instance_id: str) -> AgentInstance | None:
        instance = self._instances.get(instance_id)
        if instance is not None and instance.expires_at <= now():
            del self._instances[instance_id]
            return None
        return instance

    def _all_live(self) -> list[AgentInstance]:
        live = [i for key in list(self._instances) if (i := self._live(key)) is not None]
        live.sort(key=lambda i: i.registered_at)
        return live

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
        self._gate.check()
        _codec.check_name(name, field="name")
        caps = _codec.check_capabilities(capabilities)
        iid = (
            _codec.new_id()
            if instance_id is None
            else _codec.check_name(instance_id, field="instance_id")
        )
        text = _codec.check_metadata(metadata)
        seconds = _codec.check_positive(ttl, field="ttl")
        stamp = now()
        instance = AgentInstance(
            instance_id=iid,
            name=name,
            capabilities=caps,
            metadata=_decode(text, iid),
            registered_at=stamp,
            last_heartbeat=stamp,
            ttl=seconds,
            expires_at=stamp + seconds,
        )
        self._instances[iid] = instance
        return instance

    async def heartbeat(self, instance_id: str) -> AgentInstance:
        """Extend the instance's life by its ttl."""
        self._gate.check()
        _codec.check_name(instance_id, field="instance_id")
        instance = self._live(instance_id)
        if instance is None:
            raise NotFoundError(
                "agent instance", instance_id, hint="it expired or was deregistered; register again"
            )
        stamp = now()
        instance = dataclasses.replace(
            instance, last_heartbeat=stamp, expires_at=stamp + instance.ttl
        )
        self._instances[instance_id] = instance
        return instance

    async def deregister(self, instance_id: str) -> bool:
        """Remove the instance."""
        self._gate.check()
        _codec.check_name(instance_id, field="instance_id")
        if self._live(instance_id) is None:
            return False
        del self._instances[instance_id]
        return True

    async def get(self, instance_id: str) -> AgentInstance | None:
        """Return the live instance, or ``None``."""
        self._gate.check()
        _codec.check_name(instance_id, field="instance_id")
        return self._live(instance_id)

    async def find(self, capability: str) -> list[AgentInstance]:
        """Return the live instances having ``capability``."""
        self._gate.check()
        _codec.check_name(capability, field="capability")
        return [i for i in self._all_live() if capability in i.capabilities]

    async def list(self, *, name: str | None = None) -> list[AgentInstance]:
        """Return all live instances (of agent ``name`` when given)."""
        self._gate.check()
        if name is not None:
            _codec.check_name(name, field="name")
        return [i for i in self._all_live() if name is None or i.name == name]


class MemorySkillRegistry(SkillRegistry):
    """:class:`~memfun_runtime.protocols.SkillRegistry` in process memory (see the protocol)."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._versions: dict[str, list[tuple[SkillVersion, str]]] = {}
        self._invocations: dict[str, list[SkillInvocation]] = {}

    async def publish(
        self,
        name: str,
        version: str,
        *,
        description: str,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> SkillVersion:
        """Publish an immutable version of a skill."""
        self._gate.check()
        _codec.check_name(name, field="name")
        _codec.check_version(version)
        if not isinstance(description, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a str, not {type(description).__name__}",
                field="description",
                rule="a str",
            )
        text = _codec.check_metadata(metadata)
        versions = self._versions.setdefault(name, [])
        for existing, existing_text in versions:
            if existing.version == version:
                if existing.description == description and existing_text == text:
                    return existing
                raise ConflictError(
                    f"skill {name!r} version {version!r} was already published with other content",
                    hint="published versions are immutable; publish a new version",
                )
        record = SkillVersion(
            name=name,
            version=version,
            description=description,
            metadata=_decode(text, f"{name}@{version}"),
            published_at=now(),
        )
        versions.append((record, text))
        return record

    async def get(self, name: str, version: str | None = None) -> SkillVersion | None:
        """Return that version (the latest when ``None``), or ``None``."""
        self._gate.check()
        _codec.check_name(name, field="name")
        if version is not None:
            _codec.check_version(version)
        versions = self._versions.get(name, [])
        if version is None:
            return versions[-1][0] if versions else None
        return next((v for v, _ in versions if v.version == version), None)

    async def versions(self, name: str) -> list[SkillVersion]:
        """Return every version, oldest publication first."""
        self._gate.check()
        _codec.check_name(name, field="name")
        return [v for v, _ in self._versions.get(name, [])]

    async def list(self) -> list[SkillVersion]:
        """Return the latest version of every skill, sorted by name."""
        self._gate.check()
        return [self._versions[n][-1][0] for n in sorted(self._versions) if self._versions[n]]

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
        self._gate.check()
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
            metadata=_decode(_codec.check_metadata(metadata), skill),
            recorded_at=now(),
        )
        self._invocations.setdefault(skill, []).append(record)
        return record

    async def invocations(self, skill: str, *, limit: int = 100) -> list[SkillInvocation]:
        """Return up to ``limit`` invocations, newest first."""
        self._gate.check()
        _codec.check_name(skill, field="skill")
        _codec.check_int(limit, field="limit", minimum=0)
        return list(reversed(self._invocations.get(skill, [])))[:limit]

    async def stats(self, skill: str) -> SkillStats:
        """Return aggregates over every recorded invocation."""
        self._gate.check()
        _codec.check_name(skill, field="skill")
        records = self._invocations.get(skill, [])
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
