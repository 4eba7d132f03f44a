"""``memfun runtime status`` shows each queue's depth and each consumer group's lag.

The numbers come from the configured tier's storage, written here by the test's own backend
on the same SQLite file or Redis namespace.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from memfun_runtime import RuntimeBuilder
from memfun_runtime._backend import Backend
from memfun_runtime.testing import namespace_for

MEMFUN = str(Path(sys.executable).parent / "memfun")


def run_status(project: Path, *flags: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    (project.parent / "home").mkdir(exist_ok=True)
    return subprocess.run(
        [MEMFUN, "runtime", "status", *flags],
        cwd=project,
        env={**env, "HOME": str(project.parent / "home"), **extra},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def populate(backend: Backend) -> None:
    """Queue ``jobs``: 3 pending, 1 leased; group ``orders/billing``: lag 4, 2 unacked."""
    async with RuntimeBuilder().backend(backend).build():
        for n in range(4):
            await backend.tasks.enqueue("jobs", {"n": n}, task_id=f"t{n}")
        assert await backend.tasks.lease("jobs", visibility_timeout=600) is not None
        billing = await backend.events.subscribe("orders", "billing", ack_timeout=600)
        for n in range(7):
            await backend.events.publish("orders", {"n": n})
        got = await billing.fetch(3, timeout=10)
        assert len(got) == 3
        await got[0].ack()
        await billing.close()


def check(project: Path, **env: str) -> None:
    result = run_status(project, "--json", **env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["queues"] == [{"queue": "jobs", "pending": 3, "leased": 1}]
    assert data["groups"] == [{"topic": "orders", "group": "billing", "lag": 4, "unacked": 2}]
    text = run_status(project, **env)
    assert text.returncode == 0, text.stderr
    lines = [line.split() for line in text.stdout.splitlines()]
    assert ["jobs", "pending", "3", "leased", "1"] in lines
    assert ["orders/billing", "lag", "4", "unacked", "2"] in lines


def test_status_shows_queues_and_groups_on_sqlite(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    empty = run_status(project, "--json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout)["queues"] == []
    from memfun_runtime.backends.sqlite import SQLiteBackend

    asyncio.run(populate(SQLiteBackend(project / ".memfun" / "runtime.db")))
    check(project)


def test_status_shows_queues_and_groups_on_redis(tmp_path: Path, redis_url: str) -> None:
    from memfun_runtime.backends.redis import RedisBackend
    from memfun_runtime.backends.redis import testing as redis_testing

    project = tmp_path / "proj"
    project.mkdir()
    namespace = namespace_for(str(project))
    try:
        asyncio.run(populate(RedisBackend(redis_url, namespace=namespace)))
        check(
            project,
            MEMFUN_RUNTIME__TIER="redis",
            MEMFUN_RUNTIME__REDIS_URL=redis_url,
            MEMFUN_RUNTIME__NAMESPACE=namespace,
        )
    finally:
        redis_testing.purge_namespace(namespace, redis_url)


def test_status_on_the_memory_tier_says_there_are_no_shared_queues(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    result = run_status(project, MEMFUN_RUNTIME__TIER="memory")
    assert result.returncode == 0, result.stderr
    assert "queues and groups: none outside a process on the memory tier" in result.stdout
    data = json.loads(run_status(project, "--json", MEMFUN_RUNTIME__TIER="memory").stdout)
    assert data["queues"] is None
