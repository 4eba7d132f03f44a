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
    from memfun_agent.definitions import AgentCatalog, AgentDefinition
    from memfun_agent.dispatch import AgentTaskResult
    from memfun_agent.tools import PermissionPolicy

__all__ = ["result_json", "run"]

_USAGE_KEYS = ("iterations", "lm_calls", "sub_lm_calls", "input_tokens", "output_tokens")


def _may_write(agent: AgentDefinition) -> bool:
    """Whether the agent has any file-writing tool at all (then edits need confirming)."""
    if agent.read_only or agent.permission_mode == "plan":
        return False
    if agent.tools is None:
        return True
    return any(fnmatch.fnmatchcase(w, p) for w in WRITE_TOOLS for p in agent.tools)


def _team(catalog: AgentCatalog, lead: AgentDefinition) -> list[AgentDefinition]:
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


async def _run(
    config: MemfunConfig,
    team: list[AgentDefinition],
    name: str,
    task: str,
    policy: PermissionPolicy,
    *,
    listener: Any,
    local: bool,
    wait: float | None,
) -> AgentTaskResult:
    from memfun_agent.dispatch import defined_agent, dispatch, setup_from_config
    from memfun_runtime import RuntimeBuilder

    builder = RuntimeBuilder().from_config(config)
    if local:
        setup = setup_from_config(config, policy=policy, listener=listener)
        for definition in team:
            builder.agent(defined_agent(definition, setup))
    async with builder.build() as runtime:
        return await dispatch(runtime, task, agent=name, timeout=wait)


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
    from memfun_agent.definitions import discover_agents

    config = load_config()
    require_model(config)
    catalog = discover_agents(config.project_root, config=config)
    lead = catalog.require(name)
    root = Path(config.project_root).resolve()
    team = _team(catalog, lead)
    writes = not workers and any(_may_write(agent) for agent in team)
    policy = edit_policy(edits=writes, yes=yes, root=root)
    result = asyncio.run(
        _run(
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
        usage = {key: int(result.usage.get(key) or 0) for key in _USAGE_KEYS}  # type: ignore[arg-type]
        render_result(
            {
                "run_id": result.run_id,
                "outcome": result.outcome,
                "answer": result.answer,
                "summary": result.error or result.summary,
                "diff": result.diff,
                "usage": {
                    **usage,
                    "cost_usd": result.cost_usd,
                    "wall_seconds": float(result.usage.get("wall_seconds") or 0.0),  # type: ignore[arg-type]
                },
            }
        )
    raise typer.Exit(0 if result.ok else 1)
