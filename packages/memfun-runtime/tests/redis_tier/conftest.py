"""Fixtures for the Redis tier's own tests: the shared server and private servers."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.backends.redis.testing import PrivateRedis


def _require_or_skip(reason: str) -> None:
    if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"MEMFUN_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        _require_or_skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def shared_redis_url() -> str:
    reason = redis_testing.redis_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return redis_testing.redis_url()


@pytest.fixture
async def shared_backend(shared_redis_url: str, tmp_path: Path) -> AsyncIterator[RedisBackend]:
    namespace = redis_testing.namespace_for(str(tmp_path))
    backend = RedisBackend(shared_redis_url, namespace=namespace)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.purge()
        await backend.stop()
