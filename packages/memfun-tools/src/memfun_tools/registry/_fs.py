"""The file tools (``fs_*``): read, list, glob, tree; write, edit, multi_edit."""

from __future__ import annotations

from typing import Any

from memfun_tools._workspace import Workspace
from memfun_tools.fs._edit import edit_file, multi_edit
from memfun_tools.fs._listing import glob_files, list_dir, tree
from memfun_tools.fs._match import Edit
from memfun_tools.fs._read import read_file
from memfun_tools.fs._results import (
    EditResult,
    GlobResult,
    ListResult,
    ReadResult,
    TreeResult,
    WriteResult,
)
from memfun_tools.fs._write import write_file
from memfun_tools.registry._core import (
    DESTRUCTIVE,
    DESTRUCTIVE_IDEMPOTENT,
    READ_ONLY,
    ToolDef,
)
from memfun_tools.registry._schema import array, boolean, integer, nullable, params, string

__all__ = ["fs_tools"]

_PATH = "Path relative to the workspace root."
_DIR = "Folder relative to the workspace root."
_EDIT = {
    "type": "object",
    "description": (
        "One replacement in a file.\n\nAttributes:\n"
        "    old_text: The text to find; it must occur exactly once unless ``replace_all``.\n"
        "    new_text: Its replacement.\n"
        "    replace_all: Replace every occurrence instead of requiring a unique one."
    ),
    "properties": {
        "old_text": string(),
        "new_text": string(),
        "replace_all": boolean(default=False),
    },
    "required": ["old_text", "new_text"],
}


def fs_tools(ws: Workspace, *, allow_writes: bool = False) -> list[ToolDef]:
    """The file tools over ``ws``; the writing ones only when ``allow_writes``."""

    async def read(path: str, start_line: int, end_line: int | None) -> ReadResult:
        return await read_file(ws, path, start_line=start_line, end_line=end_line)

    async def list_(path: str) -> ListResult:
        return await list_dir(ws, path)

    async def glob(pattern: str, path: str) -> GlobResult:
        return await glob_files(ws, pattern, path)

    async def tree_(path: str, max_depth: int) -> TreeResult:
        return await tree(ws, path, max_depth=max_depth)

    tools = [
        ToolDef(
            "fs",
            "read",
            "Read a text file or a line range; long output ends with a notice on how to read on.",
            params(
                ("path",),
                path=string(_PATH),
                start_line=integer("First line, 1-based.", ge=1, default=1),
                end_line=nullable({"type": "integer"}, "Last line (inclusive)."),
            ),
            READ_ONLY,
            ReadResult,
            read,
        ),
        ToolDef(
            "fs",
            "list",
            "List a folder (folders first), hiding what .gitignore ignores.",
            params(path=string(_DIR, default=".")),
            READ_ONLY,
            ListResult,
            list_,
        ),
        ToolDef(
            "fs",
            "glob",
            "Find files by glob pattern ('**' crosses folders), ignored files skipped.",
            params(
                ("pattern",),
                pattern=string("Glob like '**/*.py' or 'src/*.ts'."),
                path=string(_DIR, default="."),
            ),
            READ_ONLY,
            GlobResult,
            glob,
        ),
        ToolDef(
            "fs",
            "tree",
            "Show an indented tree of a folder.",
            params(
                path=string(_DIR, default="."),
                max_depth=integer("Levels to show.", ge=1, le=20, default=3),
            ),
            READ_ONLY,
            TreeResult,
            tree_,
        ),
    ]
    if allow_writes:
        tools += _write_tools(ws)
    return tools


def _write_tools(ws: Workspace) -> list[ToolDef]:
    async def write(path: str, content: str) -> WriteResult:
        return await write_file(ws, path, content)

    async def edit(path: str, old_text: str, new_text: str, replace_all: bool) -> EditResult:
        return await edit_file(ws, path, old_text, new_text, replace_all=replace_all)

    async def multi_edit_(path: str, edits: list[dict[str, Any]]) -> EditResult:
        return await multi_edit(ws, path, [Edit(**edit) for edit in edits])

    return [
        ToolDef(
            "fs",
            "write",
            "Create or overwrite a file atomically; returns a diff against the old content.",
            params(
                ("path", "content"),
                path=string(_PATH),
                content=string("The complete new text."),
            ),
            DESTRUCTIVE_IDEMPOTENT,
            WriteResult,
            write,
        ),
        ToolDef(
            "fs",
            "edit",
            "Replace unique text in a file (exact, then whitespace-tolerant); returns a diff."
            "\n\nAn ambiguous match is refused with the candidate line numbers.",
            params(
                ("path", "old_text", "new_text"),
                path=string(_PATH),
                old_text=string("Text to replace; must be unique."),
                new_text=string("Replacement text."),
                replace_all=boolean(default=False),
            ),
            DESTRUCTIVE,
            EditResult,
            edit,
        ),
        ToolDef(
            "fs",
            "multi_edit",
            "Apply several edits to one file atomically; if one fails, nothing changes.",
            params(
                ("path", "edits"),
                path=string(_PATH),
                edits=array(_EDIT, "Edits applied in order, all or none.", min_items=1),
            ),
            DESTRUCTIVE,
            EditResult,
            multi_edit_,
        ),
    ]
