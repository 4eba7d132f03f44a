"""The git tools (``git_*``): status, diff, log, show, blame, branches; commit, checkout."""

from __future__ import annotations

from memfun_tools._workspace import Workspace
from memfun_tools.git._read_ops import (
    git_blame,
    git_branches,
    git_diff,
    git_log,
    git_show,
    git_status,
)
from memfun_tools.git._results import (
    BlameResult,
    BranchesResult,
    CheckoutResult,
    CommitResult,
    GitStatus,
    GitText,
    LogResult,
)
from memfun_tools.git._write_ops import git_checkout, git_commit
from memfun_tools.registry._core import DESTRUCTIVE, READ_ONLY, ToolDef
from memfun_tools.registry._schema import array, boolean, integer, nullable, params, string

__all__ = ["git_tools"]

_REV = "A revision: branch, tag, sha, HEAD~2 ..."
_PATHS = nullable(array({"type": "string"}))


def git_tools(ws: Workspace, *, allow_writes: bool = False) -> list[ToolDef]:
    """The git tools over ``ws``; commit and checkout only when ``allow_writes``."""

    async def status() -> GitStatus:
        return await git_status(ws)

    async def diff(
        staged: bool, base: str | None, target: str | None, paths: list[str] | None
    ) -> GitText:
        return await git_diff(ws, staged=staged, base=base, target=target, paths=paths or ())

    async def log(ref: str | None, max_count: int, path: str | None) -> LogResult:
        return await git_log(ws, ref=ref, max_count=max_count, path=path)

    async def show(ref: str, path: str | None) -> GitText:
        return await git_show(ws, ref, path=path)

    async def blame(path: str, start_line: int | None, end_line: int | None) -> BlameResult:
        return await git_blame(ws, path, start_line=start_line, end_line=end_line)

    async def branches() -> BranchesResult:
        return await git_branches(ws)

    optional_int = nullable({"type": "integer"})
    tools = [
        ToolDef(
            "git",
            "status",
            "Branch, HEAD, upstream and changed/untracked paths.",
            params(),
            READ_ONLY,
            GitStatus,
            status,
        ),
        ToolDef(
            "git",
            "diff",
            "Unified diff: unstaged (default), staged, or between base and target revisions.",
            params(
                staged=boolean(default=False),
                base=nullable(string(_REV)),
                target=nullable(string(_REV)),
                paths=_PATHS,
            ),
            READ_ONLY,
            GitText,
            diff,
        ),
        ToolDef(
            "git",
            "log",
            "Commits, newest first (empty when there are none yet).",
            params(
                ref=nullable(string(_REV)),
                max_count=integer(ge=1, le=500, default=20),
                path=nullable(string()),
            ),
            READ_ONLY,
            LogResult,
            log,
        ),
        ToolDef(
            "git",
            "show",
            "A commit with its patch, or a file's content at ref when path is given.",
            params(ref=string(_REV, default="HEAD"), path=nullable(string())),
            READ_ONLY,
            GitText,
            show,
        ),
        ToolDef(
            "git",
            "blame",
            "Who last changed each line of a file (optionally a line range).",
            params(("path",), path=string(), start_line=optional_int, end_line=optional_int),
            READ_ONLY,
            BlameResult,
            blame,
        ),
        ToolDef(
            "git",
            "branches",
            "Local branches, their commits and upstreams, and the current one.",
            params(),
            READ_ONLY,
            BranchesResult,
            branches,
        ),
    ]
    if allow_writes:
        tools += _write_tools(ws)
    return tools


def _write_tools(ws: Workspace) -> list[ToolDef]:
    async def commit(message: str, paths: list[str] | None, all_changes: bool) -> CommitResult:
        return await git_commit(ws, message, paths=paths or (), all_changes=all_changes)

    async def checkout(ref: str, create: bool) -> CheckoutResult:
        return await git_checkout(ws, ref, create=create)

    return [
        ToolDef(
            "git",
            "commit",
            "Stage paths (or all changes) and commit what is staged.",
            params(
                ("message",),
                message=string(),
                paths=_PATHS,
                all_changes=boolean(default=False),
            ),
            DESTRUCTIVE,
            CommitResult,
            commit,
        ),
        ToolDef(
            "git",
            "checkout",
            "Switch to a branch or commit; create=true makes a new branch at HEAD.",
            params(("ref",), ref=string(_REV), create=boolean(default=False)),
            DESTRUCTIVE,
            CheckoutResult,
            checkout,
        ),
    ]
