"""The edit and multi-edit tools: unique replacements, written atomically, returned as a diff."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from memfun_core.errors import MemfunError, ValidationError
from memfun_tools._workspace import Workspace
from memfun_tools.fs._io import atomic_write, read_text
from memfun_tools.fs._match import Edit, apply_edit
from memfun_tools.fs._results import EditResult
from memfun_tools.fs._write import unified_diff

__all__ = ["edit_file", "multi_edit"]


async def edit_file(
    ws: Workspace, path: str, old_text: str, new_text: str, *, replace_all: bool = False
) -> EditResult:
    """Replace ``old_text`` with ``new_text`` in a file.

    The exact text is tried first; if it is absent, a whitespace-tolerant match (any run of
    whitespace matches any other) is tried, and the replacement is re-indented to the
    file's indentation. Either way the match must be unique unless ``replace_all``.

    Args:
        ws: The workspace.
        path: The file, relative to the workspace root.
        old_text: The text to find.
        new_text: Its replacement.
        replace_all: Replace every occurrence.

    Returns:
        The number of replacements, the strategy and a unified diff.

    Raises:
        ConflictError: When the match is ambiguous (the candidate lines are listed).
        NotFoundError: When nothing matches, or the file does not exist.
        ValidationError: On an empty or no-op edit, or a binary or non-UTF-8 file.
        PermissionDeniedError: When the path is outside the workspace.
    """
    return await multi_edit(ws, path, [Edit(old_text, new_text, replace_all)])


async def multi_edit(ws: Workspace, path: str, edits: Sequence[Edit]) -> EditResult:
    """Apply several edits to one file in order, all or nothing, in one atomic write.

    Each edit sees the text left by the previous ones. If any edit fails, the file is
    not touched.

    Args:
        ws: The workspace.
        path: The file, relative to the workspace root.
        edits: The edits, applied in order.

    Returns:
        The total replacements, each edit's strategy and one unified diff.

    Raises:
        ValidationError: When ``edits`` is empty, or as :func:`edit_file`.
        ConflictError: As :func:`edit_file`; the message names the failing edit.
        NotFoundError: As :func:`edit_file`.
    """
    if not edits:
        raise ValidationError("is empty", field="edits", rule="at least one edit")
    return await asyncio.to_thread(_apply, ws, path, tuple(edits))


def _apply(ws: Workspace, path: str, edits: tuple[Edit, ...]) -> EditResult:
    real = ws.resolve(path, kind="file", for_write=True)
    rel = ws.relative(real)
    original = read_text(ws, real, path, strict=True)
    text = original
    total = 0
    strategies: list[str] = []
    for index, edit in enumerate(edits):
        try:
            text, count, strategy = apply_edit(text, edit, rel)
        except MemfunError as exc:
            if len(edits) > 1:
                exc.message = f"edit {index + 1} of {len(edits)}: {exc.message}"
                exc.args = (exc.message,)
            raise
        total += count
        strategies.append(strategy)
    data = text.encode("utf-8")
    if len(data) > ws.limits.max_write_bytes:
        raise ValidationError(
            f"the edited file would be {len(data)} bytes",
            field="edits",
            rule=f"<= {ws.limits.max_write_bytes} bytes",
        )
    atomic_write(real, data)
    return EditResult(
        path=rel,
        replacements=total,
        strategies=tuple(strategies),
        diff=unified_diff(rel, original, text),
    )
