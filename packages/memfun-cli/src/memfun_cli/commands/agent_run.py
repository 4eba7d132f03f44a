"""``memfun agent run NAME "task"`` (short form ``memfun @NAME "task"``): run one agent."""

from __future__ import annotations

import asyncio
import fnmatch
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_cli.commands.tasks import (
    WRITE_TOOLS,
    JsonOption,
    YesOption,
    edit_policy,
    progress_listener,
    render_result,
    require_model,
)
from memfun_core.config import MemfunConfig, load_config

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from memfun_agent.definitions import AgentCatalog, AgentDefinition
    from memfun_agent.dispatch import AgentTaskResult
    from memfun_agent.tools import PermissionPolicy

__all__ = ["may_write", "result_data", "result_json", "run", "run_team", "team_of"]

_USAGE_KEYS = ("iterations", "lm_calls", "sub_lm_calls", "input_tokens", "output_tokens")


def may_write(agent: AgentDefinition) -> bool:
    """Whether the agent has any file-writing tool at all (then edits need confirming)."""
    if agent.read_only or agent.permission_mode == "plan":
        return False
    if agent.tools is None:
        return True
    return any(fnmatch.fnmatchcase(w, p) for w in WRITE_TOOLS for p in agent.tools)


def team_of(catalog: AgentCatalog, lead: AgentDefinition) -> list[AgentDefinition]:
    """The agent and every agent it may delegate to, transitively (run in this process)."""
    team: dict[str, AgentDefinition] = {lead.name: lead}
    queue = [lead]
    while queue:
        current = queue.pop()
        names = catalog.names if "*" in current.delegates else current.delegates
        for name in names:
            found = catalog.get(name)
            if found is not None and found.name not in team:
                team[found.name] = found
                queue.append(found)
    return list(team.values())


async def run_team(
    config: MemfunConfig,
    team: list[AgentDefinition],
    name: str,
    task: str,
    policy: PermissionPolicy,
    *,
    listener: Callable[[dict[str, Any]], None] | None,
    local: bool = True,
    wait: float | None = None,
    context: Mapping[str, str] | None = None,
    workspace: Path | None = None,
    memory: bool = True,
) -> AgentTaskResult:
    """Dispatch ``task`` to agent ``name`` on the configured runtime and wait for its result.

    Used by ``memfun agent run``, the chat's ``@name`` turns and the MCP ``agents_*`` tools.

    Args:
        config: The loaded configuration (its runtime tier is used).
        team: The agents run in this process (:func:`team_of`), when ``local``.
        name: The agent addressed.
        task: What it should do.
        policy: Who may call the tools that change files.
        listener: Receives each trace record of the local agents as it happens.
        local: Run ``team`` in this process; ``False`` leaves the task to running workers.
        wait: Seconds to wait for the result (``None``: no limit).
        context: More REPL variables of the agent (name -> text).
        workspace: The folder the agents work in (default: the project root).
        memory: Whether the agents' runs recall memories and learn after ([memory]
            enabled), as ``memfun ask`` runs do; evals turn it off.
    """
    from memfun_agent import run_audit
    from memfun_agent.dispatch import defined_agent, dispatch, setup_from_config
    from memfun_cli._memory_run import with_memory
    from memfun_runtime import RuntimeBuilder

    builder = RuntimeBuilder().from_config(config)
    if local:
        setup = setup_from_config(
            config,
            workspace=workspace,
            policy=policy,
            listener=listener,
            audit=run_audit(config),
        )
        if memory:
            setup = with_memory(config, setup, listener)
        for definition in team:
            builder.agent(defined_agent(definition, setup))
    async with builder.build() as runtime:
        return await dispatch(runtime, task, agent=name, timeout=wait, context=context)


def result_data(result: AgentTaskResult) -> dict[str, Any]:
    """The result as :func:`~memfun_cli.commands.tasks.render_result` shows it."""
    usage = {key: int(result.usage.get(key) or 0) for key in _USAGE_KEYS}  # type: ignore[arg-type]
    return {
        "run_id": result.run_id,
        "outcome": result.outcome,
        "answer": result.answer,
        "summary": result.error or result.summary,
        "diff": result.diff,
        "changed_files": list(result.changed_files),
        "usage": {
            **usage,
            "cost_usd": result.cost_usd,
            "wall_seconds": float(result.usage.get("wall_seconds") or 0.0),  # type: ignore[arg-type]
        },
    }


def result_json(result: AgentTaskResult) -> dict[str, Any]:
    """The ``--json`` object: the result record plus the agent and worker."""
    data = result.to_json()
    data.pop("kind", None)
    return data


def run(
    name: Annotated[str, typer.Argument(help="The agent's name (see `memfun agent list`).")],
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    as_json: JsonOption = False,
    yes: YesOption = False,
    workers: Annotated[
        bool,
        typer.Option(
            "--workers",
            help="Leave the task to `memfun runtime worker --agents DIR` processes on the "
            "configured tier instead of running the agent in this process.",
        ),
    ] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait for the result.")
    ] = None,
) -> None:
    """Run one agent on a task, with live progress; exit 0 when it completed.

    The agent (and the agents it may delegate to) run in this process on the configured
    runtime tier; edits are confirmed in the terminal unless --yes, and a read-only agent
    never edits. Example: memfun agent run reviewer "review src/app.py" (or memfun @reviewer
    "review src/app.py").
    """
    from memfun_agent.definitions import discover_from_config

    config = load_config()
    require_model(config)
    catalog = discover_from_config(config)
    lead = catalog.require(name)
    root = Path(config.project_root).resolve()
    team = team_of(catalog, lead)
    writes = not workers and any(may_write(agent) for agent in team)
    policy = edit_policy(edits=writes, yes=yes, root=root, security=config.security)
    result = asyncio.run(
        run_team(
            config,
            team,
            lead.name,
            task,
            policy,
            listener=progress_listener(as_json),
            local=not workers,
            wait=timeout,
        )
    )
    if as_json:
        typer.echo(json.dumps(result_json(result), indent=2))
    else:
        render_result(result_data(result))
    raise typer.Exit(0 if result.ok else 1)
