"""Filesystem tools confined to a workspace: read, write, edit, multi-edit, list, glob, tree.

Each tool is a plain typed async function taking a :class:`~memfun_tools.Workspace` first;
:func:`build_fs_server` (in :mod:`memfun_tools.fs.server`) exposes them over MCP.
"""

from __future__ import annotations

from memfun_tools.fs._edit import edit_file, multi_edit
from memfun_tools.fs._listing import glob_files, list_dir, tree
from memfun_tools.fs._match import Edit
from memfun_tools.fs._read import read_file
from memfun_tools.fs._results import (
    DirEntry,
    EditResult,
    GlobResult,
    ListResult,
    ReadResult,
    TreeResult,
    WriteResult,
)
from memfun_tools.fs._write import write_file

__all__ = [
    "DirEntry",
    "Edit",
    "EditResult",
    "GlobResult",
    "ListResult",
    "ReadResult",
    "TreeResult",
    "WriteResult",
    "edit_file",
    "glob_files",
    "list_dir",
    "multi_edit",
    "read_file",
    "tree",
    "write_file",
]
