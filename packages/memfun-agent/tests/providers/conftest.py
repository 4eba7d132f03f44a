"""The fake OpenAI-compatible server fixture (the server lives in memfun_agent.testing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memfun_agent.testing import FakeOpenAI, fake_openai_server


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A running fake server; stopped after the test."""
    with fake_openai_server() as fake:
        yield fake
