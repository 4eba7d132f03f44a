"""Agents as MCP tools: ``memfun mcp serve`` serves each discovered agent as ``agents_<name>``.

A call runs the agent (and the agents it may delegate to) through the dispatch API on the
configured runtime tier, in the server's process, exactly as ``memfun agent run`` does
(:func:`memfun_cli.commands.agent_run.run_team`). While it runs, each step, model reply and
tool call is sent to the client as an MCP progress notification; the result carries the
answer, summary, diff, changed files and outcome.

Writes: an agent that has file-writing tools changes files only when the server was started
with ``--allow-writes`` and, over HTTP, the caller's token also has the ``write`` scope.
Otherwise it runs read-only: its writing tools are refused by the permission policy (the
agent is told so and can still answer), and the result says ``"writes": "refused: ..."``.
Over HTTP every agent tool needs the ``agents`` scope (the gateway's namespace rule).

This module imports FastMCP: import it only where a server is built.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.server.dependencies import get_access_token
from fastmcp.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import Field

from memfun_core.config import MemfunConfig
from memfun_core.errors import MemfunError

if TYPE_CHECKING:
    from memfun_agent.definitions import AgentCatalog, AgentDefinition
    from memfun_agent.tools import PermissionPolicy

__all__ = ["NAMESPACE", "build_agents_server", "tool_names"]

NAMESPACE = "agents"
"""The gateway namespace of the agent tools (``agents_<name>``; HTTP scope ``agents``)."""

_MAX_TOOL_NAME = 128  # MCP tool names: 1-128 characters of A-Z a-z 0-9 _ - .
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_.-]")
_LINE_WIDTH = 1_000  # progress lines are sent whole, never wrapped

_log = logging.getLogger(__name__)

TaskArg = Annotated[str, Field(description="What the agent should do, in plain words.")]
ContextArg = Annotated[
    str,
    Field(
        description="Optional material for the task (a log, an issue, a spec): the agent "
        "reads it as the REPL variable `context`, so it may be long."
    ),
]


def tool_names(agent_names: Iterable[str]) -> dict[str, str]:
    """Each agent's tool name inside the ``agents`` namespace, valid and unique.

    Characters outside the MCP tool-name alphabet become ``_``; names are cut so that
    ``agents_<name>`` stays within 128 characters; a clash gets ``_2``, ``_3``...
    """
    budget = _MAX_TOOL_NAME - len(NAMESPACE) - 1
    names: dict[str, str] = {}
    used: set[str] = set()
    for agent in agent_names:
        base = _NOT_ALLOWED.sub("_", agent)[:budget] or "agent"
        candidate, number = base, 2
        while candidate in used:
            suffix = f"_{number}"
            candidate = base[: budget - len(suffix)] + suffix
            number += 1
        used.add(candidate)
        names[agent] = candidate
    return names


class _Progress:
    """Turns the agent's trace records (from its run thread) into MCP progress notifications."""

    def __init__(self, ctx: Context) -> None:
        from rich.console import Console

        from memfun_cli._progress import ProgressPrinter

        self._ctx = ctx
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._buffer = io.StringIO()
        console = Console(file=self._buffer, width=_LINE_WIDTH, no_color=True, soft_wrap=True)
        self._printer = ProgressPrinter(console)
        self._sent = 0
        self._pump: asyncio.Task[None] | None = None

    def listener(self, record: dict[str, Any]) -> None:
        """The agents' trace listener (called from any thread)."""
        from memfun_cli._progress import progress_event

        event = progress_event(record)
        if event is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    async def report(self, message: str) -> None:
        """Send one notification (a client that went away only loses the notification)."""
        self._sent += 1
        try:
            await self._ctx.report_progress(self._sent, None, message)
        except Exception as exc:  # the run goes on; the result still reaches a live client
            _log.warning("could not send a progress notification: %s", exc)

    async def _forward(self) -> None:
        while (event := await self._queue.get()) is not None:
            start = self._buffer.tell()
            self._printer.show(event)
            text = self._buffer.getvalue()[start:].strip()
            if text:
                await self.report(text)

    def start(self) -> None:
        """Forward the events as they arrive."""
        self._pump = asyncio.create_task(self._forward())

    async def finish(self) -> None:
        """Forward what is queued, then stop."""
        self._queue.put_nowait(None)
        if self._pump is not None:
            await self._pump


class _AgentRuns:
    """Runs the agents of one server, one at a time (they share the runtime's queues)."""

    def __init__(
        self, config: MemfunConfig, workspace: Path, catalog: AgentCatalog, allow_writes: bool
    ) -> None:
        self.config = config
        self.workspace = workspace
        self.catalog = catalog
        self.allow_writes = allow_writes
        self._lock = asyncio.Lock()

    def may_write(self, agent: AgentDefinition) -> bool:
        """Whether the agent or one it may delegate to has a file-writing tool."""
        from memfun_cli.commands.agent_run import may_write, team_of

        return any(may_write(member) for member in team_of(self.catalog, agent))

    def _refusal(self, agent: AgentDefinition) -> str | None:
        """Why this call may not write (``None``: it may)."""
        if not self.may_write(agent):
            return "the agent is read-only"
        if not self.allow_writes:
            return "the server was started without --allow-writes"
        token = get_access_token()
        if token is not None and "write" not in token.scopes:
            return "the caller's token lacks the 'write' scope"
        return None

    def _policy(self, refusal: str | None) -> PermissionPolicy:
        from memfun_cli.commands.tasks import edit_policy

        # The MCP client asked for the run: with writes allowed nobody is left to confirm.
        return edit_policy(edits=refusal is None, yes=True, security=self.config.security)

    async def run(
        self, agent: AgentDefinition, task: str, context: str, ctx: Context
    ) -> dict[str, Any]:
        from memfun_cli.commands.agent_run import result_json, run_team, team_of
        from memfun_cli.commands.tasks import require_model

        refusal = self._refusal(agent)
        try:
            require_model(self.config)
            policy = self._policy(refusal)
        except MemfunError as error:
            raise ToolError(_message(error)) from error
        progress = _Progress(ctx)
        if self._lock.locked():
            await progress.report(f"{agent.name}: waiting for the agent run in progress")
        async with self._lock:
            mode = "" if refusal is None else f" (read-only: {refusal})"
            await progress.report(f"{agent.name}: started{mode}")
            progress.start()
            try:
                result = await run_team(
                    self.config,
                    team_of(self.catalog, agent),
                    agent.name,
                    task,
                    policy,
                    listener=progress.listener,
                    context={"context": context} if context else None,
                    workspace=self.workspace,
                )
            except MemfunError as error:
                raise ToolError(_message(error)) from error
            finally:
                await progress.finish()
            await progress.report(f"{agent.name}: {result.outcome}")
        data = result_json(result)
        data["writes"] = "allowed" if refusal is None else f"refused: {refusal}"
        return data


def _message(error: MemfunError) -> str:
    return error.message + (f" (hint: {error.hint})" if error.hint else "")


def _description(runs: _AgentRuns, agent: AgentDefinition) -> str:
    if not runs.may_write(agent):
        writes = "It is read-only: it never changes files."
    elif runs.allow_writes:
        writes = (
            "It may change files in the workspace (the server runs with --allow-writes; over "
            "HTTP the token needs the 'write' scope too, else it runs read-only)."
        )
    else:
        writes = (
            "Here it runs read-only: its file-writing tools are refused because the server "
            "was started without --allow-writes."
        )
    return (
        f"{agent.description.strip()}\n\nRuns the Memfun agent {agent.name!r} on a task in "
        f"this workspace and returns its answer, summary, diff, changed_files, outcome "
        f"('completed' or why it stopped), cost and run id; progress notifications report "
        f"each step while it runs. {writes}"
    )


def _add_tool(server: FastMCP[Any], runs: _AgentRuns, agent: AgentDefinition, name: str) -> None:
    async def run_agent(task: TaskArg, ctx: Context, context: ContextArg = "") -> dict[str, Any]:
        return await runs.run(agent, task, context, ctx)

    writes = runs.allow_writes and runs.may_write(agent)
    tool = Tool.from_function(
        run_agent,
        name=name,
        title=f"Memfun agent {agent.name}",
        description=_description(runs, agent),
        annotations=ToolAnnotations(
            read_only_hint=not writes,
            destructive_hint=writes,
            idempotent_hint=False,
            open_world_hint=True,
        ),
        meta={"memfun/agent": agent.name},
    )
    server.add_tool(tool)


def build_agents_server(
    config: MemfunConfig,
    workspace: Path,
    *,
    allow_writes: bool,
    catalog: AgentCatalog | None = None,
) -> FastMCP[Any]:
    """A server with one tool per agent, to mount on the gateway under :data:`NAMESPACE`.

    Args:
        config: The loaded configuration (model, runtime tier, budgets, sandbox).
        workspace: The folder the agents work in.
        allow_writes: Whether agents with file-writing tools may use them.
        catalog: The agents (default: discovered as ``memfun agent list`` does).
    """
    if catalog is None:
        from memfun_agent.definitions import discover_from_config

        catalog = discover_from_config(config)
    server: FastMCP[Any] = FastMCP(
        "memfun-agents", instructions="Memfun's agents: each tool runs one agent on a task."
    )
    runs = _AgentRuns(config, workspace.resolve(), catalog, allow_writes)
    for agent_name, tool_name in tool_names(catalog.names).items():
        _add_tool(server, runs, catalog.require(agent_name), tool_name)
    return server
