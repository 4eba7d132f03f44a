"""The SQLite FTS5 index beside the ``MEMORY.md`` files: BM25 search, rebuilt on change.

The index is derived data: each scope's rows are replaced whenever the SHA-256 of its file
differs from the one recorded at the last indexing, so hand edits are picked up by the next
read. Deleting the database loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from memfun_core.errors import CorruptDataError
from memfun_optimizer.memory._file import ParsedItem, normalise

__all__ = ["MemoryIndex", "Row", "fts_query", "query_terms"]

Row = tuple[str, str, str, str, bool, float]
"""``(scope, id, kind, text, signed, score)``; higher scores are better."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    scope TEXT PRIMARY KEY, path TEXT NOT NULL, sha256 TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS learnings (
    scope TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
    norm TEXT NOT NULL, position INTEGER NOT NULL, signed INTEGER NOT NULL,
    PRIMARY KEY (scope, id)
);
CREATE INDEX IF NOT EXISTS learnings_norm ON learnings (norm);
CREATE VIRTUAL TABLE IF NOT EXISTS learnings_fts USING fts5(
    text, tokenize = 'porter unicode61'
);
CREATE TABLE IF NOT EXISTS term_df (
    scope TEXT NOT NULL, term TEXT NOT NULL, df INTEGER NOT NULL, PRIMARY KEY (term, scope)
);
"""
# A query word found in more than half of the learnings has a BM25 weight of (almost) zero
# in FTS5 (its IDF is clamped), yet makes SQLite score every row holding it: it is left out
# (measured: the same top 10 in 99.9% of cases, 2-3x faster; benchmarks/memory.py).
_COMMON_SHARE = 0.5
_PRUNE_FROM = 100  # learnings; below that every word is searched
# The search's shape when every scope is wanted: the top rows from FTS5 first, then joined.
_TOP = (
    "SELECT l.scope, l.id, l.kind, l.text, l.signed, top.rank FROM ("
    "SELECT rowid, bm25(learnings_fts) AS rank FROM learnings_fts "
    "WHERE learnings_fts MATCH ? ORDER BY rank LIMIT ?"
    ") AS top JOIN learnings AS l ON l.rowid = top.rowid ORDER BY top.rank"
)
_IN_SCOPES = (
    "SELECT l.scope, l.id, l.kind, l.text, l.signed, bm25(learnings_fts) AS rank "
    "FROM learnings_fts JOIN learnings AS l ON l.rowid = learnings_fts.rowid "
    "WHERE learnings_fts MATCH ? AND l.scope IN (SELECT value FROM json_each(?)) "
    "ORDER BY rank LIMIT ?"
)
_MAX_TERMS = 32
_WORD = re.compile(r"[^\W_]+")
_STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for",
    "from", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "not", "of", "on",
    "or", "our", "please", "should", "so", "than", "that", "the", "their", "then", "there",
    "these", "this", "those", "to", "us", "was", "we", "what", "when", "where", "which", "who",
    "why", "will", "with", "would", "you", "your",
})  # fmt: skip
_DROP = """
DROP TABLE IF EXISTS learnings; DROP TABLE IF EXISTS learnings_fts;
DROP TABLE IF EXISTS term_df; DROP TABLE IF EXISTS sources;
"""
_HINT = "run `memfun memory rebuild` (the index is rebuilt from the MEMORY.md files)"


def query_terms(text: str) -> list[str]:
    """The words of ``text`` a search looks for: case-folded, no stop words, each once."""
    words = (w for w in _WORD.findall(text.casefold()) if w not in _STOP_WORDS)
    return list(dict.fromkeys(words))


def fts_query(terms: Iterable[str]) -> str:
    """An FTS5 query matching any of ``terms``, each quoted (no query syntax gets through)."""
    unique = list(dict.fromkeys(t for t in terms if t))[:_MAX_TERMS]
    return " OR ".join('"' + term.replace('"', '""') + '"' for term in unique)


def _row(values: Sequence[object], score: float) -> Row:
    """A row from ``(scope, id, kind, text, signed)`` as SQLite returns them."""
    scope, ident, kind, text, signed = values
    return (str(scope), str(ident), str(kind), str(text), bool(signed), score)


def digest(data: bytes) -> str:
    """The SHA-256 of a file's bytes, as recorded per scope."""
    return hashlib.sha256(data).hexdigest()


class MemoryIndex:
    """One SQLite database of learnings of several scopes (``project``, ``user``).

    Args:
        path: The database file (created with its folder).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(learnings)")}
            if "signed" not in columns:  # an index from before signatures: rebuilt
                self._db.executescript(_DROP + _SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise CorruptDataError(
                f"the memory index cannot be opened: {exc}",
                backend="sqlite",
                location=str(path),
                hint=_HINT,
            ) from exc

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def recorded_hash(self, scope: str) -> str | None:
        """The SHA-256 of the scope's file when it was last indexed."""
        row = self._db.execute("SELECT sha256 FROM sources WHERE scope = ?", (scope,)).fetchone()
        return None if row is None else str(row[0])

    def replace(
        self,
        scope: str,
        path: Path,
        sha256: str,
        items: Sequence[ParsedItem],
        signed: Sequence[bool],
    ) -> None:
        """Replace the scope's learnings by ``items`` (a duplicate id keeps its first item).

        ``signed[i]`` says whether ``items[i]`` carries a valid signature.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "DELETE FROM learnings_fts WHERE rowid IN "
                "(SELECT rowid FROM learnings WHERE scope = ?)",
                (scope,),
            )
            db.execute("DELETE FROM learnings WHERE scope = ?", (scope,))
            db.execute("DELETE FROM term_df WHERE scope = ?", (scope,))
            df: Counter[str] = Counter()
            for position, (item, valid) in enumerate(zip(items, signed, strict=True)):
                cursor = db.execute(
                    "INSERT OR IGNORE INTO learnings "
                    "(scope, id, kind, text, norm, position, signed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (scope, item.id, item.kind, item.text, normalise(item.text), position, valid),
                )
                if cursor.rowcount:
                    db.execute(
                        "INSERT INTO learnings_fts (rowid, text) VALUES (?, ?)",
                        (cursor.lastrowid, item.text),
                    )
                    df.update(query_terms(item.text))
            db.executemany(
                "INSERT INTO term_df (scope, term, df) VALUES (?, ?, ?)",
                [(scope, term, count) for term, count in df.items()],
            )
            db.execute(
                "INSERT INTO sources (scope, path, sha256) VALUES (?, ?, ?) "
                "ON CONFLICT (scope) DO UPDATE SET path = excluded.path, sha256 = excluded.sha256",
                (scope, str(path), sha256),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def rows(self, scopes: Sequence[str]) -> list[Row]:
        """Every learning of ``scopes`` in file order (score 0)."""
        cursor = self._db.execute(
            "SELECT scope, id, kind, text, signed FROM learnings "
            "WHERE scope IN (SELECT value FROM json_each(?)) ORDER BY scope, position",
            (json.dumps(list(scopes)),),
        )
        return [_row(row, 0.0) for row in cursor]

    def by_norm(self, norm: str) -> Row | None:
        """The learning whose normalised text is ``norm``, in any scope."""
        row = self._db.execute(
            "SELECT scope, id, kind, text, signed FROM learnings WHERE norm = ? LIMIT 1", (norm,)
        ).fetchone()
        return None if row is None else _row(row, 0.0)

    def scopes_of(self, ident: str) -> list[str]:
        """The scopes holding a learning with this id."""
        cursor = self._db.execute("SELECT scope FROM learnings WHERE id = ?", (ident,))
        return [str(row[0]) for row in cursor]

    def search(self, terms: Iterable[str], scopes: Sequence[str], limit: int) -> list[Row]:
        """Learnings matching any term, best BM25 first (scores: ``-bm25``, higher better)."""
        query = fts_query(self._telling(list(terms)))
        if not query or limit <= 0:
            return []
        indexed = {str(row[0]) for row in self._db.execute("SELECT scope FROM sources")}
        if indexed <= set(scopes):
            cursor = self._db.execute(_TOP, (query, limit))
        else:
            cursor = self._db.execute(_IN_SCOPES, (query, json.dumps(list(scopes)), limit))
        return [_row(row[:5], -float(row[5])) for row in cursor]

    def _telling(self, terms: list[str]) -> list[str]:
        """``terms`` without those in over half of the learnings, when a rarer one occurs.

        A word never seen as such is kept (FTS5 stems: ``tests`` may match ``test``).
        """
        total = self._db.execute("SELECT count(*) FROM learnings").fetchone()[0]
        if total < _PRUNE_FROM or not terms:
            return terms
        counts: dict[str, int] = dict(
            self._db.execute(
                "SELECT term, sum(df) FROM term_df "
                "WHERE term IN (SELECT value FROM json_each(?)) GROUP BY term",
                (json.dumps(terms),),
            ).fetchall()
        )
        limit = total * _COMMON_SHARE
        if not any(0 < counts.get(t, 0) <= limit for t in terms):
            return terms  # only common words: BM25 over them all
        return [t for t in terms if counts.get(t, 0) <= limit]
