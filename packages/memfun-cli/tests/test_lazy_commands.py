"""Each command's module is imported when the command is used, and the CLI is the same."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer import _click
from typer.core import TyperGroup

from memfun_cli import app as app_module
from memfun_cli._lazy_commands import CommandSource, LazyCommands, lazy_group
from memfun_cli.app import app
from memfun_core.errors import InternalError

COMMANDS = [
    "ask",
    "analyze",
    "review",
    "fix",
    "explain",
    "init",
    "doctor",
    "chat",
    "undo",
    "orchestrate",
    "trust",
    "version",
    "config",
    "skill",
    "mcp",
    "runtime",
    "trace",
    "audit",
    "sessions",
    "agent",
    "eval",
    "optimize",
    "memory",
]


def _imported_after(argv: list[str], cwd: Path) -> list[str]:
    code = (
        "import sys\n"
        "from memfun_cli.app import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('memfun_cli.commands.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1].split(",")


def test_skill_list_imports_only_the_skill_modules(tmp_path: Path) -> None:
    assert _imported_after(["skill", "list"], tmp_path) == [
        "memfun_cli.commands.skill",
        "memfun_cli.commands.skill_market",
    ]


def test_help_lists_every_command_in_order(tmp_path: Path) -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    assert group.list_commands(_click.Context(group)) == COMMANDS
    loaded = _imported_after(["--help"], tmp_path)
    assert "memfun_cli.commands.tasks" in loaded
    assert "memfun_cli.commands.memory" in loaded


def test_every_command_loads_with_its_name() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    ctx = _click.Context(group)
    for name in COMMANDS:
        command = group.get_command(ctx, name)
        assert command is not None, name
        assert command.name == name
    assert group.get_command(ctx, "nonesuch") is None


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "memfun"), "skil", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "No such command 'skil'" in done.stderr


def test_a_module_adding_other_commands_than_listed_is_an_internal_error() -> None:
    wrong = CommandSource(
        "init", ("start",), lambda module, holder: holder.command("init")(module.init)
    )
    commands = typer.main.get_group(typer.Typer(cls=lazy_group(("start",), (wrong,)))).commands
    assert "start" in commands
    with pytest.raises(
        InternalError,
        match=r"adds \('init',\), but the command table in memfun_cli.app lists \('start',\)",
    ):
        commands["start"]


def test_a_lazy_group_keeps_its_own_commands_in_place() -> None:
    init = CommandSource(
        "init", ("init",), lambda module, holder: holder.command("init")(module.init)
    )
    holder = typer.Typer(cls=lazy_group(("init", "here"), (init,)))

    @holder.command("here")
    def here() -> None:
        """A command defined on the group itself."""

    group = typer.main.get_group(holder)
    assert list(group.commands) == ["init", "here"]
    assert group.commands["init"].help is not None
    with pytest.raises(KeyError):
        group.commands["nonesuch"]


def _helps(command: Any, path: list[str]) -> dict[str, str]:
    """Every command's help text under ``command``, by path, as Click renders it."""
    ctx = _click.Context(command, info_name=" ".join(path))
    found = {" ".join(path): command.get_help(ctx)}
    if isinstance(command, TyperGroup):
        for name in command.list_commands(ctx):
            found.update(_helps(command.get_command(ctx, name), [*path, name]))
    return found


def test_every_help_text_is_the_one_typer_gives_without_laziness() -> None:
    eager = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False)
    for source in app_module._SOURCES:
        source.register(importlib.import_module(f"memfun_cli.commands.{source.module}"), eager)
    eager_group = typer.main.get_group(eager)
    lazy_root = typer.main.get_command(app)
    assert isinstance(lazy_root, TyperGroup)
    ctx = _click.Context(lazy_root)
    names = [n for n in COMMANDS if n != "version"]
    assert list(eager_group.commands) == names
    compared = {}
    for name in names:
        compared = _helps(lazy_root.get_command(ctx, name), ["memfun", name])
        assert compared == _helps(eager_group.commands[name], ["memfun", name])
    assert len(compared) > 1  # the last one, memory, is a group: its commands were compared too


def test_a_group_converts_only_the_command_asked_for() -> None:
    lazy_root = typer.main.get_command(app)
    assert isinstance(lazy_root, TyperGroup)
    skill = lazy_root.get_command(_click.Context(lazy_root), "skill")
    assert isinstance(skill, TyperGroup)
    commands = skill.commands
    assert isinstance(commands, LazyCommands)
    assert "list" in commands
    assert commands.loaded() == []
    assert commands["list"].name == "list"
    assert commands.loaded() == ["list"]
