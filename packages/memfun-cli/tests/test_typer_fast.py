"""Typer's coercion without pydantic for plain values: same results as Typer's own adapters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer import core
from typer._coercion import build_runtime_param

from memfun_cli import _typer_fast
from memfun_cli.app import app

MEMFUN = Path(sys.executable).parent / "memfun"


def _parameters() -> list[Any]:
    """Every Typer parameter of every command of the ``memfun`` app."""
    found: list[Any] = []
    pending: list[Any] = [typer.main.get_command(app)]
    while pending:
        command = pending.pop()
        found.extend(p for p in command.params if isinstance(p, core._TyperParameter))
        pending.extend(getattr(command, "commands", {}).values())
    return found


def _coerce(runtime: Any, param: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", runtime.coerce(value, param=param, ctx=None)
    except Exception as exc:  # the error type and text are part of the behaviour
        return type(exc).__name__, str(exc)


def test_installed_when_the_app_is_imported() -> None:
    assert _typer_fast.installed(), "Typer's internals moved: memfun_cli._typer_fast is inactive"


SAMPLES: list[Any] = ["", " spaced ", "héllo", "5", "yes", "no", "0", True, False, None, 3]


@pytest.mark.parametrize("param", _parameters(), ids=lambda p: f"{p.name}")
def test_every_parameter_coerces_as_typer_does(param: Any) -> None:
    ours = param.get_runtime_param()
    typers = build_runtime_param(param.type_descriptor)
    many = param.multiple or param.nargs == -1
    for sample in SAMPLES:
        value = (() if sample is None else (sample,)) if many else sample
        assert _coerce(ours, param, value) == _coerce(typers, param, value), (param.name, value)


@pytest.mark.parametrize("argv", [["--help"], ["skill", "list"], ["ask", "--help"]])
def test_plain_commands_do_not_import_pydantic(argv: list[str], tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from memfun_cli.app import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('pydantic' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


def test_a_str_argument_reaches_the_command_unchanged(tmp_path: Path) -> None:
    """`memfun skill info NAME` with an unknown name: the value reaches the command as typed."""
    done = subprocess.run(
        [str(MEMFUN), "skill", "info", " no-such skill "],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert "no-such skill" in done.stderr
