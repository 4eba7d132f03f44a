"""The audit trail: an append-only, hash-chained JSON Lines file of what Memfun let happen.

Each line is one entry: ``{"seq", "ts", "kind", "data", "prev", "hash"}`` where ``prev`` is the
``hash`` of the entry before (64 zeros for the first) and ``hash`` is the SHA-256 of the
entry's canonical JSON without ``hash``. So an edited line fails its own hash (or, rehashed,
the next line's ``prev``), and a removed or reordered line breaks ``seq`` and ``prev``.
Strings in ``data`` are redacted (:func:`memfun_core.secrets.redact_json`) before they are
written. Appends take an exclusive ``flock``, so several processes can share one file.

What the chain alone cannot prove: that nobody rewrote the whole file with fresh hashes, or cut
entries off its end (or deleted it). For that, a log given a ``witness_dir`` (Memfun's own logs
use :func:`audit_witness_dir`, in the user's config folder, outside every repository) records
the newest entry's number and hash there after each append; :meth:`AuditLog.verify` then
reports a trail that no longer holds that entry, and an append that finds the file shorter
than witnessed keeps the evidence (``cuts``) instead of overwriting it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from memfun_core.config import user_config_path
from memfun_core.errors import ConflictError, CorruptDataError
from memfun_core.secrets import redact_json, secret_env_values

__all__ = [
    "AUDIT_FILE",
    "GENESIS",
    "KINDS",
    "AuditEntry",
    "AuditLog",
    "AuditProblem",
    "AuditReport",
    "audit_witness_dir",
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

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AuditEntry:
        """The entry of :meth:`to_json`'s object.

        Raises:
            CorruptDataError: ``raw`` lacks a field or has one of the wrong type.
        """
        entry = _parse(json.dumps(dict(raw)))
        if entry is None:
            raise CorruptDataError(
                "not an audit entry",
                backend="audit",
                location="a copied audit entry",
                hint="the entry lacks a field or has one of the wrong type",
            )
        return entry


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

    def check(self, location: str, hint: str) -> None:
        """Raise when the chain is broken, naming its first problem.

        Raises:
            CorruptDataError: The chain is broken.
        """
        if self.problems:
            first = self.problems[0]
            raise CorruptDataError(
                f"the audit trail is broken at line {first.line}: {first.reason}",
                backend="audit",
                location=location,
                hint=hint,
            )


def audit_witness_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where Memfun's audit logs record their newest entry: ``audit/`` beside the user's config."""
    return user_config_path(os.environ if environ is None else environ).parent / "audit"


class AuditLog:
    """The audit trail of one project (``<data dir>/audit.jsonl``)."""

    __slots__ = ("_secrets", "path", "witness")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        secrets: frozenset[str] | None = None,
        witness_dir: str | os.PathLike[str] | None = None,
    ):
        """Append to and read ``path``.

        Args:
            path: The trail's file.
            secrets: Values to redact; default: the values of the secret env variables.
            witness_dir: Where to record the newest entry (see the module's text); ``None``
                records nothing, so a cut end or a rewrite goes unnoticed.
        """
        self.path = Path(path)
        self._secrets = secret_env_values() if secrets is None else secrets
        self.witness: Path | None = None
        if witness_dir is not None:
            key = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:32]
            self.witness = Path(witness_dir) / f"{key}.json"

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
                witnessed = _read_witness(self.witness)  # before writing: a bad one writes nothing
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
                if self.witness is not None:
                    _witness_append(self.witness, witnessed, self.path, entry)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return entry

    def restorable(self, entries: Sequence[AuditEntry]) -> bool:
        """Whether :meth:`restore` would write ``entries`` (``False``: they are there already).

        Raises:
            ConflictError: The file holds another trail.
        """
        current = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        if current == _trail_text(entries):
            return False
        if current.strip():
            raise ConflictError(
                f"{self.path} holds an audit trail already",
                hint="import into a project without one, or move the trail aside first",
            )
        return True

    def restore(self, entries: Sequence[AuditEntry]) -> int:
        """Write a copied trail (``memfun runtime import``) into this absent or empty file.

        The copy is checked as :meth:`verify` checks a trail before it replaces the empty
        file, and its newest entry is witnessed. Restoring the same entries again writes
        nothing (a resumed import).

        Returns:
            The entries written (0 when the file already holds exactly these).

        Raises:
            ConflictError: The file holds another trail.
            CorruptDataError: The entries do not form an intact chain.
        """
        if not self.restorable(entries):
            return 0
        text = _trail_text(entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staged = AuditLog(self.path.with_name(f".{self.path.name}.restore"), secrets=frozenset())
        staged.path.write_text(text, encoding="utf-8")
        staged.path.chmod(0o600)
        try:
            staged.verify().check(str(self.path), "export the trail again from an intact source")
        except CorruptDataError:
            staged.path.unlink()
            raise
        staged.path.replace(self.path)
        if self.witness is not None and entries:
            _witness_append(self.witness, _read_witness(self.witness), self.path, entries[-1])
        return len(entries)

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
        witness = _read_witness(self.witness)
        witnessed: dict[int, str] = {}
        cuts: list[dict[str, Any]] = []
        if witness is not None:
            witnessed[int(witness["seq"])] = str(witness["hash"])
            cuts = cast("list[dict[str, Any]]", witness.get("cuts", []))
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
            if entry.seq in witnessed and witnessed[entry.seq] != entry.hash:
                problems.append(
                    AuditProblem(number, f"entry {entry.seq} is not the entry written there "
                                 "(the trail was rewritten)")
                )  # fmt: skip
            witnessed.pop(entry.seq, None)
        for seq in sorted(witnessed):
            problems.append(
                AuditProblem(
                    count + 1,
                    f"entry {seq} was written ({self.witness} says so) and is gone: the trail "
                    "was cut off or deleted",
                )
            )
        for cut in cuts:
            problems.append(
                AuditProblem(
                    0,
                    f"entries after {cut['seq']} were cut off before {cut['noticed']} "
                    f"(the trail then went on from entry {cut['resumed']}; {self.witness} "
                    "keeps the evidence: delete it only if you removed them yourself)",
                )
            )
        return AuditReport(entries=count, head=expected_prev, problems=tuple(problems))


def _trail_text(entries: Sequence[AuditEntry]) -> str:
    return "".join(_canonical(entry.to_json()).decode() + "\n" for entry in entries)


def _read_witness(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        raw: Any = json.loads(path.read_bytes())
        if not isinstance(raw, dict) or not {"seq", "hash"} <= set(cast("dict[str, Any]", raw)):
            raise ValueError("fields missing")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CorruptDataError(
            f"the audit witness cannot be read: {exc}",
            backend="audit",
            location=str(path),
            hint="it records the trail's newest entry; delete it to start witnessing anew",
        ) from exc
    return cast("dict[str, Any]", raw)


def _witness_append(path: Path, old: dict[str, Any] | None, log: Path, entry: AuditEntry) -> None:
    """Record ``entry`` as the newest; keep evidence when the trail fell behind the witness."""
    cuts: list[dict[str, Any]] = []
    if old is not None:
        cuts = cast("list[dict[str, Any]]", old.get("cuts", []))
        if int(old["seq"]) >= entry.seq:
            cuts = [*cuts, {"seq": int(old["seq"]), "hash": old["hash"],
                            "noticed": entry.ts, "resumed": entry.seq}]  # fmt: skip
    record = {"log": str(log.resolve()), "seq": entry.seq, "hash": entry.hash, "cuts": cuts}
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_canonical(record))
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


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
