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
import contextlib
import hashlib
import json
import os
import reprlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from memfun_core.audit import AuditEntry, AuditLog
from memfun_core.errors import CorruptDataError, UserError
from memfun_runtime.migrate._copy import MigrationReport, copy_into, quiet
from memfun_runtime.migrate._inventory import Inventory, OpenTask
from memfun_runtime.migrate._readable import RecordView, task_of
from memfun_runtime.migrate._records import KINDS, STEPS, Record, canonical, position, read_step
from memfun_runtime.migrate._shapes import NUMBER, OBJECT, Shape
from memfun_runtime.migrate._sources import read_inventory
from memfun_runtime.migrate._verify import verify
from memfun_runtime.protocols import DEFAULT_ACK_TIMEOUT

if TYPE_CHECKING:
    from memfun_runtime._backend import Backend
    from memfun_runtime.migrate._readable import Readable

__all__ = ["FORMAT", "Snapshot", "export_snapshot", "import_snapshot", "read_snapshot"]

FORMAT = "memfun-runtime-snapshot"
"""The header's ``format``."""
_VERSION = 1
_GENESIS = "0" * 64
_KINDS = (*KINDS, "audit")


def _chain(previous: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((previous + canonical(body)).encode()).hexdigest()


class _Writer:
    """Appends hash-chained records to ``<path>.partial``."""

    def __init__(self, path: Path) -> None:
        self.partial = path.with_name(path.name + ".partial")
        try:
            self.handle = self.partial.open("w", encoding="utf-8")
        except OSError as exc:
            raise _unwritable(self.partial, exc) from exc
        self.last = _GENESIS
        self.counts: dict[str, int] = dict.fromkeys(_KINDS, 0)

    def write(self, kind: str, body: Record) -> None:
        record = {"kind": kind, **body}
        self.last = _chain(self.last, record)
        self.handle.write(canonical({**record, "hash": self.last}) + "\n")
        if kind in self.counts:
            self.counts[kind] += 1


def _unwritable(path: Path, exc: OSError) -> UserError:
    return UserError(
        f"cannot write the snapshot to {path}: {exc.strerror or exc}",
        hint="give a file in a folder that exists, that you can write to, with room left",
    )


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
        groups = tuple(position(g) for g in self.of("group"))
        topics = {e["topic"] for e in self.of("event")} | {g.topic for g in groups}
        tasks = tuple(OpenTask(task_of(t), float(t["backoff"])) for t in self.of("task"))
        skills = sorted({i["skill"] for i in self.of("invocation")})
        return Inventory(tuple(sorted(topics)), groups, tasks, tuple(skills))

    def runtime(self) -> Readable:
        """The file as a runtime a migration can read."""
        return RecordView(self.records)


def _damaged(path: Path, line: int, what: str, hint: str | None = None) -> CorruptDataError:
    return CorruptDataError(
        what,
        backend="snapshot",
        location=f"{path}, line {line}",
        hint=hint or "export the runtime again; a snapshot cannot be repaired by hand",
    )


def _not_a_snapshot(path: Path) -> UserError:
    return UserError(
        f"{path} is not a runtime snapshot (line 1 is not its header)",
        hint="give the file `memfun runtime export` wrote",
    )


def _parse(path: Path, number: int, text: str, previous: str) -> tuple[dict[str, Any], str]:
    """One line's record (without ``hash``) and its hash, checked against the chain."""
    try:
        parsed: Any = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        if number == 1:
            raise _not_a_snapshot(path) from exc
        cut = "" if text.endswith("\n") else " (the file is cut off here)"
        what = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
        raise _damaged(path, number, f"the line is not JSON: {what}{cut}") from exc
    if not isinstance(parsed, dict):
        if number == 1:
            raise _not_a_snapshot(path)
        raise _damaged(path, number, "the line is not a JSON object")
    record = cast("dict[str, Any]", parsed)
    if number == 1 and (record.get("kind") != "header" or record.get("format") != FORMAT):
        raise _not_a_snapshot(path)
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


_AUDIT: dict[str, Shape] = {"entry": OBJECT}


def _check_record(path: Path, number: int, record: dict[str, Any]) -> str:
    kind = record.get("kind")
    if kind != "audit" and (not isinstance(kind, str) or kind not in KINDS):
        raise _damaged(path, number, f"unknown record kind {reprlib.repr(kind)}")
    fields = _AUDIT if kind == "audit" else KINDS[kind].fields
    missing = [name for name in fields if name not in record]
    if missing:
        raise _damaged(path, number, f"the {kind} record lacks {', '.join(missing)}")
    for name, shape in fields.items():
        if not shape.holds(record[name]):
            held = reprlib.repr(record[name])
            raise _damaged(path, number, f"the {kind} record's {name} is not {shape.says}: {held}")
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
    created_at: Any = record.get("created_at")
    if not NUMBER.holds(created_at):
        raise _damaged(path, 1, f"the header's created_at is not {NUMBER.says}")
    return Snapshot(path, str(record.get("source")), float(created_at))


# --- export and import ---------------------------------------------------------------------


def _write_audit(trail: AuditLog | None, out: _Writer) -> None:
    """The project's audit trail, entry by entry; a broken trail is refused, not copied."""
    if trail is None or not trail.path.exists():
        return
    trail.verify().check(
        str(trail.path), "see `memfun audit verify`; export with --no-audit to leave it out"
    )
    for entry in trail.entries():
        out.write("audit", {"entry": entry.to_json()})


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
        UserError: ``path`` exists already, cannot be written (no such folder, no
            permission, the disk is full), or the source's tier cannot be exported.
        CorruptDataError: ``audit`` does not verify.
    """
    say = progress or quiet
    _refuse_existing(path)
    say("reading the source's inventory")
    inventory = await read_inventory(source)
    out = _Writer(path)
    try:
        header = {"format": FORMAT, "version": _VERSION, "source": source_name}
        out.write("header", {**header, "created_at": time.time()})
        say(f"writing {out.partial}")
        for step in STEPS:
            async for kind, record in read_step(step, source, inventory):
                out.write(kind, record)
        await asyncio.to_thread(_write_audit, audit, out)
        out.write("end", {"counts": out.counts})
        out.handle.flush()
        os.fsync(out.handle.fileno())
    except OSError as exc:  # the disk filled up, the folder went away...
        raise _unwritable(out.partial, exc) from exc
    finally:
        with contextlib.suppress(OSError):  # a full disk fails the close's flush again
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
