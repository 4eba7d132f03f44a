"""The write tool: create or replace a file atomically, returning a diff of the change."""

from __future__ import annotations

import asyncio
import difflib

from memfun_core.errors import NotFoundError, ValidationError
from memfun_tools._workspace import Workspace
from memfun_tools.fs._io import atomic_write, read_text
from memfun_tools.fs._results import WriteResult

__all__ = ["unified_diff", "write_file"]

_MAX_DIFF_CHARS = 20_000


def unified_diff(path: str, old: str, new: str) -> str:
    """Return a unified diff of ``old`` -> ``new`` for ``path``, capped in size."""
    diff = "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    )
    if len(diff) > _MAX_DIFF_CHARS:
        return diff[:_MAX_DIFF_CHARS] + f"\n[diff truncated at {_MAX_DIFF_CHARS} characters]\n"
    return diff


async def write_file(
    ws: Workspace, path: str, content: str, *, create_dirs: bool = True
) -> WriteResult:
    """Create or overwrite a text file atomically (temp file, fsync, rename).

    Args:
        ws: The workspace.
        path: The file, relative to the workspace root.
        content: The complete new text.
        create_dirs: Whether to create missing parent folders (inside the root).

    Returns:
        What was written, with a diff against the old content.

    Raises:
        ValidationError: When the content is over the write cap or the path is a folder.
        PermissionDeniedError: When the path is outside the workspace.
        NotFoundError: When the parent folder is missing and ``create_dirs`` is false.
    """
    data = content.encode("utf-8")
    if len(data) > ws.limits.max_write_bytes:
        raise ValidationError(
            f"is {len(data)} bytes",
            field="content",
            rule=f"<= {ws.limits.max_write_bytes} bytes",
        )
    return await asyncio.to_thread(_write, ws, path, content, data, create_dirs)


def _write(ws: Workspace, path: str, content: str, data: bytes, create_dirs: bool) -> WriteResult:
    real = ws.resolve(path, kind="file", must_exist=False, for_write=True)
    rel = ws.relative(real)
    created = not real.exists()
    old = "" if created else read_text(ws, real, path)
    if not real.parent.is_dir():
        if not create_dirs:
            raise NotFoundError("folder", ws.relative(real.parent), hint="pass create_dirs=true")
        ws.resolve(ws.relative(real.parent), must_exist=False, for_write=True)
        real.parent.mkdir(parents=True, exist_ok=True)
        # Re-check: a concurrent symlink swap of a new parent must not take us outside.
        ws.resolve(ws.relative(real.parent), kind="dir", for_write=True)
    atomic_write(real, data)
    return WriteResult(
        path=rel,
        bytes_written=len(data),
        created=created,
        diff="" if created else unified_diff(rel, old, content),
    )
