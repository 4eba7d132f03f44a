from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from memfun_core.errors import BackendError, NotFoundError, ValidationError
from memfun_tools import Workspace
from memfun_tools.git import (
    git_blame,
    git_branches,
    git_checkout,
    git_commit,
    git_diff,
    git_log,
    git_show,
    git_status,
)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "--quiet", "--initial-branch=main")
    _git(repo, "config", "user.name", "Test Author")
    _git(repo, "config", "user.email", "test@example.com")
    return repo


@pytest.fixture
def repo(empty_repo: Path) -> Path:
    (empty_repo / "app.py").write_text("a = 1\nb = 2\n")
    _git(empty_repo, "add", "app.py")
    _git(empty_repo, "commit", "--quiet", "-m", "first commit")
    (empty_repo / "app.py").write_text("a = 1\nb = 3\n")
    _git(empty_repo, "add", "app.py")
    _git(empty_repo, "commit", "--quiet", "-m", "second commit")
    return empty_repo


async def test_fresh_repository_without_commits(empty_repo: Path) -> None:
    ws = Workspace(empty_repo)
    (empty_repo / "new.py").write_text("x = 1\n")
    status = await git_status(ws)
    assert status.head is None
    assert status.branch == "main"
    assert not status.detached
    assert [(e.path, e.index) for e in status.entries] == [("new.py", "?")]
    assert (await git_log(ws)).commits == ()
    _git(empty_repo, "add", "new.py")
    staged = await git_diff(ws, staged=True)
    assert "+x = 1" in staged.text
    with pytest.raises(NotFoundError, match="no commits"):
        await git_show(ws)
    with pytest.raises(NotFoundError, match="at least one commit"):
        await git_blame(ws, "new.py")
    assert (await git_branches(ws)).branches == ()


async def test_status_diff_log_show_blame_branches(repo: Path) -> None:
    ws = Workspace(repo)
    (repo / "app.py").write_text("a = 10\nb = 3\n")
    (repo / "renamed.txt").write_text("r\n")
    status = await git_status(ws)
    assert ("app.py", ".", "M") in [(e.path, e.index, e.worktree) for e in status.entries]
    assert status.branch == "main"
    assert status.head == _git(repo, "rev-parse", "HEAD")
    unstaged = await git_diff(ws)
    assert "-a = 1\n+a = 10" in unstaged.text
    assert (await git_diff(ws, staged=True)).text == ""
    between = await git_diff(ws, base="HEAD~1", target="HEAD")
    assert "-b = 2\n+b = 3" in between.text
    log = await git_log(ws)
    assert [c.subject for c in log.commits] == ["second commit", "first commit"]
    assert log.commits[0].author == "Test Author"
    assert len((await git_log(ws, max_count=1, path="app.py")).commits) == 1
    shown = await git_show(ws, "HEAD~1")
    assert "first commit" in shown.text
    old = await git_show(ws, "HEAD~1", path="app.py")
    assert old.text == "a = 1\nb = 2\n"
    blame = await git_blame(ws, "app.py", start_line=2, end_line=2)
    assert [(b.line, b.summary, b.text) for b in blame.lines] == [(2, "second commit", "b = 3")]
    whole = await git_blame(ws, "app.py")
    assert whole.lines[0].sha == "0" * 40  # "a = 10" is not committed yet
    assert whole.lines[1].summary == "second commit"
    branches = await git_branches(ws)
    assert branches.current == "main"
    assert [b.name for b in branches.branches] == ["main"]


async def test_detached_head(repo: Path) -> None:
    _git(repo, "checkout", "--quiet", "--detach", "HEAD~1")
    ws = Workspace(repo)
    status = await git_status(ws)
    assert status.detached
    assert status.branch is None
    assert (await git_branches(ws)).current is None
    assert [c.subject for c in (await git_log(ws)).commits] == ["first commit"]


async def test_outside_a_repository_is_refused_cleanly(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    ws = Workspace(plain)
    with pytest.raises(NotFoundError, match="git repository"):
        await git_status(ws)
    # A repository above the workspace is not used either.
    (plain / "inner").mkdir()
    _git(plain, "init", "--quiet")
    with pytest.raises(NotFoundError, match="git repository"):
        await git_log(Workspace(plain / "inner"))


async def test_option_injection_through_refs_is_refused(repo: Path, tmp_path: Path) -> None:
    ws = Workspace(repo)
    victim = tmp_path / "written-by-git.txt"
    for bad in (f"--output={victim}", "-p", "HEAD ~1", "a\x00b"):
        with pytest.raises(ValidationError):
            await git_diff(ws, base=bad)
        with pytest.raises(ValidationError):
            await git_show(ws, bad)
        with pytest.raises(ValidationError):
            await git_checkout(ws, bad)
    assert not victim.exists()


async def test_commit_and_checkout(repo: Path) -> None:
    ws = Workspace(repo)
    (repo / "feature.py").write_text("f = 1\n")
    made = await git_commit(ws, "add feature", paths=["feature.py"])
    assert made.sha == _git(repo, "rev-parse", "HEAD")
    assert made.files_changed == 1
    assert (await git_status(ws)).entries == ()
    with pytest.raises(BackendError, match="nothing"):
        await git_commit(ws, "empty")
    created = await git_checkout(ws, "topic", create=True)
    assert created.branch == "topic"
    back = await git_checkout(ws, "HEAD~1")
    assert back.detached
    assert not (repo / "feature.py").exists()
    main = await git_checkout(ws, "main")
    assert main.branch == "main"
    assert (repo / "feature.py").exists()


async def test_commit_takes_the_users_identity_but_no_other_global_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "global-hook-ran"
    (home / "hooks").mkdir()
    hook = home / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
    hook.chmod(0o755)
    (home / ".gitconfig").write_text(
        f"[user]\n\tname = Global User\n\temail = g@example.com\n[core]\n\thooksPath = {hook.parent}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    for name in ("AUTHOR", "COMMITTER"):
        monkeypatch.delenv(f"GIT_{name}_NAME", raising=False)
        monkeypatch.delenv(f"GIT_{name}_EMAIL", raising=False)
    repo = tmp_path / "plain-repo"
    repo.mkdir()
    _git(repo, "init", "--quiet")
    (repo / "a.txt").write_text("a\n")
    await git_commit(Workspace(repo), "first", paths=["a.txt"])
    assert _git(repo, "log", "-1", "--format=%an <%ae>") == "Global User <g@example.com>"
    assert not marker.exists()
    _git(repo, "config", "user.name", "Repo User")
    (repo / "b.txt").write_text("b\n")
    await git_commit(Workspace(repo), "second", paths=["b.txt"])
    assert _git(repo, "log", "-1", "--format=%an <%ae>") == "Repo User <g@example.com>"
