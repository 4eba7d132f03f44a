"""Shared fixtures of the CLI tests: the scripted model, a project configured for it, the sandbox.

Running ``memfun`` in the project (and on a pseudo-terminal) is ``memfun_cli.testing``;
``sandbox_ok`` is the shared plugin's (``memfun_agent.testing.pytest_plugin``).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from memfun_agent.testing import FakeOpenAI, fake_openai_server
from memfun_agent.testing.pytest_plugin import sandbox_ok
from memfun_cli.testing import CALC, cli_env, new_project
from memfun_runtime.backends.sqlite import SQLiteBackend, project_ownership

__all__ = ["free_port", "model", "nats_url", "project", "redis_url", "sandbox_ok", "service_url"]


def service_url(env_name: str, default: str) -> str:
    """Return the URL of a shared test service, or skip (fail under MEMFUN_REQUIRE_SERVICES=1)."""
    url = os.environ.get(env_name, default)
    parts = urlsplit(url)
    try:
        socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 0), timeout=2
        ).close()
    except OSError as exc:
        message = f"no server answers at {url} ({env_name}): {exc}"
        if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def redis_url() -> str:
    return service_url("MEMFUN_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def nats_url() -> str:
    return service_url("MEMFUN_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    """The scripted model: an OpenAI-compatible server on 127.0.0.1 (set ``model.replies``)."""
    with fake_openai_server() as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path, model: FakeOpenAI) -> Path:
    """A project with calc.py (``add`` subtracts) beside an empty HOME, using ``model``.

    The memory tier, four steps at most. A test module that needs another project defines
    its own ``project`` fixture with ``memfun_cli.testing.new_project``.
    """
    return new_project(tmp_path, model.base, files={"calc.py": CALC})


async def _fill_runtime(path: Path, events: int) -> None:
    project = path.parent.parent  # PROJECT/.memfun/runtime.db, stamped as the CLI there would
    backend = SQLiteBackend(path, ownership=project_ownership(project, path, cli_env(project)))
    await backend.start()
    try:
        await backend.events.publish_many("orders", [{"n": n} for n in range(events)])
        await backend.state.set("memfun.traces.run-1", {"steps": 3})
        await backend.tasks.enqueue("jobs", {"job": 1}, task_id="t1")
        await backend.sessions.create(session_id="s1", metadata={"user": "ana"})
    finally:
        await backend.stop()


@pytest.fixture
def fill_runtime() -> Callable[[Path, int], None]:
    """Fills the T1 runtime at a path: N events on ``orders`` (payload ``{"n": i}``), the
    trace ``run-1``, the task ``t1`` on ``jobs`` and the session ``s1``."""
    return lambda path, events: asyncio.run(_fill_runtime(path, events))
