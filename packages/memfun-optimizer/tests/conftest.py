from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memfun_agent.testing.pytest_plugin import memfun_network_guard, pytest_configure
from memfun_agent.tools import PermissionPolicy, ToolBridge, gateway_client
from memfun_runtime.sandboxes.local import probe

__all__ = ["memfun_network_guard", "pytest_configure"]


@pytest.fixture
def sandbox_ok() -> None:
    """Skip (or fail under MEMFUN_REQUIRE_SERVICES=1) when no local sandbox can run."""
    caps = probe()
    if caps.namespaces or (caps.landlock_abi and caps.seccomp):
        return
    reason = f"no local sandbox here: {caps.namespace_error}"
    if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


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
