"""The conformance suite's tiers: one small config per backend tier.

Each test module defines behaviour mixins (no ``Test`` prefix) written against the protocols
only, and one concrete ``Test...`` class that pytest runs once per tier through the
``backend`` fixture. A tier differs from another only through the capability flags below;
tests never branch on a tier's name.

To plug a tier in, append a :class:`~memfun_runtime.testing.TierConfig` to ``TIERS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from memfun_runtime._backend import Backend
from memfun_runtime.backends.memory import MemoryBackend
from memfun_runtime.backends.nats import testing as nats_testing
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.backends.sqlite import SQLiteBackend
from memfun_runtime.testing import TierConfig


def _memory(_: Path, /, *, task_retention: float | None = None) -> Backend:
    if task_retention is None:
        return MemoryBackend()
    return MemoryBackend(task_retention=task_retention)


def _sqlite(folder: Path, /, *, task_retention: float | None = None) -> Backend:
    path = folder / "runtime.db"
    if task_retention is None:
        return SQLiteBackend(path, poll_interval=0.01)
    return SQLiteBackend(
        path,
        poll_interval=0.01,
        task_retention=task_retention,
        maintenance_interval=task_retention / 5,  # the clean-up that drops expired tasks
    )


_redis_namespaces: set[str] = set()


def _redis(folder: Path, /, *, task_retention: float | None = None) -> Backend:
    from memfun_runtime.backends.redis import RedisBackend

    namespace = redis_testing.namespace_for(str(folder))  # same folder, same data
    _redis_namespaces.add(namespace)
    if task_retention is None:
        return RedisBackend(redis_testing.redis_url(), namespace=namespace)
    return RedisBackend(
        redis_testing.redis_url(), namespace=namespace, task_retention=task_retention
    )


@pytest.fixture(autouse=True, scope="session")
def _purge_redis_namespaces() -> Iterator[None]:
    yield
    for namespace in _redis_namespaces:
        redis_testing.purge_namespace(namespace)


_nats_namespaces: list[str] = []


def _nats(folder: Path, /, *, task_retention: float | None = None) -> Backend:
    from memfun_runtime.backends.nats import NatsBackend

    namespace = nats_testing.namespace_for(str(folder))  # same folder, same data
    _nats_namespaces.append(namespace)
    if task_retention is None:
        return NatsBackend(nats_testing.nats_url(), namespace=namespace)
    return NatsBackend(nats_testing.nats_url(), namespace=namespace, task_retention=task_retention)


@pytest.fixture(autouse=True, scope="session")
def _purge_nats_namespaces() -> Iterator[None]:
    yield
    if _nats_namespaces:
        nats_testing.purge_namespaces(sorted(set(_nats_namespaces)))


TIERS: list[TierConfig] = [
    TierConfig("memory", _memory, durable=False),
    TierConfig("sqlite", _sqlite, durable=True),
    TierConfig("redis", _redis, durable=True, skip_reason=redis_testing.redis_skip_reason),
    TierConfig("nats", _nats, durable=True, skip_reason=nats_testing.nats_skip_reason),
]


@pytest.fixture(params=TIERS, ids=lambda tier: tier.name)
def tier(request: pytest.FixtureRequest) -> TierConfig:
    config: TierConfig = request.param
    reason = config.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return config


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    folder = tmp_path / "backend"
    folder.mkdir()
    return folder


@pytest.fixture
def task_retention() -> float | None:
    """Seconds finished tasks are kept (``None``: the tier's default); a module may override."""
    return None


@pytest.fixture
async def backend(
    tier: TierConfig, storage: Path, task_retention: float | None
) -> AsyncIterator[Backend]:
    instance = tier.build(storage, task_retention=task_retention)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()
