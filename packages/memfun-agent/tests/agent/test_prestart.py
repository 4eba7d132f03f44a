"""The REPL a run starts ahead (``RLMAgent.prestart`` and each run's own early start)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from memfun_agent import RLMAgent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_runtime.protocols import ReplSession
from memfun_runtime.sandboxes import LocalSandbox

pytestmark = pytest.mark.usefixtures("sandbox_ok")

_STEPS = [
    {"reasoning": "Look.", "code": "import os\nprint(os.getpid())"},
    {"reasoning": "Done.", "code": "SUBMIT(answer='ok', summary='none')"},
]


class _Recording(LocalSandbox):
    """The real local sandbox, remembering each REPL it opened and from which thread."""

    def __init__(self, opened: list[tuple[ReplSession, str]]) -> None:
        super().__init__()
        self._opened = opened

    def open_repl(self, **kwargs: Any) -> ReplSession:
        session = super().open_repl(**kwargs)
        self._opened.append((session, threading.current_thread().name))
        return session


def _agent(repo: Path, bridge: ToolBridge, opened: list[tuple[ReplSession, str]]) -> RLMAgent:
    steps: list[Mapping[str, Any]] = [dict(step) for step in _STEPS]
    return RLMAgent(
        repo,
        lm=ScriptedLM(steps),
        bridge=bridge,
        verifier=None,
        sandbox=lambda: _Recording(opened),
    )


async def test_a_prestarted_repl_is_the_one_the_run_uses(repo: Path, bridge: ToolBridge) -> None:
    opened: list[tuple[ReplSession, str]] = []
    agent = _agent(repo, bridge, opened)
    agent.prestart()
    agent.prestart()  # idempotent: still one REPL
    result = await agent.run("what does calc.py do?")
    assert result.outcome == "completed", result.error
    assert [name for _, name in opened] == ["memfun-sandbox-start"]
    assert result.steps[0].output.strip().isdigit()  # the step ran in that REPL
    assert not opened[0][0].alive  # shut down when the run ended
    # The next run starts its own REPL (ahead too), never the first one again.
    agent._lm = ScriptedLM([dict(step) for step in _STEPS])  # pyright: ignore[reportPrivateUsage]
    again = await agent.run("and again?")
    assert again.outcome == "completed", again.error
    assert len(opened) == 2
    assert opened[1][0] is not opened[0][0]
    assert not opened[1][0].alive


async def test_a_prestarted_repl_no_run_took_is_shut_down_by_close(
    repo: Path, bridge: ToolBridge
) -> None:
    opened: list[tuple[ReplSession, str]] = []
    agent = _agent(repo, bridge, opened)
    agent.prestart()
    agent.close()
    for _ in range(200):  # the start may still be under way: it ends, then shuts down
        if opened and not opened[0][0].alive:
            break
        threading.Event().wait(0.05)
    assert len(opened) == 1
    assert not opened[0][0].alive


async def test_a_sandbox_that_cannot_start_ends_the_run_as_a_sandbox_error(
    repo: Path, bridge: ToolBridge
) -> None:
    agent = RLMAgent(
        repo,
        lm=ScriptedLM([dict(step) for step in _STEPS]),
        bridge=bridge,
        verifier=None,
        sandbox=lambda: LocalSandbox(python="/nonexistent/python3"),
    )
    agent.prestart()
    result = await agent.run("what does calc.py do?")
    assert result.outcome == "sandbox_error"
    assert "could not start" in (result.error or "")
