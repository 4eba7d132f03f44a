"""``memfun trust``: let a folder's own skills, agents and MCP servers become active."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from memfun_cli._compose import data_dir
from memfun_core.config import PROJECT_FILE, find_project_file, project_loosened_settings
from memfun_core.trust import (
    TrustState,
    project_mcp_servers,
    revoke_trust,
    trust_folder,
    trusted_folders,
    workspace_trust,
)

__all__ = ["gated_items", "register", "trust"]


def _project_root(path: Path | None) -> Path:
    start = (path or Path.cwd()).resolve()
    if path is not None:
        return start
    found = find_project_file(start)
    return found.parent if found is not None else start


def gated_items(root: Path) -> list[str]:
    """What the folder brings that waits for trust.

    Risky project skills, agents, MCP servers and settings, and a runtime database this
    user's Memfun did not make.
    """
    from memfun_agent.definitions import discover_agents
    from memfun_core.config import load_config
    from memfun_skills import default_roots, discover_skills
    from memfun_skills._trust import project_risks

    config = load_config(root, trust_check=False)
    catalog = discover_skills(default_roots(root, extra_paths=config.skills.paths))
    risks = project_risks(catalog, root)
    lines = [
        f"skill {skill.name} ({skill.properties.skill_dir}): {risks[skill.name]}"
        for skill in catalog.skills
        if skill.name in risks
    ]
    agents = discover_agents(root, config=config, include_builtins=False)
    lines += [f"agent @{a.name} ({a.path})" for a in agents.agents if a.scope == "project"]
    for name in project_mcp_servers(root):
        server = config.mcp.servers.get(name)
        if server is None:
            what = "(not loaded)"
        else:
            what = server.url or " ".join([server.command or "", *server.args])
        lines.append(f"MCP server {name}: {what}")
    project_file = root / PROJECT_FILE
    if project_file.is_file():
        lines += [f"setting {item}" for item in project_loosened_settings(project_file)]
    if config.runtime.tier == "sqlite":
        from memfun_runtime import SQLITE_FILE_NAME

        lines += _foreign_database(root, data_dir(config) / SQLITE_FILE_NAME)
    return lines


def _foreign_database(root: Path, database: Path) -> list[str]:
    """The project's runtime database, when it is there and this user's Memfun did not make it."""
    from memfun_runtime.backends.sqlite import carries_stamp, project_ownership

    owner = project_ownership(root, database)
    if owner.adopt or not database.is_file():
        return []
    stamped = carries_stamp(database, owner)
    if stamped:
        return []
    why = "not made by your Memfun" if stamped is False else "cannot be read to tell who made it"
    return [
        f"runtime database {database}: {why} (its tasks, events and sessions would be used "
        "once you trust the folder)"
    ]


def _show(state: TrustState) -> None:
    items = gated_items(state.root)
    if state.trusted:
        typer.echo(f"{state.root}: trusted ({state.status})")
        return
    typer.echo(f"{state.root}: NOT TRUSTED: {state.reason}")
    if items:
        typer.echo("inactive until you trust it:")
        for line in items:
            typer.echo(f"  {line}")
    typer.echo(f"to trust it: {state.hint}")


def _list() -> None:
    folders = trusted_folders()
    if not folders:
        typer.echo("no trusted folders")
        return
    for folder in folders:
        when = datetime.fromtimestamp(folder.trusted_at, UTC).strftime("%Y-%m-%d %H:%M")
        now = workspace_trust(folder.root).status if folder.root.is_dir() else "missing"
        typer.echo(f"{folder.root}  {folder.digest[:12]}  {when} UTC  {now}")


def trust(
    path: Annotated[
        Path | None,
        typer.Argument(help="The project folder (default: the current project's root)."),
    ] = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="Stop trusting the folder.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the trusted folders.")] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Show whether it is trusted and what waits.")
    ] = False,
) -> None:
    """Trust a folder, so that its own skills, agents and MCP servers become active.

    Until then, project skills with scripts or write/shell grants, agents and MCP servers
    stay inactive. Trust is kept per folder and content of memfun.toml, AGENTS.md and the
    .memfun/.agents/.claude skills and agents (in ~/.config/memfun/trust.json); when they
    change, trust lapses until you run this again.
    """
    if list_:
        _list()
        return
    root = _project_root(path)
    if revoke:
        was = revoke_trust(root)
        typer.echo(f"{root}: no longer trusted" if was else f"{root}: was not trusted")
        return
    state = workspace_trust(root)
    if status:
        _show(state)
        return
    if state.status == "home":
        typer.echo(f"{root}: your home folder is always trusted")
        return
    items = gated_items(root)
    state = trust_folder(root)
    typer.echo(f"{root}: trusted (steering files sha256 {state.digest[:12]})")
    for line in items:
        typer.echo(f"  now active: {line}")


def register(app: typer.Typer) -> None:
    """Add ``memfun trust`` to ``app``."""
    app.command("trust")(trust)
