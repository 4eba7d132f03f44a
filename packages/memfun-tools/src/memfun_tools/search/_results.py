"""Value objects returned by the search tools."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SearchMatch", "SearchResult"]


@dataclass(frozen=True, slots=True)
class SearchMatch:
    """One match.

    Attributes:
        path: The file, relative to the workspace root.
        line: The 1-based line of the match's start.
        column: The 1-based column (in characters) of the match's start.
        text: The matched line (for structural search, the matched code), capped in length.
        before: Context lines before the match.
        after: Context lines after the match.
    """

    path: str
    line: int
    column: int
    text: str
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One page of matches.

    Attributes:
        query: The pattern searched for.
        matches: The matches of this page, ordered by path, line, column.
        offset: How many matches were skipped before this page.
        next_offset: The offset of the next page, or ``None`` when this is the last one.
    """

    query: str
    matches: tuple[SearchMatch, ...]
    offset: int
    next_offset: int | None
