"""The records a migration reads from any runtime, kind by kind, as JSON objects.

One table drives every stage: a migration copies these records into the target, an export
writes them to a file (whose lines they are), and a verification compares each kind's
key and content on both sides (what a migration preserves: payloads, headers, ids, values,
turns, registry fields; not timestamps, versions or offsets, which every tier assigns itself).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

from memfun_runtime.migrate._inventory import GroupPosition, Inventory
from memfun_runtime.migrate._shapes import (
    INTEGER,
    JSON,
    NUMBER,
    OBJECT,
    OFFSET,
    OPTIONAL_NUMBER,
    OPTIONAL_OFFSETS,
    OPTIONAL_TEXT,
    STATUS,
    TEXT,
    TEXTS,
    TURNS,
    Shape,
)
from memfun_runtime.protocols import TaskStatus

if TYPE_CHECKING:
    from memfun_runtime.migrate._readable import Readable

__all__ = [
    "ALL",
    "CHECKPOINT_PREFIX",
    "KINDS",
    "STEPS",
    "Kind",
    "Record",
    "canonical",
    "position",
    "read_step",
]

CHECKPOINT_PREFIX = "memfun.migration."
"""State keys of migration bookkeeping: never copied, never compared."""
ALL = sys.maxsize
"""A limit that lists everything."""
_OPEN = (TaskStatus.PENDING.value, TaskStatus.LEASED.value)

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of record: the step copying it, its fields, and what a verification compares.

    ``fields`` names each field with what it holds (checked on a snapshot's lines).

    ``key`` names a record within its step (a ``numbered`` kind, an appended log, adds
    ``#<index>``, counted per key); ``content`` is what must be equal on both sides. A kind
    without them is not compared.
    """

    step: str
    fields: Mapping[str, Shape]
    key: Callable[[Record], str] | None = None
    content: Callable[[Record], Any] | None = None
    numbered: bool = False


KINDS: dict[str, Kind] = {
    "state": Kind(
        "state", {"key": TEXT, "value": JSON, "expires_at": OPTIONAL_NUMBER},
        lambda r: r["key"], lambda r: r["value"],
    ),
    "session": Kind(
        "sessions", {"id": TEXT, "metadata": OBJECT, "ttl": OPTIONAL_NUMBER, "turns": TURNS},
        lambda r: r["id"], lambda r: [r["metadata"], r["ttl"], r["turns"]],
    ),
    "agent": Kind(
        "agents",
        {"instance_id": TEXT, "name": TEXT, "capabilities": TEXTS, "metadata": OBJECT,
         "expires_at": NUMBER},
        lambda r: r["instance_id"], lambda r: [r["name"], r["capabilities"], r["metadata"]],
    ),
    "skill": Kind(
        "skills", {"name": TEXT, "version": TEXT, "description": TEXT, "metadata": OBJECT},
        lambda r: f"{r['name']}@{r['version']}", lambda r: [r["description"], r["metadata"]],
    ),
    "invocation": Kind(
        "skills",
        {"skill": TEXT, "outcome": TEXT, "latency": NUMBER, "version": OPTIONAL_TEXT,
         "tokens": INTEGER, "cost": NUMBER, "metadata": OBJECT},
        lambda r: r["skill"],
        lambda r: [r["outcome"], r["latency"], r["version"], r["tokens"], r["cost"], r["metadata"]],
        numbered=True,
    ),
    "event": Kind(
        "events",
        {"topic": TEXT, "id": TEXT, "payload": JSON, "headers": OBJECT, "offset": OFFSET,
         "timestamp": NUMBER},
        lambda r: r["topic"], lambda r: [r["id"], r["payload"], r["headers"]], numbered=True,
    ),
    "group": Kind(
        "groups",
        {"topic": TEXT, "group": TEXT, "through": OFFSET, "acked_floor": OFFSET,
         "pending": OPTIONAL_OFFSETS},
    ),
    "task": Kind(
        "tasks",
        {"queue": TEXT, "id": TEXT, "payload": JSON, "priority": INTEGER, "status": STATUS,
         "attempts": INTEGER, "max_attempts": INTEGER, "enqueued_at": NUMBER,
         "available_at": NUMBER, "backoff": NUMBER},
        lambda r: f"{r['queue']}/{r['id']}",
        lambda r: [
            r["payload"], r["priority"], r["max_attempts"],
            "open" if r["status"] in _OPEN else r["status"],
        ],
    ),
}  # fmt: skip
"""Every kind of record, in the order a migration copies and an export writes them."""


def canonical(value: Any) -> str:
    """The canonical JSON text of ``value`` (sorted keys, no spaces): what is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(cast("Mapping[str, Any]", value))
    if isinstance(value, frozenset):
        return sorted(value)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    return value.value if isinstance(value, Enum) else value


def _record(kind: str, item: object, **given: Any) -> tuple[str, Record]:
    """``kind``'s fields, from ``given`` or else from ``item``'s attributes, as JSON."""
    fields = KINDS[kind].fields
    return kind, {f: _plain(given[f] if f in given else getattr(item, f)) for f in fields}


def position(record: Record) -> GroupPosition:
    """The consumer-group position a ``group`` record holds."""
    pending = record["pending"]
    return GroupPosition(
        record["topic"],
        record["group"],
        record["through"],
        record["acked_floor"],
        None if pending is None else frozenset(pending),
    )


Reader = Callable[["Readable", Inventory], AsyncIterator[tuple[str, Record]]]


async def _state(source: Readable, _: Inventory) -> AsyncIterator[tuple[str, Record]]:
    async for key, entry in source.state.scan(""):
        if not key.startswith(CHECKPOINT_PREFIX):
            yield _record("state", entry, key=key)


async def _sessions(source: Readable, _: Inventory) -> AsyncIterator[tuple[str, Record]]:
    for session in await source.sessions.list(limit=ALL):
        turns = await source.sessions.read(session.id)
        yield _record(
            "session", session, turns=[[t.role, t.content, dict(t.metadata)] for t in turns]
        )


async def _agents(source: Readable, _: Inventory) -> AsyncIterator[tuple[str, Record]]:
    for instance in await source.agents.list():
        yield _record("agent", instance)


async def _skills(source: Readable, inventory: Inventory) -> AsyncIterator[tuple[str, Record]]:
    for latest in await source.skills.list():
        for version in await source.skills.versions(latest.name):
            yield _record("skill", version)
    for name in inventory.invoked_skills:
        for call in reversed(await source.skills.invocations(name, limit=ALL)):
            yield _record("invocation", call)


async def _events(source: Readable, inventory: Inventory) -> AsyncIterator[tuple[str, Record]]:
    for topic in inventory.topics:
        async for event in source.events.replay(topic):
            yield _record("event", event)


async def _groups(_: Readable, inventory: Inventory) -> AsyncIterator[tuple[str, Record]]:
    for group in inventory.groups:
        yield _record("group", group)


async def _tasks(source: Readable, inventory: Inventory) -> AsyncIterator[tuple[str, Record]]:
    for item in inventory.tasks:
        task = await source.tasks.get(item.task.queue, item.task.id)
        if task is not None:
            yield _record("task", task, backoff=item.backoff)


_READERS: dict[str, Reader] = {
    "state": _state,
    "sessions": _sessions,
    "agents": _agents,
    "skills": _skills,
    "events": _events,
    "groups": _groups,
    "tasks": _tasks,
}
STEPS = tuple(_READERS)
"""What a migration copies, in order."""


def read_step(
    step: str, source: Readable, inventory: Inventory
) -> AsyncIterator[tuple[str, Record]]:
    """Every record of ``step`` in ``source`` as ``(kind, record)``, in copy order.

    The topics, groups, open tasks and invoked skills are ``inventory``'s (what a source
    holds that the protocols cannot list).
    """
    return _READERS[step](source, inventory)
