"""The network guard refuses everything but loopback, and fails tests that try."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import dspy
import pytest

from memfun_agent.testing import NetworkBlockedError, block_network


@pytest.mark.network
def test_non_loopback_connections_and_lookups_are_refused() -> None:
    with block_network() as attempts:
        with socket.socket() as sock, pytest.raises(NetworkBlockedError):
            sock.connect(("203.0.113.7", 443))
        with pytest.raises(NetworkBlockedError):
            socket.getaddrinfo("api.openai.com", 443)
    assert attempts == ["203.0.113.7:443", "api.openai.com:443"]


@pytest.mark.network
def test_loopback_stays_allowed() -> None:
    with block_network() as attempts, socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
        assert socket.getaddrinfo("localhost", 80)
    assert attempts == []


@pytest.mark.network
def test_a_real_model_call_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-memfun-test-not-a-key-000000")
    lm = dspy.LM("openai/gpt-4o-mini", num_retries=0, cache=False)
    with block_network() as attempts, pytest.raises(Exception):  # noqa: B017, PT011
        lm("hello")
    assert any("openai.com" in target for target in attempts)


def test_the_autouse_fixture_fails_an_unmarked_test(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from memfun_agent.testing.pytest_plugin import *  # noqa: F403\n"
    )
    (tmp_path / "test_leak.py").write_text(
        textwrap.dedent(
            """
            import socket
            import pytest

            def test_swallowed():
                try:
                    socket.getaddrinfo("example.com", 80)
                except OSError:
                    pass  # a library falling back silently

            @pytest.mark.network
            def test_marked():
                pass
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed, 1 error" in done.stdout  # the leak fails at teardown
    assert "example.com:80" in done.stdout
