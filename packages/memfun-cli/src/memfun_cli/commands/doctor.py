"""``memfun doctor``: what works, what does not, and how to fix it."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from memfun_cli._doctor_checks import Check, run_checks
from memfun_core.config import MemfunConfig, load_config
from memfun_core.errors import ConfigError

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def doctor(
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not contact the model's endpoint.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    cwd: Annotated[
        Path | None,
        typer.Option("--cwd", help="Check as if run from this folder.", show_default=False),
    ] = None,
) -> None:
    """Check what Memfun needs and print a table with the fix for each problem.

    Checks the configuration, the model's key and endpoint, the runtime backend, the
    sandboxes (bubblewrap, deno, docker) and the search binaries (ripgrep, ast-grep).

    Exits 0 when nothing failed, 1 otherwise. The key's value is never shown.
    """
    checks: list[Check] = []
    try:
        config = load_config(cwd)
        sources = ", ".join(config.sources) or "defaults only"
        checks.append(Check("config", "ok", sources))
    except ConfigError as error:
        checks.append(Check("config", "fail", error.message, error.hint or "fix the file"))
        config = MemfunConfig()
    checks += run_checks(config, dict(os.environ), offline=offline)
    failed = any(c.status == "fail" for c in checks)
    if as_json:
        typer.echo(
            json.dumps(
                {"ok": not failed, "checks": [dataclasses.asdict(c) for c in checks]}, indent=2
            )
        )
    else:
        _render(checks)
    raise typer.Exit(1 if failed else 0)


def _render(checks: list[Check]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=False, expand=False)
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        style = _STYLE[check.status]
        table.add_row(
            escape(check.name),
            f"[{style}]{check.status}[/]",
            escape(check.detail),
            escape(check.fix),
        )
    Console(highlight=False).print(table)
