"""``memfun skill``: list, inspect, validate and create Agent Skills (``SKILL.md`` folders)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from memfun_core.config import load_config
from memfun_core.errors import UserError

if TYPE_CHECKING:
    from memfun_skills import SkillCatalog

app = typer.Typer(
    name="skill",
    help="Agent Skills: list what is discovered, show one, validate a folder, create a new one.",
    no_args_is_help=True,
)

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_MAX_NAME = 64
_SUMMARY = 90
_MAX_DESCRIPTION = 1024


def _catalog() -> SkillCatalog:
    from memfun_skills import discover_from_config

    return discover_from_config(load_config())


def _complete_names(incomplete: str) -> list[str]:
    """Shell completion of skill names."""
    try:
        return [name for name in _catalog().names if name.startswith(incomplete.lstrip("/"))]
    except Exception:  # completion must never print a traceback into the shell
        return []


@app.command("list")
def list_skills(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List discovered skills in precedence order (project, [skills] paths, user, built-in).

    Shadowed, disabled and unloadable skills are reported below the list, never dropped
    silently.
    """
    catalog = _catalog()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "skills": [
                        {
                            "name": s.name,
                            "description": s.description,
                            "scope": s.scope,
                            "path": str(s.properties.skill_dir),
                            "warnings": [str(w) for w in s.warnings],
                        }
                        for s in catalog.skills
                    ],
                    "shadowed": [
                        {
                            "name": s.skill.name,
                            "path": str(s.skill.properties.skill_dir),
                            "by": str(s.by.properties.skill_dir),
                        }
                        for s in catalog.shadowed
                    ],
                    "disabled": [s.name for s in catalog.disabled],
                    "inactive": [
                        {
                            "name": i.skill.name,
                            "path": str(i.skill.properties.skill_dir),
                            "reason": i.reason,
                        }
                        for i in catalog.inactive
                    ],
                    "skipped": [
                        {"path": str(s.path), "error": s.error.message} for s in catalog.skipped
                    ],
                },
                indent=2,
            )
        )
        return
    width = max((len(s.name) for s in catalog.skills), default=0)
    for skill in catalog.skills:
        summary = skill.description.split(". ")[0].strip().rstrip(".")
        if len(summary) > _SUMMARY:
            summary = summary[: _SUMMARY - 1].rsplit(" ", 1)[0] + "…"
        typer.echo(f"/{skill.name:<{width}}  [{skill.scope}] {summary}")
    for shadow in catalog.shadowed:
        typer.echo(
            f"shadowed: {shadow.skill.properties.skill_dir} (by {shadow.by.properties.skill_dir})"
        )
    for disabled in catalog.disabled:
        typer.echo(f"disabled: {disabled.name}")
    for waiting in catalog.inactive:
        typer.echo(f"inactive: /{waiting.skill.name}: {waiting.reason}")
    if catalog.inactive:
        typer.echo("to use them: review the folder's skills, then run `memfun trust`")
    for skipped in catalog.skipped:
        typer.echo(f"skipped: {skipped.path}: {skipped.error.message}", err=True)
    for skill in catalog.skills:
        for warning in skill.warnings:
            typer.echo(f"warning: /{skill.name}: {warning}", err=True)


@app.command("info")
def info(
    name: Annotated[
        str,
        typer.Argument(
            help="Skill name (with or without the leading /).", autocompletion=_complete_names
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a skill's frontmatter, where it was found, and its files."""
    skill = _catalog().require(name)
    props = skill.properties
    files = sorted(
        str(p.relative_to(props.skill_dir))
        for p in props.skill_dir.rglob("*")
        if p.is_file() and p != props.skill_md
    )
    data = {**props.to_dict(), "scope": skill.scope, "path": str(props.skill_dir), "files": files}
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for key, value in data.items():
        if key == "files":
            typer.echo("files:" + ("" if value else " (none)"))
            for item in files:
                typer.echo(f"  {item}")
        else:
            typer.echo(f"{key}: {value}")
    for warning in skill.warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command("validate")
def validate(
    path: Annotated[Path, typer.Argument(help="The skill folder (holding SKILL.md).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Validate a skill folder the way the reference validator (skills-ref) does.

    Exit status: 0 valid, 1 invalid, 2 usage error (e.g. the path does not exist).
    """
    from memfun_skills import run_validate

    result = run_validate(path, as_json=as_json)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    raise typer.Exit(result.exit_code)


_TEMPLATE = """---
name: {name}
description: {description}
---

# {title}

## When to use this skill

Describe the situations and requests this skill is for.

## Instructions

1. Step one.
2. Step two.

## Output

Say what the answer should look like.
"""


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Lowercase letters, digits and single hyphens.")],
    description: Annotated[
        str, typer.Option("--description", "-d", help="What the skill does and when to use it.")
    ],
    where: Annotated[
        Path,
        typer.Option("--dir", help="Parent folder (default: .memfun/skills of this project)."),
    ] = Path(".memfun/skills"),
) -> None:
    """Create a new skill folder with a valid SKILL.md to fill in."""
    if len(name) > _MAX_NAME or not _NAME.match(name):
        raise UserError(
            f"invalid skill name {name!r}",
            hint="use at most 64 lowercase letters, digits and single hyphens, e.g. check-licenses",
        )
    if not description.strip() or len(description) > _MAX_DESCRIPTION or "\n" in description:
        raise UserError("the description must be one line of 1 to 1024 characters")
    folder = where / name
    if folder.exists():
        raise UserError(f"{folder} already exists", hint="choose another name or --dir")
    folder.mkdir(parents=True)
    title = name.replace("-", " ").capitalize()
    text = _TEMPLATE.format(name=name, description=json.dumps(description), title=title)
    (folder / "SKILL.md").write_text(text, encoding="utf-8")
    from memfun_skills import validate_skill

    report = validate_skill(folder)
    if not report.valid:  # never leave an invalid skill behind
        (folder / "SKILL.md").unlink()
        folder.rmdir()
        raise UserError(
            "the new skill does not validate: " + "; ".join(str(e) for e in report.errors)
        )
    typer.echo(f"created {folder / 'SKILL.md'}")


@app.command("run")
def run(
    name: Annotated[
        str,
        typer.Argument(help="The skill (also `memfun /NAME ...`).", autocompletion=_complete_names),
    ],
    arguments: Annotated[list[str] | None, typer.Argument(help="Text passed to the skill.")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply edits without asking.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run a skill with the agent: `memfun /review-code src/` is the same as this command.

    Edits are confirmed one by one in a terminal, applied with --yes, and refused when there
    is no terminal and no --yes.
    """
    from memfun_cli._skill_run import SkillRequest
    from memfun_cli.commands.tasks import run_task

    skill = _catalog().require(name)
    text = " ".join(arguments or [])
    run_task(
        f"Use the {skill.name} skill" + (f": {text}" if text else "."),
        # Without a terminal to confirm on, a skill runs read-only unless --yes.
        edits=yes or sys.stdin.isatty(),
        yes=yes,
        as_json=as_json,
        skills=SkillRequest(name=skill.name, arguments=text),
    )


@app.command("accept")
def accept(
    name: Annotated[str, typer.Argument(help="A draft in .memfun/skills/_drafts/.")],
) -> None:
    """Make a drafted skill (memfun optimize synthesize) a project skill, validated again."""
    from memfun_cli._keep_trust import keeping_trust
    from memfun_optimizer.synthesis import accept_skill

    root = load_config().project_root
    with keeping_trust(root):  # the user's own change
        target = accept_skill(root, name)
    typer.echo(f"accepted {name}: {target}")


@app.command("stats")
def stats(
    name: Annotated[
        str | None,
        typer.Argument(
            help="Show this skill's recent invocations too.", autocompletion=_complete_names
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Recent invocations shown per skill.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show the recorded skill invocations: runs, outcomes, duration, tokens and cost.

    Every run of a skill (`memfun /NAME`, a skill chosen for a task, chat, MCP) is recorded
    in the configured runtime's skill registry.
    """
    import asyncio

    from memfun_cli._skill_stats import collect_stats, render_stats

    config = load_config()
    data = asyncio.run(collect_stats(config, name=name.lstrip("/") if name else None, limit=limit))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    render_stats(data)


# The marketplace (search, install, update, remove, export) lives in its own module.
from memfun_cli.commands import skill_market as _skill_market  # noqa: E402

_skill_market.register(app)
