"""Walking a workspace folder: ``.gitignore``-aware, never following symlinked folders."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from memfun_core.errors import ValidationError
from memfun_tools._workspace import Workspace
from memfun_tools.fs._results import EntryKind

__all__ = ["Found", "glob_matcher", "iter_entries", "scan_dir"]


@dataclass(frozen=True, slots=True)
class Found:
    """An entry met during a walk."""

    real: Path
    rel: str
    kind: EntryKind
    size: int
    depth: int


def _classify(entry: os.DirEntry[str]) -> tuple[EntryKind, int]:
    try:
        if entry.is_symlink():
            return "symlink", 0
        info = entry.stat(follow_symlinks=False)
    except OSError:
        return "other", 0
    if stat.S_ISDIR(info.st_mode):
        return "dir", 0
    if stat.S_ISREG(info.st_mode):
        return "file", info.st_size
    return "other", 0


def scan_dir(ws: Workspace, folder: Path, depth: int = 1, rel: str | None = None) -> list[Found]:
    """List one folder's entries that ``.gitignore`` does not hide, folders first, by name."""
    found: list[Found] = []
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:
        return found
    base = ws.relative(folder) if rel is None else rel
    prefix = "" if base == "." else base + "/"
    for entry in entries:
        kind, size = _classify(entry)
        child = prefix + entry.name
        if ws.is_ignored_rel(child, is_dir=kind == "dir", parents_checked=rel is not None):
            continue
        found.append(Found(folder / entry.name, child, kind, size, depth))
    found.sort(key=lambda f: (f.kind != "dir", f.rel))
    return found


def iter_entries(ws: Workspace, folder: Path, max_depth: int | None = None) -> Iterator[Found]:
    """Yield every visible entry under ``folder``, depth first, in listing order."""
    stack: list[tuple[Path, str, int]] = [(folder, ws.relative(folder), 1)]
    while stack:
        current, rel, depth = stack.pop()
        children = scan_dir(ws, current, depth, rel)
        subdirs: list[tuple[Path, str, int]] = []
        for child in children:
            yield child
            if child.kind == "dir" and (max_depth is None or depth < max_depth):
                subdirs.append((child.real, child.rel, depth + 1))
        stack.extend(reversed(subdirs))


_MAX_GLOB = 1_000


class _Regexp(Protocol):
    def fullmatch(self, text: str) -> object | None: ...


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """Compile a glob (``*``, ``?``, ``[...]``, ``**``) into a test of ``/``-separated paths.

    The pattern becomes a regular expression run by RE2, whose matching time is linear in
    the path's length whatever the pattern: ``*a*a*a*a*a*ab`` against a long name is as quick
    as ``*.py`` (a backtracking engine takes minutes).

    Raises:
        ValidationError: When the pattern is over 1,000 characters or its ``[...]`` class is
            malformed.
    """
    import re2  # pyright: ignore[reportMissingTypeStubs]

    if len(pattern) > _MAX_GLOB:
        raise ValidationError(
            f"is {len(pattern)} characters, over the limit of {_MAX_GLOB}",
            field="pattern",
            rule=f"<= {_MAX_GLOB} characters",
        )
    compile_error = cast("type[Exception]", re2.error)  # pyright: ignore[reportUnknownMemberType]
    try:
        regex = cast("_Regexp", re2.compile(_translate(pattern)))  # pyright: ignore[reportUnknownMemberType]
    except compile_error as exc:
        raise ValidationError(
            f"is {pattern!r}, whose [...] class is malformed ({exc})",
            field="pattern",
            rule="a glob with well-formed [...] classes",
        ) from None
    return lambda path: regex.fullmatch(path) is not None


def _translate(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[" and (close := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : close]
            if body.startswith("!"):
                body = "^/" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = close + 1
        else:
            out.append(re.escape(ch))
            i += 1
    return "(?s)" + "".join(out)
