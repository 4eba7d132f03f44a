"""Attacks on the git tools by a hostile repository, driven as the model drives them.

Each test plants what a hostile repository (or a model steered by one) would plant: files
written with the ``fs_write`` tool through a real MCP client, plus, where the attack lives in
``.git`` itself (which ``fs_write`` refuses), the repository state a hostile checkout or script
leaves behind. It then calls the git tools through the same client and asserts that no
command ran (no marker file appeared outside the workspace) and that nothing from outside the
workspace was listed or returned.

Every trap is first proven live: plain ``git`` run the same way in a copy of the workspace
does fire it (the marker appears), so a test cannot pass because its trap was broken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from memfun_tools.gateway import build_gateway

SECRET = "top secret outside the root\n"  # what conftest's ``outside`` fixture holds

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Plain git as a user would run it (no system or global config, to stay hermetic)."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, **IDENTITY}
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=env,
        check=check,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def _fired(marker: Path) -> bool:
    return marker.exists()


def _prove_live(root: Path, marker: Path, *args: str) -> None:
    """Plain git in a copy of ``root`` fires the trap: the test's attack is real."""
    control = root.parent / f"control-{marker.name}"
    shutil.copytree(root, control, symlinks=True)
    try:
        _git(control, *args, check=False)
        assert marker.exists(), f"the trap did not fire under plain `git {' '.join(args)}`"
    finally:
        marker.unlink(missing_ok=True)
        shutil.rmtree(control)


class Model:
    """The model's side of the gateway: a real MCP client with writes allowed."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.outputs: list[str] = []

    async def write(self, path: str, content: str) -> None:
        result = await self.client.call_tool(
            "fs_write", {"path": path, "content": content}, raise_on_error=False
        )
        assert not result.is_error, result.content

    async def call(self, tool: str, **args: Any) -> tuple[bool, str]:
        """Call a tool; return whether it failed and everything it said."""
        result = await self.client.call_tool(tool, args, raise_on_error=False)
        text = " ".join(str(getattr(part, "text", "")) for part in result.content)
        text += repr(result.structured_content)
        self.outputs.append(text)
        return result.is_error, text

    def said(self, needle: str) -> bool:
        return any(needle in text for text in self.outputs)


@pytest.fixture
async def model(root: Path) -> AsyncIterator[Model]:
    async with Client(build_gateway(root, allow_writes=True)) as client:
        yield Model(client)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def repo(root: Path) -> Path:
    _git(root, "init", "--quiet", "--initial-branch=main")
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "initial")
    return root


def _evil_script(marker: Path) -> str:
    """A shell script that leaves the marker, then behaves like ``cat`` (a valid filter)."""
    return f"#!/bin/sh\ntouch '{marker}'\ncat\n"


def root_script(repo: Path) -> str:
    """A planted program (run without a shell) that leaves the marker and fails at once."""
    evil = repo / "evil.sh"
    script = repo / "evil-program.sh"
    script.write_text(evil.read_text().replace("\ncat\n", "\nexit 1\n"))
    script.chmod(0o755)
    return str(script)


def _append_config(repo: Path, text: str) -> None:
    with (repo / ".git" / "config").open("a") as config:
        config.write(text)


# --- the three reproductions of the issue: a bare-repository layout planted at the root --------


async def _plant_bare_layout(model: Model, config: str) -> None:
    await model.write("HEAD", "ref: refs/heads/main\n")
    await model.write("config", "[core]\n\trepositoryformatversion = 0\n" + config)
    await model.write("objects/info/packs", "")
    await model.write("refs/heads/.keep", "")


async def test_planted_bare_layout_with_outside_worktree_leaks_nothing(
    root: Path, outside: Path, model: Model
) -> None:
    await _plant_bare_layout(model, f"\tbare = false\n\tworktree = {outside}\n")
    assert "secret.txt" in _git(root, "status", "--porcelain").stdout  # the leak is real

    for tool, args in (
        ("git_status", {}),
        ("git_diff", {}),
        ("git_log", {}),
        ("git_branches", {}),
        ("git_show", {"ref": "HEAD", "path": "secret.txt"}),
        ("git_blame", {"path": "hello.py"}),
    ):
        failed, text = await model.call(tool, **args)
        assert failed, tool
        assert "no git repository" in text
    assert not model.said("secret.txt")
    assert not model.said(SECRET.strip())


async def test_planted_bare_layout_filter_does_not_run_on_commit(
    root: Path, marker: Path, model: Model
) -> None:
    await model.write("evil.sh", _evil_script(marker))
    await model.write(".gitattributes", "* filter=x\n")
    await _plant_bare_layout(
        model, '\tbare = false\n\tworktree = .\n[filter "x"]\n\tclean = sh evil.sh\n'
    )
    _prove_live(root, marker, "add", "-A")

    failed, text = await model.call("git_commit", message="innocent", all_changes=True)
    assert failed
    assert "no git repository" in text
    assert not _fired(marker)


async def test_planted_bare_layout_hooks_do_not_run(root: Path, marker: Path, model: Model) -> None:
    await model.write("hooks/pre-commit", _evil_script(marker))
    (root / "hooks" / "pre-commit").chmod(0o755)  # a cloned repository carries the mode
    await _plant_bare_layout(model, "\tbare = false\n\tworktree = .\n\thooksPath = hooks\n")
    _git(root, "add", "hello.py")
    _prove_live(root, marker, "commit", "--quiet", "-m", "x")

    failed, _ = await model.call("git_commit", message="innocent", all_changes=True)
    assert failed
    assert not _fired(marker)


# --- which repository: .git must be a real folder of the workspace -----------------------------


@pytest.fixture
def outside_repo(outside: Path) -> Path:
    _git(outside, "init", "--quiet", "--initial-branch=main")
    _git(outside, "add", "-A")
    _git(outside, "commit", "--quiet", "-m", "outside")
    return outside


@pytest.mark.parametrize("shape", ["gitdir-file", "symlink", "commondir"])
async def test_git_dir_pointing_outside_is_refused(
    root: Path, outside_repo: Path, model: Model, shape: str
) -> None:
    git_dir = root / ".git"
    if shape == "gitdir-file":
        git_dir.write_text(f"gitdir: {outside_repo / '.git'}\n")
    elif shape == "symlink":
        git_dir.symlink_to(outside_repo / ".git")
    else:
        _git(root, "init", "--quiet", "--initial-branch=main")
        (git_dir / "commondir").write_text(f"{outside_repo / '.git'}\n")
    assert SECRET in _git(root, "show", "HEAD:secret.txt").stdout  # the leak is real

    for tool, args in (
        ("git_show", {"ref": "HEAD", "path": "secret.txt"}),
        ("git_log", {}),
        ("git_status", {}),
    ):
        failed, text = await model.call(tool, **args)
        assert failed, tool
        assert "no git repository" in text
    assert not model.said(SECRET.strip())
    assert not model.said(_git(outside_repo, "rev-parse", "HEAD").stdout.strip())


# --- which commands: a real repository whose config names commands ----------------------------


async def test_filter_clean_smudge_process_do_not_run(
    repo: Path, marker: Path, model: Model
) -> None:
    await model.write("evil.sh", _evil_script(marker))
    await model.write(".gitattributes", "*.txt filter=x\n*.md filter=p\n")
    await model.write("data.txt", "payload\n")
    _append_config(
        repo,
        '[filter "x"]\n\tclean = sh evil.sh\n\tsmudge = sh evil.sh\n\trequired = true\n'
        '[filter "p"]\n\tprocess = sh evil.sh\n\trequired = true\n',
    )
    _prove_live(repo, marker, "add", "-A")

    failed, text = await model.call("git_commit", message="add data", all_changes=True)
    assert not failed, text
    assert _git(repo, "show", "HEAD:data.txt").stdout == "payload\n"  # stored unfiltered
    assert not _fired(marker)
    for ref in ("HEAD~1", "main"):  # data.txt goes, then comes back through the smudge filter
        failed, text = await model.call("git_checkout", ref=ref)
        assert not failed, text
    assert (repo / "data.txt").read_text() == "payload\n"
    assert not _fired(marker)


async def test_hooks_do_not_run(repo: Path, marker: Path, model: Model) -> None:
    await model.write("tools/githooks/pre-commit", _evil_script(marker))
    await model.write("tools/githooks/post-checkout", _evil_script(marker))
    hook_files = [repo / "tools" / "githooks" / "pre-commit"]
    hook_files.append(repo / "tools" / "githooks" / "post-checkout")
    for name in ("pre-commit", "commit-msg", "post-commit", "reference-transaction"):
        (repo / ".git" / "hooks" / name).write_text(_evil_script(marker))
        hook_files.append(repo / ".git" / "hooks" / name)
    for hook in hook_files:
        hook.chmod(0o755)
    _prove_live(repo, marker, "commit", "--quiet", "--allow-empty", "-m", "x")
    _append_config(repo, "[core]\n\thooksPath = tools/githooks\n")
    _prove_live(repo, marker, "checkout", "--quiet", "-b", "other")

    await model.write("new.py", "x = 1\n")
    failed, text = await model.call("git_commit", message="add new", paths=["new.py"])
    assert not failed, text
    failed, text = await model.call("git_checkout", ref="topic", create=True)
    assert not failed, text
    assert not _fired(marker)


async def test_fsmonitor_does_not_run(repo: Path, marker: Path, model: Model) -> None:
    await model.write("evil.sh", _evil_script(marker))
    _append_config(repo, "[core]\n\tfsmonitor = sh evil.sh\n")
    _prove_live(repo, marker, "status")

    for tool in ("git_status", "git_diff"):
        failed, text = await model.call(tool)
        assert not failed, text
    assert not _fired(marker)


async def test_diff_drivers_and_external_diff_do_not_run(
    repo: Path, marker: Path, model: Model
) -> None:
    await model.write("evil.sh", _evil_script(marker))
    await model.write(".gitattributes", "*.py diff=t\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "--quiet", "-m", "attributes")
    _append_config(
        repo,
        '[diff "t"]\n\ttextconv = sh evil.sh\n\tcommand = sh evil.sh\n'
        "[diff]\n\texternal = sh evil.sh\n",
    )
    await model.write("hello.py", "def hello():\n    return 'bye'\n")
    _prove_live(repo, marker, "diff")
    _prove_live(repo, marker, "blame", "hello.py")

    calls: list[tuple[str, dict[str, Any]]] = [
        ("git_diff", {}),
        ("git_diff", {"base": "HEAD~1", "target": "HEAD"}),
        ("git_show", {"ref": "HEAD"}),
        ("git_show", {"ref": "HEAD", "path": "hello.py"}),
        ("git_blame", {"path": "hello.py"}),
        ("git_log", {"path": "hello.py"}),
    ]
    for tool, args in calls:
        failed, text = await model.call(tool, **args)
        assert not failed, (tool, text)
    assert model.said("return 'bye'")  # the real diff came back
    assert not _fired(marker)


async def test_signing_programs_do_not_run(repo: Path, marker: Path, model: Model) -> None:
    await model.write("evil.sh", _evil_script(marker))
    _append_config(
        repo,
        "[commit]\n\tgpgSign = true\n[log]\n\tshowSignature = true\n"
        f"[gpg]\n\tprogram = {root_script(repo)}\n"
        f'[gpg "ssh"]\n\tprogram = {root_script(repo)}\n',
    )
    _prove_live(repo, marker, "commit", "--quiet", "--allow-empty", "-m", "x")

    await model.write("signed.py", "s = 1\n")
    failed, text = await model.call("git_commit", message="unsigned", paths=["signed.py"])
    assert not failed, text
    failed, text = await model.call("git_log")
    assert not failed, text
    assert not _fired(marker)


async def test_lazy_fetch_transports_do_not_run(repo: Path, marker: Path, model: Model) -> None:
    await model.write("evil.sh", _evil_script(marker))
    await model.write("big.txt", "lazy\n")
    _git(repo, "add", "big.txt")
    _git(repo, "commit", "--quiet", "-m", "big")
    blob = _git(repo, "rev-parse", "HEAD:big.txt").stdout.strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # a partial clone's missing blob
    _append_config(
        repo,
        "[core]\n\trepositoryformatversion = 1\n"
        f"\tsshCommand = {root_script(repo)}\n\tgitProxy = {root_script(repo)}\n"
        "[extensions]\n\tpartialClone = origin\n"
        '[remote "origin"]\n\turl = ssh://git.invalid/x.git\n\tpromisor = true\n'
        f"\tuploadpack = {root_script(repo)}\n"
        '[protocol "ssh"]\n\tallow = always\n'
        f"[credential]\n\thelper = !{root_script(repo)}\n",
    )
    _prove_live(repo, marker, "show", "HEAD:big.txt")

    failed, _ = await model.call("git_show", ref="HEAD", path="big.txt")
    assert failed  # the blob is missing and may not be fetched
    assert not _fired(marker)


async def test_config_including_a_planted_file_is_refused(
    repo: Path, marker: Path, model: Model
) -> None:
    await model.write("evil.sh", _evil_script(marker))
    await model.write("settings.cfg", "[core]\n\tfsmonitor = sh evil.sh\n")
    _append_config(repo, "[include]\n\tpath = ../settings.cfg\n")
    _prove_live(repo, marker, "status")

    failed, text = await model.call("git_status")
    assert failed
    assert "includes another file" in text
    assert not _fired(marker)


async def test_files_outside_named_by_config_are_not_read(
    repo: Path, outside: Path, model: Model
) -> None:
    secret = outside / "secret.txt"
    secret.write_text("Leaked Name <t@example.com>\n")
    _append_config(repo, f"[blame]\n\tignoreRevsFile = {secret}\n[mailmap]\n\tfile = {secret}\n")
    leak = _git(repo, "blame", "hello.py", check=False)
    assert "Leaked Name" in leak.stderr  # plain git prints the file's first line
    mapped = _git(repo, "blame", "--no-ignore-revs-file", "hello.py").stdout
    assert "Leaked Name" in mapped  # and maps the author through it

    failed, text = await model.call("git_blame", path="hello.py")
    assert not failed, text
    assert "return 'hi'" in text
    assert not model.said("Leaked Name")
