"""The path-traversal suite: every attempt is refused and nothing outside the root changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memfun_core.errors import MemfunError, PermissionDeniedError, ValidationError
from memfun_tools import Workspace
from memfun_tools.fs import edit_file, glob_files, list_dir, read_file, tree, write_file

SECRET = "top secret outside the root\n"


def _prepare(root: Path, outside: Path) -> None:
    (root / "link_to_etc").symlink_to("/etc")
    (root / "link_to_secret").symlink_to(outside / "secret.txt")
    (root / "linked_parent").symlink_to(outside)
    (root / "sub" / "deeper").symlink_to(outside)
    (root / "chain1").symlink_to(root / "chain2")
    (root / "chain2").symlink_to(outside / "secret.txt")
    (root / "relative_up").symlink_to("../outside/secret.txt")
    (root / "dangling_out").symlink_to(outside / "new.txt")
    (root / "to_dev_zero").symlink_to("/dev/zero")
    (root / "up_dir").symlink_to("..")
    os.link(outside / "secret.txt", root / "hardlink.txt")
    os.mkfifo(root / "fifo")


def _attempts(outside: Path, root: Path) -> list[str]:
    return [
        "../outside/secret.txt",
        "../../etc/passwd",
        "sub/../../outside/secret.txt",
        "./../outside/secret.txt",
        "sub/../../../../../../etc/passwd",
        "~/../../outside/secret.txt",
        "/etc/passwd",
        "//etc/passwd",
        str(outside / "secret.txt"),
        f"{root}/../outside/secret.txt",
        "%2e%2e/outside/secret.txt",
        "%2E%2E%2Foutside%2Fsecret.txt",
        "..%2foutside%2fsecret.txt",
        "..%5coutside%5csecret.txt",
        "..\\outside\\secret.txt",
        "sub\\..\\..\\outside\\secret.txt",
        "\uff0e\uff0e/outside/secret.txt",
        "..\uff0foutside\uff0fsecret.txt",
        "link_to_etc/passwd",
        "link_to_secret",
        "linked_parent/secret.txt",
        "sub/deeper/secret.txt",
        "chain1",
        "relative_up",
        "dangling_out",
        "to_dev_zero",
        "up_dir/outside/secret.txt",
        "hardlink.txt",
        "fifo",
        "hello.py\x00.txt",
        "sub/\x00/../../outside/secret.txt",
        "a" * 300,
        "a/" * 2100 + "x",
        "sub/\n../../outside/secret.txt",
    ]


def _outside_state(outside: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(outside.iterdir())}


def test_suite_has_at_least_25_attempts(tmp_path: Path) -> None:
    assert len(_attempts(tmp_path, tmp_path)) >= 25


@pytest.mark.parametrize("index", range(34))
async def test_every_attempt_is_refused_for_every_tool(
    root: Path, outside: Path, index: int
) -> None:
    _prepare(root, outside)
    ws = Workspace(root)
    attempt = _attempts(outside, root)[index]
    before = _outside_state(outside)
    with pytest.raises((PermissionDeniedError, ValidationError)):
        await read_file(ws, attempt)
    with pytest.raises((PermissionDeniedError, ValidationError)):
        await write_file(ws, attempt, "pwned\n")
    with pytest.raises((PermissionDeniedError, ValidationError)):
        await edit_file(ws, attempt, "top secret", "pwned")
    with pytest.raises(MemfunError):
        await list_dir(ws, attempt)
    with pytest.raises(MemfunError):
        await tree(ws, attempt)
    with pytest.raises(MemfunError):
        await glob_files(ws, "**/*", attempt)
    assert _outside_state(outside) == before
    assert (outside / "secret.txt").read_text() == SECRET
    assert not (outside / "new.txt").exists()


async def test_listings_do_not_descend_into_escaping_symlinks(root: Path, outside: Path) -> None:
    _prepare(root, outside)
    ws = Workspace(root)
    found = await glob_files(ws, "**/*")
    assert "link_to_secret" in found.paths  # the link itself is listed ...
    assert not any(p.endswith("/secret.txt") for p in found.paths)  # ... never followed
    rendered = await tree(ws, max_depth=5)
    assert "  secret.txt" not in rendered.text


async def test_git_internals_are_not_writable(root: Path) -> None:
    (root / ".git" / "hooks").mkdir(parents=True)
    ws = Workspace(root)
    with pytest.raises(PermissionDeniedError, match=r"\.git"):
        await write_file(ws, ".git/hooks/pre-commit", "#!/bin/sh\n")
    assert not (root / ".git" / "hooks" / "pre-commit").exists()


async def test_paths_inside_are_accepted(root: Path) -> None:
    (root / "inner_link").symlink_to(root / "hello.py")
    ws = Workspace(root)
    assert (await read_file(ws, str(root / "hello.py"))).total_lines == 2
    assert (await read_file(ws, "sub/../hello.py")).path == "hello.py"
    assert (await read_file(ws, "inner_link")).path == "hello.py"
