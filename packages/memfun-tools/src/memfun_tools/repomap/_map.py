"""The repo map: scan with a persistent cache, rank, render within a token budget."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
from collections import Counter
from collections.abc import Generator, Iterable
from pathlib import Path, PurePosixPath

from memfun_core.errors import ValidationError
from memfun_tools._workspace import Workspace
from memfun_tools.repomap._cache import CachedTags, TagCache
from memfun_tools.repomap._languages import KNOWN_WITHOUT_GRAMMAR
from memfun_tools.repomap._rank import rank
from memfun_tools.repomap._render import estimate_tokens, fit_to_budget, max_definitions
from memfun_tools.repomap._results import MapStats, RankedFile, RepoMapResult
from memfun_tools.repomap._scan import MAX_SOURCE_BYTES, PARALLEL_FROM, ScanResult, scan
from memfun_tools.repomap._tags import Definition

__all__ = ["RepoMap", "default_cache_path"]

_TOP_FILES = 50
_MIN_BUDGET = 64
_MAX_BUDGET = 200_000


def default_cache_path(ws: Workspace) -> Path:
    """Where the cache lives by default: ``<root>/.memfun/repomap.sqlite3`` (the data dir)."""
    return ws.root / ".memfun" / "repomap.sqlite3"


class RepoMap:
    """A ranked, budgeted map of a workspace's code, backed by a persistent tag cache.

    Args:
        ws: The workspace to map.
        cache_path: The SQLite cache file (default: :func:`default_cache_path`).
        parallel_from: Consider worker processes when at least this many files are new.
        workers: Parse in this many worker processes (0: in this process); ``None`` uses
            them only when they are faster here (enough new files and free CPUs).
    """

    def __init__(
        self,
        ws: Workspace,
        *,
        cache_path: str | os.PathLike[str] | None = None,
        parallel_from: int = PARALLEL_FROM,
        workers: int | None = None,
    ) -> None:
        self.ws = ws
        self._parallel_from = parallel_from
        self._workers = workers
        self._cache = TagCache(Path(cache_path) if cache_path else default_cache_path(ws))
        self._lock = threading.Lock()
        self._tags: dict[str, CachedTags] | None = None

    def close(self) -> None:
        """Close the cache."""
        self._cache.close()

    async def build(
        self,
        *,
        mentioned_files: Iterable[str] = (),
        mentioned_idents: Iterable[str] = (),
        token_budget: int = 1024,
    ) -> RepoMapResult:
        """Bring the cache up to date (parsing only new content) and render the map.

        Args:
            mentioned_files: Files the task is about (relative paths); they and the files
                they connect to rank higher.
            mentioned_idents: Identifiers the task mentions; their definitions rank first.
            token_budget: The most tokens (characters / 4) the text may take.

        Returns:
            The map, its top files, notices and statistics.

        Raises:
            ValidationError: When the budget is out of range.
        """
        if not _MIN_BUDGET <= token_budget <= _MAX_BUDGET:
            raise ValidationError(
                f"is {token_budget}", field="token_budget", rule=f"{_MIN_BUDGET}..{_MAX_BUDGET}"
            )
        files = {self._normalize(f) for f in mentioned_files}
        idents = {i.strip() for i in mentioned_idents if i.strip()}
        return await asyncio.to_thread(self._build, files, idents, token_budget)

    async def refresh(self) -> ScanResult:
        """Update the cache from the tree without rendering (an incremental update)."""
        return await asyncio.to_thread(self._refresh)

    def _normalize(self, path: str) -> str:
        return self.ws.relative(self.ws.resolve(path, must_exist=False))

    def _refresh(self) -> ScanResult:
        with self._lock:
            result = scan(
                self.ws, self._cache, parallel_from=self._parallel_from, workers=self._workers
            )
            if result.changed or self._tags is None:
                self._tags = self._cache.load()
            return result

    def _build(self, files: set[str], idents: set[str], budget: int) -> RepoMapResult:
        with _cyclic_gc_paused():
            return self._build_unpaused(files, idents, budget)

    def _build_unpaused(self, files: set[str], idents: set[str], budget: int) -> RepoMapResult:
        result = self._refresh()
        tags = self._tags or {}
        ranking = rank(
            tags, mentioned_files=files, mentioned_idents=idents, limit=max_definitions(budget)
        )
        tail = [f"{p} (no grammar: listed by name)" for p in result.without_grammar]

        def defs_of(path: str, name: str) -> tuple[Definition, ...]:
            return tags[path].defs_named(name)

        text, shown = fit_to_budget(ranking.definitions, defs_of, tail, budget)
        return RepoMapResult(
            text=text,
            files=tuple(RankedFile(p, s) for p, s in ranking.files[:_TOP_FILES]),
            notices=_notices(result),
            stats=MapStats(
                files=len(result.sources),
                files_read=result.files_read,
                files_parsed=result.files_parsed,
                definitions_shown=shown,
                tokens=estimate_tokens(text),
            ),
        )


@contextlib.contextmanager
def _cyclic_gc_paused() -> Generator[None]:
    """Pause Python's cyclic garbage collector while a map is built.

    Loading and ranking allocate a few hundred thousand short-lived containers; each burst
    of allocations started a collection that walked every tag loaded from the cache (a
    quarter of a warm build's time on the standard library). Nothing built here forms a
    reference cycle, so reference counting frees it all the same; the collector resumes
    afterwards (unless it was already off) and catches up on its own schedule.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _notices(result: ScanResult) -> tuple[str, ...]:
    notices: list[str] = []
    languages = Counter(
        KNOWN_WITHOUT_GRAMMAR[PurePosixPath(p).suffix.lower()] for p in result.without_grammar
    )
    for language, count in sorted(languages.items()):
        notices.append(
            f"no tree-sitter grammar is installed for {language}: {count} file(s) are listed "
            "by name only, without definitions"
        )
    if result.skipped_large:
        notices.append(
            f"{len(result.skipped_large)} file(s) over {MAX_SOURCE_BYTES} bytes were not parsed"
        )
    return tuple(notices)
