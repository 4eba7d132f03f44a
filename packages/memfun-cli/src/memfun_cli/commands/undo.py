"""``memfun undo [RUN]``: put back the files a task or chat turn changed; ``--list`` them."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Annotated

import typer

from memfun_core.config import load_config

__all__ = ["show_undo", "undo"]


def show_undo(run_id: str | None) -> str:
    """Undo ``run_id`` (default: the latest run not yet undone); return what was done.

    Raises:
        NotFoundError: No such run, or nothing left to undo.
        ConflictError: A file changed since the run (named); nothing was written.
        PermissionDeniedError: The checkpoint was not written by this user's Memfun.
    """
    from memfun_cli._checkpoints import checkpoint_store

    config = load_config()
    done = checkpoint_store(config).undo(Path(config.project_root), run_id)
    lines = [f"undid run {done.run_id}"]
    lines += [f"  restored {path}" for path in done.restored]
    lines += [f"  removed {path} (the run created it)" for path in done.removed]
    return "\n".join(lines)


def _when(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _list(as_json: bool) -> None:
    from memfun_cli._checkpoints import checkpoint_store

    store = checkpoint_store(load_config())
    infos = store.list()
    if as_json:
        rows = [
            {
                "run_id": i.run_id,
                "task": i.task,
                "created_at": i.created_at,
                "files": list(i.paths),
                "undone_at": i.undone_at,
            }
            for i in infos
        ]
        typer.echo(json.dumps({"checkpoints": rows, "rejected": store.rejected()}, indent=2))
        return
    if not infos:
        typer.echo("no checkpoints: tasks and chat turns that change files make one")
    for info in infos:
        state = "undone" if info.undone_at is not None else "      "
        task = info.task.splitlines()[0][:60] if info.task else ""
        typer.echo(f"{info.run_id}  {_when(info.created_at)}  {state}  {task}")
        typer.echo(f"    {', '.join(info.paths)}")
    for name in store.rejected():
        typer.echo(f"ignored {name}: not written by Memfun for this user", err=True)


def undo(
    run: Annotated[
        str | None, typer.Argument(help="The run to undo (default: the latest not undone).")
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the checkpoints, newest first.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --list: one JSON object.")] = False,
) -> None:
    """Undo the file changes of a task or chat turn, exactly (created files are removed).

    Refuses, naming the file, when a file changed since the run.
    """
    if list_:
        _list(as_json)
        return
    typer.echo(show_undo(run))
