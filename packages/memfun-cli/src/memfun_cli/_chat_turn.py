"""Chat turns, run in one warm process per chat so that Ctrl-C can really stop a turn.

The agent runs its REPL loop in a worker thread that cannot be interrupted from outside, so
``memfun chat`` runs turns in a child process (``python -m memfun_cli._chat_turn``), started
in the background when the chat starts: it imports the agent (DSPy, the MCP tool servers)
while the user types its first message, then serves one turn after another. Cancelling a turn
kills that process group, which ends the model loop at once, and starts a fresh process.

The two talk in JSON lines over the child's stdin and stdout (the child moves its own stdout
to stderr, so nothing else can corrupt the channel):

* chat -> turn process: ``{"type": "turn", "task", "conversation", "skill", "skill_arguments",
  "auto_skills",
  "metadata", "yes", "debug"}``, and ``{"type": "answer", "allow"}`` after an ``ask``;
* turn process -> chat, while the turn runs: ``{"type": "progress", ...}`` for each step,
  model reply, tool call and check as it happens (see :mod:`memfun_cli._progress`), and
  ``{"type": "ask", "tool", "arguments", "path", "diff", "error"}`` before each edit when the
  chat was started without ``--yes``; at the end ``{"type": "result", "result"}`` (the
  ``memfun ask --json`` object) or ``{"type": "error", "message", "hint", "user"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from memfun_core.errors import BackendError, MemfunError, UserError

if TYPE_CHECKING:
    from memfun_agent import AgentResult
    from memfun_agent.dispatch import AgentTaskResult
    from memfun_agent.tools import PermissionRequest
    from memfun_core.config import MemfunConfig

__all__ = ["TurnRequest", "TurnRunner"]

_STOP_GRACE_SECONDS = 5.0
#: What the turn process imports before its first turn: what a cold turn spent its first
#: seconds on (DSPy, the MCP client and server, the tool servers, the SQLite backend).
#: memfun_agent comes first: it keeps LiteLLM from fetching its cost map over the network.
_WARM_MODULES = (
    "memfun_agent",
    "dspy",
    "fastmcp.client",
    "fastmcp.server",
    "memfun_agent._agent",
    "memfun_agent._providers",
    "memfun_agent.tools",
    "memfun_tools.gateway",
    "memfun_tools.fs.server",
    "memfun_tools.git.server",
    "memfun_tools.repomap.server",
    "memfun_tools.search.server",
    "memfun_tools.web",
    "memfun_runtime",
    "memfun_runtime.backends.sqlite",
    "memfun_cli.commands.tasks",
    "memfun_cli._edit_preview",
    "memfun_cli._progress",
    "memfun_cli._chat_agents",
    "memfun_cli.commands.agent_run",
    "memfun_agent.dispatch",
)


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What one turn asks of the agent.

    Attributes:
        task: The user's message (or the skill task).
        conversation: The conversation so far, as text (a REPL variable, never the prompt).
        skill: The skill named with ``/NAME`` (``""``: the router may choose one, see
            :mod:`memfun_cli._skill_run`); it runs through the skill executor.
        metadata: Stored in the run's trace (session id, skill name).
        yes: Apply edits without asking (``memfun chat --yes``).
        agent: The agent that runs the turn (``@NAME MESSAGE``), or ``""`` for Memfun's own.
        skill_arguments: The text after ``/NAME``.
        auto_skills: Whether the router may choose a skill (``memfun chat --no-skills``: no).
    """

    task: str
    conversation: str
    skill: str = ""
    metadata: dict[str, Any] | None = None
    yes: bool = False
    agent: str = ""
    skill_arguments: str = ""
    auto_skills: bool = True


ProgressCallback = Callable[[Mapping[str, Any]], None]
"""Receives each progress event while a turn runs."""
ConfirmCallback = Callable[[Mapping[str, Any]], bool]
"""Answers an ``ask`` event (``True`` applies the edit); raising KeyboardInterrupt cancels."""


class TurnRunner:
    """The chat's turn process: started once, reused by every turn, replaced after a cancel.

    Args:
        debug: Show tracebacks and debug logs of the turns (``memfun --debug chat``).
    """

    def __init__(self, *, debug: bool = False) -> None:
        self._debug = debug
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start the turn process in the background unless it is running (returns at once)."""
        if self._process is not None and self._process.poll() is None:
            return
        command = [sys.executable, "-m", "memfun_cli._chat_turn"]
        self._process = subprocess.Popen(
            [*command, "--debug"] if self._debug else command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            start_new_session=True,  # Ctrl-C reaches the chat, which decides what to stop
        )

    def run(
        self, request: TurnRequest, *, on_progress: ProgressCallback, confirm: ConfirmCallback
    ) -> dict[str, Any] | None:
        """Run one turn; return its result object, or ``None`` if Ctrl-C cancelled it.

        Progress events reach ``on_progress`` as they happen; each edit waits for
        ``confirm`` (never called with ``request.yes``).

        Raises:
            UserError: The turn refused the request (e.g. the model's key is not set).
            BackendError: The turn failed, or its process ended without a result.
        """
        self.start()
        process = self._process
        assert process is not None
        assert process.stdin is not None
        assert process.stdout is not None
        payload = {
            "type": "turn",
            "task": request.task,
            "conversation": request.conversation,
            "skill": request.skill,
            "skill_arguments": request.skill_arguments,
            "auto_skills": request.auto_skills,
            "metadata": request.metadata or {},
            "yes": request.yes,
            "agent": request.agent,
            "debug": self._debug,
        }
        try:
            _write(process.stdin, payload)
            while True:
                event = _read(process.stdout)
                if event is None:
                    self._stop()
                    raise BackendError(
                        f"the turn process ended with exit code {process.returncode} and no result",
                        backend="chat turn",
                        hint="see the message above; run `memfun --debug chat` for details",
                    )
                kind = event.get("type")
                if kind == "progress":
                    on_progress(event)
                elif kind == "ask":
                    _write(process.stdin, {"type": "answer", "allow": bool(confirm(event))})
                elif kind == "result":
                    result: dict[str, Any] = event["result"]
                    return result
                elif kind == "error":
                    raise _error(event)
        except KeyboardInterrupt:
            self._stop()
            self.start()  # warm again for the next turn
            return None

    def close(self) -> None:
        """End the turn process (it holds nothing between turns: traces are saved per turn)."""
        self._stop()

    def _stop(self) -> None:
        """Terminate the turn's process group, then kill it if it lingers."""
        process = self._process
        if process is None:
            return
        self._process = None
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(_STOP_GRACE_SECONDS)
                break
            except subprocess.TimeoutExpired:
                continue
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _write(stream: IO[str], event: Mapping[str, Any]) -> None:
    try:
        stream.write(json.dumps(event) + "\n")
        stream.flush()
    except BrokenPipeError:
        pass  # the process ended; reading says so


def _read(stream: IO[str]) -> dict[str, Any] | None:
    line = stream.readline()
    if not line:
        return None
    try:
        event: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        raise BackendError(
            f"the turn process sent an unreadable line: {line[:200]!r}", backend="chat turn"
        ) from None
    return event


def _error(event: Mapping[str, Any]) -> MemfunError:
    message, hint = str(event.get("message", "")), event.get("hint")
    hint = None if hint is None else str(hint)
    if event.get("user"):
        return UserError(message, hint=hint)
    return BackendError(message, backend="chat turn", hint=hint)


# --- the turn process ------------------------------------------------------------------------


class _Channel:
    """The turn process's end of the JSON-lines channel (thread-safe sends)."""

    def __init__(self, reader: IO[str], writer: IO[str]) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = threading.Lock()

    @classmethod
    def claim(cls) -> _Channel:
        """Take stdin and stdout for the channel; stdout becomes stderr, stdin /dev/null."""
        reader = os.fdopen(os.dup(0), "r", encoding="utf-8")
        writer = os.fdopen(os.dup(1), "w", encoding="utf-8")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(2, 1)
        return cls(reader, writer)

    def send(self, event: Mapping[str, Any]) -> None:
        with self._lock:
            self._writer.write(json.dumps(event, default=str) + "\n")
            self._writer.flush()

    def receive(self) -> dict[str, Any] | None:
        line = self._reader.readline()
        return json.loads(line) if line else None


def _warm_up() -> None:
    import importlib

    for name in _WARM_MODULES:
        importlib.import_module(name)


async def _run(
    config: MemfunConfig, root: Path, request: Mapping[str, Any], channel: _Channel
) -> AgentResult | AgentTaskResult:
    from memfun_agent import RLMAgent, TraceStore, run_audit
    from memfun_cli._checkpoints import run_checkpointed
    from memfun_cli._edit_preview import preview_edit
    from memfun_cli._memory_run import learn_after, memory_recall
    from memfun_cli._progress import progress_event
    from memfun_cli._skill_run import SkillRequest, run_with_skills
    from memfun_cli.commands.tasks import edit_policy
    from memfun_runtime import RuntimeBuilder

    async def ask(call: PermissionRequest) -> bool:
        preview = await preview_edit(root, call.tool, call.arguments)
        channel.send({
            "type": "ask",
            "tool": call.tool,
            "arguments": dict(call.arguments),
            "path": preview.path if preview else None,
            "diff": preview.diff if preview else "",
            "error": preview.error if preview else None,
        })  # fmt: skip
        answer = await asyncio.to_thread(channel.receive)
        return bool(answer and answer.get("allow"))

    def listener(record: Mapping[str, Any]) -> None:
        event = progress_event(record)
        if event is not None:
            channel.send({"type": "progress", **event})

    if request.get("agent"):  # @NAME MESSAGE
        from memfun_cli._chat_agents import run_agent_turn

        return await run_agent_turn(config, request, ask=ask, listener=listener)
    policy = edit_policy(
        edits=True, yes=bool(request.get("yes")), ask=ask, security=config.security
    )
    conversation = str(request.get("conversation", ""))
    context = {"conversation": conversation} if conversation else {}
    async with RuntimeBuilder().from_config(config).build() as runtime:
        agent = RLMAgent.from_config(
            config,
            policy=policy,
            listener=listener,
            traces=TraceStore(runtime.backend),
            audit=run_audit(config),
            memories=memory_recall(config),
        )
        try:
            # Each turn is a checkpoint of the files it changed (chat's /undo).
            result = await run_checkpointed(
                config,
                str(request["task"]),
                lambda: run_with_skills(
                    config,
                    runtime,
                    agent,
                    str(request["task"]),
                    SkillRequest(
                        name=str(request.get("skill") or "") or None,
                        arguments=str(request.get("skill_arguments") or ""),
                        auto=bool(request.get("auto_skills", True)),
                    ),
                    context=context,
                    metadata={**(request.get("metadata") or {}), "command": "chat"},
                    announce=lambda event: channel.send({"type": "progress", **event}),
                ),
            )
        finally:
            agent.close()
    learned = await learn_after(config, str(request["task"]), result)  # [memory] enabled
    if learned is not None:
        channel.send({"type": "progress", **learned})
    return result


def _answer(request: Mapping[str, Any], channel: _Channel) -> dict[str, Any]:
    from memfun_cli._chat_agents import turn_data
    from memfun_core.config import load_config

    try:
        config = load_config()
        root = Path(config.project_root).resolve()
        result = asyncio.run(_run(config, root, request, channel))
    except MemfunError as error:
        if request.get("debug"):
            traceback.print_exc()
        return {
            "type": "error",
            "message": error.message,
            "hint": error.hint,
            "user": isinstance(error, UserError),
        }
    except Exception as error:  # reported to the chat, which stays open
        if request.get("debug"):
            traceback.print_exc()
        return {
            "type": "error",
            "message": f"internal error: {type(error).__name__}: {error}",
            "hint": "this is a bug in Memfun; run again with --debug and report the traceback",
            "user": False,
        }
    return {"type": "result", "result": turn_data(result)}


def _serve(debug: bool) -> None:
    """Serve turns until the chat closes the channel."""
    channel = _Channel.claim()
    if debug:
        from memfun_core.log import setup_logging

        setup_logging("DEBUG")
    _warm_up()
    while (request := channel.receive()) is not None:
        try:
            channel.send(_answer(request, channel))
        except BrokenPipeError:
            return


if __name__ == "__main__":
    from memfun_cli._errors import cli_state, run_cli

    cli_state.debug = "--debug" in sys.argv[1:]
    run_cli(lambda: _serve(cli_state.debug))
