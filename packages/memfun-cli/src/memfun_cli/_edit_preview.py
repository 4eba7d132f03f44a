"""The diff a file tool call would make, computed before the call runs.

``memfun chat`` and the task commands (``fix``, skills) ask before each edit; to show the
edit as a diff, they run the same memfun-tools function (the same matching rules,
whitespace-tolerant included) on a scratch copy of the file and diff the copy against the
original. The workspace is not touched until the user says yes and the real call runs.
"""

from __future__ import annotations

import difflib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from memfun_core.errors import MemfunError

__all__ = ["FILE_TOOLS", "EditPreview", "preview_edit"]

#: The tools whose calls are previewed as a diff.
FILE_TOOLS = ("fs_write", "fs_edit", "fs_multi_edit")


@dataclass(frozen=True, slots=True)
class EditPreview:
    """What a file tool call would change.

    Attributes:
        path: The file, relative to the workspace root (as the call named it).
        diff: The unified diff the call would make (``""`` when it changes nothing).
        error: Why the call would fail, or ``None``.
    """

    path: str
    diff: str
    error: str | None = None


def _unified(path: str, old: str | None, new: str) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{path}",
        tofile=f"b/{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


async def _apply(scratch: Any, tool: str, path: str, arguments: Mapping[str, Any]) -> None:
    from memfun_tools.fs import Edit, edit_file, multi_edit, write_file

    if tool == "fs_write":
        await write_file(scratch, path, str(arguments.get("content", "")))
    elif tool == "fs_edit":
        await edit_file(
            scratch,
            path,
            str(arguments.get("old_text", "")),
            str(arguments.get("new_text", "")),
            replace_all=bool(arguments.get("replace_all", False)),
        )
    else:
        raw = arguments.get("edits")
        items = cast("list[Any]", raw) if isinstance(raw, list) else []
        edits = [
            Edit(
                str(item.get("old_text", "")),
                str(item.get("new_text", "")),
                bool(item.get("replace_all", False)),
            )
            for item in (cast("Mapping[str, Any]", i) for i in items if isinstance(i, Mapping))
        ]
        await multi_edit(scratch, path, edits)


async def preview_edit(root: Path, tool: str, arguments: Mapping[str, Any]) -> EditPreview | None:
    """The change ``tool(**arguments)`` would make in the workspace ``root``.

    Args:
        root: The workspace folder.
        tool: The tool's name; only :data:`FILE_TOOLS` are previewed.
        arguments: The call's arguments.

    Returns:
        The preview, or ``None`` for a tool that is not a file tool.
    """
    from memfun_tools import Workspace

    if tool not in FILE_TOOLS:
        return None
    path = str(arguments.get("path", ""))
    try:
        workspace = Workspace(root)
        real = workspace.resolve(path, kind="file", must_exist=False, for_write=True)
        rel = workspace.relative(real)
        old = real.read_bytes().decode("utf-8") if real.exists() else None
        with tempfile.TemporaryDirectory(prefix="memfun-preview-") as folder:
            copy = Path(folder) / rel
            copy.parent.mkdir(parents=True, exist_ok=True)
            if old is not None:
                copy.write_bytes(old.encode("utf-8"))
            await _apply(Workspace(folder, limits=workspace.limits), tool, rel, arguments)
            new = copy.read_bytes().decode("utf-8")
    except MemfunError as error:
        return EditPreview(path, "", error.message)
    except (OSError, UnicodeDecodeError) as error:
        return EditPreview(path, "", f"{type(error).__name__}: {error}")
    return EditPreview(rel, _unified(rel, old, new))
