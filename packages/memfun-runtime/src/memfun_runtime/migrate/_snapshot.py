"""Snapshots of a runtime as JSON Lines: ``memfun runtime export`` and ``import``.

An export is a migration whose target is a file: it reads what :func:`migrate` copies (state
with traces, sessions, the agent and skill registries, events with consumer-group positions,
open tasks), and the project's audit trail when one is given, and writes one JSON object per
line. An import is a migration whose source is the
file: the file is read back as a :class:`~._readable.Readable` runtime with its inventory and
copied by the same steps, resumable from the target's checkpoint, then verified with the same
counts and content hashes.

The file: line 1 is the header (``format``, ``version``, ``source``, ``created_at``), then one
record per line (``kind``: ``state``, ``session``, ``agent``, ``skill``, ``invocation``,
``event``, ``group``, ``task``, ``audit``), and last an ``end`` record with each kind's count. Every
line carries ``hash``: the SHA-256 of the previous line's hash and this line's canonical JSON
without ``hash``. A changed, removed or reordered line fails its hash or the next one's, and
a file cut short has no ``end``: reading names the line. An export is written to
``<file>.partial`` and renamed once complete, so a killed export leaves no file that looks
whole (run it again: it starts over).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from memfun_core.audit import AuditEntry, AuditLog
from memfun_core.errors import CorruptDataError, UserError
from memfun_runtime.migrate._copy import MigrationReport, copy_into, quiet
from memfun_runtime.migrate._inventory import GroupPosition, Inventory, OpenTask
from memfun_runtime.migrate._sources import read_inventory
from memfun_runtime.migrate._verify import CHECKPOINT_PREFIX, canonical, verify
from memfun_runtime.protocols import (
    DEFAULT_ACK_TIMEOUT,
    AgentInstance,
    Entry,
    Event,
    Session,
    SkillInvocation,
    SkillVersion,
    Task,
    TaskStatus,
    Turn,
)

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend
    from memfun_runtime.migrate._readable import Readable

__all__ = ["FORMAT", "Snapshot", "export_snapshot", "import_snapshot", "read_snapshot"]

FORMAT = "memfun-runtime-snapshot"
"""The header's ``format``."""
_VERSION = 1
_GENESIS = "0" * 64
_ALL = 2**62
_KINDS = ("state", "session", "agent", "skill", "invocation", "event", "group", "task", "audit")


def _chain(previous: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((previous + canonical(body)).encode()).hexdigest()


class _Writer:
    """Appends hash-chained records to ``<path>.partial``."""

    def __init__(self, path: Path) -> None:
        self.partial = path.with_name(path.name + ".partial")
        self.handle = self.partial.open("w", encoding="utf-8")
        self.last = _GENESIS
        self.counts: dict[str, int] = dict.fromkeys(_KINDS, 0)

    def write(self, kind: str, **body: Any) -> None:
        record = {"kind": kind, **body}
        self.last = _chain(self.last, record)
        self.handle.write(canonical({**record, "hash": self.last}) + "\n")
        if kind in self.counts:
            self.counts[kind] += 1


# --- reading ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Snapshot:
    """A snapshot file read back and checked.

    Attributes:
        path: The file.
        source: The exported runtime (as ``memfun runtime migrate`` names it).
        created_at: Unix time of the export.
        records: Every record but the header and the end, by kind, in file order.
        digest: The last line's hash (identifies the whole file).
    """

    path: Path
    source: str
    created_at: float
    records: dict[str, list[dict[str, Any]]] = field(
        default_factory=dict[str, list[dict[str, Any]]]
    )
    digest: str = ""

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The records of ``kind``."""
        return self.records.get(kind, [])

    def inventory(self) -> Inventory:
        """The exported runtime's topics, groups, open tasks and invoked skills."""
        groups = tuple(
            GroupPosition(
                g["topic"],
                g["group"],
                g["through"],
                g["acked_floor"],
                None if g["pending"] is None else frozenset(g["pending"]),
            )
            for g in self.of("group")
        )
        topics = {e["topic"] for e in self.of("event")} | {g.topic for g in groups}
        tasks = tuple(OpenTask(_task(t), float(t["backoff"])) for t in self.of("task"))
        skills = sorted({i["skill"] for i in self.of("invocation")})
        return Inventory(tuple(sorted(topics)), groups, tasks, tuple(skills))

    def runtime(self) -> Readable:
        """The file as a runtime a migration can read."""
        return _View(self)


def _task(t: dict[str, Any]) -> Task:
    return Task(
        id=t["id"],
        queue=t["queue"],
        payload=t["payload"],
        priority=int(t["priority"]),
        status=TaskStatus(t["status"]),
        attempts=int(t["attempts"]),
        max_attempts=int(t["max_attempts"]),
        enqueued_at=float(t["enqueued_at"]),
        available_at=float(t["available_at"]),
    )


_FIELDS: dict[str, tuple[str, ...]] = {
    "state": ("key", "value", "expires_at"),
    "session": ("id", "metadata", "ttl", "turns"),
    "agent": ("instance_id", "name", "capabilities", "metadata", "expires_at"),
    "skill": ("name", "version", "description", "metadata"),
    "invocation": ("skill", "outcome", "latency", "version", "tokens", "cost", "metadata"),
    "event": ("topic", "id", "payload", "headers", "offset", "timestamp"),
    "group": ("topic", "group", "through", "acked_floor", "pending"),
    "audit": ("entry",),
    "task": (
        "queue", "id", "payload", "priority", "status", "attempts", "max_attempts",
        "enqueued_at", "available_at", "backoff",
    ),
}  # fmt: skip


def _damaged(path: Path, line: int, what: str, hint: str | None = None) -> CorruptDataError:
    return CorruptDataError(
        what,
        backend="snapshot",
        location=f"{path}, line {line}",
        hint=hint or "export the runtime again; a snapshot cannot be repaired by hand",
    )


def _parse(path: Path, number: int, text: str, previous: str) -> tuple[dict[str, Any], str]:
    """One line's record (without ``hash``) and its hash, checked against the chain."""
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = "" if text.endswith("\n") else " (the file is cut off here)"
        raise _damaged(path, number, f"the line is not JSON: {exc.msg}{cut}") from exc
    if not isinstance(parsed, dict):
        raise _damaged(path, number, "the line is not a JSON object")
    record = cast("dict[str, Any]", parsed)
    if number == 1 and (record.get("kind") != "header" or record.get("format") != FORMAT):
        raise UserError(
            f"{path} is not a runtime snapshot (line 1 is not its header)",
            hint="give the file `memfun runtime export` wrote",
        )
    stated = record.pop("hash", None)
    digest = _chain(previous, record)
    if stated != digest:
        raise _damaged(
            path,
            number,
            "the line does not match its hash: it was changed, or a line before it was "
            "changed, removed or reordered",
        )
    return record, digest


def _check_record(path: Path, number: int, record: dict[str, Any]) -> str:
    kind = str(record.get("kind"))
    if kind not in _FIELDS:
        raise _damaged(path, number, f"unknown record kind {kind!r}")
    missing = [name for name in _FIELDS[kind] if name not in record]
    if missing:
        raise _damaged(path, number, f"the {kind} record lacks {', '.join(missing)}")
    return kind


def read_snapshot(path: Path) -> Snapshot:
    """Read and check a snapshot file.

    Raises:
        UserError: The file does not exist or is not a snapshot.
        CorruptDataError: A line is not JSON, was changed, removed or reordered (its hash
            does not match), lacks a field, or the file ends before its ``end`` record;
            the error names the line.
    """
    if not path.is_file():
        raise UserError(f"no snapshot file at {path}", hint="give the file `export` wrote")
    snapshot: Snapshot | None = None
    previous = _GENESIS
    counts: dict[str, int] = dict.fromkeys(_KINDS, 0)
    number = 0
    ended = False
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, start=1):
            if ended:
                raise _damaged(path, number, "a line follows the end record")
            record, previous = _parse(path, number, text, previous)
            if snapshot is None:
                snapshot = _header(path, record)
            elif record.get("kind") == "end":
                if record.get("counts") != counts:
                    raise _damaged(
                        path, number, f"the end record counts {record.get('counts')}, not {counts}"
                    )
                ended = True
            else:
                kind = _check_record(path, number, record)
                snapshot.records.setdefault(kind, []).append(record)
                counts[kind] += 1
    if snapshot is None:
        raise UserError(f"{path} is empty, not a snapshot", hint="give the file `export` wrote")
    if not ended:
        raise _damaged(
            path,
            number,
            f"the file ends after line {number} without its end record: it is truncated",
        )
    snapshot.digest = previous
    return snapshot


def _header(path: Path, record: dict[str, Any]) -> Snapshot:
    if record.get("version") != _VERSION:
        raise UserError(
            f"{path} is a snapshot of version {record.get('version')!r}; this Memfun reads "
            f"version {_VERSION}",
            hint="import it with the Memfun version that exported it",
        )
    return Snapshot(path, str(record.get("source")), float(record.get("created_at") or 0.0))


# --- the file as a runtime -----------------------------------------------------------------


class _View:
    """A snapshot seen through the read side of every service (see :class:`Readable`)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.state = _State(snapshot)
        self.sessions = _Sessions(snapshot)
        self.agents = _Agents(snapshot)
        self.skills = _Skills(snapshot)
        self.events = _Events(snapshot)
        self.tasks = _Tasks(snapshot)


class _State:
    def __init__(self, snapshot: Snapshot) -> None:
        self._records = snapshot.of("state")

    async def scan(self, prefix: str = "") -> AsyncIterator[tuple[str, Entry]]:
        now = time.time()
        for r in self._records:
            expires = r["expires_at"]
            if r["key"].startswith(prefix) and (expires is None or expires > now):
                yield r["key"], Entry(r["value"], 0, expires)


class _Sessions:
    def __init__(self, snapshot: Snapshot) -> None:
        self._records = {r["id"]: r for r in snapshot.of("session")}

    async def list(self, *, limit: int = 100) -> list[Session]:
        return [
            Session(r["id"], r["metadata"], turn_count=len(r["turns"]), ttl=r["ttl"])
            for r in list(self._records.values())[:limit]
        ]

    async def read(
        self, session_id: str, *, last: int | None = None, start: int = 0, end: int | None = None
    ) -> list[Turn]:
        turns = [
            Turn(index, role, content, metadata)
            for index, (role, content, metadata) in enumerate(self._records[session_id]["turns"])
        ]
        chosen = turns[start:end]
        return chosen if last is None else chosen[-last:]


class _Agents:
    def __init__(self, snapshot: Snapshot) -> None:
        self._records = snapshot.of("agent")

    async def list(self, *, name: str | None = None) -> list[AgentInstance]:
        return [
            AgentInstance(
                r["instance_id"],
                r["name"],
                frozenset(r["capabilities"]),
                r["metadata"],
                expires_at=float(r["expires_at"]),
            )
            for r in self._records
            if name is None or r["name"] == name
        ]


class _Skills:
    def __init__(self, snapshot: Snapshot) -> None:
        self._versions: dict[str, list[SkillVersion]] = {}
        for r in snapshot.of("skill"):
            version = SkillVersion(r["name"], r["version"], r["description"], r["metadata"])
            self._versions.setdefault(r["name"], []).append(version)
        self._calls: dict[str, list[SkillInvocation]] = {}
        for index, r in enumerate(snapshot.of("invocation")):
            call = SkillInvocation(
                f"i{index}", r["skill"], r["version"], r["outcome"], float(r["latency"]),
                int(r["tokens"]), float(r["cost"]), r["metadata"],
            )  # fmt: skip
            self._calls.setdefault(r["skill"], []).append(call)

    async def list(self) -> list[SkillVersion]:
        return [versions[-1] for versions in self._versions.values()]

    async def versions(self, name: str) -> list[SkillVersion]:
        return list(self._versions.get(name, []))

    async def invocations(self, skill: str, *, limit: int = 100) -> list[SkillInvocation]:
        return list(reversed(self._calls.get(skill, [])))[:limit]


class _Events:
    def __init__(self, snapshot: Snapshot) -> None:
        self._topics: dict[str, list[Event]] = {}
        for r in snapshot.of("event"):
            event = Event(
                r["id"], r["topic"], r["payload"], r["headers"], float(r["timestamp"]), r["offset"]
            )
            self._topics.setdefault(r["topic"], []).append(event)

    async def replay(
        self,
        topic: str,
        *,
        from_offset: str | None = None,
        from_time: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        events = self._topics.get(topic, [])
        if from_offset is not None:
            events = events[[e.offset for e in events].index(from_offset) :]
        if from_time is not None:
            events = [e for e in events if e.timestamp >= from_time]
        for event in events[:limit]:
            yield event


class _Tasks:
    def __init__(self, snapshot: Snapshot) -> None:
        self._tasks = {(t["queue"], t["id"]): _task(t) for t in snapshot.of("task")}

    async def get(self, queue: str, task_id: str) -> Task | None:
        return self._tasks.get((queue, task_id))


# --- export and import ---------------------------------------------------------------------


async def _write_all(source: Backend, inventory: Inventory, out: _Writer) -> None:
    async for key, entry in source.state.scan(""):
        if not key.startswith(CHECKPOINT_PREFIX):
            out.write("state", key=key, value=entry.value, expires_at=entry.expires_at)
    for s in await source.sessions.list(limit=_ALL):
        turns = [[t.role, t.content, dict(t.metadata)] for t in await source.sessions.read(s.id)]
        out.write("session", id=s.id, metadata=dict(s.metadata), ttl=s.ttl, turns=turns)
    for a in await source.agents.list():
        out.write(
            "agent", instance_id=a.instance_id, name=a.name, capabilities=sorted(a.capabilities),
            metadata=dict(a.metadata), expires_at=a.expires_at,
        )  # fmt: skip
    for latest in await source.skills.list():
        for v in await source.skills.versions(latest.name):
            out.write(
                "skill", name=v.name, version=v.version, description=v.description,
                metadata=dict(v.metadata),
            )  # fmt: skip
    for name in inventory.invoked_skills:
        for r in reversed(await source.skills.invocations(name, limit=_ALL)):
            out.write(
                "invocation", skill=name, outcome=r.outcome, latency=r.latency,
                version=r.version, tokens=r.tokens, cost=r.cost, metadata=dict(r.metadata),
            )  # fmt: skip
    await _write_logs(source, inventory, out)


async def _write_logs(source: Backend, inventory: Inventory, out: _Writer) -> None:
    for topic in inventory.topics:
        async for e in source.events.replay(topic):
            out.write(
                "event", topic=topic, id=e.id, payload=e.payload, headers=dict(e.headers),
                offset=e.offset, timestamp=e.timestamp,
            )  # fmt: skip
    for g in inventory.groups:
        pending = None if g.pending is None else sorted(g.pending)
        out.write(
            "group", topic=g.topic, group=g.group, through=g.through,
            acked_floor=g.acked_floor, pending=pending,
        )  # fmt: skip
    for item in inventory.tasks:
        t = item.task
        out.write(
            "task", queue=t.queue, id=t.id, payload=t.payload, priority=t.priority,
            status=t.status.value, attempts=t.attempts, max_attempts=t.max_attempts,
            enqueued_at=t.enqueued_at, available_at=t.available_at, backoff=item.backoff,
        )  # fmt: skip


def _write_audit(trail: AuditLog | None, out: _Writer) -> None:
    """The project's audit trail, entry by entry; a broken trail is refused, not copied."""
    if trail is None or not trail.path.exists():
        return
    trail.verify().check(
        str(trail.path), "see `memfun audit verify`; export with --no-audit to leave it out"
    )
    for entry in trail.entries():
        out.write("audit", entry=entry.to_json())


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise UserError(
            f"{path} exists already", hint="remove it or give another file to export to"
        )


async def export_snapshot(
    source: Backend,
    path: Path,
    *,
    source_name: str,
    audit: AuditLog | None = None,
    progress: Callable[[str], None] | None = None,
) -> MigrationReport:
    """Write everything :func:`migrate` would copy from ``source`` (started) to ``path``.

    The file is read back and compared with the source section by section (counts and
    content hashes, as a migration is verified).

    Args:
        source: The runtime to export (started).
        path: The file to write (must not exist).
        source_name: How the header names the source.
        audit: The project's audit trail to include (verified first), if any.
        progress: Told of each stage.

    Raises:
        UserError: ``path`` exists already, or the source's tier cannot be exported.
        CorruptDataError: ``audit`` does not verify.
    """
    say = progress or quiet
    _refuse_existing(path)
    say("reading the source's inventory")
    inventory = await read_inventory(source)
    out = _Writer(path)
    try:
        out.write(
            "header", format=FORMAT, version=_VERSION, source=source_name, created_at=time.time()
        )
        say(f"writing {out.partial}")
        await _write_all(source, inventory, out)
        await asyncio.to_thread(_write_audit, audit, out)
        out.write("end", counts=out.counts)
        out.handle.flush()
        os.fsync(out.handle.fileno())
    finally:
        out.handle.close()
    out.partial.replace(path)
    say("verifying")
    snapshot = await asyncio.to_thread(read_snapshot, path)
    verification = await verify(source, snapshot.runtime(), inventory)
    return MigrationReport(dict(out.counts), False, verification)


async def import_snapshot(
    path: Path,
    target: Backend,
    *,
    audit: AuditLog | None = None,
    progress: Callable[[str], None] | None = None,
    redeliver_after: float = DEFAULT_ACK_TIMEOUT,
) -> MigrationReport:
    """Copy a snapshot file into ``target`` (started) as a migration, then verify the copy.

    The snapshot's audit entries, if any, are written to ``audit`` (which must be absent or
    empty) as an intact chain; without ``audit`` they are left in the file.

    Killed midway, run it again with the same file: it resumes from the checkpoint kept in
    the target (see :func:`migrate`).

    Raises:
        UserError: The file is missing or not a snapshot.
        CorruptDataError: The file is damaged or truncated (naming the line).
        ConflictError: The target is not empty, or holds another source's migration, or
            ``audit`` holds another trail.
    """
    say = progress or quiet
    say(f"reading {path}")
    snapshot = await asyncio.to_thread(read_snapshot, path)
    entries = [AuditEntry.from_json(r["entry"]) for r in snapshot.of("audit")]
    if entries and audit is not None:
        audit.restorable(entries)  # another trail there: refused before anything is copied
    report = await copy_into(
        snapshot.runtime(),
        target,
        snapshot.inventory(),
        source_name=f"snapshot:{snapshot.digest}",
        progress=say,
        redeliver_after=redeliver_after,
    )
    if entries and audit is not None:
        say(f"restoring {len(entries)} audit entries to {audit.path}")
        report.copied["audit"] = await asyncio.to_thread(audit.restore, entries)
    return report
