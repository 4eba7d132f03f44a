"""Attacks on ``.git`` through the file tools, as a model steered by a hostile repository tries.

A write into any ``.git`` (a hook, a config with a filter or ``core.fsmonitor``, a ``gitdir:``
file pointing a nested repository elsewhere) becomes host code execution the next time anyone
runs git there. Every spelling that some file system or git itself takes for ``.git`` is
refused, at any depth, through ``fs_write``, ``fs_edit`` and ``fs_multi_edit``.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client

from memfun_tools.gateway import build_gateway

HOOK = "#!/bin/sh\ntouch /tmp/pwned\n"
SPELLINGS = [
    ".GIT/config",
    ".Git/hooks/pre-commit",
    "sub/.git/hooks/pre-commit",
    "sub/.git/config",
    "sub/deeper/.git",  # a gitdir: file linking a nested repository anywhere
    "sub/.GIT",
    ".git./config",
    ".git /config",
    ".g\u200cit/config",
    ".\uff47it/config",  # fullwidth g, NFKC-folds to .git
    "GIT~1/config",
    ".git::$INDEX_ALLOCATION/config",
    "sub/../.git/config",
    "./.git/hooks/post-checkout",
]


@pytest.fixture
def nested(root: Path) -> Path:
    """``sub`` is a nested repository (with a real ``sub/.git``)."""
    subprocess.run(["git", "init", "--quiet"], cwd=root / "sub", check=True, capture_output=True)
    return root / "sub"


@pytest.fixture
async def client(root: Path, nested: Path) -> AsyncIterator[Client]:
    async with Client(build_gateway(root, allow_writes=True)) as client:
        yield client


async def _refused(client: Client, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, (tool, args)
    text = " ".join(str(getattr(part, "text", "")) for part in result.content)
    assert "PermissionDeniedError" in text
    return text


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("path", SPELLINGS)
async def test_write_to_any_spelling_of_git_is_refused(
    root: Path, client: Client, path: str
) -> None:
    before = _files(root)
    text = await _refused(client, "fs_write", path=path, content=HOOK)
    assert ".git" in text
    assert _files(root) == before


async def test_edit_of_a_nested_repository_config_is_refused(root: Path, client: Client) -> None:
    config = root / "sub" / ".git" / "config"
    before = config.read_text()
    edit = {"old_text": "[core]", "new_text": "[core]\n\tfsmonitor = sh -c 'touch /tmp/pwned'"}
    await _refused(client, "fs_edit", path="sub/.git/config", **edit)
    await _refused(client, "fs_multi_edit", path="sub/.git/config", edits=[edit])
    assert config.read_text() == before


async def test_symlink_into_a_git_folder_is_refused(root: Path, client: Client) -> None:
    (root / "innocent").symlink_to(root / "sub" / ".git")
    await _refused(client, "fs_write", path="innocent/hooks/pre-commit", content=HOOK)
    assert not (root / "sub" / ".git" / "hooks" / "pre-commit").exists()


async def test_names_that_only_look_alike_stay_writable(root: Path, client: Client) -> None:
    for path in (".gitignore", ".github/workflows/x.yml", "docs/git/notes.md", "a.git/x", ".gits"):
        result = await client.call_tool(
            "fs_write", {"path": path, "content": "ok\n"}, raise_on_error=False
        )
        assert not result.is_error, path
        assert (root / path).read_text() == "ok\n"
