"""The T1 agent and skill registries.

Tables ``agents`` (one row per instance, liveness by ``expires_at``), ``agent_capabilities``
(for find-by-capability), ``skills`` (one immutable row per version; rowid order is
publication order) and ``skill_invocations`` (append-only).
"""

from __future__ import annotations

import json
import sqlite3
import time

from memfun_runtime import _codec
from memfun_runtime.backends._registry_base import (
    AgentRegistryBase,
    SkillRegistryBase,
    agent_from,
)
from memfun_runtime.backends.sqlite._database import Handle
from memfun_runtime.backends.sqlite._errors import BACKEND
from memfun_runtime.backends.sqlite._writer import Tx
from memfun_runtime.protocols import (
    AgentInstance,
    SkillInvocation,
    SkillStats,
    SkillVersion,
)

__all__ = ["DROP_CAPABILITIES", "SQLiteAgentRegistry", "SQLiteSkillRegistry"]

_AGENT = (
    "SELECT a.instance_id, a.name, a.capabilities, a.metadata, a.registered_at, "
    "a.last_heartbeat, a.ttl FROM agents a"
)
DROP_CAPABILITIES = "DELETE FROM agent_capabilities WHERE instance_id = ?"
_SKILL = "SELECT name, version, description, metadata, published_at FROM skills"
_INVOCATION = (
    "SELECT id, skill, version, outcome, latency, tokens, cost, metadata, recorded_at "
    "FROM skill_invocations"
)


class SQLiteAgentRegistry(AgentRegistryBase):
    """:class:`~memfun_runtime.protocols.AgentRegistry` on the T1 SQLite file."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def _instance(self, row: sqlite3.Row) -> AgentInstance:
        where = self._handle.location(f"agents/{row[0]}")
        return agent_from(tuple(row), backend=BACKEND, location=where)

    async def _register(self, instance: AgentInstance) -> AgentInstance:
        iid, caps = instance.instance_id, sorted(instance.capabilities)
        row = (iid, instance.name, json.dumps(caps), _codec.encode_json(dict(instance.metadata)))
        times = (instance.registered_at, instance.last_heartbeat, instance.ttl, instance.expires_at)

        def job(tx: Tx) -> AgentInstance:
            tx.execute(DROP_CAPABILITIES, (iid,))
            tx.execute(
                "INSERT OR REPLACE INTO agents (instance_id, name, capabilities, metadata, "
                "registered_at, last_heartbeat, ttl, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, *times),
            )
            tx.executemany(
                "INSERT INTO agent_capabilities (capability, instance_id) VALUES (?, ?)",
                [(cap, iid) for cap in caps],
            )
            return instance

        return await self._handle.db.writer.transaction(job)

    async def _heartbeat(self, instance_id: str) -> AgentInstance | None:
        def job(tx: Tx) -> AgentInstance | None:
            changed = tx.execute(
                "UPDATE agents SET last_heartbeat = ?, expires_at = ? + ttl "
                "WHERE instance_id = ? AND expires_at > ?",
                (tx.now, tx.now, instance_id, tx.now),
            )
            row = tx.fetchone(_AGENT + " WHERE a.instance_id = ?", (instance_id,))
            return self._instance(row) if changed and row is not None else None

        return await self._handle.db.writer.transaction(job)

    async def _deregister(self, instance_id: str) -> bool:
        def job(tx: Tx) -> bool:
            live = tx.fetchone(
                "SELECT 1 FROM agents WHERE instance_id = ? AND expires_at > ?",
                (instance_id, tx.now),
            )
            tx.execute(DROP_CAPABILITIES, (instance_id,))
            tx.execute("DELETE FROM agents WHERE instance_id = ?", (instance_id,))
            return live is not None

        return await self._handle.db.writer.transaction(job)

    async def _get(self, instance_id: str) -> AgentInstance | None:
        row = await self._handle.db.read_one(
            _AGENT + " WHERE a.instance_id = ? AND a.expires_at > ?", (instance_id, time.time())
        )
        return None if row is None else self._instance(row)

    async def _select(self, capability: str | None, name: str | None) -> list[AgentInstance]:
        rows = await self._handle.db.read(
            _AGENT + " WHERE a.expires_at > ? AND (? IS NULL OR a.name = ?) AND (? IS NULL OR "  # noqa: S608
            "a.instance_id IN (SELECT instance_id FROM agent_capabilities WHERE capability = ?)) "
            "ORDER BY a.registered_at",
            (time.time(), name, name, capability, capability),
        )
        return [self._instance(row) for row in rows]


class SQLiteSkillRegistry(SkillRegistryBase):
    """:class:`~memfun_runtime.protocols.SkillRegistry` on the T1 SQLite file."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle

    def _version(self, row: sqlite3.Row) -> SkillVersion:
        return SkillVersion(
            name=str(row[0]),
            version=str(row[1]),
            description=str(row[2]),
            metadata=self._handle.decode(row[3], f"skills/{row[0]}@{row[1]}"),
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
            metadata=self._handle.decode(row[7], f"skills/{row[1]}/invocations/{row[0]}"),
            recorded_at=float(row[8]),
        )

    async def _publish(self, record: SkillVersion) -> SkillVersion:
        key = (record.name, record.version)
        metadata = _codec.encode_json(dict(record.metadata))

        def job(tx: Tx) -> SkillVersion:
            row = tx.fetchone(_SKILL + " WHERE name = ? AND version = ?", key)
            if row is not None:
                return self._version(row)
            tx.execute(
                "INSERT INTO skills (name, version, description, metadata, published_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (*key, record.description, metadata, record.published_at),
            )
            return record

        return await self._handle.db.writer.transaction(job)

    async def _get(self, name: str, version: str | None) -> SkillVersion | None:
        row = await self._handle.db.read_one(
            _SKILL + " WHERE name = ? AND (? IS NULL OR version = ?) ORDER BY rowid DESC LIMIT 1",
            (name, version, version),
        )
        return None if row is None else self._version(row)

    async def _versions(self, name: str) -> list[SkillVersion]:
        rows = await self._handle.db.read(_SKILL + " WHERE name = ? ORDER BY rowid", (name,))
        return [self._version(row) for row in rows]

    async def _latest(self) -> list[SkillVersion]:
        rows = await self._handle.db.read(
            _SKILL + " s WHERE rowid = (SELECT max(rowid) FROM skills WHERE name = s.name) "  # noqa: S608
            "ORDER BY name"
        )
        return [self._version(row) for row in rows]

    async def _record(self, record: SkillInvocation) -> None:
        r = record
        metadata = _codec.encode_json(dict(r.metadata))
        row = (r.id, r.skill, r.version, r.outcome, r.latency, r.tokens, r.cost, metadata)
        await self._handle.db.writer.transaction(
            lambda tx: tx.execute(
                "INSERT INTO skill_invocations (id, skill, version, outcome, latency, tokens, "
                "cost, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, r.recorded_at),
            )
        )

    async def _invocations(self, skill: str, limit: int | None) -> list[SkillInvocation]:
        rows = await self._handle.db.read(
            _INVOCATION + " WHERE skill = ? ORDER BY seq DESC LIMIT ?",
            (skill, -1 if limit is None else limit),
        )
        return [self._invocation(row) for row in rows]

    async def _stats(self, skill: str) -> SkillStats:
        row = await self._handle.db.read_one(
            "SELECT count(*), coalesce(sum(outcome = 'success'), 0), "
            "coalesce(sum(outcome = 'failure'), 0), coalesce(sum(outcome = 'error'), 0), "
            "coalesce(avg(latency), 0.0), coalesce(sum(tokens), 0), coalesce(sum(cost), 0.0) "
            "FROM skill_invocations WHERE skill = ?",
            (skill,),
        )
        assert row is not None
        count, ok, failed, errors, latency, tokens, cost = row
        return SkillStats(skill, count, ok, failed, errors, float(latency), tokens, float(cost))
