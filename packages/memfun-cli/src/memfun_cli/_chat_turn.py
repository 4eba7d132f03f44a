"""One chat turn, run in its own process so that Ctrl-C can really stop it.

The agent runs its REPL loop in a worker thread that cannot be interrupted from outside, so
``memfun chat`` starts ``python -m memfun_cli._chat_turn`` for every turn, writes the request
as JSON on its stdin and reads the result (the ``memfun ask --json`` object) from its stdout;
progress goes to the terminal through the inherited stderr. Cancelling a turn terminates the
process group, which ends the model loop at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from memfun_core.errors import BackendError

if TYPE_CHECKING:
    from memfun_agent import AgentResult
    from memfun_core.config import MemfunConfig

__all__ = ["TurnRequest", "run_turn"]

_STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What one turn asks of the agent.

    Attributes:
        task: The user's message (or the skill task).
        conversation: The conversation so far, as text (a REPL variable, never the prompt).
        skill_instructions: The activated skill's instructions, or ``""``.
        metadata: Stored in the run's trace (session id, skill name).
        yes: Allow the tools that change files (``memfun chat --yes``).
    """

    task: str
    conversation: str
    skill_instructions: str = ""
    metadata: dict[str, Any] | None = None
    yes: bool = False


def _stop(process: subprocess.Popen[str]) -> None:
    """Terminate the turn's process group, then kill it if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(_STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def run_turn(request: TurnRequest) -> dict[str, Any] | None:
    """Run one turn in a child process; return its result object, or ``None`` if cancelled.

    Raises:
        BackendError: The turn process ended without a result (its error is already shown
            on stderr).
    """
    payload = {
        "task": request.task,
        "conversation": request.conversation,
        "skill_instructions": request.skill_instructions,
        "metadata": request.metadata or {},
        "yes": request.yes,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "memfun_cli._chat_turn"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the chat, which decides what to stop
    )
    try:
        out, _ = process.communicate(json.dumps(payload))
    except KeyboardInterrupt:
        _stop(process)
        return None
    try:
        result: dict[str, Any] = json.loads(out)
    except json.JSONDecodeError:
        raise BackendError(
            f"the turn ended with exit code {process.returncode} and no result",
            backend="chat turn",
            hint="see the message above; run `memfun --debug chat` for details",
        ) from None
    return result


async def _run(config: MemfunConfig, request: dict[str, Any]) -> AgentResult:
    from memfun_agent import RLMAgent, TraceStore
    from memfun_cli.commands.tasks import edit_policy, progress_listener
    from memfun_runtime import RuntimeBuilder

    yes = bool(request.get("yes"))
    policy = edit_policy(edits=yes, yes=yes)
    conversation = str(request.get("conversation", ""))
    context = {"conversation": conversation} if conversation else {}
    async with RuntimeBuilder().from_config(config).build() as runtime:
        agent = RLMAgent.from_config(
            config, policy=policy, listener=_listener(progress_listener(False)),
            traces=TraceStore(runtime.backend),
        )  # fmt: skip
        try:
            return await agent.run(
                str(request["task"]),
                context=context,
                skill_instructions=str(request.get("skill_instructions", "")),
                metadata=dict(request.get("metadata") or {}),
            )
        finally:
            agent.close()


def _listener(inner: Any) -> Any:
    def listener(record: dict[str, Any]) -> None:
        if record.get("kind") == "lm_call":
            tokens = int(record.get("input_tokens", 0)) + int(record.get("output_tokens", 0))
            typer.echo(f"  model replied ({tokens} tokens)", err=True)
        inner(record)

    return listener


def _main() -> None:
    from memfun_cli.commands.tasks import print_result
    from memfun_core.config import load_config

    request = json.loads(sys.stdin.read())
    result = asyncio.run(_run(load_config(), request))
    print_result(result, True)


if __name__ == "__main__":
    from memfun_cli._errors import run_cli

    run_cli(_main)
