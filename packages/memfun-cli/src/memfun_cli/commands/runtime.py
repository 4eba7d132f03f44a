"""``memfun runtime``: the health of the configured runtime tier, task workers, migration."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_cli.commands.audit import project_audit_log
from memfun_core.config import MemfunConfig, load_config

if TYPE_CHECKING:
    from memfun_core.audit import AuditLog

app = typer.Typer(
    name="runtime",
    help="The runtime behind Memfun: check its backend and live agents, or run a task worker.",
    no_args_is_help=True,
)


async def _status(config: MemfunConfig) -> dict[str, Any]:
    from memfun_runtime import RuntimeBuilder, configured_namespace
    from memfun_runtime.metrics import STATS_TIERS, RuntimeStats, read_stats

    backend = RuntimeBuilder().from_config(config).build().backend
    server_tier = config.runtime.tier in {"redis", "nats"}
    stats: RuntimeStats | None = None
    try:
        await backend.start()
        report = await backend.health()
        agents = await backend.agents.list() if report.ok else []
        if report.ok and backend.tier in STATS_TIERS:
            stats = await read_stats(backend)
    finally:
        await backend.stop()
    return {
        "tier": report.tier,
        "namespace": configured_namespace(config) if server_tier else None,
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
        # None: the memory tier keeps its queues inside each process
        "queues": None
        if stats is None
        else [{"queue": q.queue, "pending": q.pending, "leased": q.leased} for q in stats.queues],
        "groups": None
        if stats is None
        else [
            {"topic": g.topic, "group": g.group, "lag": g.lag, "unacked": g.unacked}
            for g in stats.groups
        ],
    }


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Report the configured tier's health, live agents, queues and consumer groups.

    Per queue: pending tasks (its depth) and leased ones; per consumer group: lag (events
    not yet handed to it) and unacknowledged events, read from the tier's storage (the same
    numbers a worker's --metrics-port serves). Exits 1 when a service is not OK (e.g. the
    Redis or NATS server does not answer).
    """
    data = asyncio.run(_status(load_config()))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        space = f"  namespace: {data['namespace']}" if data["namespace"] else ""
        typer.echo(f"tier: {data['tier']}  ({'ok' if data['ok'] else 'NOT OK'}){space}")
        for component in data["components"]:
            detail = f"  {component['detail']}" if component["detail"] else ""
            typer.echo(f"  {component['name']:<10} {component['status']}{detail}")
        typer.echo(f"live agents: {len(data['agents'])}")
        for agent in data["agents"]:
            typer.echo(
                f"  {agent['name']} {agent['instance_id']}: {', '.join(agent['capabilities'])}"
            )
        _print_queues(data)
    raise typer.Exit(0 if data["ok"] else 1)


def _print_queues(data: dict[str, Any]) -> None:
    if data["queues"] is None or data["groups"] is None:
        if data["ok"]:
            typer.echo("queues and groups: none outside a process on the memory tier")
        return
    typer.echo(f"queues with open tasks: {len(data['queues'])}")
    for q in data["queues"]:
        typer.echo(f"  {q['queue']:<30} pending {q['pending']:>7}  leased {q['leased']:>5}")
    typer.echo(f"consumer groups: {len(data['groups'])}")
    for g in data["groups"]:
        name = f"{g['topic']}/{g['group']}"
        typer.echo(f"  {name:<30} lag {g['lag']:>7}  unacked {g['unacked']:>5}")


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
        from memfun_agent.dispatch import AgentSetup, run_agent_worker
        from memfun_cli._memory_run import with_memory

        config = load_config()

        def memory(setup: AgentSetup) -> AgentSetup:
            return with_memory(config, setup)  # [memory] enabled: recall and learn

        raise typer.Exit(run_agent_worker(config, args, extend=memory))
    if "--help" not in args and "-h" not in args:
        from memfun_runtime import configured_namespace

        config = load_config()
        runtime = config.runtime
        defaults = {"--tier": runtime.tier, "--namespace": configured_namespace(config)}
        if runtime.tier == "sqlite":
            from memfun_cli._compose import data_dir
            from memfun_runtime import SQLITE_FILE_NAME

            defaults["--sqlite-path"] = str(data_dir(config) / SQLITE_FILE_NAME)
        elif runtime.tier == "redis":
            defaults["--redis-url"] = runtime.redis_url
        elif runtime.tier == "nats":
            defaults["--nats-url"] = runtime.nats_url
        for flag, value in defaults.items():
            if flag not in args:
                args = [flag, value, *args]
        raise typer.Exit(worker_main(args, project_root=config.project_root))
    raise typer.Exit(worker_main(args))


_TIERS = ("sqlite", "redis", "nats")


def _tier_backend(
    config: MemfunConfig, tier: str, url: str | None, namespace: str | None
) -> tuple[Any, str]:
    """Build (not start) ``tier``'s backend from [runtime], with a URL or namespace override.

    A SQLite file is checked and stamped as the runtime's own are (``project_ownership``):
    a copy made here opens in the runtime afterwards, and a database that came with an
    untrusted folder is not copied (its planted tasks would come out stamped, or on a server).

    Returns the backend and a description naming its data (file, or server and namespace).
    """
    from memfun_cli._compose import data_dir
    from memfun_runtime import SQLITE_FILE_NAME, RuntimeBuilder, configured_namespace

    runtime = config.runtime
    if tier not in _TIERS:
        raise typer.BadParameter(f"{tier!r} is not one of {', '.join(_TIERS)}")
    folder = Path(url) if tier == "sqlite" and url else data_dir(config)
    redis_url = url if tier == "redis" and url else runtime.redis_url
    nats_url = url if tier == "nats" and url else runtime.nats_url
    space = namespace or configured_namespace(config)
    builder = RuntimeBuilder().tier(
        tier,
        data_dir=folder,
        redis_url=redis_url,
        nats_url=nats_url,
        namespace=space,
        project_root=config.project_root,
    )
    where = {
        "sqlite": str((folder / SQLITE_FILE_NAME).resolve()),
        "redis": f"{redis_url}#{space}",
        "nats": f"{nats_url}#{space}",
    }[tier]
    return builder.build().backend, f"{tier}:{where}"


async def _migrate(source: Any, target: Any, source_name: str, quiet: bool) -> Any:
    from memfun_runtime.migrate import migrate as run_migration

    def say(line: str) -> None:
        if not quiet:
            typer.echo(line, err=True)

    await source.start()
    try:
        await target.start()
        try:
            return await run_migration(source, target, source_name=source_name, progress=say)
        finally:
            await target.stop()
    finally:
        await source.stop()


@app.command("migrate")
def migrate(
    to_tier: Annotated[str, typer.Option("--to", help="The tier to move to: sqlite, redis, nats.")],
    from_tier: Annotated[
        str | None, typer.Option("--from", help="The tier to move from (default: [runtime] tier).")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="The target's server URL (a data folder for sqlite); default: config."),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(help="The target's namespace (default: the project's, see status)."),
    ] = None,
    from_url: Annotated[
        str | None, typer.Option(help="The source's server URL or sqlite data folder.")
    ] = None,
    from_namespace: Annotated[
        str | None,
        typer.Option(help="The source's namespace ('memfun': where 0.1 wrote by default)."),
    ] = None,
    switch: Annotated[
        bool,
        typer.Option(
            "--switch",
            help="Once the copy is verified, point [runtime] of memfun.toml at the target "
            "(tier, and --url and --namespace when given).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Copy the runtime from one tier to another, then verify counts and content hashes.

    Copies events (with consumer-group positions), state (traces included), open tasks
    (leased ones queued again), sessions and the agent and skill registries. Killed midway,
    run it again: it resumes from the checkpoint kept in the target. Exits 1 when the
    verification finds a difference. The configuration changes only with --switch, and only
    after a verified copy.
    """
    config = load_config()
    source_tier = from_tier or config.runtime.tier
    source, source_name = _tier_backend(config, source_tier, from_url, from_namespace)
    target, target_name = _tier_backend(config, to_tier, url, namespace)
    if source_name == target_name:
        raise typer.BadParameter(
            "the source and the target are the same runtime", param_hint="--to"
        )
    report = asyncio.run(_migrate(source, target, source_name, as_json))
    data: dict[str, Any] = {"from": source_name, "to": target_name, "resumed": report.resumed}
    after = f"now set [runtime] tier = {to_tier!r} in memfun.toml (or run again with --switch)"
    if switch and report.verification.ok:
        after = _switch(to_tier, url, namespace)
        data["switched"] = after
    _report({**data, "copied": report.copied}, report.verification, as_json, after=after)


def _switch(tier: str, url: str | None, namespace: str | None) -> str:
    """Point [runtime] of the project's memfun.toml at a verified target; say what changed."""
    from memfun_cli._settings import project_file, set_project_settings

    settings = [("runtime.tier", tier)]
    if url and tier == "sqlite":  # data_dir is read relative to the project, --url to here
        folder, root = Path(url).resolve(), project_file().parent.resolve()
        inside = folder.is_relative_to(root)
        settings.append(("runtime.data_dir", str(folder.relative_to(root) if inside else folder)))
    elif url:
        settings.append((f"runtime.{tier}_url", url))
    if namespace:
        settings.append(("runtime.namespace", namespace))
    path, stored, note = set_project_settings(settings)
    if note:
        typer.echo(note, err=True)
    for key, _ in settings:  # a variable outranks the file
        variable = "MEMFUN_" + key.upper().replace(".", "__")
        if variable in os.environ:
            typer.echo(f"note: {variable} is set and overrides {key} of {path}", err=True)
    written = ", ".join(f"{key} = {json.dumps(value)}" for key, value in stored)
    return f"{path} now sets {written}"


def _report(data: dict[str, Any], check: Any, as_json: bool, *, after: str = "") -> None:
    """Print a migration-like report (export, import) and exit 1 when it does not verify."""
    data = {
        **data,
        "verified": check.ok,
        "sections": [
            {"name": s.name, "source": s.source_count, "target": s.target_count, "ok": s.ok}
            for s in check.sections
        ],
        "differences": check.differences,
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(f"{data['from']} -> {data['to']}{' (resumed)' if data['resumed'] else ''}")
        for s in check.sections:
            mark = "ok" if s.ok else "DIFFERS"
            typer.echo(f"  {s.name:<9} {s.source_count:>8} -> {s.target_count:<8} {mark}")
        for line in check.differences:
            typer.echo(f"  {line}")
        if check.ok:
            typer.echo(f"verified; {after}" if after else "verified")
    raise typer.Exit(0 if check.ok else 1)


def _backend_of(config: MemfunConfig, tier: str | None, url: str | None, ns: str | None) -> Any:
    return _tier_backend(config, tier or config.runtime.tier, url, ns)


async def _export(
    source: Any, path: Path, source_name: str, quiet: bool, audit: AuditLog | None
) -> Any:
    from memfun_runtime.migrate import export_snapshot

    def say(line: str) -> None:
        if not quiet:
            typer.echo(line, err=True)

    await source.start()
    try:
        return await export_snapshot(
            source, path, source_name=source_name, audit=audit, progress=say
        )
    finally:
        await source.stop()


async def _import(path: Path, target: Any, quiet: bool, audit: AuditLog | None) -> Any:
    from memfun_runtime.migrate import import_snapshot

    def say(line: str) -> None:
        if not quiet:
            typer.echo(line, err=True)

    await target.start()
    try:
        return await import_snapshot(path, target, audit=audit, progress=say)
    finally:
        await target.stop()


_TIER_HELP = "The tier (default: [runtime] tier): sqlite, redis, nats."
_URL_HELP = "Its server URL (a data folder for sqlite); default: config."
_NS_HELP = "Its namespace (default: the project's, as memfun runtime status shows it)."
_AUDIT_HELP = "Include the project's audit trail (.memfun/audit.jsonl)."


@app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="The JSON Lines file to write (must not exist).")],
    tier: Annotated[str | None, typer.Option("--from", help=_TIER_HELP)] = None,
    url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    namespace: Annotated[str | None, typer.Option(help=_NS_HELP)] = None,
    audit: Annotated[bool, typer.Option("--audit/--no-audit", help=_AUDIT_HELP)] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write the runtime to a JSON Lines snapshot, then verify the file against it.

    Writes what `memfun runtime migrate` copies: state (traces included), sessions, the agent
    and skill registries, events with consumer-group positions and open tasks, and the
    project's audit trail (verified first; a broken one is refused). Each line is
    hash-chained to the one before, so `import` detects an edited, removed or cut line.
    Exits 1 when the verification finds a difference.
    """
    config = load_config()
    source, source_name = _backend_of(config, tier, url, namespace)
    trail = project_audit_log(config) if audit else None
    report = asyncio.run(_export(source, path, source_name, as_json, trail))
    data = {"from": source_name, "to": str(path), "resumed": False, "copied": report.copied}
    _report(data, report.verification, as_json)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="A snapshot written by `memfun runtime export`.")],
    tier: Annotated[str | None, typer.Option("--to", help=_TIER_HELP)] = None,
    url: Annotated[str | None, typer.Option(help=_URL_HELP)] = None,
    namespace: Annotated[str | None, typer.Option(help=_NS_HELP)] = None,
    audit: Annotated[
        bool, typer.Option("--audit/--no-audit", help="Restore the snapshot's audit trail.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Copy a snapshot into an empty runtime, then verify counts and content hashes.

    A damaged or truncated file is refused before anything is written, naming the line.
    Killed midway, run it again with the same file: it resumes from the checkpoint kept in
    the target. The snapshot's audit trail goes to this project's .memfun/audit.jsonl, which
    must be absent or empty. Exits 1 when the verification finds a difference.
    """
    config = load_config()
    target, target_name = _backend_of(config, tier, url, namespace)
    trail = project_audit_log(config) if audit else None
    report = asyncio.run(_import(path, target, as_json, trail))
    data = {
        "from": str(path),
        "to": target_name,
        "resumed": report.resumed,
        "copied": report.copied,
    }
    _report(data, report.verification, as_json)
