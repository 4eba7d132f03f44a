"""``memfun runtime``: the health of the configured runtime tier, and task workers."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from memfun_core.config import MemfunConfig, load_config

app = typer.Typer(
    name="runtime",
    help="The runtime behind Memfun: check its backend and live agents, or run a task worker.",
    no_args_is_help=True,
)


async def _status(config: MemfunConfig) -> dict[str, Any]:
    from memfun_runtime import RuntimeBuilder

    backend = RuntimeBuilder().from_config(config).build().backend
    try:
        await backend.start()
        report = await backend.health()
        agents = await backend.agents.list() if report.ok else []
    finally:
        await backend.stop()
    return {
        "tier": report.tier,
        "ok": report.ok,
        "components": [
            {"name": c.name, "status": c.status.value, "detail": c.detail}
            for c in report.components
        ],
        "agents": [
            {
                "name": a.name,
                "instance_id": a.instance_id,
                "capabilities": sorted(a.capabilities),
                "expires_at": a.expires_at,
            }
            for a in agents
        ],
    }


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Start the configured tier's backend, report each service's health and the live agents.

    Exits 1 when a service is not OK (e.g. the Redis or NATS server does not answer).
    """
    data = asyncio.run(_status(load_config()))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(f"tier: {data['tier']}  ({'ok' if data['ok'] else 'NOT OK'})")
        for component in data["components"]:
            detail = f"  {component['detail']}" if component["detail"] else ""
            typer.echo(f"  {component['name']:<10} {component['status']}{detail}")
        typer.echo(f"live agents: {len(data['agents'])}")
        for agent in data["agents"]:
            typer.echo(
                f"  {agent['name']} {agent['instance_id']}: {', '.join(agent['capabilities'])}"
            )
    raise typer.Exit(0 if data["ok"] else 1)


@app.command(
    "worker",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def worker(ctx: typer.Context) -> None:
    """Run task workers on a shared tier (sqlite, redis or nats); --help lists the options.

    The tier, URLs and namespace default to [runtime] of memfun.toml. Example:
    memfun runtime worker --capability review --handler myproject.jobs:review

    With --agents DIR it runs the agent definitions of DIR instead (memfun runtime worker
    --agents DIR --help lists those options).
    """
    from memfun_runtime.worker import main as worker_main

    args = list(ctx.args)
    if any(arg == "--agents" or arg.startswith("--agents=") for arg in args):
        from memfun_agent.dispatch import run_agent_worker

        raise typer.Exit(run_agent_worker(load_config(), args))
    if "--help" not in args and "-h" not in args:
        config = load_config()
        runtime = config.runtime
        defaults = {"--tier": runtime.tier, "--namespace": runtime.namespace}
        if runtime.tier == "sqlite":
            from memfun_cli._compose import data_dir

            defaults["--sqlite-path"] = str(data_dir(config) / "runtime.db")
        elif runtime.tier == "redis":
            defaults["--redis-url"] = runtime.redis_url
        elif runtime.tier == "nats":
            defaults["--nats-url"] = runtime.nats_url
        for flag, value in defaults.items():
            if flag not in args:
                args = [flag, value, *args]
    raise typer.Exit(worker_main(args))
