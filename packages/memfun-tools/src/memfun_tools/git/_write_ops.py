"""Git tools that change the repository: commit and checkout (only served with writes on)."""

from __future__ import annotations

from collections.abc import Sequence

from memfun_core.errors import ValidationError
from memfun_tools._workspace import Workspace
from memfun_tools.git._results import CheckoutResult, CommitResult
from memfun_tools.git._runner import check_ref, run_git

__all__ = ["git_checkout", "git_commit"]


async def git_commit(
    ws: Workspace, message: str, *, paths: Sequence[str] = (), all_changes: bool = False
) -> CommitResult:
    """Stage ``paths`` (or every change with ``all_changes``) and commit what is staged.

    Raises:
        ValidationError: On an empty message.
        BackendError: When git refuses (nothing to commit, no identity configured).
    """
    if not message.strip():
        raise ValidationError("is empty", field="message", rule="a commit message")
    if paths:
        rels = [ws.relative(ws.resolve(p, must_exist=False)) for p in paths]
        await run_git(ws, ["add", "--", *rels])
    if all_changes:
        await run_git(ws, ["add", "--all"])
    await run_git(ws, ["commit", "--quiet", f"--message={message}"])
    sha = (await run_git(ws, ["rev-parse", "HEAD"])).stdout.strip()
    stat = await run_git(ws, ["show", "--format=", "--name-only", "--no-ext-diff", sha])
    return CommitResult(
        sha=sha,
        subject=message.strip().splitlines()[0],
        files_changed=len([x for x in stat.stdout.splitlines() if x.strip()]),
    )


async def git_checkout(ws: Workspace, ref: str, *, create: bool = False) -> CheckoutResult:
    """Switch to a branch or commit (``create`` makes a new branch at HEAD).

    Raises:
        ValidationError: On a bad revision.
        BackendError: When git refuses (local changes would be overwritten, unknown ref).
    """
    check_ref(ref)
    if create:
        await run_git(ws, ["checkout", "--quiet", "-b", ref])
    else:
        await run_git(ws, ["checkout", "--quiet", ref, "--"])
    head = (await run_git(ws, ["rev-parse", "HEAD"])).stdout.strip()
    branch = await run_git(ws, ["symbolic-ref", "--quiet", "--short", "HEAD"], ok_codes=(0, 1))
    name = branch.stdout.strip() if branch.code == 0 else None
    return CheckoutResult(branch=name, head=head, detached=name is None)
