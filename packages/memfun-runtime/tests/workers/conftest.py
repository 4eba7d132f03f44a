"""The tiers worker processes can share (sqlite, redis, nats) and the fixtures over them.

``tier`` runs a test once per tier (skipped with the reason when its server is absent),
``namespace`` is unique per test run and purged afterwards, ``backend`` is the test's own
backend on the workers' data, ``tier_args`` the workers' arguments selecting it. To add a tier, append a :class:`WorkerTier` to ``TIERS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfun_runtime._backend import Backend
from memfun_runtime.backends.nats import testing as nats_testing
from memfun_runtime.backends.redis import testing as redis_testing


@dataclass(frozen=True, slots=True)
class WorkerTier:
    """How to point worker processes and the test at one shared tier.

    Attributes:
        name: Test id.
        args: Worker command-line arguments selecting the tier, given a per-test folder and
            namespace.
        backend: The test's own backend on the same data.
        skip_reason: Why the tier cannot run here, or ``None``.
        cleanup: Removes the test's data from a shared server.
    """

    name: str
    args: Callable[[Path, str], list[str]]
    backend: Callable[[Path, str], Backend]
    skip_reason: Callable[[], str | None] = lambda: None
    cleanup: Callable[[str], object] = lambda _: None


def _sqlite_backend(folder: Path, _: str) -> Backend:
    from memfun_runtime.backends.sqlite import SQLiteBackend

    return SQLiteBackend(folder / "runtime.db")


def _redis_backend(_: Path, namespace: str) -> Backend:
    from memfun_runtime.backends.redis import RedisBackend

    return RedisBackend(redis_testing.redis_url(), namespace=namespace)


def _redis_args(_: Path, namespace: str) -> list[str]:
    url = redis_testing.redis_url()
    return ["--tier", "redis", "--redis-url", url, "--namespace", namespace]


def _nats_backend(_: Path, namespace: str) -> Backend:
    from memfun_runtime.backends.nats import NatsBackend

    return NatsBackend(nats_testing.nats_url(), namespace=namespace)


def _nats_args(_: Path, namespace: str) -> list[str]:
    return ["--tier", "nats", "--nats-url", nats_testing.nats_url(), "--namespace", namespace]


TIERS = [
    WorkerTier(
        "sqlite",
        args=lambda folder, _: ["--tier", "sqlite", "--sqlite-path", str(folder / "runtime.db")],
        backend=_sqlite_backend,
    ),
    WorkerTier(
        "redis",
        args=_redis_args,
        backend=_redis_backend,
        skip_reason=redis_testing.redis_skip_reason,
        cleanup=redis_testing.purge_namespace,
    ),
    WorkerTier(
        "nats",
        args=_nats_args,
        backend=_nats_backend,
        skip_reason=nats_testing.nats_skip_reason,
        cleanup=lambda namespace: nats_testing.purge_namespaces([namespace]),
    ),
]


@pytest.fixture(params=TIERS, ids=lambda tier: tier.name)
def tier(request: pytest.FixtureRequest) -> WorkerTier:
    config: WorkerTier = request.param
    reason = config.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return config


@pytest.fixture
def namespace(tmp_path: Path, tier: WorkerTier) -> Iterator[str]:
    name = redis_testing.namespace_for(str(tmp_path))
    yield name
    tier.cleanup(name)


@pytest.fixture
async def backend(tier: WorkerTier, tmp_path: Path, namespace: str) -> AsyncIterator[Backend]:
    instance = tier.backend(tmp_path, namespace)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
def tier_args(tier: WorkerTier, tmp_path: Path, namespace: str) -> list[str]:
    """A worker's command-line arguments selecting the test's tier and namespace."""
    return tier.args(tmp_path, namespace)
