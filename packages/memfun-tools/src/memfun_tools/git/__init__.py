"""Git tools over a workspace that is the top of a git repository.

Read-only: :func:`git_status`, :func:`git_diff`, :func:`git_log`, :func:`git_show`,
:func:`git_blame`, :func:`git_branches`. Changing: :func:`git_commit`, :func:`git_checkout`
(the MCP server offers these only when started with writes allowed). Remote:
:func:`export_git_tree` (one revision of a repository as a tar file, for installing skills).
"""

from __future__ import annotations

from memfun_tools.git._read_ops import (
    git_blame,
    git_branches,
    git_diff,
    git_log,
    git_show,
    git_status,
)
from memfun_tools.git._remote import GitTree, export_git_tree
from memfun_tools.git._results import (
    BlameLine,
    BlameResult,
    BranchesResult,
    BranchInfo,
    CheckoutResult,
    CommitInfo,
    CommitResult,
    GitStatus,
    GitText,
    LogResult,
    StatusEntry,
)
from memfun_tools.git._write_ops import git_checkout, git_commit

__all__ = [
    "BlameLine",
    "BlameResult",
    "BranchInfo",
    "BranchesResult",
    "CheckoutResult",
    "CommitInfo",
    "CommitResult",
    "GitStatus",
    "GitText",
    "GitTree",
    "LogResult",
    "StatusEntry",
    "export_git_tree",
    "git_blame",
    "git_branches",
    "git_checkout",
    "git_commit",
    "git_diff",
    "git_log",
    "git_show",
    "git_status",
]
