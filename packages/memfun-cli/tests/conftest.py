from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest


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
