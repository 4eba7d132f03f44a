"""``MemoryStore``: the project's and the user's ``MEMORY.md`` behind one FTS5 index."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, cast

from memfun_core.config import MemfunConfig
from memfun_core.errors import NotFoundError, ValidationError
from memfun_core.signing import sign, user_key, verify
from memfun_optimizer.memory._file import (
    KINDS,
    MAX_TEXT_CHARS,
    Kind,
    ParsedItem,
    clean_text,
    learning_id,
    normalise,
    parse_memory,
    render_item,
    signed_text,
    template,
)
from memfun_optimizer.memory._index import MemoryIndex, Row, digest, query_terms

__all__ = ["SCOPES", "Learning", "MemoryHit", "MemoryStore", "Scope", "user_memory_file"]

Scope = Literal["project", "user"]
SCOPES: tuple[Scope, ...] = ("project", "user")
MEMORY_FILE = "MEMORY.md"
INDEX_FILE = "memory.db"


@dataclass(frozen=True, slots=True)
class Learning:
    """One remembered learning.

    Attributes:
        id: Its stable id (``memfun memory forget ID``).
        kind: ``worked``, ``fact`` or ``preference``.
        text: The learning, one line.
        scope: ``project`` (this project's file) or ``user`` (``~/.memfun/MEMORY.md``).
        signed: Whether it carries this user's signature. A project learning without one
            (shipped with a repository, typed by hand) is listed but not recalled into runs
            until the user signs it (:meth:`MemoryStore.sign`).
    """

    id: str
    kind: Kind
    text: str
    scope: Scope
    signed: bool = True


@dataclass(frozen=True, slots=True)
class MemoryHit:
    """A learning found by a search, with its BM25 relevance (higher is better)."""

    learning: Learning
    score: float


def user_memory_file() -> Path:
    """The user's ``MEMORY.md``: ``~/.memfun/MEMORY.md``."""
    return Path.home() / ".memfun" / MEMORY_FILE


def _learning(row: Row) -> Learning:
    scope, ident, kind, text, signed, _ = row
    return Learning(ident, cast("Kind", kind), text, cast("Scope", scope), signed)


class MemoryStore:
    """Learnings kept in human-editable ``MEMORY.md`` files, searched through an FTS5 index.

    Every read first re-indexes a file whose content hash changed, so hand edits count.
    Writes (``add``, ``forget``, ``sign``) hold a lock file beside the ``MEMORY.md`` and
    replace it atomically; other lines of the file are kept byte for byte. What Memfun
    writes is signed with the user's ``memory`` key (:mod:`memfun_core.signing`); the
    project's unsigned learnings are not recalled.

    Args:
        project_file: The project's ``MEMORY.md`` (``<data_dir>/MEMORY.md``).
        index: The index database (``<data_dir>/memory.db``).
        user_file: The user's ``MEMORY.md`` (``None``: no user scope).
        fresh: Delete the index first (it is rebuilt from the files; a damaged index).
        environ: Where ``XDG_CONFIG_HOME`` / ``HOME`` are read to find the signing key.

    Raises:
        CorruptDataError: The index is damaged (``fresh=True`` recreates it).
    """

    def __init__(
        self,
        project_file: Path,
        index: Path,
        user_file: Path | None = None,
        *,
        fresh: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._environ = environ
        self._signing_key: bytes | None = None
        self.files: dict[Scope, Path] = {"project": project_file}
        if user_file is not None:
            self.files["user"] = user_file
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                index.with_name(index.name + suffix).unlink(missing_ok=True)
        self._index = MemoryIndex(index)

    @classmethod
    def for_config(
        cls, config: MemfunConfig, *, user: bool = True, fresh: bool = False
    ) -> MemoryStore:
        """The store of a project: files and index under its data folder, plus the user's.

        The project's file is ``<data_dir>/MEMORY.md`` (``.memfun/MEMORY.md``), its index
        ``<data_dir>/memory.db``; the user's file is ``~/.memfun/MEMORY.md``.
        """
        data = Path(config.project_root, config.runtime.data_dir).expanduser()
        user_file = user_memory_file() if user else None
        return cls(data / MEMORY_FILE, data / INDEX_FILE, user_file, fresh=fresh)

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the index."""
        self._index.close()

    @property
    def index_path(self) -> Path:
        """The index database file."""
        return self._index.path

    @property
    def scopes(self) -> tuple[Scope, ...]:
        """The scopes this store holds."""
        return tuple(self.files)

    # --- the index follows the files -------------------------------------------------------

    def sync(self) -> list[Scope]:
        """Re-index each file whose content hash changed; return the scopes re-indexed."""
        return [scope for scope in self.files if self._sync(scope, force=False)]

    def rebuild(self) -> int:
        """Re-index every file now; return the number of learnings indexed."""
        for scope in self.files:
            self._sync(scope, force=True)
        return len(self._index.rows(self.scopes))

    def _sync(self, scope: Scope, *, force: bool) -> bool:
        path = self.files[scope]
        data = _read(path)
        sha = digest(data)
        if not force and self._index.recorded_hash(scope) == sha:
            return False
        items = parse_memory(data.decode("utf-8", errors="replace"))
        self._index.replace(scope, path, sha, items, [self._verified(item) for item in items])
        return True

    def _key(self) -> bytes:
        if self._signing_key is None:
            self._signing_key = user_key("memory", self._environ)
        return self._signing_key

    def _signature(self, ident: str, kind: Kind, text: str) -> str:
        return sign(self._key(), signed_text(ident, kind, text))[:32]

    def _verified(self, item: ParsedItem) -> bool:
        if item.signature is None:
            return False
        return verify(self._key(), signed_text(item.id, item.kind, item.text), item.signature)

    # --- reading ---------------------------------------------------------------------------

    def list(self, scope: Scope | None = None) -> list[Learning]:
        """Every learning (of ``scope``), project first, in file order."""
        self.sync()
        return [_learning(row) for row in self._index.rows(self._scopes(scope))]

    def search(self, query: str, *, limit: int = 10, scope: Scope | None = None) -> list[MemoryHit]:
        """Learnings relevant to ``query``, best BM25 match first."""
        self.sync()
        rows = self._index.search(query_terms(query), self._scopes(scope), limit)
        return [MemoryHit(_learning(row), row[4]) for row in rows]

    def recall(self, task: str, *, budget_bytes: int, max_items: int) -> list[MemoryHit]:
        """The most relevant learnings for ``task`` that fit ``budget_bytes`` (UTF-8 text).

        The project's unsigned learnings are left out: a repository cannot put words into a
        run as the user's own learnings.
        """
        chosen: list[MemoryHit] = []
        used = 0
        for hit in self.search(task, limit=max_items * 4):
            if hit.learning.scope == "project" and not hit.learning.signed:
                continue
            size = len(hit.learning.text.encode())
            if used + size > budget_bytes:
                continue
            chosen.append(hit)
            used += size
            if len(chosen) == max_items:
                break
        return chosen

    def find_duplicate(self, text: str) -> Learning | None:
        """The stored learning (any scope) whose normalised text equals ``text``'s."""
        self.sync()
        row = self._index.by_norm(normalise(text))
        return None if row is None else _learning(row)

    # --- writing ---------------------------------------------------------------------------

    def add(
        self, text: str, *, kind: Kind = "fact", scope: Scope = "project"
    ) -> tuple[Learning, bool]:
        """Remember ``text``; return the learning and whether it is new.

        A text whose normalised form is already stored (in any scope) is not added again:
        the stored learning comes back with ``False``.

        Raises:
            ValidationError: Empty or too long text, an unknown kind or scope.
        """
        clean = clean_text(text)
        if not normalise(clean):
            raise ValidationError("a learning needs some text", field="text", rule="not empty")
        if len(clean) > MAX_TEXT_CHARS:
            raise ValidationError(
                f"{len(clean)} characters", field="text", rule=f"at most {MAX_TEXT_CHARS}"
            )
        if kind not in KINDS:
            raise ValidationError(f"unknown kind {kind!r}", field="kind", rule=" | ".join(KINDS))
        path = self._file(scope)
        with _locked(path):
            existing = self.find_duplicate(clean)
            if existing is not None:
                return existing, False
            ident = learning_id(clean)
            current = _read(path).decode("utf-8", errors="replace")
            head = current if current else template(scope)
            if head and not head.endswith("\n"):
                head += "\n"
            item = render_item(ident, kind, clean, self._signature(ident, kind, clean))
            _write(path, head + item + "\n")
            self._sync(scope, force=True)
        return Learning(ident, kind, clean, scope), True

    def sign(self, idents: Sequence[str] = (), *, scope: Scope = "project") -> list[Learning]:
        """Sign the unsigned learnings of ``scope`` (only ``idents``, when given).

        Each signed item is rewritten as one line with its signature; the other lines of
        the file stay as they are. Of several items with one id, only the first (the one
        listed and indexed) is signed. Returns what was signed.

        Raises:
            NotFoundError: An id in ``idents`` names no unsigned learning of ``scope``.
        """
        path = self._file(scope)
        wanted = set(idents)
        with _locked(path):
            text = _read(path).decode("utf-8", errors="replace")
            lines = text.splitlines(keepends=True)
            listed = {item.id: item for item in reversed(parse_memory(text))}  # first of an id
            chosen = [
                item
                for item in sorted(listed.values(), key=lambda item: item.start)
                if not self._verified(item) and (not wanted or item.id in wanted)
            ]
            missing = wanted - {item.id for item in chosen}
            if missing:
                raise NotFoundError(
                    "unsigned learning",
                    sorted(missing)[0],
                    hint="`memfun memory list` marks the unsigned ones",
                )
            for item in reversed(chosen):
                signature = self._signature(item.id, item.kind, item.text)
                line = render_item(item.id, item.kind, item.text, signature) + "\n"
                lines[item.start : item.end] = [line]
            if chosen:
                _write(path, "".join(lines))
                self._sync(scope, force=True)
        return [Learning(i.id, i.kind, i.text, scope) for i in chosen]

    def forget(self, ident: str) -> list[Learning]:
        """Remove the learning ``ident`` from its ``MEMORY.md`` and from the index.

        Returns what was removed (one learning per scope that held it).

        Raises:
            NotFoundError: No learning has this id.
        """
        self.sync()
        removed: list[Learning] = []
        for scope in [s for s in self._index.scopes_of(ident) if s in self.files]:
            path = self.files[cast("Scope", scope)]
            with _locked(path):
                text = _read(path).decode("utf-8", errors="replace")
                lines = text.splitlines(keepends=True)
                doomed = [item for item in parse_memory(text) if item.id == ident]
                for item in reversed(doomed):
                    del lines[item.start : item.end]
                _write(path, "".join(lines))
                self._sync(cast("Scope", scope), force=True)
            removed += [
                Learning(d.id, d.kind, d.text, cast("Scope", scope), self._verified(d))
                for d in doomed
            ]
        if not removed:
            known = tuple(
                row[1] for row in self._index.rows(self.scopes) if row[1].startswith(ident[:2])
            )
            raise NotFoundError(
                "learning",
                ident,
                suggestions=known[:3],
                hint=None if known else "`memfun memory list` shows the ids",
            )
        return removed

    def _scopes(self, scope: Scope | None) -> Sequence[Scope]:
        if scope is None:
            return self.scopes
        self._file(scope)  # refuses a scope this store lacks
        return (scope,)

    def _file(self, scope: Scope) -> Path:
        path = self.files.get(scope)
        if path is None:
            raise ValidationError(
                f"unknown scope {scope!r}", field="scope", rule=" | ".join(self.files)
            )
        return path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a reader sees the old or the new file, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            Path(temp).chmod(path.stat().st_mode & 0o777)
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Generator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (one writer of a MEMORY.md at a time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
