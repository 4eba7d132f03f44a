"""The persistent tag cache: SQLite, tags keyed by content hash, files by path and stat.

A file whose size and mtime did not change is not even read; a file whose content hash is
already known is not parsed. Parameterized SQL only.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from memfun_core.errors import CorruptDataError
from memfun_tools.repomap._tags import Definition, FileTags

__all__ = ["CachedTags", "FileRow", "TagCache"]

SCHEMA_VERSION = "2"

FileRow = tuple[int, int, str, str]  # mtime_ns, size, hash, language

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL,
    hash TEXT NOT NULL, lang TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tags (
    hash TEXT NOT NULL, lang TEXT NOT NULL, names TEXT NOT NULL, defs TEXT NOT NULL,
    refs TEXT NOT NULL,
    PRIMARY KEY (hash, lang)
);
CREATE INDEX IF NOT EXISTS files_by_hash ON files (hash, lang);
"""


class TagCache:
    """Tag storage in one SQLite file.

    Args:
        path: The database file; its folder is created.

    Raises:
        CorruptDataError: When the file exists but is not a usable database.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", ("schema",)).fetchone()
            if row is None or row[0] != SCHEMA_VERSION:
                self._db.execute("DELETE FROM files")
                self._db.execute("DELETE FROM tags")
                self._db.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    ("schema", SCHEMA_VERSION),
                )
                self._db.commit()
        except sqlite3.DatabaseError as exc:
            raise CorruptDataError(
                f"the repo-map cache is unreadable: {exc}",
                backend="sqlite",
                location=str(path),
                hint="delete the file; it is rebuilt on the next run",
            ) from exc

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def files(self) -> dict[str, FileRow]:
        """Every known file: path -> (mtime_ns, size, hash, language)."""
        rows = self._db.execute("SELECT path, mtime_ns, size, hash, lang FROM files")
        return {r[0]: (int(r[1]), int(r[2]), str(r[3]), str(r[4])) for r in rows}

    def known_hashes(self) -> set[tuple[str, str]]:
        """The (hash, language) pairs whose tags are stored."""
        return {(str(h), str(lang)) for h, lang in self._db.execute("SELECT hash, lang FROM tags")}

    def store(
        self,
        file_rows: Iterable[tuple[str, FileRow]],
        tags: Iterable[tuple[str, str, FileTags]],
        removed: Iterable[str],
    ) -> None:
        """Record new tags, file rows and removed paths in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO tags (hash, lang, names, defs, refs) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (h, lang, json.dumps(t.def_names), _dump_defs(t.defs), json.dumps(t.refs))
                    for h, lang, t in tags
                ],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO files (path, mtime_ns, size, hash, lang) "
                "VALUES (?, ?, ?, ?, ?)",
                [(p, *row) for p, row in file_rows],
            )
            self._db.executemany("DELETE FROM files WHERE path = ?", [(p,) for p in removed])
            self._db.execute(
                "DELETE FROM tags WHERE NOT EXISTS "
                "(SELECT 1 FROM files WHERE files.hash = tags.hash AND files.lang = tags.lang)"
            )

    def load(self) -> dict[str, CachedTags]:
        """Tags of every known file, by path (definitions are decoded on first use)."""
        rows = self._db.execute(
            "SELECT f.path, t.names, t.defs, t.refs FROM files f "
            "JOIN tags t ON t.hash = f.hash AND t.lang = f.lang"
        )
        return {
            path: CachedTags(tuple(json.loads(names)), json.loads(refs), defs)
            for path, names, defs, refs in rows
        }


class CachedTags:
    """A file's tags as loaded from the cache; the definitions decode when first asked for."""

    __slots__ = ("_by_name", "_defs", "_raw", "_rows", "def_names", "refs")

    def __init__(self, def_names: tuple[str, ...], refs: dict[str, int], raw_defs: str) -> None:
        self.def_names = def_names
        self.refs = refs
        self._raw = raw_defs
        self._defs: tuple[Definition, ...] | None = None
        self._rows: dict[str, list[tuple[str, int, str]]] | None = None
        self._by_name: dict[str, tuple[Definition, ...]] = {}

    def defs_named(self, name: str) -> tuple[Definition, ...]:
        """The definitions of ``name`` in this file, in line order.

        A map shows a few names of most files: only those become :class:`Definition` objects.
        """
        found = self._by_name.get(name)
        if found is not None:
            return found
        rows = self._rows
        if rows is None:
            rows = self._rows = {}
            for n, k, line, t in json.loads(self._raw):
                rows.setdefault(str(n), []).append((str(k), int(line), str(t)))
        found = tuple(Definition(name, k, line, t) for k, line, t in rows.get(name, ()))
        self._by_name[name] = found
        return found

    @property
    def defs(self) -> tuple[Definition, ...]:
        """The definitions, decoded once."""
        if self._defs is None:
            self._defs = _load_defs(self._raw)
        return self._defs


def _dump_defs(defs: tuple[Definition, ...]) -> str:
    return json.dumps([[d.name, d.kind, d.line, d.text] for d in defs])


def _load_defs(raw: str) -> tuple[Definition, ...]:
    return tuple(Definition(str(n), str(k), int(line), str(t)) for n, k, line, t in json.loads(raw))
