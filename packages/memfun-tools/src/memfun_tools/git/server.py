"""The git MCP server (``git``): status, diff, log, show, blame, branches; commit, checkout."""

from __future__ import annotations

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from memfun_tools._mcp import DESTRUCTIVE, READ_ONLY, guarded
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

__all__ = ["build_git_server"]

Rev = Annotated[str, Field(description="A revision: branch, tag, sha, HEAD~2 ...")]


def build_git_server(ws: Workspace, *, allow_writes: bool = False) -> FastMCP:
    """Build the git server over ``ws``; commit and checkout only when ``allow_writes``."""
    server = FastMCP("memfun-git", instructions=f"The git repository at {ws.root}.")

    @guarded
    async def status() -> GitStatus:
        """Branch, HEAD, upstream and changed/untracked paths."""
        return await git_status(ws)

    @guarded
    async def diff(
        staged: bool = False,
        base: Rev | None = None,
        target: Rev | None = None,
        paths: list[str] | None = None,
    ) -> GitText:
        """Unified diff: unstaged (default), staged, or between base and target revisions."""
        return await git_diff(ws, staged=staged, base=base, target=target, paths=paths or ())

    @guarded
    async def log(
        ref: Rev | None = None,
        max_count: Annotated[int, Field(ge=1, le=500)] = 20,
        path: str | None = None,
    ) -> LogResult:
        """Commits, newest first (empty when there are none yet)."""
        return await git_log(ws, ref=ref, max_count=max_count, path=path)

    @guarded
    async def show(ref: Rev = "HEAD", path: str | None = None) -> GitText:
        """A commit with its patch, or a file's content at ref when path is given."""
        return await git_show(ws, ref, path=path)

    @guarded
    async def blame(
        path: str, start_line: int | None = None, end_line: int | None = None
    ) -> BlameResult:
        """Who last changed each line of a file (optionally a line range)."""
        return await git_blame(ws, path, start_line=start_line, end_line=end_line)

    @guarded
    async def branches() -> BranchesResult:
        """Local branches, their commits and upstreams, and the current one."""
        return await git_branches(ws)

    for fn in (status, diff, log, show, blame, branches):
        server.tool(fn, name=fn.__name__, annotations=READ_ONLY)
    if allow_writes:
        _add_write_tools(server, ws)
    return server


def _add_write_tools(server: FastMCP, ws: Workspace) -> None:
    @guarded
    async def commit(
        message: str, paths: list[str] | None = None, all_changes: bool = False
    ) -> CommitResult:
        """Stage paths (or all changes) and commit what is staged."""
        return await git_commit(ws, message, paths=paths or (), all_changes=all_changes)

    @guarded
    async def checkout(ref: Rev, create: bool = False) -> CheckoutResult:
        """Switch to a branch or commit; create=true makes a new branch at HEAD."""
        return await git_checkout(ws, ref, create=create)

    server.tool(commit, name="commit", annotations=DESTRUCTIVE)
    server.tool(checkout, name="checkout", annotations=DESTRUCTIVE)
