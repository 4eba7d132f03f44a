"""Persistent memory: ``MEMORY.md`` files (project and user) behind an SQLite FTS5 index.

:class:`MemoryStore` keeps learnings one per Markdown list item with a stable id and a kind
(``worked``, ``fact``, ``preference``), searches them with BM25, deduplicates by normalised
text and re-indexes a file whose content changed. :func:`extract_learnings` asks a model for
the learnings of a finished run through the typed :class:`ExtractLearnings` signature (it
imports DSPy on first use). See ``docs/memory.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memfun_optimizer.memory._file import KINDS, MAX_TEXT_CHARS, Kind, normalise, parse_memory
from memfun_optimizer.memory._store import (
    SCOPES,
    Learning,
    MemoryHit,
    MemoryStore,
    Scope,
    user_memory_file,
)

if TYPE_CHECKING:
    from memfun_optimizer.memory._extract import (
        ExtractLearnings,
        LearningNote,
        extract_learnings,
    )

__all__ = [
    "KINDS",
    "MAX_TEXT_CHARS",
    "SCOPES",
    "ExtractLearnings",
    "Kind",
    "Learning",
    "LearningNote",
    "MemoryHit",
    "MemoryStore",
    "Scope",
    "extract_learnings",
    "normalise",
    "parse_memory",
    "user_memory_file",
]

_LAZY = frozenset({"ExtractLearnings", "LearningNote", "extract_learnings"})


def __getattr__(name: str) -> Any:
    """Load the DSPy-backed names on first use (``import dspy`` costs about a second)."""
    if name in _LAZY:
        from memfun_optimizer.memory import _extract

        return getattr(_extract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
