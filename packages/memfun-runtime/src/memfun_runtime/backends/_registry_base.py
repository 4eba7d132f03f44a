"""What every tier's agent and skill registries share: argument checks, records and errors.

Each public method checks its arguments (so all tiers accept and refuse the same input),
builds the record and calls the tier's hook, which only talks to its store.
"""

from __future__ import annotations

import abc
import builtins
import dataclasses
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
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

__all__ = [
    "AgentRegistryBase",
    "SkillRegistryBase",
    "agent_from",
    "invocation_from",
    "invocation_json",
    "pick",
    "summarize",
]


class AgentRegistryBase(AgentRegistry):
    """Base of the in-tree agent registries: checks the arguments, then calls the tier's hooks.

    A tier implements the abstract hooks (:func:`pick` selects from a list of instances).
    """

    async def register(
        self,
        name: str,
        *,
        capabilities: Iterable[str] = (),
        instance_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float = DEFAULT_AGENT_TTL,
    ) -> AgentInstance:
        """Register (or re-register, replacing) an instance; id generated when ``None``."""
        _codec.check_name(name, field="name")
        caps = _codec.check_capabilities(capabilities)
        iid = _codec.check_id(instance_id, field="instance_id")
        text = _codec.check_metadata(metadata)
        seconds = _codec.check_positive(ttl, field="ttl")
        stamp = time.time()
        instance = AgentInstance(
            iid, name, caps, _codec.parse_json(text), stamp, stamp, seconds, stamp + seconds
        )
        return await self._register(instance)

    async def heartbeat(self, instance_id: str) -> AgentInstance:
        """Extend the instance's life by its ttl from now and return it."""
        found = await self._heartbeat(_codec.check_name(instance_id, field="instance_id"))
        if found is None:
            raise NotFoundError(
                "agent instance", instance_id, hint="it expired or was deregistered; register again"
            )
        return found

    async def deregister(self, instance_id: str) -> bool:
        """Remove the instance; return whether a live one existed."""
        return await self._deregister(_codec.check_name(instance_id, field="instance_id"))

    async def get(self, instance_id: str) -> AgentInstance | None:
        """Return the live instance, or ``None``."""
        return await self._get(_codec.check_name(instance_id, field="instance_id"))

    async def find(self, capability: str) -> builtins.list[AgentInstance]:
        """Return the live instances having ``capability``, oldest registration first."""
        return await self._select(_codec.check_name(capability, field="capability"), None)

    async def list(self, *, name: str | None = None) -> builtins.list[AgentInstance]:
        """Return all live instances (of agent ``name`` when given), oldest registration first."""
        if name is not None:
            _codec.check_name(name, field="name")
        return await self._select(None, name)

    # --- the tier's hooks -------------------------------------------------------------------

    @abc.abstractmethod
    async def _register(self, instance: AgentInstance) -> AgentInstance:
        """Store ``instance`` (replacing one with its id); return it as stored."""

    @abc.abstractmethod
    async def _heartbeat(self, instance_id: str) -> AgentInstance | None:
        """Extend the live instance's life; ``None`` when there is none."""

    @abc.abstractmethod
    async def _deregister(self, instance_id: str) -> bool: ...

    @abc.abstractmethod
    async def _get(self, instance_id: str) -> AgentInstance | None: ...

    @abc.abstractmethod
    async def _select(
        self, capability: str | None, name: str | None
    ) -> builtins.list[AgentInstance]:
        """The live instances with ``capability`` and ``name`` (when given), oldest first."""


def pick(
    instances: Iterable[AgentInstance], capability: str | None, name: str | None
) -> builtins.list[AgentInstance]:
    """The ``instances`` with ``capability`` and ``name`` (when given), oldest first."""
    found = [
        i
        for i in instances
        if (capability is None or capability in i.capabilities) and (name is None or i.name == name)
    ]
    found.sort(key=lambda i: i.registered_at)
    return found


class SkillRegistryBase(SkillRegistry):
    """Base of the in-tree skill registries: checks the arguments, then calls the tier's hooks.

    A tier implements the abstract hooks, and ``_stats`` when its store adds them up itself.
    """

    async def publish(
        self,
        name: str,
        version: str,
        *,
        description: str,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> SkillVersion:
        """Publish a version of a skill and return it."""
        _codec.check_name(name, field="name")
        _codec.check_version(version)
        if not isinstance(description, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a str, not {type(description).__name__}",
                field="description",
                rule="a str",
            )
        text = _codec.check_metadata(metadata)
        record = SkillVersion(name, version, description, _codec.parse_json(text), time.time())
        stored = await self._publish(record)
        # JSON text, not dict equality: key order and True/1 tell versions apart on every tier.
        was = _codec.encode_json(dict(stored.metadata))
        if stored.description != description or was != _codec.encode_json(record.metadata):
            raise ConflictError(
                f"skill {name!r} version {version!r} was already published with other content",
                hint="published versions are immutable; publish a new version",
            )
        return stored

    async def get(self, name: str, version: str | None = None) -> SkillVersion | None:
        """Return that version (the latest when ``None``), or ``None`` when unknown."""
        _codec.check_name(name, field="name")
        if version is not None:
            _codec.check_version(version)
        return await self._get(name, version)

    async def versions(self, name: str) -> builtins.list[SkillVersion]:
        """Return every version of the skill, oldest publication first."""
        return await self._versions(_codec.check_name(name, field="name"))

    async def list(self) -> builtins.list[SkillVersion]:
        """Return the latest version of every skill, sorted by name."""
        return await self._latest()

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
        """Record one invocation (the skill need not be published) and return the record."""
        _codec.check_name(skill, field="skill")
        if version is not None:
            _codec.check_version(version)
        text = _codec.check_metadata(metadata)
        record = SkillInvocation(
            id=_codec.new_id(),
            skill=skill,
            version=version,
            outcome=_codec.check_outcome(outcome),
            latency=_codec.check_non_negative(latency, field="latency"),
            tokens=_codec.check_int(tokens, field="tokens", minimum=0),
            cost=_codec.check_non_negative(cost, field="cost"),
            metadata=_codec.parse_json(text),
            recorded_at=time.time(),
        )
        await self._record(record)
        return record

    async def invocations(self, skill: str, *, limit: int = 100) -> builtins.list[SkillInvocation]:
        """Return up to ``limit`` invocations of the skill, newest first."""
        _codec.check_name(skill, field="skill")
        return await self._invocations(skill, _codec.check_int(limit, field="limit", minimum=0))

    async def stats(self, skill: str) -> SkillStats:
        """Return aggregates over every recorded invocation (zeros when there are none)."""
        return await self._stats(_codec.check_name(skill, field="skill"))

    # --- the tier's hooks -------------------------------------------------------------------

    @abc.abstractmethod
    async def _publish(self, record: SkillVersion) -> SkillVersion:
        """Store ``record`` unless its version exists; return what is stored (either)."""

    @abc.abstractmethod
    async def _get(self, name: str, version: str | None) -> SkillVersion | None: ...

    @abc.abstractmethod
    async def _versions(self, name: str) -> builtins.list[SkillVersion]: ...

    @abc.abstractmethod
    async def _latest(self) -> builtins.list[SkillVersion]: ...

    @abc.abstractmethod
    async def _record(self, record: SkillInvocation) -> None: ...

    @abc.abstractmethod
    async def _invocations(self, skill: str, limit: int | None) -> builtins.list[SkillInvocation]:
        """Up to ``limit`` (``None``: all) invocations, newest first."""

    async def _stats(self, skill: str) -> SkillStats:
        return summarize(skill, await self._invocations(skill, None))


def agent_from(stored: Sequence[Any], *, backend: str, location: str) -> AgentInstance:
    """The instance stored as its fields, capabilities and metadata as JSON text.

    ``stored`` is ``(id, name, capabilities, metadata, registered_at, last_heartbeat, ttl)``.

    Raises:
        CorruptDataError: The capabilities or the metadata are not JSON.
    """
    iid, name, caps, meta, registered, beat, ttl = stored
    return AgentInstance(
        instance_id=str(iid),
        name=str(name),
        capabilities=frozenset(_codec.decode_json(caps, backend=backend, location=location)),
        metadata=_codec.decode_json(meta, backend=backend, location=location),
        registered_at=float(registered),
        last_heartbeat=float(beat),
        ttl=float(ttl),
        expires_at=float(beat) + float(ttl),
    )


def summarize(skill: str, records: Iterable[SkillInvocation]) -> SkillStats:
    """The stats of a skill's invocation ``records``."""
    found = builtins.list(records)
    count = len(found)
    return SkillStats(
        skill=skill,
        invocations=count,
        successes=sum(r.outcome == "success" for r in found),
        failures=sum(r.outcome == "failure" for r in found),
        errors=sum(r.outcome == "error" for r in found),
        mean_latency=sum(r.latency for r in found) / count if count else 0.0,
        total_tokens=sum(r.tokens for r in found),
        total_cost=sum(r.cost for r in found),
    )


def invocation_json(record: SkillInvocation) -> str:
    """The JSON text an invocation is stored as (on the tiers that keep JSON records)."""
    return _codec.encode_json(dataclasses.asdict(record), field="metadata")


def invocation_from(data: Mapping[str, Any], skill: str) -> SkillInvocation:
    """The invocation of ``skill`` decoded from :func:`invocation_json`'s record."""
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
