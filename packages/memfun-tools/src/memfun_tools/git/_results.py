"""Value objects returned by the git tools."""

from __future__ import annotations

from dataclasses import dataclass

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
    "LogResult",
    "StatusEntry",
]


@dataclass(frozen=True, slots=True)
class StatusEntry:
    """One changed path.

    Attributes:
        path: The path, relative to the repository root.
        index: The staged state letter (``M``, ``A``, ``D``, ``R``, ``.``, ``?`` ...).
        worktree: The unstaged state letter.
        orig_path: The old path of a rename or copy, else empty.
    """

    path: str
    index: str
    worktree: str
    orig_path: str = ""


@dataclass(frozen=True, slots=True)
class GitStatus:
    """The state of the working tree.

    Attributes:
        branch: The current branch, or ``None`` on a detached HEAD.
        head: The commit HEAD points at, or ``None`` before the first commit.
        detached: Whether HEAD is detached.
        upstream: The upstream branch, if any.
        ahead: Commits ahead of the upstream.
        behind: Commits behind the upstream.
        entries: Changed, untracked and conflicted paths.
    """

    branch: str | None
    head: str | None
    detached: bool
    upstream: str | None
    ahead: int
    behind: int
    entries: tuple[StatusEntry, ...]


@dataclass(frozen=True, slots=True)
class GitText:
    """Text output of diff or show.

    Attributes:
        text: The output, capped.
        truncated: Whether the cap cut it.
    """

    text: str
    truncated: bool


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """One commit of a log.

    Attributes:
        sha: The full commit id.
        author: The author's name.
        email: The author's e-mail.
        date: The author date, ISO 8601.
        subject: The first line of the message.
    """

    sha: str
    author: str
    email: str
    date: str
    subject: str


@dataclass(frozen=True, slots=True)
class LogResult:
    """A commit log, newest first (empty in a repository without commits)."""

    commits: tuple[CommitInfo, ...]


@dataclass(frozen=True, slots=True)
class BlameLine:
    """Who last changed one line.

    Attributes:
        line: The 1-based line number in the current file.
        sha: The commit id (all zeros for uncommitted lines).
        author: The author's name.
        summary: The commit's subject.
        text: The line.
    """

    line: int
    sha: str
    author: str
    summary: str
    text: str


@dataclass(frozen=True, slots=True)
class BlameResult:
    """Blame of a file or line range."""

    path: str
    lines: tuple[BlameLine, ...]


@dataclass(frozen=True, slots=True)
class BranchInfo:
    """One local branch."""

    name: str
    sha: str
    current: bool
    upstream: str


@dataclass(frozen=True, slots=True)
class BranchesResult:
    """Local branches.

    Attributes:
        current: The checked-out branch, or ``None`` when HEAD is detached or unborn.
        branches: Every local branch, by name.
    """

    current: str | None
    branches: tuple[BranchInfo, ...]


@dataclass(frozen=True, slots=True)
class CommitResult:
    """A commit that was made."""

    sha: str
    subject: str
    files_changed: int


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    """Where HEAD is after a checkout."""

    branch: str | None
    head: str
    detached: bool
