"""The registries' contracts: live agent instances by capability, skills and their invocations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from memfun_runtime.protocols._types import JSONValue

__all__ = [
    "DEFAULT_AGENT_TTL",
    "AgentInstance",
    "AgentRegistry",
    "InvocationOutcome",
    "SkillInvocation",
    "SkillRegistry",
    "SkillStats",
    "SkillVersion",
]

DEFAULT_AGENT_TTL = 30.0
"""Seconds an agent instance stays live without a heartbeat."""

InvocationOutcome = Literal["success", "failure", "error"]
"""``success``: the skill did its job; ``failure``: it ran but the result was rejected;
``error``: it raised or timed out."""


@dataclass(frozen=True, slots=True)
class AgentInstance:
    """One running instance of an agent.

    Attributes:
        instance_id: Unique id of this instance.
        name: The agent's name (its type); several instances may share it.
        capabilities: What it can do (``"review-code"``), matched exactly by ``find``.
        metadata: JSON-serializable metadata (host, pid, version, ...).
        registered_at: Unix time of registration.
        last_heartbeat: Unix time of the last register or heartbeat.
        ttl: Seconds it stays live without a heartbeat.
        expires_at: ``last_heartbeat + ttl``.
    """

    instance_id: str
    name: str
    capabilities: frozenset[str]
    metadata: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])
    registered_at: float = 0.0
    last_heartbeat: float = 0.0
    ttl: float = DEFAULT_AGENT_TTL
    expires_at: float = 0.0


@runtime_checkable
class AgentRegistry(Protocol):
    """Where running agent instances announce themselves and are found by capability.

    Guarantees (every tier): an instance is live from :meth:`register` until ``ttl`` seconds
    after its last heartbeat, or until :meth:`deregister`. Only live instances are returned;
    an expired one is gone (its heartbeat raises NotFoundError, so it must register again).
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
        """Register (or re-register, replacing) an instance; id generated when ``None``.

        ``capabilities`` is any iterable of names except a bare ``str`` (refused).

        Raises:
            ValidationError: A bad name, capability, id, metadata or ttl (must be > 0).
        """
        ...

    async def heartbeat(self, instance_id: str) -> AgentInstance:
        """Extend the instance's life by its ttl from now and return it.

        Raises:
            NotFoundError: The instance is unknown or already expired (kind ``"agent instance"``).
        """
        ...

    async def deregister(self, instance_id: str) -> bool:
        """Remove the instance; return whether a live one existed."""
        ...

    async def get(self, instance_id: str) -> AgentInstance | None:
        """Return the live instance, or ``None``."""
        ...

    async def find(self, capability: str) -> list[AgentInstance]:
        """Return the live instances having ``capability``, oldest registration first."""
        ...

    async def list(self, *, name: str | None = None) -> list[AgentInstance]:
        """Return all live instances (of agent ``name`` when given), oldest registration first."""
        ...


@dataclass(frozen=True, slots=True)
class SkillVersion:
    """Published metadata of one version of a skill.

    Attributes:
        name: The skill's name.
        version: Its version string (``[A-Za-z0-9._-]``, e.g. ``"1.2.0"``).
        description: What it does.
        metadata: JSON-serializable metadata (frontmatter fields, source, checksum, ...).
        published_at: Unix time of publication.
    """

    name: str
    version: str
    description: str
    metadata: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])
    published_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SkillInvocation:
    """One recorded use of a skill.

    Attributes:
        id: Unique id of the record.
        skill: The skill's name.
        version: The version used, if known.
        outcome: See :data:`InvocationOutcome`.
        latency: Seconds the invocation took.
        tokens: LLM tokens spent.
        cost: Cost in US dollars.
        metadata: JSON-serializable details (error message, session id, ...).
        recorded_at: Unix time of the record.
    """

    id: str
    skill: str
    version: str | None
    outcome: InvocationOutcome
    latency: float
    tokens: int = 0
    cost: float = 0.0
    metadata: Mapping[str, JSONValue] = field(default_factory=dict[str, JSONValue])
    recorded_at: float = 0.0


@dataclass(frozen=True, slots=True)
class SkillStats:
    """Aggregates over all recorded invocations of one skill."""

    skill: str
    invocations: int
    successes: int
    failures: int
    errors: int
    mean_latency: float
    total_tokens: int
    total_cost: float

    @property
    def success_rate(self) -> float:
        """Successes / invocations, or 0.0 with no invocations."""
        return self.successes / self.invocations if self.invocations else 0.0


@runtime_checkable
class SkillRegistry(Protocol):
    """Published skill versions and a record of every invocation.

    Guarantees (every tier): a published version is immutable (republishing identical
    content is a no-op, different content a ConflictError); "latest" is the most recently
    published version; invocation records are append-only and durable as the tier.
    """

    async def publish(
        self,
        name: str,
        version: str,
        *,
        description: str,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> SkillVersion:
        """Publish a version of a skill and return it.

        Raises:
            ConflictError: This version exists with different description or metadata.
            ValidationError: A bad name, version or metadata.
        """
        ...

    async def get(self, name: str, version: str | None = None) -> SkillVersion | None:
        """Return that version (the latest when ``None``), or ``None`` when unknown."""
        ...

    async def versions(self, name: str) -> list[SkillVersion]:
        """Return every version of the skill, oldest publication first."""
        ...

    async def list(self) -> list[SkillVersion]:
        """Return the latest version of every skill, sorted by name."""
        ...

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
        """Record one invocation (the skill need not be published) and return the record.

        Raises:
            ValidationError: An unknown outcome, or negative latency, tokens or cost.
        """
        ...

    async def invocations(self, skill: str, *, limit: int = 100) -> list[SkillInvocation]:
        """Return up to ``limit`` invocations of the skill, newest first."""
        ...

    async def stats(self, skill: str) -> SkillStats:
        """Return aggregates over every recorded invocation (zeros when there are none)."""
        ...
