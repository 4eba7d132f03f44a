"""``memfun sessions``: the chat sessions stored in the configured runtime."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from memfun_core.config import load_config

app = typer.Typer(
    name="sessions",
    help="Chat sessions stored in the runtime (resume one with `memfun chat --resume ID`).",
    no_args_is_help=True,
)


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_sessions(
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List chat sessions, most recently active first: id, last activity, turns, title."""
    from memfun_cli._chat_sessions import list_sessions as stored

    sessions = stored(load_config(), limit)
    if as_json:
        rows = [
            {"id": s.id, "title": s.metadata.get("title", ""), "created_at": s.created_at,
             "updated_at": s.updated_at, "turn_count": s.turn_count,
             "metadata": dict(s.metadata)}
            for s in sessions
        ]  # fmt: skip
        typer.echo(json.dumps({"sessions": rows}, indent=2))
        return
    if not sessions:
        typer.echo("no chat sessions yet (start one with `memfun chat`)")
        return
    for s in sessions:
        title = s.metadata.get("title", "")
        typer.echo(f"{s.id}  {_when(s.updated_at)} UTC  {s.turn_count:>3} turns  {title}")
