"""A project folder configured for a scripted model, and ``memfun`` run in it as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from memfun_agent.testing import format_fields
from memfun_core.trust import trust_folder

__all__ = [
    "CALC",
    "MEMFUN",
    "TEST_KEY",
    "TEST_KEY_ENV",
    "cli_env",
    "memfun",
    "new_project",
    "step",
    "write_config",
]

#: The ``memfun`` script installed beside the running interpreter.
MEMFUN = str(Path(sys.executable).parent / "memfun")
#: The NAME of the key variable the written ``memfun.toml`` points at, and its value.
TEST_KEY_ENV = "MEMFUN_TEST_KEY"
TEST_KEY = "test-key-value-123"
#: A one-function module with a bug: ``add`` subtracts.
CALC = "def add(a, b):\n    return a - b\n"


def write_config(
    project: Path,
    api_base: str | None,
    *,
    tier: str | None = "memory",
    max_iterations: int | None = 4,
    extra: str = "",
) -> None:
    """Write ``project/memfun.toml`` for an OpenAI-compatible model at ``api_base``.

    Args:
        project: The project folder.
        api_base: The model server's base URL (``FakeOpenAI.base``); ``None`` configures no
            model (no ``[llm]`` section, so no budgets either).
        tier: The runtime tier; ``None`` leaves the default (SQLite under ``.memfun/``).
        max_iterations: The agent's step budget; ``None`` leaves the default.
        extra: TOML appended as is (more sections, or keys of the last one written).
    """
    text = ""
    if api_base is not None:
        text += (
            f'[llm]\nmodel = "openai/test-model"\napi_base = "{api_base}"\n'
            f'api_key_env = "{TEST_KEY_ENV}"\n'
        )
        if max_iterations is not None:
            text += f"[llm.budgets]\nmax_iterations = {max_iterations}\n"
    if tier is not None:
        text += f'[runtime]\ntier = "{tier}"\n'
    (project / "memfun.toml").write_text(text + extra, encoding="utf-8")


def new_project(
    tmp_path: Path,
    api_base: str | None,
    *,
    files: Mapping[str, str | bytes] | None = None,
    tier: str | None = "memory",
    max_iterations: int | None = 4,
    extra: str = "",
) -> Path:
    """Make ``tmp_path/proj`` (beside an empty HOME, ``tmp_path/home``) and configure it.

    Args:
        tmp_path: A fresh folder.
        api_base: The model server's base URL (``None``: no model configured).
        files: Files to write, by path relative to the project (folders are made).
        tier: See :func:`write_config`.
        max_iterations: See :func:`write_config`.
        extra: See :func:`write_config`.

    Returns:
        The project folder.
    """
    (tmp_path / "home").mkdir(exist_ok=True)
    project = tmp_path / "proj"
    project.mkdir()
    for name, content in (files or {}).items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    write_config(project, api_base, tier=tier, max_iterations=max_iterations, extra=extra)
    return project


def cli_env(
    project: Path, extra: Mapping[str, str] | None = None, *, trusted: bool = False
) -> dict[str, str]:
    """The environment of a ``memfun`` process run in ``project`` by a fresh user.

    The caller's ``MEMFUN_*``, ``XDG_*`` and ``*API_KEY*`` variables are dropped; HOME and
    the config folder are ``project/../home``; the test key is set under :data:`TEST_KEY_ENV`.

    Args:
        project: The project folder (its parent holds ``home``).
        extra: More variables, set last.
        trusted: Trust the folder first (project agents, skills and MCP servers are
            inactive in an untrusted one), in this environment's trust store.

    Returns:
        The environment.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEMFUN_", "XDG_")) and "API_KEY" not in key
    }
    home = project.parent / "home"
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), **{TEST_KEY_ENV: TEST_KEY})
    env.update(extra or {})
    if trusted:
        trust_folder(project, env)
    return env


def memfun(
    project: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    trusted: bool = False,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``memfun ARGS`` in ``project`` (no stdin) and return what it printed.

    Args:
        project: The working folder.
        *args: The command line after ``memfun``.
        env: More environment variables (see :func:`cli_env`).
        trusted: Trust the folder first (see :func:`cli_env`).
        timeout: Seconds before the run is killed (a loaded machine is slow).

    Returns:
        The finished process, its output as text.
    """
    return subprocess.run(
        [MEMFUN, *args],
        cwd=project,
        env=cli_env(project, env, trusted=trusted),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def step(code: str, reasoning: str = "Next.") -> str:
    """One scripted agent reply: run ``code`` in the REPL."""
    return format_fields({"reasoning": reasoning, "code": code})
