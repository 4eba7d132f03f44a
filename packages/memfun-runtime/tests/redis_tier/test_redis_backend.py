"""T2 specifics beyond the conformance suite: the extra, namespaces, URLs, the worker CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memfun_core.errors import BackendUnavailable, ValidationError
from memfun_runtime.backends.redis import RedisBackend
from memfun_runtime.backends.redis import testing as redis_testing
from memfun_runtime.backends.redis._client import redact_url
from memfun_runtime.backends.redis.testing import free_port


def test_without_the_extra_the_backend_names_the_extra_to_install() -> None:
    script = (
        "import sys; sys.modules['redis'] = None\n"
        "import memfun_runtime.backends.redis as tier\n"  # importing the tier itself works
        "from memfun_core.errors import MissingExtraError\n"
        "try:\n"
        "    tier.RedisBackend()\n"
        "except MissingExtraError as exc:\n"
        "    print(exc.extra, exc.package); print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[0] == "redis memfun-runtime"
    assert 'pip install "memfun-runtime[redis]"' in out


def test_bad_urls_and_namespaces_are_refused() -> None:
    with pytest.raises(ValidationError):
        RedisBackend("http://127.0.0.1:6379")
    with pytest.raises(ValidationError):
        RedisBackend(namespace="has:colon")
    with pytest.raises(ValidationError):
        RedisBackend(namespace="a.b")


def test_passwords_never_appear_in_targets() -> None:
    assert redact_url("redis://user:s3cret@host:6380/1") == "redis://user:***@host:6380/1"
    assert "s3cret" not in redact_url("redis://:s3cret@host/0")
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


async def test_starting_without_a_server_fails_fast_with_backend_unavailable() -> None:
    backend = RedisBackend(f"redis://127.0.0.1:{free_port()}/0", operation_timeout=0.5)
    with pytest.raises(BackendUnavailable) as caught:
        await backend.start()
    assert caught.value.backend == "redis"
    assert not (await backend.health()).ok


async def test_namespaces_share_a_server_without_seeing_each_other(
    shared_redis_url: str, tmp_path: Path
) -> None:
    one = RedisBackend(shared_redis_url, namespace=redis_testing.namespace_for(f"{tmp_path}/1"))
    two = RedisBackend(shared_redis_url, namespace=redis_testing.namespace_for(f"{tmp_path}/2"))
    await one.start()
    await two.start()
    try:
        await one.state.set("k", "one")
        await one.tasks.enqueue("q", "job")
        await one.events.publish("t", 1)
        assert await two.state.get("k") is None
        assert await two.tasks.lease("q") is None
        assert [e async for e in two.events.replay("t")] == []
        assert await two.purge() == 1  # its own mark that its name sets exist, none of one's
        assert await one.state.get("k") is not None
        assert await one.purge() > 0
        assert await one.state.get("k") is None
    finally:
        await one.purge()
        await two.purge()
        await one.stop()
        await two.stop()


def test_the_worker_cli_explains_a_bad_handler(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "memfun_runtime.worker",
            "--tier",
            "sqlite",
            "--sqlite-path",
            str(tmp_path / "r.db"),
            "--capability",
            "x",
            "--handler",
            "no_such_module_here",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "module:function" in result.stderr
