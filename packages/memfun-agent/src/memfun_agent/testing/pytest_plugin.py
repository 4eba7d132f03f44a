"""A pytest plugin: no test reaches a real model or the internet unless it is marked.

Enable it in a ``conftest.py``::

    from memfun_agent.testing.pytest_plugin import *  # noqa: F403

It registers the markers ``network`` (the test may reach hosts other than loopback) and
``local_llm`` (the test runs a real local model), sets ``LITELLM_LOCAL_MODEL_COST_MAP=True``
so that nothing fetches model metadata, and adds an autouse fixture that refuses every
connection and name lookup outside loopback. A refused attempt fails the test even when a
library caught the error. A test that needs the local sandbox requests ``sandbox_ok``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from memfun_agent.testing._guard import block_network

__all__ = ["memfun_network_guard", "pytest_configure", "sandbox_ok"]

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers this plugin understands."""
    config.addinivalue_line(
        "markers", "network: the test may reach hosts other than loopback (the guard is off)"
    )
    config.addinivalue_line(
        "markers", "local_llm: runs a real local model server (slow, needs the local extra)"
    )


@pytest.fixture(autouse=True)
def memfun_network_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Refuse network access outside loopback unless the test is marked ``network``."""
    if request.node.get_closest_marker("network") is not None:
        yield
        return
    with block_network() as attempts:
        yield
    if attempts:
        pytest.fail(
            "the test tried to reach the network: "
            + ", ".join(attempts[:5])
            + " (use ScriptedLM or a server on 127.0.0.1, or mark it @pytest.mark.network)",
            pytrace=False,
        )


@pytest.fixture
def sandbox_ok() -> None:
    """Skip (or fail under MEMFUN_REQUIRE_SERVICES=1) when no local sandbox can run here."""
    from memfun_runtime.sandboxes.local import probe

    caps = probe()
    if caps.namespaces or (caps.landlock_abi and caps.seccomp):
        return
    reason = f"no local sandbox here: {caps.namespace_error}"
    if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)
