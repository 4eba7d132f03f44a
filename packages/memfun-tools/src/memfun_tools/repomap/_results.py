"""Value objects returned by the repo map."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MapStats", "RankedFile", "RepoMapResult"]


@dataclass(frozen=True, slots=True)
class RankedFile:
    """A file and its PageRank score."""

    path: str
    rank: float


@dataclass(frozen=True, slots=True)
class MapStats:
    """What building the map cost.

    Attributes:
        files: Parseable source files in the tree.
        files_read: Files read because their size or mtime changed.
        files_parsed: Files parsed because their content hash was new.
        definitions_shown: Definitions that fit in the budget.
        tokens: Estimated tokens of the text (characters / 4).
    """

    files: int
    files_read: int
    files_parsed: int
    definitions_shown: int
    tokens: int


@dataclass(frozen=True, slots=True)
class RepoMapResult:
    """A ranked map of the repository.

    Attributes:
        text: Files with their most important definitions (``line│source``), within budget.
        files: The highest-ranked files, best first (at most 50).
        notices: Things the caller should know (languages without a grammar, skipped files).
        stats: Counts of what was read, parsed and shown.
    """

    text: str
    files: tuple[RankedFile, ...]
    notices: tuple[str, ...]
    stats: MapStats
