"""DSPy must not reach the network: LiteLLM's cost map is read from the package."""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import pytest

from memfun_runtime.sandboxes.local import probe


@pytest.fixture(params=["namespaces", "landlock"])
def sandbox_mode(request: pytest.FixtureRequest) -> str:
    caps = probe()
    mode = str(request.param)
    if mode == "namespaces" and not caps.namespaces:
        if os.environ.get("MEMFUN_REQUIRE_SERVICES") == "1":
            pytest.fail(f"bubblewrap namespaces unavailable: {caps.namespace_error}")
        pytest.skip(f"bubblewrap namespaces unavailable: {caps.namespace_error}")
    if mode == "landlock" and not (caps.landlock_abi and caps.seccomp):
        pytest.skip("Landlock or seccomp unavailable")
    return mode
