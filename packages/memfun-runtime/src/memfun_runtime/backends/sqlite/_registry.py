"""The T1 agent and skill registries.

Tables ``agents`` (one row per instance, liveness by ``expires_at``), ``agent_capabilities``
(for find-by-capability), ``skills`` (one immutable row per version; rowid order is
publication order) and ``skill_invocations`` (append-only).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping

from memfun_core.errors import ConflictError, NotFoundError, ValidationError
from memfun_runtime import _codec
from memfun_runtime.backends.sqlite._errors import BACKEND
from memfun_runtime.backends.sqlite._handle import Handle
from memfun_runtime.backends.sqlite._writer import Tx
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

__all__ = ["SQLiteAgentRegistry", "SQLiteSkillRegistry"]

_AGENT = (
    "SELECT a.instance_id, a.name, a.capabilities, a.metadata, a.registered_at, "
    "a.last_heartbeat, a.ttl, a.expires_at FROM agents a"
)
_SKILL = "SELECT name, version, description, metadata, published_at FROM skills"
_INVOCATION = (
    "SELECT id, skill, version, outcome, latency, tokens, cost, metadata, recorded_at "
    "FROM skill_invocations"
)


class SQLiteAgentRegistry(AgentRegistry):
    """:class:`~memfun_runtime.protocols.AgentRegistry` on the T1 SQLite file."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def _instance(self, row: sqlite3.Row) -> AgentInstance:
        where = self._handle.location(f"agents/{row[0]}")
        caps: list[str] = _codec.decode_json(row[2], backend=BACKEND, location=where)
        return AgentInstance(
            instance_id=str(row[0]),
            name=str(row[1]),
            capabilities=frozenset(caps),
            metadata=_codec.decode_json(row[3], backend=BACKEND, location=where),
            registered_at=float(row[4]),
            last_heartbeat=float(row[5]),
            ttl=float(row[6]),
            expires_at=float(row[7]),
        )

    async def register(
        self,
        name: str,
        *,
        capabilities: Iterable[str] = (),
        instance_id: str | None = None,
        metadata: Mapping[str, JSONValue] | None = None,
        ttl: float = DEFAULT_AGENT_TTL,
    ) -> AgentInstance:
        """Register (or re-register, replacing) an instance."""
        _codec.check_name(name, field="name")
        caps = sorted(_codec.check_capabilities(capabilities))
        iid = (
            _codec.new_id()
            if instance_id is None
            else _codec.check_name(instance_id, field="instance_id")
        )
        text = _codec.check_metadata(metadata)
        seconds = _codec.check_positive(ttl, field="ttl")

        def job(tx: Tx) -> AgentInstance:
            tx.execute("DELETE FROM agent_capabilities WHERE instance_id = ?", (iid,))
            tx.execute(
                "INSERT INTO agents (instance_id, name, capabilities, metadata, registered_at, "
                "last_heartbeat, ttl, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (instance_id) DO UPDATE SET name = excluded.name, "
                "capabilities = excluded.capabilities, metadata = excluded.metadata, "
                "registered_at = excluded.registered_at, "
                "last_heartbeat = excluded.last_heartbeat, ttl = excluded.ttl, "
                "expires_at = excluded.expires_at",
                (iid, name, json.dumps(caps), text, tx.now, tx.now, seconds, tx.now + seconds),
            )
            tx.executemany(
                "INSERT INTO agent_capabilities (capability, instance_id) VALUES (?, ?)",
                [(cap, iid) for cap in caps],
            )
            row = tx.fetchone(_AGENT + " WHERE a.instance_id = ?", (iid,))
            assert row is not None
            return self._instance(row)

        return await self._handle.db.writer.transaction(job)

    async def heartbeat(self, instance_id: str) -> AgentInstance:
        """Extend the instance's life by its ttl from now and return it."""
        _codec.check_name(instance_id, field="instance_id")

        def job(tx: Tx) -> AgentInstance:
            changed = tx.execute(
                "UPDATE agents SET last_heartbeat = ?, expires_at = ? + ttl "
                "WHERE instance_id = ? AND expires_at > ?",
                (tx.now, tx.now, instance_id, tx.now),
            )
            if not changed:
                raise NotFoundError(
                    "agent instance",
                    instance_id,
                    hint="it expired or was deregistered; register again",
                )
            row = tx.fetchone(_AGENT + " WHERE a.instance_id = ?", (instance_id,))
            assert row is not None
            return self._instance(row)

        return await self._handle.db.writer.transaction(job)

    async def deregister(self, instance_id: str) -> bool:
        """Remove the instance; return whether a live one existed."""
        _codec.check_name(instance_id, field="instance_id")

        def job(tx: Tx) -> bool:
            live = tx.fetchone(
                "SELECT 1 FROM agents WHERE instance_id = ? AND expires_at > ?",
                (instance_id, tx.now),
            )
            tx.execute("DELETE FROM agent_capabilities WHERE instance_id = ?", (instance_id,))
            tx.execute("DELETE FROM agents WHERE instance_id = ?", (instance_id,))
            return live is not None

        return await self._handle.db.writer.transaction(job)

    async def get(self, instance_id: str) -> AgentInstance | None:
        """Return the live instance, or ``None``."""
        _codec.check_name(instance_id, field="instance_id")
        row = await self._handle.db.read_one(
            _AGENT + " WHERE a.instance_id = ? AND a.expires_at > ?", (instance_id, time.time())
        )
        return None if row is None else self._instance(row)

    async def find(self, capability: str) -> list[AgentInstance]:
        """Return the live instances having ``capability``, oldest registration first."""
        _codec.check_name(capability, field="capability")
        rows = await self._handle.db.read(
            _AGENT + " JOIN agent_capabilities c ON c.instance_id = a.instance_id "
            "WHERE c.capability = ? AND a.expires_at > ? ORDER BY a.registered_at",
            (capability, time.time()),
        )
        return [self._instance(row) for row in rows]

    async def list(self, *, name: str | None = None) -> list[AgentInstance]:
        """Return all live instances (of agent ``name`` when given), oldest first."""
        if name is not None:
            _codec.check_name(name, field="name")
        rows = await self._handle.db.read(
            _AGENT + " WHERE a.expires_at > ? AND (? IS NULL OR a.name = ?) "
            "ORDER BY a.registered_at",
            (time.time(), name, name),
        )
        return [self._instance(row) for row in rows]


class SQLiteSkillRegistry(SkillRegistry):
    """:class:`~memfun_runtime.protocols.SkillRegistry` on the T1 SQLite file."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def _json(self, text: str, where: str) -> dict[str, JSONValue]:
        return _codec.decode_json(
            text, backend=BACKEND, location=self._handle.location(f"skills/{where}")
        )

    def _version(self, row: sqlite3.Row) -> SkillVersion:
        return SkillVersion(
            name=str(row[0]),
            version=str(row[1]),
            description=str(row[2]),
            metadata=self._json(row[3], f"{row[0]}@{row[1]}"),
            published_at=float(row[4]),
        )

    def _invocation(self, row: sqlite3.Row) -> SkillInvocation:
        return SkillInvocation(
            id=str(row[0]),
            skill=str(row[1]),
            version=row[2],
            outcome=_codec.check_outcome(row[3]),
            latency=float(row[4]),
            tokens=int(row[5]),
            cost=float(row[6]),
            metadata=self._json(row[7], f"{row[1]}/invocations/{row[0]}"),
            recorded_at=float(row[8]),
        )

    async def publish(
        self,
        name: str,
        version: str,
        *,
        description: str,
        metadata: Mapping[str, JSONValue] | None = None,
    ) -> SkillVersion:
        """Publish an immutable version of a skill and return it."""
        _codec.check_name(name, field="name")
        _codec.check_version(version)
        if not isinstance(description, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValidationError(
                f"must be a str, not {type(description).__name__}",
                field="description",
                rule="a str",
            )
        text = _codec.check_metadata(metadata)

        def job(tx: Tx) -> SkillVersion:
            row = tx.fetchone(_SKILL + " WHERE name = ? AND version = ?", (name, version))
            if row is not None:
                if str(row[2]) == description and str(row[3]) == text:
                    return self._version(row)
                raise ConflictError(
                    f"skill {name!r} version {version!r} was already published with other content",
                    hint="published versions are immutable; publish a new version",
                )
            tx.execute(
                "INSERT INTO skills (name, version, description, metadata, published_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, version, description, text, tx.now),
            )
            return SkillVersion(name, version, description, self._json(text, name), tx.now)

        return await self._handle.db.writer.transaction(job)

    async def get(self, name: str, version: str | None = None) -> SkillVersion | None:
        """Return that version (the latest when ``None``), or ``None`` when unknown."""
        _codec.check_name(name, field="name")
        if version is None:
            row = await self._handle.db.read_one(
                _SKILL + " WHERE name = ? ORDER BY rowid DESC LIMIT 1", (name,)
            )
        else:
            _codec.check_version(version)
            row = await self._handle.db.read_one(
                _SKILL + " WHERE name = ? AND version = ?", (name, version)
            )
        return None if row is None else self._version(row)

    async def versions(self, name: str) -> list[SkillVersion]:
        """Return every version of the skill, oldest publication first."""
        _codec.check_name(name, field="name")
        rows = await self._handle.db.read(_SKILL + " WHERE name = ? ORDER BY rowid", (name,))
        return [self._version(row) for row in rows]

    async def list(self) -> list[SkillVersion]:
        """Return the latest version of every skill, sorted by name."""
        rows = await self._handle.db.read(
            _SKILL + " s WHERE rowid = (SELECT max(rowid) FROM skills WHERE name = s.name) "  # noqa: S608
            "ORDER BY name"
        )
        return [self._version(row) for row in rows]

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
        result = _codec.check_outcome(outcome)
        seconds = _codec.check_non_negative(latency, field="latency")
        count = _codec.check_int(tokens, field="tokens", minimum=0)
        dollars = _codec.check_non_negative(cost, field="cost")
        text = _codec.check_metadata(metadata)
        ident = _codec.new_id()

        def job(tx: Tx) -> SkillInvocation:
            tx.execute(
                "INSERT INTO skill_invocations (id, skill, version, outcome, latency, tokens, "
                "cost, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ident, skill, version, result, seconds, count, dollars, text, tx.now),
            )
            return SkillInvocation(
                id=ident,
                skill=skill,
                version=version,
                outcome=result,
                latency=seconds,
                tokens=count,
                cost=dollars,
                metadata=self._json(text, skill),
                recorded_at=tx.now,
            )

        return await self._handle.db.writer.transaction(job)

    async def invocations(self, skill: str, *, limit: int = 100) -> list[SkillInvocation]:
        """Return up to ``limit`` invocations of the skill, newest first."""
        _codec.check_name(skill, field="skill")
        _codec.check_int(limit, field="limit", minimum=0)
        rows = await self._handle.db.read(
            _INVOCATION + " WHERE skill = ? ORDER BY seq DESC LIMIT ?", (skill, limit)
        )
        return [self._invocation(row) for row in rows]

    async def stats(self, skill: str) -> SkillStats:
        """Return aggregates over every recorded invocation (zeros when there are none)."""
        _codec.check_name(skill, field="skill")
        row = await self._handle.db.read_one(
            "SELECT count(*), coalesce(sum(outcome = 'success'), 0), "
            "coalesce(sum(outcome = 'failure'), 0), coalesce(sum(outcome = 'error'), 0), "
            "coalesce(avg(latency), 0.0), coalesce(sum(tokens), 0), coalesce(sum(cost), 0.0) "
            "FROM skill_invocations WHERE skill = ?",
            (skill,),
        )
        assert row is not None
        return SkillStats(
            skill=skill,
            invocations=int(row[0]),
            successes=int(row[1]),
            failures=int(row[2]),
            errors=int(row[3]),
            mean_latency=float(row[4]),
            total_tokens=int(row[5]),
            total_cost=float(row[6]),
        )
