"""``memfun trace view ID``: one run (and its child runs) as a self-contained HTML page."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from memfun_core.config import load_config

__all__ = ["view"]


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def view(
    run_id: Annotated[str, typer.Argument(help="The run's id (from `memfun trace list`).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file to write (default: .memfun/traces/ID.html)."),
    ] = None,
    no_open: Annotated[bool, typer.Option("--no-open", help="Write the file only.")] = False,
) -> None:
    """Write one run as a self-contained HTML page and open it in the browser.

    The page shows the steps (reasoning, code, output, tool calls, model calls, tokens and
    cost), a chart of tokens per step, and delegated or orchestrated child runs as a tree.
    It loads nothing from the network; everything from the trace is escaped.
    """
    from memfun_cli._compose import data_dir
    from memfun_cli.commands.trace import read_traces
    from memfun_optimizer.viewer import child_runs, render_trace_html

    (trace,) = asyncio.run(read_traces(run_id, 1))
    everything = asyncio.run(read_traces(None, 1000))
    unique = {t.run_id: t for t in [trace, *everything]}
    page = render_trace_html(trace, child_runs(list(unique.values())))
    target = out or data_dir(load_config()) / "traces" / f"{trace.run_id}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    typer.echo(str(target))
    if not no_open and _has_display():
        import webbrowser

        webbrowser.open(target.resolve().as_uri())
