"""The read tool: a file or a range of its lines, with a size cap and a truncation notice."""

from __future__ import annotations

import asyncio

from memfun_core.errors import ValidationError
from memfun_tools._workspace import Workspace
from memfun_tools.fs._io import read_text
from memfun_tools.fs._results import ReadResult

__all__ = ["read_file"]


async def read_file(
    ws: Workspace,
    path: str,
    *,
    start_line: int = 1,
    end_line: int | None = None,
    max_chars: int | None = None,
) -> ReadResult:
    """Read a text file, or lines ``start_line``..``end_line`` of it (1-based, inclusive).

    Args:
        ws: The workspace.
        path: The file, relative to the workspace root.
        start_line: The first line to return.
        end_line: The last line to return; ``None`` means the end of the file.
        max_chars: A cap below the workspace's ``max_read_chars``.

    Returns:
        The text and where it sits in the file; ``truncated`` and ``notice`` say how to
        read on when the cap cut it short.

    Raises:
        ValidationError: On a bad range, a binary file or an oversized file.
        PermissionDeniedError: When the path is outside the workspace.
        NotFoundError: When the file does not exist.
    """
    if start_line < 1:
        raise ValidationError(f"is {start_line}", field="start_line", rule=">= 1")
    if end_line is not None and end_line < start_line:
        raise ValidationError(f"is {end_line}", field="end_line", rule=">= start_line")
    cap = min(max_chars or ws.limits.max_read_chars, ws.limits.max_read_chars)
    return await asyncio.to_thread(_read, ws, path, start_line, end_line, cap)


def _read(ws: Workspace, path: str, start: int, end: int | None, cap: int) -> ReadResult:
    real = ws.resolve(path, kind="file")
    lines = read_text(ws, real, path).splitlines(keepends=True)
    total = len(lines)
    last = total if end is None else min(end, total)
    taken: list[str] = []
    size = 0
    truncated = False
    for line in lines[start - 1 : last]:
        if size + len(line) > cap:
            truncated = True
            if not taken:
                taken.append(line[:cap])
            break
        taken.append(line)
        size += len(line)
    shown_end = start + len(taken) - 1
    notice = ""
    if truncated:
        notice = (
            f"[truncated at {cap} characters: showing lines {start}-{shown_end} of {total}; "
            f"read on with start_line={shown_end + 1}]"
        )
    return ReadResult(
        path=ws.relative(real),
        content="".join(taken),
        start_line=start,
        end_line=shown_end,
        total_lines=total,
        truncated=truncated,
        notice=notice,
    )
