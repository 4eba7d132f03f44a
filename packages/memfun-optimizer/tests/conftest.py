from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memfun_agent.testing.pytest_plugin import (
    memfun_network_guard,
    pytest_configure,
    sandbox_ok,
)
from memfun_agent.tools import PermissionPolicy, ToolBridge, gateway_client

__all__ = ["memfun_network_guard", "pytest_configure", "sandbox_ok"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A small git repository."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n", encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}  # fmt: skip
    for argv in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
        subprocess.run(argv, cwd=root, check=True, env=env)
    return root


@pytest.fixture
def bridges(repo: Path) -> Iterator[Callable[[], ToolBridge]]:
    """Makes bridges of Memfun's tools over ``repo`` (closed after the test)."""
    made: list[ToolBridge] = []

    def make() -> ToolBridge:
        tools = ToolBridge(policy=PermissionPolicy(rules={"fs_*": "allow"}))
        tools.add_mcp(gateway_client(repo), prefix="", source="memfun")
        made.append(tools)
        return tools

    yield make
    for tools in made:
        tools.close()
