"""Value objects returned by the filesystem tools (also their MCP structured outputs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DirEntry",
    "EditResult",
    "GlobResult",
    "ListResult",
    "ReadResult",
    "TreeResult",
    "WriteResult",
]

EntryKind = Literal["file", "dir", "symlink", "other"]


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Text of a file, or of a range of its lines.

    Attributes:
        path: The path relative to the workspace root.
        content: The text of lines ``start_line`` to ``end_line`` (1-based, inclusive).
        start_line: The first line returned.
        end_line: The last line returned (``start_line - 1`` when nothing was returned).
        total_lines: The number of lines in the file.
        truncated: Whether the size cap cut the requested range short.
        notice: How to read the rest, when truncated; otherwise empty.
    """

    path: str
    content: str
    start_line: int
    end_line: int
    total_lines: int
    truncated: bool
    notice: str = ""


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write did.

    Attributes:
        path: The path relative to the workspace root.
        bytes_written: The size of the new content in bytes.
        created: Whether the file did not exist before.
        diff: A unified diff from the old to the new content (empty for a new file).
    """

    path: str
    bytes_written: int
    created: bool
    diff: str


@dataclass(frozen=True, slots=True)
class EditResult:
    """What an edit (or a multi-edit) did.

    Attributes:
        path: The path relative to the workspace root.
        replacements: How many spans were replaced in total.
        strategies: How each edit matched: ``"exact"`` or ``"whitespace"``.
        diff: A unified diff of the change.
    """

    path: str
    replacements: int
    strategies: tuple[str, ...]
    diff: str


@dataclass(frozen=True, slots=True)
class DirEntry:
    """One entry of a folder listing.

    Attributes:
        path: The path relative to the workspace root.
        kind: ``"file"``, ``"dir"``, ``"symlink"`` or ``"other"``.
        size: The size in bytes for files, else 0.
    """

    path: str
    kind: EntryKind
    size: int


@dataclass(frozen=True, slots=True)
class ListResult:
    """A folder listing.

    Attributes:
        path: The listed folder, relative to the workspace root.
        entries: Its entries, folders first, then by name.
        truncated: Whether the entry cap cut the listing short.
    """

    path: str
    entries: tuple[DirEntry, ...]
    truncated: bool


@dataclass(frozen=True, slots=True)
class GlobResult:
    """Files matching a glob pattern.

    Attributes:
        pattern: The pattern.
        paths: Matching paths relative to the workspace root, sorted.
        truncated: Whether the cap cut the result short.
    """

    pattern: str
    paths: tuple[str, ...]
    truncated: bool


@dataclass(frozen=True, slots=True)
class TreeResult:
    """An indented tree of a folder.

    Attributes:
        path: The folder, relative to the workspace root.
        text: The rendered tree, one entry per line, folders ending in ``/``.
        files: How many files are shown.
        dirs: How many folders are shown.
        truncated: Whether the depth or entry cap hid something.
    """

    path: str
    text: str
    files: int
    dirs: int
    truncated: bool
