"""Bringing the tag cache up to date with the tree: read what changed, parse what is new."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from memfun_tools._workspace import Workspace
from memfun_tools.fs._walk import iter_entries
from memfun_tools.repomap._cache import FileRow, TagCache
from memfun_tools.repomap._languages import KNOWN_WITHOUT_GRAMMAR, grammar_for, language_of
from memfun_tools.repomap._tags import FileTags, extract_tags

__all__ = ["MAX_SOURCE_BYTES", "ScanResult", "choose_workers", "scan"]

MAX_SOURCE_BYTES = 1024 * 1024  # bigger files are generated or data; they are skipped
PARALLEL_FROM = 200  # worker processes are considered from this many new files
_MAX_WORKERS = 8
_MIN_FREE_CPUS = 2

_Pending = tuple[str, str, bytes]  # content hash, language, source


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a scan found and did.

    Attributes:
        sources: Parseable files present now.
        without_grammar: Recognised source files no grammar handles, by path.
        skipped_large: Parseable files over the size limit, not parsed.
        files_read: Files whose content was read (changed size or mtime).
        files_parsed: Files that were parsed (new content hash).
        files_removed: Files that disappeared since the last scan.
        workers: Worker processes that parsed (0: parsed in this process).
    """

    sources: tuple[str, ...]
    without_grammar: tuple[str, ...]
    skipped_large: tuple[str, ...]
    files_read: int
    files_parsed: int
    files_removed: int
    workers: int = 0

    @property
    def changed(self) -> bool:
        """Whether the cache changed."""
        return bool(self.files_read or self.files_removed)


def scan(
    ws: Workspace,
    cache: TagCache,
    *,
    parallel_from: int = PARALLEL_FROM,
    workers: int | None = None,
) -> ScanResult:
    """Walk the workspace and update ``cache`` so it holds tags for every source file.

    Args:
        ws: The workspace.
        cache: The tag cache to update.
        parallel_from: Consider worker processes when at least this many files are new.
        workers: Worker processes to parse with (0 or 1: this process); ``None`` chooses
            with :func:`choose_workers`.
    """
    known = cache.files()
    hashes = cache.known_hashes()
    sources: list[str] = []
    without: list[str] = []
    large: list[str] = []
    rows: list[tuple[str, FileRow]] = []
    pending: list[_Pending] = []
    scheduled: set[tuple[str, str]] = set()
    for found in iter_entries(ws, ws.root):
        if found.kind != "file":
            continue
        lang = language_of(found.rel)
        if lang is None:
            if PurePosixPath(found.rel).suffix.lower() in KNOWN_WITHOUT_GRAMMAR:
                without.append(found.rel)
            continue
        if found.size > MAX_SOURCE_BYTES:
            large.append(found.rel)
            continue
        sources.append(found.rel)
        row = _changed_row(found.real, found.rel, lang, known)
        if row is None:
            continue
        data, row = row
        rows.append((found.rel, row))
        key = (row[2], lang)
        if key not in hashes and key not in scheduled:
            scheduled.add(key)
            pending.append((row[2], lang, data))
    if workers is None:
        workers = choose_workers(len(pending), parallel_from)
    if workers < 2 or len(pending) < 2:  # noqa: PLR2004 - a pool of one is never worth it
        workers = 0
    new_tags = _parse_all(pending, workers)
    removed = sorted(set(known) - set(sources))
    if rows or removed:
        cache.store(rows, new_tags, removed)
    return ScanResult(
        sources=tuple(sources),
        without_grammar=tuple(without),
        skipped_large=tuple(large),
        files_read=len(rows),
        files_parsed=len(new_tags),
        files_removed=len(removed),
        workers=workers,
    )


def _changed_row(
    real: Path, rel: str, lang: str, known: dict[str, FileRow]
) -> tuple[bytes, FileRow] | None:
    """Return the file's bytes and new row, or ``None`` when size and mtime are unchanged."""
    info = real.stat()
    old = known.get(rel)
    if old is not None and old[0] == info.st_mtime_ns and old[1] == info.st_size and old[3] == lang:
        return None
    data = real.read_bytes()
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return data, (info.st_mtime_ns, info.st_size, digest, lang)


def _parse_batch(batch: list[_Pending]) -> list[tuple[str, str, FileTags]]:
    """Parse a batch of sources (runs in a worker process for large scans)."""
    return [(digest, lang, extract_tags(grammar_for(lang), data)) for digest, lang, data in batch]


def choose_workers(
    pending: int,
    parallel_from: int = PARALLEL_FROM,
    *,
    cpus: int | None = None,
    load: float | None = None,
) -> int:
    """Worker processes for parsing ``pending`` new files, or 0 when one process is faster.

    A pool pays for starting each worker, loading the grammars there and sending sources
    and tags between processes, and it only helps with CPUs nobody else is using. On the
    stdlib (1,795 files) on two CPUs, one process won while the machine was busy (load 5.8:
    9.8 s against 11.1 s with two workers) and lost when it was less so (load 5.4: 6.3 s
    against 4.1 s). So workers are used only when at least ~2 CPUs are free (CPUs minus the
    1-minute load average) and there are enough files to spread, one per free CPU.

    Args:
        pending: How many files need parsing.
        parallel_from: Fewer new files than this are always parsed here.
        cpus: CPUs this process may use (default: its affinity mask).
        load: The 1-minute load average (default: the system's).
    """
    if pending < max(parallel_from, 2):
        return 0
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if load is None:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float(cpus)
    free = cpus - load
    if free < _MIN_FREE_CPUS - 0.5:
        return 0
    return max(_MIN_FREE_CPUS, min(round(free), cpus, _MAX_WORKERS))


def _parse_all(pending: list[_Pending], workers: int) -> list[tuple[str, str, FileTags]]:
    """Parse new sources, in ``workers`` processes (0: here).

    tree-sitter holds the GIL while parsing, so threads would not help.
    """
    if workers < 2:  # noqa: PLR2004
        return _parse_batch(pending)
    batches = [pending[i :: workers * 4] for i in range(workers * 4)]
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [tag for done in pool.map(_parse_batch, batches) for tag in done]
