"""``memfun config``: show where configuration comes from and what it resolves to."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from memfun_core.config import load_config
from memfun_core.errors import UserError
from memfun_core.secrets import redact_url

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
    Passwords in URLs (redis_url, nats_url, ...) are shown as ***.
    """
    config = load_config(cwd)
    data: dict[str, Any] = _masked(dataclasses.asdict(config))
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    sources = data.pop("sources")
    root = data.pop("project_root")
    typer.echo(f"# project root: {root}")
    typer.echo("# sources (lowest precedence first): " + (", ".join(sources) or "defaults only"))
    for section, values in data.items():
        _print_table(section, values)


def _masked(value: Any) -> Any:
    """``value`` with the credentials of every URL in it masked (passwords never printed)."""
    if isinstance(value, str):
        return redact_url(value) if "://" in value else value
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in cast("dict[str, Any]", value).items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in cast("list[Any]", value)]
    return value


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


def _lookup(config: object, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = getattr(value, part, _MISSING)
        elif isinstance(value, dict):
            value = cast("dict[str, Any]", value).get(part, _MISSING)
        else:
            value = _MISSING
        if value is _MISSING:
            raise UserError(
                f"no such config key {key!r}",
                hint="keys look like runtime.tier or llm.budgets.max_iterations; see "
                "`memfun config show`",
            )
    return value


_MISSING = object()


@app.command("get")
def get(key: Annotated[str, typer.Argument(help="A dotted key, e.g. runtime.tier.")]) -> None:
    """Print the value of one key after every file and variable is applied (JSON for tables)."""
    value = _lookup(load_config(), key)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    typer.echo(value if isinstance(value, str) else json.dumps(value))


@app.command("set")
def set_(
    key: Annotated[str, typer.Argument(help="A dotted key, e.g. runtime.tier.")],
    value: Annotated[str, typer.Argument(help="The value (lists comma-separated).")],
    user: Annotated[
        bool, typer.Option("--user", help="Write ~/.config/memfun/config.toml instead.")
    ] = False,
) -> None:
    """Set one key in this project's memfun.toml (or the user file), keeping its comments.

    The value is checked like the file itself (a raw API key is refused), and the file is
    replaced only when the result is valid. A folder you trust stays trusted (the edit is
    yours); in one you do not, a setting that waits for `memfun trust` is named.
    """
    import os

    from memfun_cli._settings import set_project_settings, write_settings
    from memfun_core.config import user_config_path

    note = ""
    if user:
        path = user_config_path(os.environ)
        stored = write_settings(path, [(key, value)])
    else:
        path, stored, note = set_project_settings([(key, value)])
    typer.echo(f"{key} = {json.dumps(stored[0][1])} in {path}")
    if note:
        typer.echo(note, err=True)
