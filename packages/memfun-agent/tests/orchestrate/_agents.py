"""Agents of the orchestration tests: definitions, their scripted models, a runtime to run on.

Used in the test process (T1) and by ``agent_worker.py`` (worker processes on T1-T3). Each
agent's model is scripted by a function of the prompt, so that the same script serves
whichever node (and whichever worker) asks:

* a branch node (task ``BRANCH <name>: ...``) marks its arrival in ``folder`` and waits until
  both branches arrived: it completes only if the two branches run at the same time;
* with ``stall``, the first ``right`` branch to arrive anywhere records its pid in
  ``folder/stalled`` and hangs (the test SIGKILLs that worker mid-node);
* the join node reads its dependencies' results from the REPL variables it receives.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memfun_agent.definitions import AgentDefinition
from memfun_agent.dispatch import AgentSetup, DefinedAgent, defined_agent
from memfun_agent.testing import ScriptedLM
from memfun_agent.tools import ToolBridge
from memfun_runtime import RuntimeBuilder
from memfun_runtime._backend import Backend

__all__ = ["BRANCHES", "DEFINITIONS", "PLAN", "agent_classes", "backend_for", "scripted_models"]

DEFINITIONS = (
    AgentDefinition("explorer", "Reads code and reports what it finds", model="scripted/explorer",
                    capabilities=("read",), read_only=True),
    AgentDefinition("coder", "Writes and changes code", model="scripted/coder",
                    capabilities=("write",)),
    AgentDefinition("reviewer", "Reviews the work of others", model="scripted/reviewer"),
)  # fmt: skip
BRANCHES = ("left", "right")
PLAN = [
    {"id": "left", "agent": "explorer", "task": "BRANCH left: list what calc.py defines"},
    {"id": "right", "agent": "coder", "task": "BRANCH right: find the bug in calc.py"},
    {"id": "join", "agent": "reviewer", "task": "JOIN: combine both findings",
     "depends_on": ["left", "right"]},
]  # fmt: skip
_WAIT = 120.0


def _submit(answer: str) -> dict[str, str]:
    return {"reasoning": "done", "code": f"SUBMIT(answer={answer}, summary='')"}


def _reply(agent: str, folder: Path, stall: bool) -> Callable[[str], dict[str, str]]:
    def reply(prompt: str) -> dict[str, str]:
        if "result_left" in prompt:
            return _submit(
                "'joined: ' + result_left.splitlines()[1] + ' + ' + result_right.splitlines()[1]"
            )
        branch = next((b for b in BRANCHES if f"BRANCH {b}:" in prompt), None)
        if branch is None:
            return _submit("'unexpected task'")
        (folder / f"arrived-{branch}").touch()
        if stall and branch == "right":
            try:
                with (folder / "stalled").open("x") as marker:
                    marker.write(str(os.getpid()))
            except FileExistsError:
                pass
            else:
                time.sleep(3600)  # SIGKILLed here
        deadline = time.monotonic() + _WAIT
        while not all((folder / f"arrived-{b}").exists() for b in BRANCHES):
            if time.monotonic() > deadline:
                return _submit("'the other branch never ran at the same time'")
            time.sleep(0.02)
        return _submit(f"'{branch} by {agent} in {os.getpid()}'")

    return reply


def scripted_models(folder: Path, *, stall: bool = False) -> dict[str, ScriptedLM]:
    """One scripted model per agent, keyed by the definition's model string."""
    return {
        str(d.model): ScriptedLM([_reply(d.name, folder, stall)], model=str(d.model),
                                 repeat_last=True)
        for d in DEFINITIONS
    }  # fmt: skip


def agent_classes(
    workspace: Path, folder: Path, *, stall: bool = False, visibility_timeout: float = 30.0
) -> list[type[DefinedAgent]]:
    """A DefinedAgent class per definition, each on its scripted model."""
    models = scripted_models(folder, stall=stall)

    def lm(model: str | None) -> Any:
        return models[str(model)]

    setup = AgentSetup(
        workspace=workspace, lm=lm, tools=ToolBridge, agent_options={"verifier": None}
    )
    return [defined_agent(d, setup, visibility_timeout=visibility_timeout) for d in DEFINITIONS]


def backend_for(tier: str, namespace: str, folder: Path) -> Backend:
    """The backend of ``tier`` on the shared servers (or a SQLite file in ``folder``)."""
    if tier == "redis":
        from memfun_runtime.backends.redis import RedisBackend
        from memfun_runtime.backends.redis.testing import redis_url

        return RedisBackend(redis_url(), namespace=namespace)
    if tier == "nats":
        from memfun_runtime.backends.nats import NatsBackend
        from memfun_runtime.backends.nats.testing import nats_url

        return NatsBackend(nats_url(), namespace=namespace)
    return RuntimeBuilder().sqlite(folder / "runtime.db").build().backend
