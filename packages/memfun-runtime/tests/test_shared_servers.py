"""Two test runs share one Redis and one NATS: names derived for a test are unique per run.

The attack: another run (another process, e.g. a second CI job whose temporary folders have
the same paths as ours) derives its namespace from the very same test folder and fills it with
data. None of it may reach this run's backend built on that folder.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from memfun_runtime._backend import Backend
from memfun_runtime.backends.nats import testing as nats_testing
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.testing import RUN_ID, namespace_for

_OTHER_RUN = """
import asyncio, sys
from memfun_runtime.testing import namespace_for

async def main(tier: str, folder: str) -> None:
    namespace = namespace_for(folder)
    if tier == "redis":
        from memfun_runtime.backends.redis import RedisBackend, testing
        backend = RedisBackend(testing.redis_url(), namespace=namespace)
    else:
        from memfun_runtime.backends.nats import NatsBackend, testing
        backend = NatsBackend(testing.nats_url(), namespace=namespace)
    await backend.start()
    try:
        await backend.state.set("k", "the other run")
        await backend.tasks.enqueue("q", "the other run's task")
        await backend.events.publish("t", "the other run's event")
    finally:
        await backend.stop()
    print(namespace)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _redis(namespace: str) -> Backend:
    from memfun_runtime.backends.redis import RedisBackend

    return RedisBackend(redis_testing.redis_url(), namespace=namespace)


def _nats(namespace: str) -> Backend:
    from memfun_runtime.backends.nats import NatsBackend

    return NatsBackend(nats_testing.nats_url(), namespace=namespace)


_TIERS: dict[str, tuple[Callable[[], str | None], Callable[[str], Backend]]] = {
    "redis": (redis_testing.redis_skip_reason, _redis),
    "nats": (nats_testing.nats_skip_reason, _nats),
}


def _purge(tier: str, namespace: str) -> None:
    if tier == "redis":
        redis_testing.purge_namespace(namespace)
    else:
        nats_testing.purge_namespaces([namespace])


def test_a_seed_gives_one_namespace_in_a_run_and_the_tier_helpers_agree() -> None:
    assert namespace_for("/tmp/x") == namespace_for("/tmp/x")
    assert namespace_for("/tmp/x") != namespace_for("/tmp/y")
    assert redis_testing.namespace_for("/tmp/x") == namespace_for("/tmp/x")
    assert nats_testing.namespace_for("/tmp/x") == namespace_for("/tmp/x")


@pytest.mark.parametrize("tier", sorted(_TIERS))
async def test_another_run_on_the_same_test_folder_does_not_reach_our_data(
    tier: str, tmp_path: Path
) -> None:
    skip_reason, build = _TIERS[tier]
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    other = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _OTHER_RUN, tier, str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(other.communicate(), timeout=120)
    assert other.returncode == 0, err.decode()
    theirs = out.decode().strip()
    ours = namespace_for(str(tmp_path))
    try:
        assert theirs != ours, f"run {RUN_ID} derived the other run's namespace"
        backend = build(ours)
        await backend.start()
        try:
            assert await backend.state.get("k") is None
            assert await backend.tasks.lease("q") is None
            assert [event async for event in backend.events.replay("t")] == []
        finally:
            await backend.stop()
    finally:
        # the NATS helper runs its own event loop: give it a thread
        await asyncio.to_thread(_purge, tier, theirs)
        await asyncio.to_thread(_purge, tier, ours)


@pytest.mark.parametrize("tier", sorted(_TIERS))
async def test_two_projects_on_one_server_share_nothing_unless_they_name_a_namespace(
    tier: str, tmp_path: Path
) -> None:
    """The attack: project A's orchestrator queues a task; project B's worker must not run it.

    Both folders are named ``app`` (a clone named like one of the user's projects), and the
    user's config picks the tier without naming a namespace, as it did when the default was
    ``memfun`` for every project.
    """
    from memfun_core.config import MemfunConfig, RuntimeConfig
    from memfun_runtime import RuntimeBuilder, configured_namespace

    skip_reason, _build = _TIERS[tier]
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    runtime = RuntimeConfig(
        tier=tier,  # type: ignore[arg-type]
        redis_url=redis_testing.redis_url(),
        nats_url=nats_testing.nats_url(),
    )
    projects = [
        MemfunConfig(runtime=runtime, project_root=str(tmp_path / RUN_ID / side / "app"))
        for side in ("a", "b")
    ]
    a, b = (RuntimeBuilder().from_config(config).build().backend for config in projects)
    try:
        await a.start()
        await b.start()
        await a.tasks.enqueue("agents.reviewer", {"prompt": "review my code"})
        session = await a.sessions.create(metadata={"title": "A's chat"})
        assert await b.tasks.lease("agents.reviewer") is None
        assert await b.sessions.get(session.id) is None
        assert await b.sessions.list() == []
        lease = await a.tasks.lease("agents.reviewer")
        assert lease is not None  # A's own worker still finds it
        await a.tasks.complete(lease)
    finally:
        await a.stop()
        await b.stop()
        for config in projects:
            await asyncio.to_thread(_purge, tier, configured_namespace(config))
