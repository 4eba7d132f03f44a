"""The filesystem MCP server (``fs``): read, list, glob, tree; write, edit, multi_edit."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from memfun_tools._mcp import DESTRUCTIVE, DESTRUCTIVE_IDEMPOTENT, READ_ONLY, guarded
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

__all__ = ["build_fs_server"]

PathArg = Annotated[str, Field(description="Path relative to the workspace root.")]
DirArg = Annotated[str, Field(description="Folder relative to the workspace root.")]


def build_fs_server(ws: Workspace, *, allow_writes: bool = False) -> FastMCP:
    """Build the filesystem server over ``ws``; write tools only when ``allow_writes``."""
    server = FastMCP("memfun-fs", instructions=f"Files of the workspace {ws.root}.")

    @guarded
    async def read(
        path: PathArg,
        start_line: Annotated[int, Field(ge=1, description="First line, 1-based.")] = 1,
        end_line: Annotated[int | None, Field(description="Last line (inclusive).")] = None,
    ) -> ReadResult:
        """Read a text file or a line range; long output ends with a notice on how to read on."""
        return await read_file(ws, path, start_line=start_line, end_line=end_line)

    @guarded
    async def list(path: DirArg = ".") -> ListResult:
        """List a folder (folders first), hiding what .gitignore ignores."""
        return await list_dir(ws, path)

    @guarded
    async def glob(
        pattern: Annotated[str, Field(description="Glob like '**/*.py' or 'src/*.ts'.")],
        path: DirArg = ".",
    ) -> GlobResult:
        """Find files by glob pattern ('**' crosses folders), ignored files skipped."""
        return await glob_files(ws, pattern, path)

    @guarded
    async def tree_(
        path: DirArg = ".",
        max_depth: Annotated[int, Field(ge=1, le=20, description="Levels to show.")] = 3,
    ) -> TreeResult:
        """Show an indented tree of a folder."""
        return await tree(ws, path, max_depth=max_depth)

    server.tool(read, name="read", annotations=READ_ONLY)
    server.tool(list, name="list", annotations=READ_ONLY)
    server.tool(glob, name="glob", annotations=READ_ONLY)
    server.tool(tree_, name="tree", annotations=READ_ONLY)
    if allow_writes:
        _add_write_tools(server, ws)
    return server


def _add_write_tools(server: FastMCP, ws: Workspace) -> None:
    @guarded
    async def write(
        path: PathArg, content: Annotated[str, Field(description="The complete new text.")]
    ) -> WriteResult:
        """Create or overwrite a file atomically; returns a diff against the old content."""
        return await write_file(ws, path, content)

    @guarded
    async def edit(
        path: PathArg,
        old_text: Annotated[str, Field(description="Text to replace; must be unique.")],
        new_text: Annotated[str, Field(description="Replacement text.")],
        replace_all: bool = False,
    ) -> EditResult:
        """Replace unique text in a file (exact, then whitespace-tolerant); returns a diff.

        An ambiguous match is refused with the candidate line numbers.
        """
        return await edit_file(ws, path, old_text, new_text, replace_all=replace_all)

    @guarded
    async def multi_edit_(
        path: PathArg,
        edits: Annotated[
            list[Edit], Field(min_length=1, description="Edits applied in order, all or none.")
        ],
    ) -> EditResult:
        """Apply several edits to one file atomically; if one fails, nothing changes."""
        return await multi_edit(ws, path, edits)

    server.tool(write, name="write", annotations=DESTRUCTIVE_IDEMPOTENT)
    server.tool(edit, name="edit", annotations=DESTRUCTIVE)
    server.tool(multi_edit_, name="multi_edit", annotations=DESTRUCTIVE)
