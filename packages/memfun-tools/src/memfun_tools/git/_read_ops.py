"""Read-only git tools: status, diff, log, show, blame, branches."""

from __future__ import annotations

from collections.abc import Sequence

from memfun_core.errors import NotFoundError, ValidationError
from memfun_tools._workspace import Workspace
from memfun_tools.git._results import (
    BlameLine,
    BlameResult,
    BranchesResult,
    BranchInfo,
    CommitInfo,
    GitStatus,
    GitText,
    LogResult,
    StatusEntry,
)
from memfun_tools.git._runner import check_ref, run_git

__all__ = ["git_blame", "git_branches", "git_diff", "git_log", "git_show", "git_status"]

MAX_TEXT = 100_000
_MAX_LOG = 500


def _capped(text: str) -> GitText:
    if len(text) > MAX_TEXT:
        return GitText(text[:MAX_TEXT] + f"\n[truncated at {MAX_TEXT} characters]\n", True)
    return GitText(text, False)


def _paths(ws: Workspace, paths: Sequence[str]) -> list[str]:
    return [ws.relative(ws.resolve(p, must_exist=False)) for p in paths]


async def has_commits(ws: Workspace) -> bool:
    """Whether HEAD points at a commit (false in a fresh repository)."""
    out = await run_git(ws, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], ok_codes=(0, 1))
    return out.code == 0


async def git_status(ws: Workspace) -> GitStatus:
    """Branch, HEAD, upstream and changed paths (porcelain v2), untracked files included."""
    out = await run_git(ws, ["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all"])
    fields = out.stdout.split("\0")
    head: str | None = None
    branch: str | None = None
    upstream: str | None = None
    ahead = behind = 0
    entries: list[StatusEntry] = []
    i = 0
    while i < len(fields):
        record = fields[i]
        i += 1
        if record.startswith("# branch.oid "):
            oid = record.split(" ", 2)[2]
            head = None if oid == "(initial)" else oid
        elif record.startswith("# branch.head "):
            name = record.split(" ", 2)[2]
            branch = None if name == "(detached)" else name
        elif record.startswith("# branch.upstream "):
            upstream = record.split(" ", 2)[2]
        elif record.startswith("# branch.ab "):
            parts = record.split(" ")
            ahead, behind = int(parts[2]), -int(parts[3])
        elif record[:2] in ("1 ", "u "):
            parts = record.split(" ", 10 if record[0] == "u" else 8)
            entries.append(StatusEntry(parts[-1], parts[1][0], parts[1][1]))
        elif record.startswith("2 "):
            parts = record.split(" ", 9)
            entries.append(StatusEntry(parts[-1], parts[1][0], parts[1][1], fields[i]))
            i += 1
        elif record[:2] in ("? ", "! "):
            entries.append(StatusEntry(record[2:], record[0], record[0]))
    return GitStatus(
        branch=branch,
        head=head,
        detached=branch is None and head is not None,
        upstream=upstream,
        ahead=ahead,
        behind=behind,
        entries=tuple(entries),
    )


async def git_diff(
    ws: Workspace,
    *,
    staged: bool = False,
    base: str | None = None,
    target: str | None = None,
    paths: Sequence[str] = (),
    context: int = 3,
) -> GitText:
    """A unified diff: unstaged changes, staged changes (``staged``), or between refs.

    Args:
        ws: The workspace.
        staged: Diff the index against HEAD instead of the working tree against the index.
        base: Compare from this revision (the working tree, or ``target``, is compared).
        target: Compare to this revision (needs ``base``).
        paths: Limit the diff to these paths.
        context: Lines of context.

    Raises:
        ValidationError: On a bad revision or an argument combination that makes no sense.
    """
    if target is not None and base is None:
        raise ValidationError("needs base", field="target", rule="target only with base")
    if not 0 <= context <= 100:  # noqa: PLR2004
        raise ValidationError(f"is {context}", field="context", rule="0..100")
    args = ["diff", "--no-ext-diff", "--no-textconv", "--no-color", f"--unified={context}"]
    if staged:
        args.append("--cached")
    args.append("--end-of-options")
    args += [check_ref(r, "base" if r == base else "target") for r in (base, target) if r]
    args += ["--", *_paths(ws, paths)]
    return _capped((await run_git(ws, args)).stdout)


async def git_log(
    ws: Workspace, *, ref: str | None = None, max_count: int = 20, path: str | None = None
) -> LogResult:
    """Commits reachable from ``ref`` (HEAD by default), newest first; empty before the first.

    Raises:
        ValidationError: On a bad revision or count.
    """
    if not 1 <= max_count <= _MAX_LOG:
        raise ValidationError(f"is {max_count}", field="max_count", rule=f"1..{_MAX_LOG}")
    if ref is None and not await has_commits(ws):
        return LogResult(())
    args = ["log", f"--max-count={max_count}", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e"]
    args += ["--end-of-options", check_ref(ref or "HEAD"), "--"]
    if path is not None:
        args += _paths(ws, [path])
    out = await run_git(ws, args)
    commits = [
        CommitInfo(*record.strip("\n").split("\x1f", 4))
        for record in out.stdout.split("\x1e")
        if record.strip()
    ]
    return LogResult(tuple(commits))


async def git_show(ws: Workspace, ref: str = "HEAD", *, path: str | None = None) -> GitText:
    """A commit (message and patch), or a file as of ``ref`` when ``path`` is given.

    Raises:
        NotFoundError: When the repository has no commits yet.
        ValidationError: On a bad revision.
    """
    check_ref(ref)
    if not await has_commits(ws) and ref == "HEAD":
        raise NotFoundError("commit", "HEAD", hint="the repository has no commits yet")
    if path is not None:
        rel = _paths(ws, [path])[0]
        prefix = (await run_git(ws, ["rev-parse", "--show-prefix"])).stdout.strip()
        spec = f"{ref}:{prefix}{rel}"
        out = await run_git(ws, ["show", "--no-textconv", "--end-of-options", spec])
    else:
        args = ["show", "--no-ext-diff", "--no-textconv", "--no-color", "--end-of-options", ref]
        out = await run_git(ws, args)
    return _capped(out.stdout)


async def git_blame(
    ws: Workspace, path: str, *, start_line: int | None = None, end_line: int | None = None
) -> BlameResult:
    """Who last changed each line of a file (optionally a line range).

    Raises:
        NotFoundError: When the repository has no commits yet.
        ValidationError: On a bad line range.
    """
    rel = ws.relative(ws.resolve(path, kind="file"))
    if not await has_commits(ws):
        raise NotFoundError("commit", "HEAD", hint="blame needs at least one commit")
    args = ["blame", "--porcelain", "--no-textconv", "--no-ignore-revs-file"]
    if start_line is not None or end_line is not None:
        start = start_line or 1
        if start < 1 or (end_line is not None and end_line < start):
            raise ValidationError("is invalid", field="line range", rule="1 <= start <= end")
        args.append(f"-L{start},{end_line if end_line is not None else ''}")
    out = await run_git(ws, [*args, "--", rel])
    return BlameResult(path=rel, lines=tuple(_parse_blame(out.stdout)))


def _parse_blame(text: str) -> list[BlameLine]:
    lines: list[BlameLine] = []
    info: dict[str, dict[str, str]] = {}
    sha = ""
    final = 0
    for raw in text.split("\n"):
        if raw.startswith("\t"):
            meta = info.get(sha, {})
            lines.append(
                BlameLine(final, sha, meta.get("author", ""), meta.get("summary", ""), raw[1:])
            )
            continue
        head, _, rest = raw.partition(" ")
        if len(head) == 40 and all(c in "0123456789abcdef" for c in head):  # noqa: PLR2004
            sha = head
            final = int(rest.split(" ")[1])
            info.setdefault(sha, {})
        elif sha and head in ("author", "summary"):
            info[sha][head] = rest
    return lines


async def git_branches(ws: Workspace) -> BranchesResult:
    """Local branches with their commit and upstream; which one is checked out."""
    fmt = "%(refname:short)%1f%(objectname)%1f%(HEAD)%1f%(upstream:short)"
    out = await run_git(ws, ["for-each-ref", f"--format={fmt}", "refs/heads"])
    branches: list[BranchInfo] = []
    for row in out.stdout.splitlines():
        name, sha, star, upstream = row.split("\x1f")
        branches.append(BranchInfo(name, sha, star == "*", upstream))
    current = await run_git(ws, ["symbolic-ref", "--quiet", "--short", "HEAD"], ok_codes=(0, 1))
    name = current.stdout.strip() if current.code == 0 else None
    return BranchesResult(current=name, branches=tuple(sorted(branches, key=lambda b: b.name)))
