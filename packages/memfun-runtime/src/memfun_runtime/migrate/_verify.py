"""Verification of a migration: counts and content hashes of every section, on both sides.

Each section is read from the source and from the target through the protocols into a map
from a record's key to a canonical JSON text of its content (what a migration preserves:
payloads, headers, ids, values, turns, registry fields; not timestamps, versions or
offsets, which every tier assigns itself). Equal maps are equal digests; a differing map
names the first record that differs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from memfun_runtime.migrate._inventory import Inventory
from memfun_runtime.protocols import TaskStatus

if TYPE_CHECKING:
    from memfun_runtime.migrate._readable import Readable

__all__ = [
    "CHECKPOINT_PREFIX",
    "SECTIONS",
    "SectionCheck",
    "Verification",
    "canonical",
    "compare",
    "read_section",
    "verify",
]

CHECKPOINT_PREFIX = "memfun.migration."
"""State keys of migration bookkeeping: never copied, never compared."""
SECTIONS = ("state", "sessions", "agents", "skills", "events", "tasks")
_ALL = sys.maxsize
_OPEN = (TaskStatus.PENDING.value, TaskStatus.LEASED.value)


@dataclass(frozen=True, slots=True)
class SectionCheck:
    """One section compared: counts, digests and the first difference found.

    Attributes:
        name: ``state``, ``sessions``, ``agents``, ``skills``, ``events`` or ``tasks``.
        source_count: Records in the source.
        target_count: Records in the target.
        source_digest: SHA-256 over the source's records.
        target_digest: SHA-256 over the target's records.
        difference: The first differing record (``None`` when the section matches).
    """

    name: str
    source_count: int
    target_count: int
    source_digest: str
    target_digest: str
    difference: str | None

    @property
    def ok(self) -> bool:
        """Whether the target holds exactly the source's records."""
        return self.difference is None


@dataclass(frozen=True, slots=True)
class Verification:
    """Every section's comparison."""

    sections: tuple[SectionCheck, ...]

    @property
    def ok(self) -> bool:
        """Whether every section matches."""
        return all(section.ok for section in self.sections)

    @property
    def differences(self) -> list[str]:
        """One line per section that does not match."""
        return [f"{s.name}: {s.difference}" for s in self.sections if s.difference is not None]


def canonical(value: Any) -> str:
    """The canonical JSON text of ``value`` (sorted keys, no spaces): what is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def _state(backend: Readable, _: Inventory) -> dict[str, str]:
    return {
        key: canonical(entry.value)
        async for key, entry in backend.state.scan("")
        if not key.startswith(CHECKPOINT_PREFIX)
    }


async def _sessions(backend: Readable, _: Inventory) -> dict[str, str]:
    out: dict[str, str] = {}
    for session in await backend.sessions.list(limit=_ALL):
        turns = await backend.sessions.read(session.id)
        out[session.id] = canonical(
            [
                dict(session.metadata),
                session.ttl,
                [[t.role, t.content, dict(t.metadata)] for t in turns],
            ]
        )
    return out


async def _agents(backend: Readable, _: Inventory) -> dict[str, str]:
    return {
        a.instance_id: canonical([a.name, sorted(a.capabilities), dict(a.metadata)])
        for a in await backend.agents.list()
    }


async def _skills(backend: Readable, inventory: Inventory) -> dict[str, str]:
    out: dict[str, str] = {}
    names = {latest.name for latest in await backend.skills.list()}
    for name in sorted(names):
        for v in await backend.skills.versions(name):
            out[f"{name}@{v.version}"] = canonical([v.description, dict(v.metadata)])
    for name in inventory.invoked_skills:
        records = reversed(await backend.skills.invocations(name, limit=_ALL))
        for index, r in enumerate(records):
            out[f"{name}#{index}"] = canonical(
                [r.outcome, r.latency, r.version, r.tokens, r.cost, dict(r.metadata)]
            )
    return out


async def _events(backend: Readable, inventory: Inventory) -> dict[str, str]:
    out: dict[str, str] = {}
    for topic in inventory.topics:
        index = 0
        async for event in backend.events.replay(topic):
            out[f"{topic}#{index}"] = canonical([event.id, event.payload, dict(event.headers)])
            index += 1
    return out


async def _tasks(backend: Readable, inventory: Inventory) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in inventory.tasks:
        task = await backend.tasks.get(item.task.queue, item.task.id)
        if task is None:
            continue
        status = "open" if task.status.value in _OPEN else task.status.value
        out[f"{task.queue}/{task.id}"] = canonical(
            [task.payload, task.priority, task.max_attempts, status]
        )
    return out


_READERS: dict[str, Callable[[Readable, Inventory], Awaitable[dict[str, str]]]] = {
    "state": _state,
    "sessions": _sessions,
    "agents": _agents,
    "skills": _skills,
    "events": _events,
    "tasks": _tasks,
}


async def read_section(name: str, backend: Readable, inventory: Inventory) -> dict[str, str]:
    """The records of section ``name`` of ``backend`` (key -> canonical JSON content)."""
    return await _READERS[name](backend, inventory)


def _digest(records: dict[str, str]) -> str:
    hasher = hashlib.sha256()
    for key in sorted(records):
        hasher.update(canonical([key, records[key]]).encode())
    return hasher.hexdigest()


def _difference(name: str, source: dict[str, str], target: dict[str, str]) -> str | None:
    for key in sorted(source.keys() | target.keys()):
        if key not in target:
            return f"{name} record {key!r} is missing in the target"
        if key not in source:
            return f"{name} record {key!r} is only in the target"
        if source[key] != target[key]:
            return f"{name} record {key!r} differs: {source[key][:200]} != {target[key][:200]}"
    return None


def compare(name: str, ours: dict[str, str], theirs: dict[str, str]) -> SectionCheck:
    """Compare one section's records of the source (``ours``) and the target (``theirs``)."""
    return SectionCheck(
        name,
        len(ours),
        len(theirs),
        _digest(ours),
        _digest(theirs),
        _difference(name, ours, theirs),
    )


async def verify(source: Readable, target: Readable, inventory: Inventory) -> Verification:
    """Compare every section of two started runtimes (see the module docstring)."""
    checks: list[SectionCheck] = []
    for name in SECTIONS:
        ours = await read_section(name, source, inventory)
        theirs = await read_section(name, target, inventory)
        checks.append(compare(name, ours, theirs))
    return Verification(tuple(checks))
