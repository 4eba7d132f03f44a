"""``memfun trace``: read the traces of past agent runs from the configured runtime."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memfun_core.config import load_config
from memfun_core.errors import NotFoundError

if TYPE_CHECKING:
    from memfun_agent import RunTrace

app = typer.Typer(
    name="trace",
    help="Traces of agent runs: every step, tool call, model call, tokens, cost and outcome.",
    no_args_is_help=True,
)


async def read_traces(run_id: str | None, limit: int) -> list[RunTrace]:
    """Stored traces, newest first (``run_id``: just that one, or a NotFoundError)."""
    from memfun_agent import TraceStore
    from memfun_runtime import RuntimeBuilder

    async with RuntimeBuilder().from_config(load_config()).build() as runtime:
        store = TraceStore(runtime.backend)
        if run_id is None:
            return await store.list(limit=limit)
        trace = await store.load(run_id)
        if trace is None:
            known = tuple(t.run_id for t in await store.list(limit=200))
            raise NotFoundError(
                "trace", run_id, suggestions=tuple(k for k in known if k.startswith(run_id[:4]))[:3]
            )
        return [trace]


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list")
def list_traces(
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List stored runs, newest first: id, start time, outcome, steps, tokens, cost, task."""
    traces = asyncio.run(read_traces(None, limit))
    if as_json:
        rows: list[dict[str, Any]] = [
            {"run_id": t.run_id, "started_at": t.started_at, "outcome": t.outcome,
             "model": t.model, "usage": dict(t.usage), "task": t.task[:200]}
            for t in traces
        ]  # fmt: skip
        typer.echo(json.dumps({"traces": rows}, indent=2))
        return
    if not traces:
        typer.echo(
            "no traces yet (runs of memfun ask/fix/... are traced in the configured runtime)"
        )
    for t in traces:
        steps = t.usage.get("iterations", 0)
        cost = float(str(t.usage.get("cost_usd", 0) or 0))
        task = t.task.splitlines()[0][:60] if t.task else ""
        when = _when(t.started_at)
        typer.echo(f"{t.run_id}  {when}  {t.outcome:<16} {steps} steps  ${cost:.4f}  {task}")


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="The run's id (from `memfun trace list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole trace as JSON.")] = False,
) -> None:
    """Show one run: its outcome and usage, then every record in order."""
    (trace,) = asyncio.run(read_traces(run_id, 1))
    if as_json:
        typer.echo(json.dumps(trace.to_json(), indent=2))
        return
    started = _when(trace.started_at)
    typer.echo(f"run {trace.run_id}: {trace.outcome}  model {trace.model}  started {started}")
    if trace.error:
        typer.echo(f"error: {trace.error}")
    typer.echo("usage: " + ", ".join(f"{k}={v}" for k, v in trace.usage.items()))
    typer.echo(f"task: {trace.task}")
    for record in trace.records:
        rest = {k: v for k, v in record.items() if k not in ("seq", "t", "kind")}
        detail = json.dumps(rest, default=str)
        typer.echo(f"  {float(record.get('t', 0) or 0):7.2f}s {record.get('kind')}: {detail[:200]}")


def _register_more() -> None:
    from memfun_cli.commands import trace_export, trace_stats, trace_view

    app.command("export")(trace_export.export)
    app.command("stats")(trace_stats.stats)
    app.command("view")(trace_view.view)


_register_more()
