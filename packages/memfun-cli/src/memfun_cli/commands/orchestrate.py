"""``memfun orchestrate TASK``: a task split into a DAG of sub-tasks run by several agents.

The planner chooses an agent for each sub-task from the discovered definitions; independent
sub-tasks run in parallel; the results are merged and checked. On the memory and SQLite
tiers the agents run in this process; on Redis and NATS the agent workers already running
(``memfun runtime worker --agents DIR``) take the sub-tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_cli.commands.tasks import JsonOption, YesOption, edit_policy, require_model
from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import UserError

if TYPE_CHECKING:
    from memfun_agent.definitions import AgentDefinition
    from memfun_agent.orchestrate import OrchestrationLimits, OrchestrationResult
    from memfun_runtime import Runtime

__all__ = ["orchestrate", "render_orchestration"]

SHARED_TIERS = ("redis", "nats")
"""Tiers where the sub-tasks go to running agent workers by default."""


async def _live_agents(
    runtime: Runtime, known: list[AgentDefinition], tier: str
) -> list[AgentDefinition]:
    """The agents that running workers serve (their definitions, or the registry's words)."""
    from memfun_agent.definitions import AgentDefinition
    from memfun_agent.dispatch import DEFINED_AGENT_KIND

    by_name = {a.name: a for a in known}
    live: dict[str, AgentDefinition] = {}
    for instance in await runtime.agents.list():
        if instance.metadata.get("kind") != DEFINED_AGENT_KIND or instance.name in live:
            continue
        description = str(instance.metadata.get("description") or instance.name)
        live[instance.name] = by_name.get(instance.name) or AgentDefinition(
            instance.name, description, capabilities=tuple(sorted(instance.capabilities))
        )
    if not live:
        raise UserError(
            f"no agent worker is running on the {tier} tier",
            hint="start some with `memfun runtime worker --agents DIR` (same [runtime] "
            "settings), or pass --in-process to run the agents here",
        )
    return sorted(live.values(), key=lambda a: a.name)


async def _run(
    config: MemfunConfig,
    task: str,
    agents: list[AgentDefinition],
    limits: OrchestrationLimits,
    *,
    in_process: bool,
    yes: bool,
    listener: Any,
) -> OrchestrationResult:
    from memfun_agent import build_lm, run_audit
    from memfun_agent.dispatch import defined_agent, setup_from_config
    from memfun_agent.orchestrate import DispatchRunner, Orchestrator
    from memfun_agent.traces import TraceStore
    from memfun_cli._memory_run import with_memory
    from memfun_runtime import RuntimeBuilder

    builder = RuntimeBuilder().from_config(config)
    if in_process:
        policy = edit_policy(edits=yes, yes=yes, security=config.security)
        setup = with_memory(
            config, setup_from_config(config, policy=policy, audit=run_audit(config)), listener
        )
        for definition in agents:
            builder.agent(defined_agent(definition, setup))
    async with builder.build() as runtime:
        if not in_process:
            agents = await _live_agents(runtime, agents, runtime.tier)
        run_id = uuid.uuid4().hex
        orchestrator = Orchestrator(
            agents,
            DispatchRunner(runtime, run_id=run_id, timeout=limits.node_timeout),
            lm=build_lm(config.llm),
            limits=limits,
            traces=TraceStore(runtime),
            secret_names=(config.llm.api_key_env,) if config.llm.api_key_env else (),
            listener=listener,
        )
        return await orchestrator.run(task, run_id=run_id)


def render_orchestration(data: dict[str, Any]) -> None:
    """Show a ``--json`` result object: the answer, each node's end, the cost."""
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console()
    if data["answer"]:
        console.print(Markdown(data["answer"]))
    for node in data["nodes"]:
        mark = {"completed": "✓", "failed": "✗", "skipped": "-"}[node["status"]]
        why = f" — {node['error']}" if node["error"] else ""
        console.print(
            f"{mark} {node['id']} ({node['ran_on'] or node['agent'] or node['capability']}) "
            f"{node['status']}, {len(node['attempts'])} attempt(s), ${node['cost_usd']:.4f}{why}",
            highlight=False,
            markup=False,
        )
    if data["outcome"] != "completed":
        console.print(f"[bold yellow]{data['outcome']}:[/] {data['error']}", highlight=False)
    console.print(
        f"[dim]{len(data['nodes'])} nodes, {data['tokens']} tokens, ${data['cost_usd']:.4f}, "
        f"{data['wall_seconds']:.1f} s — run {data['run_id']} (memfun trace show)[/]",
        highlight=False,
    )


def orchestrate(
    task: Annotated[str, typer.Argument(help="What to accomplish.")],
    workers_only: Annotated[
        bool | None,
        typer.Option(
            "--workers-only/--in-process",
            help="Give the sub-tasks only to agent workers already running on the tier "
            "(default on redis and nats), or run the agents in this process (default on "
            "memory and sqlite).",
        ),
    ] = None,
    max_nodes: Annotated[
        int, typer.Option("--max-nodes", min=1, help="Most sub-tasks in the plan.")
    ] = 8,
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", help="Dollars for the whole run; no sub-task starts after."),
    ] = None,
    node_timeout: Annotated[
        float | None, typer.Option("--node-timeout", help="Seconds one sub-task attempt may take.")
    ] = None,
    max_parallel: Annotated[
        int | None, typer.Option("--max-parallel", min=1, help="Sub-tasks running at once.")
    ] = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Split a task into sub-tasks for several agents, run them in parallel, merge the results.

    Without --yes the agents may not change files (they read, run checks and report).
    """
    from memfun_agent.definitions import discover_from_config
    from memfun_agent.orchestrate import ORCHESTRATOR_AGENT, OrchestrationLimits

    config = load_config()
    require_model(config)
    catalog = discover_from_config(config)
    agents = [a for a in catalog.all() if a.name != ORCHESTRATOR_AGENT]
    if not agents:
        raise UserError("no agent definitions found", hint="see `memfun agent list`")
    tier = config.runtime.tier
    if workers_only and tier == "memory":
        raise UserError(
            "the memory tier lives in one process: it has no workers",
            hint='use --in-process, or a shared tier ([runtime] tier = "sqlite", "redis"...)',
        )
    in_process = not (workers_only if workers_only is not None else tier in SHARED_TIERS)
    limits = OrchestrationLimits(
        max_nodes=max_nodes,
        max_cost_usd=max_cost,
        node_timeout=node_timeout,
        max_parallel=max_parallel,
    )
    from rich.console import Console

    from memfun_cli._dag_progress import DagProgress

    progress = DagProgress(Console(stderr=True), live=sys.stderr.isatty())

    def listener(record: dict[str, Any]) -> None:
        if not as_json:
            progress.show(record)

    with progress if not as_json else contextlib.nullcontext():
        result = asyncio.run(
            _run(config, task, agents, limits, in_process=in_process, yes=yes, listener=listener)
        )
    data = result.to_json()
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        render_orchestration(data)
    raise typer.Exit(0 if result.completed else 1)
