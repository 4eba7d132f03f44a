"""The list, glob and tree tools."""

from __future__ import annotations

import asyncio

from memfun_core.errors import ValidationError
from memfun_tools._workspace import Workspace
from memfun_tools.fs._results import DirEntry, GlobResult, ListResult, TreeResult
from memfun_tools.fs._walk import glob_matcher, iter_entries, scan_dir

__all__ = ["glob_files", "list_dir", "tree"]


async def list_dir(ws: Workspace, path: str = ".") -> ListResult:
    """List a folder's entries (folders first), hiding what ``.gitignore`` ignores.

    Raises:
        ValidationError: When the path is a file.
        PermissionDeniedError: When the path is outside the workspace.
        NotFoundError: When the folder does not exist.
    """
    return await asyncio.to_thread(_list, ws, path)


def _list(ws: Workspace, path: str) -> ListResult:
    real = ws.resolve(path, kind="dir")
    found = scan_dir(ws, real)
    cap = ws.limits.max_entries
    entries = tuple(DirEntry(f.rel, f.kind, f.size) for f in found[:cap])
    return ListResult(path=ws.relative(real), entries=entries, truncated=len(found) > cap)


async def glob_files(
    ws: Workspace, pattern: str, path: str = ".", *, max_results: int | None = None
) -> GlobResult:
    """Find files whose path (relative to ``path``) matches a glob pattern.

    ``*`` and ``?`` stay inside one folder, ``**`` crosses folders (``**/*.py`` finds every
    Python file), ``[abc]`` is a character class. Ignored files are skipped.

    Raises:
        ValidationError: On an empty pattern, one that leaves the folder, one over 1,000
            characters or with a malformed ``[...]`` class.
        PermissionDeniedError: When the path is outside the workspace.
    """
    if not pattern or pattern.startswith("/") or ".." in pattern.split("/"):
        raise ValidationError(
            f"is {pattern!r}", field="pattern", rule="a relative glob without '..'"
        )
    cap = min(max_results or ws.limits.max_entries, ws.limits.max_entries)
    return await asyncio.to_thread(_glob, ws, pattern, path, cap)


def _glob(ws: Workspace, pattern: str, path: str, cap: int) -> GlobResult:
    real = ws.resolve(path, kind="dir")
    matches = glob_matcher(pattern)
    base = ws.relative(real)
    prefix = "" if base == "." else base + "/"
    hits: list[str] = []
    truncated = False
    for found in iter_entries(ws, real):
        if found.kind == "dir":
            continue
        if matches(found.rel[len(prefix) :]):
            if len(hits) >= cap:
                truncated = True
                break
            hits.append(found.rel)
    return GlobResult(pattern=pattern, paths=tuple(sorted(hits)), truncated=truncated)


async def tree(
    ws: Workspace, path: str = ".", *, max_depth: int = 3, max_entries: int | None = None
) -> TreeResult:
    """Render an indented tree of a folder, down to ``max_depth`` levels.

    Raises:
        ValidationError: When ``max_depth`` < 1 or the path is a file.
        PermissionDeniedError: When the path is outside the workspace.
    """
    if max_depth < 1:
        raise ValidationError(f"is {max_depth}", field="max_depth", rule=">= 1")
    cap = min(max_entries or ws.limits.max_entries, ws.limits.max_entries)
    return await asyncio.to_thread(_tree, ws, path, max_depth, cap)


def _tree(ws: Workspace, path: str, max_depth: int, cap: int) -> TreeResult:
    real = ws.resolve(path, kind="dir")
    base = ws.relative(real)
    lines = [base + "/" if base != "." else "./"]
    files = dirs = 0
    truncated = False
    for found in iter_entries(ws, real, max_depth):
        if files + dirs >= cap:
            truncated = True
            break
        name = found.rel.rsplit("/", 1)[-1]
        indent = "  " * found.depth
        if found.kind == "dir":
            dirs += 1
            more = found.depth == max_depth and any(True for _ in scan_dir(ws, found.real))
            truncated = truncated or more
            lines.append(f"{indent}{name}/" + (" ..." if more else ""))
        else:
            files += 1
            suffix = " -> (symlink)" if found.kind == "symlink" else ""
            lines.append(f"{indent}{name}{suffix}")
    if truncated:
        lines.append("[truncated: raise max_depth or list a subfolder]")
    return TreeResult(path=base, text="\n".join(lines), files=files, dirs=dirs, truncated=truncated)
