"""The audit trail: an append-only, hash-chained JSON Lines file of what Memfun let happen.

Each line is one entry: ``{"seq", "ts", "kind", "data", "prev", "hash"}`` where ``prev`` is the
``hash`` of the entry before (64 zeros for the first) and ``hash`` is the SHA-256 of the
entry's canonical JSON without ``hash``. So an edited line fails its own hash (or, rehashed,
the next line's ``prev``), and a removed or reordered line breaks ``seq`` and ``prev``.
Strings in ``data`` are redacted (:func:`memfun_core.secrets.redact_json`) before they are
written. Appends take an exclusive ``flock``, so several processes can share one file.

What the chain cannot prove: that nobody rewrote the whole file with fresh hashes, or cut
entries off its end. Keep :attr:`AuditReport.head` (``memfun audit verify`` prints it)
somewhere else to detect that.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from memfun_core.errors import CorruptDataError
from memfun_core.secrets import redact_json, secret_env_values

__all__ = [
    "AUDIT_FILE",
    "GENESIS",
    "KINDS",
    "AuditEntry",
    "AuditLog",
    "AuditProblem",
    "AuditReport",
]

#: The audit file's name inside a project's data folder (``.memfun/``).
AUDIT_FILE = "audit.jsonl"
#: The ``prev`` of the first entry.
GENESIS = "0" * 64
#: The kinds of entries Memfun writes.
KINDS = (
    "tool_call",
    "permission",
    "skill_activation",
    "agent_activation",
    "sandbox_start",
    "mcp_request",
)
_TAIL_CHUNK = 8192


def _canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(body)).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the audit trail."""

    seq: int
    ts: str
    kind: str
    data: dict[str, Any]
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The hashed fields (everything but ``hash``)."""
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "data": self.data,
            "prev": self.prev,
        }

    def to_json(self) -> dict[str, Any]:
        """The entry as written on its line."""
        return {**self.body(), "hash": self.hash}


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """Where and how the chain breaks (``line`` counts from 1)."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The result of :meth:`AuditLog.verify`."""

    entries: int
    head: str
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        """Whether the chain is intact."""
        return not self.problems


class AuditLog:
    """The audit trail of one project (``<data dir>/audit.jsonl``)."""

    __slots__ = ("_secrets", "path")

    def __init__(self, path: str | os.PathLike[str], *, secrets: frozenset[str] | None = None):
        """Append to and read ``path``; ``secrets`` default to the secret env variables."""
        self.path = Path(path)
        self._secrets = secret_env_values() if secrets is None else secrets

    def append(self, kind: str, data: Mapping[str, Any]) -> AuditEntry:
        """Redact ``data`` and append it as one entry of ``kind`` (see :data:`KINDS`).

        Raises:
            CorruptDataError: The file's last line is not an entry (the chain cannot go on).
        """
        clean = cast("dict[str, Any]", redact_json(dict(data), self._secrets))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                last = _last_line(handle)
                seq, prev = 1, GENESIS
                if last:
                    previous = _parse(last.decode("utf-8", "replace"))
                    if previous is None:
                        raise CorruptDataError(
                            "the audit trail's last line is not an entry",
                            backend="audit",
                            location=str(self.path),
                            hint="run `memfun audit verify`; move the file aside to start anew",
                        )
                    seq, prev = previous.seq + 1, previous.hash
                ts = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
                body = {"seq": seq, "ts": ts, "kind": kind, "data": clean, "prev": prev}
                entry = AuditEntry(seq, ts, kind, clean, prev, _digest(body))
                handle.write(_canonical(entry.to_json()) + b"\n")
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return entry

    def lines(self) -> Iterator[tuple[int, str]]:
        """``(line number, text)`` of every non-empty line (none when there is no file)."""
        try:
            handle = self.path.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line.rstrip("\n")

    def entries(self) -> Iterator[AuditEntry]:
        """Every entry that parses, in file order (use :meth:`verify` to trust them)."""
        for _, line in self.lines():
            entry = _parse(line)
            if entry is not None:
                yield entry

    def verify(self) -> AuditReport:
        """Check every line's own hash, and its ``seq`` and ``prev`` against the line before."""
        problems: list[AuditProblem] = []
        expected_seq, expected_prev, count = 1, GENESIS, 0
        for number, line in self.lines():
            count += 1
            entry = _parse(line)
            if entry is None:
                problems.append(AuditProblem(number, "not an audit entry (unreadable JSON)"))
                continue
            if _digest(entry.body()) != entry.hash:
                problems.append(AuditProblem(number, f"entry {entry.seq} was edited"))
            if entry.seq != expected_seq:
                what = "missing before it" if entry.seq > expected_seq else "out of order"
                problems.append(
                    AuditProblem(
                        number, f"entry {entry.seq} where {expected_seq} was due: entries {what}"
                    )
                )
            if entry.prev != expected_prev:
                problems.append(
                    AuditProblem(
                        number,
                        f"entry {entry.seq} does not follow the entry before it "
                        "(one was removed, edited or moved)",
                    )
                )
            expected_seq, expected_prev = entry.seq + 1, entry.hash
        return AuditReport(entries=count, head=expected_prev, problems=tuple(problems))


def _parse(line: str) -> AuditEntry | None:
    try:
        raw: Any = json.loads(line)
        return AuditEntry(
            seq=int(raw["seq"]),
            ts=str(raw["ts"]),
            kind=str(raw["kind"]),
            data=cast("dict[str, Any]", raw["data"]),
            prev=str(raw["prev"]),
            hash=str(raw["hash"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _last_line(handle: Any) -> bytes:
    """The last non-empty line of a binary file opened for reading (b"" when empty)."""
    end = handle.seek(0, os.SEEK_END)
    position, tail = end, b""
    while position > 0:
        step = min(_TAIL_CHUNK, position)
        position -= step
        handle.seek(position)
        tail = handle.read(step) + tail
        stripped = tail.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    return tail.rstrip(b"\n")
