"""Each command's module is imported when the command is used, and the CLI is the same."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer import _click
from typer.core import TyperGroup

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
    commands = LazyCommands({}, ("start",), (wrong,))
    assert "start" in commands
    with pytest.raises(
        InternalError,
        match=r"adds \('init',\), but the command table in memfun_cli.app lists \('start',\)",
    ):
        commands["start"]


def test_a_lazy_group_keeps_its_own_commands_in_place() -> None:
    holder = typer.Typer(cls=lazy_group(("init", "here"), (CommandSourceFor.init,)))

    @holder.command("here")
    def here() -> None:
        """A command defined on the group itself."""

    group = typer.main.get_group(holder)
    assert list(group.commands) == ["init", "here"]
    assert group.commands["init"].help is not None
    with pytest.raises(KeyError):
        group.commands["nonesuch"]


class CommandSourceFor:
    init = CommandSource(
        "init", ("init",), lambda module, holder: holder.command("init")(module.init)
    )
