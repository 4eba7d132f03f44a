"""``memfun config``: show where configuration comes from and what it resolves to."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from memfun_core.config import load_config

app = typer.Typer(
    name="config",
    help="Inspect Memfun's configuration (memfun.toml, ~/.config/memfun/config.toml, MEMFUN_*).",
    no_args_is_help=True,
)


@app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    cwd: Annotated[
        Path | None,
        typer.Option("--cwd", help="Resolve as if run from this folder.", show_default=False),
    ] = None,
) -> None:
    """Print the merged, validated configuration and the sources it came from.

    Precedence, lowest first: defaults, the user file, the project file (nearest
    memfun.toml up from the current folder, or $MEMFUN_CONFIG), then environment
    variables named MEMFUN_<SECTION>__<KEY> (e.g. MEMFUN_RUNTIME__TIER=redis).
    """
    config = load_config(cwd)
    data: dict[str, Any] = dataclasses.asdict(config)
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    sources = data.pop("sources")
    root = data.pop("project_root")
    typer.echo(f"# project root: {root}")
    typer.echo("# sources (lowest precedence first): " + (", ".join(sources) or "defaults only"))
    for section, values in data.items():
        _print_table(section, values)


def _print_table(name: str, values: dict[str, Any]) -> None:
    scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
    tables: dict[str, dict[str, Any]] = {
        k: cast("dict[str, Any]", v) for k, v in values.items() if isinstance(v, dict)
    }
    typer.echo(f"\n[{name}]")
    for key, value in scalars.items():
        if value is None:
            typer.echo(f"# {key} is not set")
        else:
            typer.echo(f"{key} = {json.dumps(value)}")
    for key, value in tables.items():
        _print_table(f"{name}.{key}", value)
