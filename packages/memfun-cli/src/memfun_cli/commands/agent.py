"""``memfun agent``: list, inspect, validate and create agent definitions (``AGENT.md``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from memfun_core.config import load_config
from memfun_core.errors import UserError

if TYPE_CHECKING:
    from memfun_agent.definitions import AgentCatalog, AgentDefinition, AgentValidationReport

app = typer.Typer(
    name="agent",
    help="Agents (AGENT.md and Claude Code subagent files): list, show, validate, create.",
    no_args_is_help=True,
)

_SUMMARY = 90


def _catalog() -> AgentCatalog:
    from memfun_agent.definitions import discover_from_config

    return discover_from_config(load_config())


def _complete_names(incomplete: str) -> list[str]:
    """Shell completion of agent names."""
    try:
        return [name for name in _catalog().names if name.startswith(incomplete.lstrip("@"))]
    except Exception:  # completion must never print a traceback into the shell
        return []


def _summary(description: str) -> str:
    summary = description.split(". ", maxsplit=1)[0].strip().rstrip(".")
    if len(summary) > _SUMMARY:
        summary = summary[: _SUMMARY - 1].rsplit(" ", 1)[0] + "…"
    return summary


def _as_dict(agent: AgentDefinition) -> dict[str, Any]:
    names = ("max_iterations", "max_llm_calls", "max_tokens", "max_cost_usd", "max_wall_seconds")
    budgets = {key: getattr(agent.budgets, key) for key in names}
    return {
        "name": agent.name,
        "description": agent.description,
        "scope": agent.scope,
        "path": str(agent.path) if agent.path else None,
        "tools": list(agent.tools) if agent.tools is not None else None,
        "tool_grants": [
            {
                "source": grant.source,
                "tool": grant.tool,
                "command_prefix": grant.command_prefix,
                "path_pattern": grant.path_pattern,
            }
            for grant in agent.tool_grants
        ],
        "disallowed_tools": list(agent.disallowed_tools),
        "model": agent.model,
        "skills": list(agent.skills),
        "capabilities": list(agent.capabilities),
        "delegates": list(agent.delegates),
        "budgets": {key: value for key, value in budgets.items() if value is not None},
        "sandbox": agent.sandbox,
        "permission_mode": agent.permission_mode,
        "read_only": agent.read_only,
        "mcp_servers": list(agent.mcp_servers) if agent.mcp_servers is not None else None,
        "color": agent.color,
        "extra": dict(agent.extra),
        "warnings": [str(warning) for warning in agent.warnings],
    }


@app.command("list")
def list_agents(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List agents in precedence order (project, user, built-in).

    Shadowed agents and files that could not be loaded are reported below the list.
    """
    catalog = _catalog()
    if as_json:
        payload = {
            "agents": [
                {
                    "name": a.name,
                    "scope": a.scope,
                    "description": a.description,
                    "path": str(a.path),
                    "warnings": [str(w) for w in a.warnings],
                }
                for a in catalog.agents
            ],
            "shadowed": [
                {"name": s.agent.name, "path": str(s.agent.path), "by": str(s.by.path)}
                for s in catalog.shadowed
            ],
            "skipped": [s.error.to_dict() for s in catalog.skipped],
            "inactive": [
                {"name": i.agent.name, "path": str(i.agent.path), "reason": i.reason}
                for i in catalog.inactive
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    width = max((len(a.name) for a in catalog.agents), default=0)
    for agent in catalog.agents:
        flag = " (read-only)" if agent.read_only else ""
        typer.echo(f"@{agent.name:<{width}}  [{agent.scope}] {_summary(agent.description)}{flag}")
    if not catalog.agents:
        typer.echo("no agents found (create one with: memfun agent create NAME -d '...')")
    for shadow in catalog.shadowed:
        typer.echo(f"shadowed: {shadow.agent.path} (by {shadow.by.path})")
    for waiting in catalog.inactive:
        typer.echo(f"inactive: @{waiting.agent.name} ({waiting.agent.path}): {waiting.reason}")
    if catalog.inactive:
        typer.echo(f"to use them: {catalog.inactive[0].hint}")
    for skipped in catalog.skipped:
        typer.echo(f"skipped: {skipped.error}", err=True)
    for agent in catalog.agents:
        for warning in agent.warnings:
            typer.echo(f"warning: @{agent.name}: {warning}", err=True)


@app.command("info")
def info(
    name: Annotated[
        str, typer.Argument(help="Agent name (with or without @).", autocompletion=_complete_names)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show every field of an agent, its tools as Memfun maps them, and its warnings."""
    agent = _catalog().require(name)
    data = _as_dict(agent)
    if as_json:
        typer.echo(json.dumps({**data, "instructions": agent.instructions}, indent=2))
        return
    for key, value in data.items():
        if key in {"tool_grants", "warnings", "extra"}:
            continue
        shown = "(all default tools)" if key == "tools" and value is None else value
        typer.echo(f"{key}: {shown}")
    for grant in agent.tool_grants:
        limits = grant.command_prefix or grant.path_pattern
        typer.echo(f"  {grant.source} -> {grant.tool}" + (f" (only {limits})" if limits else ""))
    for key, value in agent.extra.items():
        typer.echo(f"not used: {key}: {value}")
    typer.echo(f"instructions: {len(agent.instructions)} characters")
    for warning in agent.warnings:
        typer.echo(f"warning: {warning}", err=True)


def _targets(path: Path) -> list[Path]:
    """The agent files ``path`` names: itself, or every agent in a folder of agents."""
    if not path.is_dir() or any((path / n).exists() for n in ("AGENT.md", "agent.md")):
        return [path]
    files = [p for p in sorted(path.glob("*.md")) if p.name.lower() != "readme.md"]
    files += sorted(p for p in path.glob("*/AGENT.md"))
    return files or [path]


@app.command("validate")
def validate(
    paths: Annotated[
        list[Path], typer.Argument(help="Agent files, agent folders or folders of agents.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Validate agent files; errors read FILE:LINE: FIELD: MESSAGE [rule].

    Exit status: 0 when every file is valid, 1 otherwise.
    """
    from memfun_agent.definitions import validate_agent_file

    config = load_config()
    reports: list[AgentValidationReport] = [
        validate_agent_file(target, config=config) for path in paths for target in _targets(path)
    ]
    if as_json:
        typer.echo(json.dumps([report.to_dict() for report in reports], indent=2))
    else:
        for report in reports:
            for error in report.errors:
                sys.stderr.write(
                    f"{error.location}: {error.field}: {error.detail} [{error.rule}]\n"
                )
                if error.hint:
                    sys.stderr.write(f"  hint: {error.hint}\n")
            if report.valid and report.definition is not None:
                typer.echo(f"valid: {report.path} (@{report.definition.name})")
            for warning in report.warnings:
                typer.echo(f"  warning: {warning} [{warning.rule}]")
    raise typer.Exit(0 if all(report.valid for report in reports) else 1)


_TEMPLATE = """---
name: {name}
description: {description}
{tools}capabilities: []
budgets:
  max-iterations: 20
---

You are the {name} agent. Say in one paragraph what you are responsible for.

How to work in the REPL:

1. Find what the task is about: read `repo_map`, search with `search_text`, read files with
   `fs_read`.
2. Do the work with your tools (list them in `tools`; change files only with `fs_edit`,
   `fs_multi_edit` or `fs_write`), and check it with `verify()` when the project has checks.

SUBMIT `answer` (the result, with evidence such as `path:line` references or check output)
and `summary` (what changed and why, or "no changes").
"""


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits and single hyphens.")],
    description: Annotated[
        str,
        typer.Option("--description", "-d", help="What the agent does and when to use it."),
    ],
    tools: Annotated[
        str | None,
        typer.Option(
            "--tools", help="Comma-separated tools (Read, Grep, fs_edit...); all if unset."
        ),
    ] = None,
    scope: Annotated[
        str,
        typer.Option("--scope", help="project (.memfun/agents) or user (~/.memfun/agents)."),
    ] = "project",
) -> None:
    """Create NAME.md: a valid agent file to edit. It never overwrites a file."""
    from memfun_agent.definitions import validate_agent_text

    if scope not in ("project", "user"):
        raise UserError(f"unknown scope {scope!r}", hint="use --scope project or --scope user")
    where: Literal["project", "user"] = "project" if scope == "project" else "user"
    config = load_config()
    base = Path(config.project_root) if where == "project" else Path.home()
    target = base / ".memfun" / "agents" / f"{name}.md"
    if "\n" in description or (tools is not None and "\n" in tools):
        raise UserError("the description and the tools must each be one line")
    text = _TEMPLATE.format(
        name=name,
        description=json.dumps(description),
        tools=f"tools: {json.dumps(tools)}\n" if tools else "",
    )
    report = validate_agent_text(text, target, config=config)
    if not report.valid:
        raise UserError(
            "the new agent would not validate: " + "; ".join(e.message for e in report.errors),
            hint=report.errors[0].hint,
        )
    if target.exists() or target.is_symlink() or (target.parent / name / "AGENT.md").exists():
        raise UserError(f"{target} already exists", hint="choose another name, or edit that file")
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as handle:  # "x": never overwrite, even in a race
        handle.write(text)
    typer.echo(f"created {target}")
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"edit its instructions, then: memfun agent info {name}")


@app.command("accept")
def accept(
    name: Annotated[str, typer.Argument(help="A draft in .memfun/agents/_drafts/.")],
) -> None:
    """Make a drafted agent (memfun optimize synthesize --kind agent) a project agent.

    The draft is validated again, then moved to .memfun/agents/NAME.md.
    """
    from memfun_cli._keep_trust import keeping_trust
    from memfun_optimizer.synthesis import accept_agent

    config = load_config()
    with keeping_trust(config.project_root):  # the user's own change
        target = accept_agent(config.project_root, name, config=config)
    typer.echo(f"accepted {name}: {target}")
    typer.echo(f'see it: memfun agent info {name}; run it: memfun agent run {name} "task"')


# `memfun agent run NAME "task"` lives in its own module (the agents-on-the-runtime work) and
# registers itself on `app` here, with one line:


from memfun_cli.commands import agent_run  # noqa: E402 - `agent run` lives in its own module

app.command("run")(agent_run.run)
