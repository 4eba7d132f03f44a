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
_MIN_TEXT_WIDTH = 30


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
    """One line per check, the detail and fix wrapped under their column, within the width.

    No table: in an 80-column terminal a four-column table wrapped every cell.
    """
    import textwrap

    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    width = console.width
    name_width = max(len(c.name) for c in checks)
    indent = 5 + name_width + 1
    if width - indent < _MIN_TEXT_WIDTH:
        indent = 6
    text_width = max(width - indent, 10)
    for check in checks:
        detail = textwrap.wrap(check.detail, width=text_width, break_on_hyphens=False) or [""]
        fix = textwrap.wrap(f"fix: {check.fix}", width=text_width) if check.fix else []
        head = Text.assemble(
            (f"{check.status:<4}", _STYLE[check.status]), f" {check.name:<{name_width}} "
        )
        if len(head) + len(detail[0]) > width:  # a long name on a narrow terminal
            console.print(head, no_wrap=True, overflow="ellipsis")
        else:
            head.append(detail.pop(0))
            console.print(head, no_wrap=True)
        for part in detail:
            console.print(Text(" " * indent + part), no_wrap=True)
        for part in fix:
            console.print(Text(" " * indent + part, style="dim"), no_wrap=True)
