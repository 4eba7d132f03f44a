"""Fixtures for the NATS tier's own tests: private servers started per test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_runtime.backends.nats.testing import PrivateNats


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    if shutil.which("nats-server") is None:
        reason = "nats-server is not installed"
        if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
            pytest.fail(f"MEMFUN_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    pytest.importorskip("nats", reason="the nats extra is not installed")
    server = PrivateNats(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
