"""``memfun skill search/install/update/remove/export``: the skills marketplace.

Registered onto the ``skill`` Typer app by :func:`register`. Heavy work happens in
:mod:`memfun_cli._skill_market` (fetching) and :mod:`memfun_skills.market` (unpacking,
validation, the lock), both imported inside the commands.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from memfun_core.config import load_config
from memfun_core.errors import ConflictError, NotFoundError, UserError

if TYPE_CHECKING:
    from memfun_cli._skill_market import Fetched, Market, Placement
    from memfun_core.config import MemfunConfig
    from memfun_skills.market import LockEntry

__all__ = ["register"]

ScopeOption = Annotated[
    str, typer.Option("--scope", help="project (this repository) or user (your home folder).")
]
TargetOption = Annotated[
    str,
    typer.Option(
        "--target",
        help="memfun (.memfun/skills), claude (.claude/skills), agents (.agents/skills).",
    ),
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Install without asking (needed for scripts).")
]
_SCOPES = ("project", "user")
_TARGETS = ("memfun", "claude", "agents")


def _choice(value: str, allowed: tuple[str, ...], option: str) -> str:
    if value not in allowed:
        raise UserError(f"{option} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _place(config: MemfunConfig, scope: str, target: str) -> Placement:
    from memfun_cli._skill_market import placement

    return placement(
        config,
        "user" if _choice(scope, _SCOPES, "--scope") == "user" else "project",
        _target(_choice(target, _TARGETS, "--target")),
        os.environ,
    )


def _target(value: str) -> Literal["memfun", "claude", "agents"]:
    return "claude" if value == "claude" else "agents" if value == "agents" else "memfun"


def _size(count: int) -> str:
    return f"{count} B" if count < 1024 else f"{count / 1024:.1f} KiB"  # noqa: PLR2004


def _show(fetched: Fetched, destination: Path) -> None:
    plan = fetched.plan
    typer.echo(f"skill {plan.name}: {plan.description}")
    typer.echo(f"  from:    {fetched.source.spec()} ({fetched.revision})")
    typer.echo(f"  into:    {destination}")
    typer.echo(f"  content: {plan.content}")
    typer.echo(f"  files ({len(plan.files)}):")
    for path, size in plan.files:
        typer.echo(f"    {path} ({_size(size)})")
    if plan.scripts:
        typer.echo(
            f"  scripts: {', '.join(plan.scripts)} (nothing runs now; later they run only "
            "in the sandbox)"
        )
    typer.echo(f"  allowed tools: {' '.join(plan.allowed_tools) or '(none: the session tools)'}")
    for warning in plan.warnings:
        typer.echo(f"  warning: {warning}")


def _consent(fetched: Fetched, destination: Path, *, yes: bool, verb: str) -> None:
    _show(fetched, destination)
    if yes:
        return
    if sys.stdin.isatty():
        if not typer.confirm(f"{verb} {fetched.plan.name}?", default=False):
            raise UserError(f"{verb} of {fetched.plan.name} cancelled")
        return
    if fetched.plan.scripts:
        raise UserError(
            f"{fetched.plan.name} has scripts and there is no terminal to ask on",
            hint=f"review the list above, then run the command again with --yes to {verb} it",
        )


def _project_trusted(place: Placement) -> bool:
    from memfun_core.trust import workspace_trust

    return place.scope == "project" and workspace_trust(place.base).status == "trusted"


def _after_project_change(place: Placement, was_trusted: bool) -> None:
    """Keep a trusted folder trusted (the change is the user's own); say so otherwise."""
    if place.scope != "project":
        return
    from memfun_core.trust import trust_folder, workspace_trust

    if was_trusted:
        trust_folder(place.base)
        return
    state = workspace_trust(place.base)
    if not state.trusted:
        typer.echo(
            f"note: {state.reason}; project skills with scripts or write grants stay inactive "
            f"until you run `memfun trust {place.base}`"
        )


def _market(config: MemfunConfig) -> Market:
    from memfun_cli._skill_market import Market

    return Market(config, Path.cwd())


def _entry(fetched: Fetched, source_text: str, target: str) -> LockEntry:
    from memfun_skills.market import LockEntry

    return LockEntry(
        fetched.plan.name, source_text, fetched.revision, fetched.plan.content, _target(target)
    )


def _requested(text: str) -> str:
    """The source as the lock records it: absolute for local paths, as given otherwise."""
    from memfun_skills.market import parse_source

    source = parse_source(text, cwd=Path.cwd())
    return source.location if source.kind == "registry" else source.spec()


def search(
    query: Annotated[list[str] | None, typer.Argument(help="Words to look for.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Search the configured registries ([skills] registries) by name and description."""
    import asyncio

    from memfun_skills.market import search_entries

    config = load_config()
    found = search_entries(asyncio.run(_market(config).registry_entries()), " ".join(query or []))
    if as_json:
        rows = [
            {"name": e.name, "description": e.description, "version": e.version,
             "source": e.source, "sha256": e.sha256, "registry": e.registry}
            for e in found
        ]  # fmt: skip
        typer.echo(json.dumps({"skills": rows}, indent=2))
        return
    if not found:
        typer.echo("no skill matches")
    for entry in found:
        typer.echo(f"{entry.name} {entry.version}".rstrip() + f"  {entry.description}")
        typer.echo(f"    {entry.source}  ({entry.registry})")


def install(
    source: Annotated[
        str | None, typer.Argument(help="Folder, archive, git+URL@REF, or a registry name.")
    ] = None,
    scope: ScopeOption = "project",
    target: TargetOption = "memfun",
    yes: YesOption = False,
    locked: Annotated[
        bool, typer.Option("--locked", help="Install exactly what skills.lock records.")
    ] = False,
) -> None:
    """Install a skill: fetch, unpack safely, validate, show it, ask, then move it in place.

    Nothing from the skill runs during install. The skill and its source, revision and
    content hash are recorded in skills.lock (project root, or your config folder).
    """
    config = load_config()
    if locked:
        if source is not None:
            raise UserError("--locked installs what skills.lock records; give no SOURCE")
        _install_locked(config, scope, yes=yes)
        return
    if source is None:
        raise UserError("give a SOURCE to install", hint="or --locked to install skills.lock")
    _install_one(config, source, _place(config, scope, target), target, yes=yes)


def _install_one(
    config: MemfunConfig, source: str, place: Placement, target: str, *, yes: bool
) -> None:
    import asyncio

    from memfun_skills.market import SkillsLock, commit_install

    was_trusted = _project_trusted(place)  # before staging writes into the skills folder
    fetched = asyncio.run(_market(config).fetch(source, place.skills_root))
    try:
        destination = place.skills_root / fetched.plan.name
        lock = SkillsLock.read(place.lock_path)
        if destination.exists():
            raise ConflictError(
                f"{destination} already exists",
                hint=f"`memfun skill update {fetched.plan.name}` or `remove` it first",
            )
        _consent(fetched, destination, yes=yes, verb="install")
        commit_install(fetched.plan, place.skills_root)
        lock.with_entry(_entry(fetched, _requested(source), target)).write(place.lock_path)
    finally:
        shutil.rmtree(fetched.staging, ignore_errors=True)
    _after_project_change(place, was_trusted)
    typer.echo(f"installed {fetched.plan.name} into {destination}")


async def _fetch_locked(
    market: Market, entry: LockEntry, place: Placement
) -> tuple[Fetched | None, Path]:
    """Fetch ``entry`` pinned to its revision; refuse it when its content differs."""
    from memfun_core.errors import ValidationError
    from memfun_skills.market import content_hash, parse_source

    destination = place.skills_root / entry.name
    if destination.exists():
        if content_hash(destination) == entry.content:
            return None, destination
        raise ConflictError(
            f"{entry.name}: {destination} differs from skills.lock",
            hint="remove the folder (or `memfun skill update`) and run install --locked again",
        )
    source = parse_source(entry.source, cwd=Path.cwd())
    if source.kind == "registry":
        source, _ = await market.resolve(entry.source)
    kind, _, value = entry.revision.partition(":")
    if source.kind == "git" and kind == "git":
        source = source.pinned(ref=value)
    elif source.kind == "archive" and kind == "sha256":
        source = source.pinned(sha256=value)
    try:
        fetched = await market.fetch(source.spec(), place.skills_root)
    except ValidationError as exc:
        if exc.rule != "sha256-mismatch":
            raise
        raise _changed(entry, str(exc)) from None
    if fetched.plan.content != entry.content or fetched.plan.name != entry.name:
        shutil.rmtree(fetched.staging, ignore_errors=True)
        raise _changed(entry, f"locked {entry.content}, upstream now {fetched.plan.content}")
    return fetched, destination


def _changed(entry: LockEntry, detail: str) -> UserError:
    return UserError(
        f"refusing {entry.name}: its upstream content changed since skills.lock was written "
        f"({detail})",
        hint=f"review it, then `memfun skill update {entry.name}` to accept the new content",
    )


def _install_locked(config: MemfunConfig, scope: str, *, yes: bool) -> None:
    import asyncio

    from memfun_skills.market import SkillsLock, commit_install

    base = _place(config, scope, "memfun")
    lock = SkillsLock.read(base.lock_path)
    if not lock.entries:
        raise NotFoundError("skills in", str(base.lock_path), hint="install a skill first")
    market = _market(config)
    was_trusted = _project_trusted(base)
    ready: list[tuple[Fetched, Path, Placement]] = []
    try:
        for entry in lock.entries:  # fetch and check everything before installing anything
            place = _place(config, scope, entry.target)
            fetched, destination = asyncio.run(_fetch_locked(market, entry, place))
            if fetched is None:
                typer.echo(f"{entry.name}: up to date in {destination}")
            else:
                ready.append((fetched, destination, place))
        for fetched, destination, _ in ready:
            _consent(fetched, destination, yes=yes, verb="install")
        for fetched, destination, place in ready:
            commit_install(fetched.plan, place.skills_root)
            typer.echo(f"installed {fetched.plan.name} into {destination} (locked)")
    finally:
        for fetched, _, _ in ready:
            shutil.rmtree(fetched.staging, ignore_errors=True)
    if ready:
        _after_project_change(base, was_trusted)


def update(
    name: Annotated[str | None, typer.Argument(help="One skill (default: every one).")] = None,
    scope: ScopeOption = "project",
    yes: YesOption = False,
) -> None:
    """Fetch each installed skill's source again and replace the ones whose content changed."""
    import asyncio

    from memfun_skills.market import SkillsLock, commit_install

    config = load_config()
    base = _place(config, scope, "memfun")
    lock = SkillsLock.read(base.lock_path)
    entries = [e for e in lock.entries if name is None or e.name == name.lstrip("/")]
    if not entries:
        raise NotFoundError("installed skill", name or "(any)", hint=f"see {base.lock_path}")
    market = _market(config)
    was_trusted = _project_trusted(base)
    changed = False
    for entry in entries:
        place = _place(config, scope, entry.target)
        fetched = asyncio.run(market.fetch(entry.source, place.skills_root))
        try:
            if fetched.plan.content == entry.content:
                typer.echo(f"{entry.name}: up to date ({entry.revision})")
                continue
            destination = place.skills_root / entry.name
            _consent(fetched, destination, yes=yes, verb="update")
            commit_install(fetched.plan, place.skills_root, replace=True)
            lock = lock.with_entry(_entry(fetched, entry.source, entry.target))
            lock.write(base.lock_path)
            changed = True
            typer.echo(f"updated {entry.name} to {fetched.revision}")
        finally:
            shutil.rmtree(fetched.staging, ignore_errors=True)
    if changed:
        _after_project_change(base, was_trusted)


def remove(
    name: Annotated[str, typer.Argument(help="The installed skill.")],
    scope: ScopeOption = "project",
) -> None:
    """Delete a skill that `memfun skill install` installed, and its skills.lock entry."""
    from memfun_skills.market import SkillsLock, remove_installed

    config = load_config()
    base = _place(config, scope, "memfun")
    lock = SkillsLock.read(base.lock_path)
    entry = lock.get(name.lstrip("/"))
    if entry is None:
        raise NotFoundError(
            "skill installed by `memfun skill install`",
            name,
            hint=f"{base.lock_path} does not list it; delete a hand-made skill folder yourself",
        )
    place = _place(config, scope, entry.target)
    was_trusted = _project_trusted(place)
    remove_installed(place.skills_root, entry.name)
    lock.without(entry.name).write(base.lock_path)
    _after_project_change(place, was_trusted)
    typer.echo(f"removed {entry.name} from {place.skills_root}")


def export(
    name: Annotated[str, typer.Argument(help="A discovered skill.")],
    to: Annotated[Path, typer.Option("--to", help="A folder, or a .zip / .tar.gz file.")],
) -> None:
    """Write a skill as a folder (TO/NAME) or an archive that other clients can install."""
    from memfun_skills import discover_from_config
    from memfun_skills.market import export_skill

    catalog = discover_from_config(load_config())
    # Exporting runs nothing, so a skill waiting for trust can be exported too.
    waiting = {i.skill.name: i.skill for i in catalog.inactive}
    skill = waiting.get(name.lstrip("/")) or catalog.require(name)
    written = export_skill(skill.properties.skill_dir, to.absolute())
    typer.echo(f"exported {skill.name} to {written}")


def register(app: typer.Typer) -> None:
    """Add the marketplace commands to the ``skill`` app."""
    app.command("search")(search)
    app.command("install")(install)
    app.command("update")(update)
    app.command("remove")(remove)
    app.command("export")(export)
